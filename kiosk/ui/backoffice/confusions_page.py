"""The Confusions tab: which products the catalog mistakes for which, with their pictures.

It runs :func:`catalog.evaluate_queries`, as ``aislelens catalog eval`` does, on the store's
enrolled shots (each labelled with its own product) or on a labelled photo file (CSV with image
and sku columns), and shows the report's most confused pairs side by side.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from catalog import Confusion, EvalReport, Query, evaluate_queries, open_finder, read_queries
from catalog.cli_common import plural
from catalog.errors import CatalogError
from catalog.types import Product

from ..widgets import Thumbnails, clear_layout
from .jobs import JobContext, JobPage, JobRunner
from .products import picture_of
from .session import CatalogSession

PAIR_SIDE = 120


class PairRow(QFrame):
    """One confusion: the right product, the one found instead, and how often."""

    def __init__(
        self,
        true: Product | None,
        found: Product | None,
        skus: tuple[str, str],
        count: int,
        thumbnails: Thumbnails,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("pair")
        self.skus = skus
        row = QHBoxLayout(self)
        row.setContentsMargins(12, 8, 12, 8)
        for i, (product, sku) in enumerate(((true, skus[0]), (found, skus[1]))):
            name = product.name if product else "(no longer in the catalog)"
            picture = QLabel()
            picture.setFixedSize(PAIR_SIDE, PAIR_SIDE)
            picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
            picture.setPixmap(picture_of(thumbnails, sku, name, PAIR_SIDE))
            text = QLabel(f"<b>{_html(name)}</b><br>SKU {_html(sku)}")
            text.setWordWrap(True)
            text.setMinimumWidth(150)
            row.addWidget(picture)
            row.addWidget(text, 1)
            if i == 0:
                arrow = QLabel(f"taken for<br><b>{count}×</b>")
                arrow.setObjectName("arrow")
                arrow.setAlignment(Qt.AlignmentFlag.AlignCenter)
                arrow.setMinimumWidth(90)
                row.addWidget(arrow)


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class ConfusionsPage(JobPage):
    """Evaluate, then the pairs; ``pairs`` holds the rows shown."""

    def __init__(
        self, session: CatalogSession, jobs: JobRunner, parent: QWidget | None = None
    ) -> None:
        super().__init__(session, jobs, parent)
        self.report: EvalReport | None = None
        self.pairs: list[PairRow] = []
        self.thumbnails = Thumbnails(self.session.thumbnail)
        self.shots_button = QPushButton("Evaluate on the enrolled shots")
        self.shots_button.setObjectName("primary")
        self.shots_button.clicked.connect(self.evaluate_shots)
        self.file_button = QPushButton("Evaluate labelled photos…")
        self.file_button.clicked.connect(self.choose_file)
        explain = QLabel(
            "Searches every photo as the kiosk would and lists the products it took for "
            "another one, most often first. The enrolled shots are part of the catalog, so "
            "they are easy to find: a pair confused even so needs a look (a shot enrolled "
            "under the wrong product shows up this way). Labelled photos taken on another "
            "day (a CSV with image and sku columns) give the truer picture."
        )
        explain.setWordWrap(True)
        explain.setObjectName("hint")
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.summary.setObjectName("summary")
        self.list = QVBoxLayout()
        self.list.setSpacing(8)
        holder = QWidget()
        outer = QVBoxLayout(holder)
        outer.addLayout(self.list)
        outer.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(holder)
        buttons = QHBoxLayout()
        buttons.addWidget(self.shots_button)
        buttons.addWidget(self.file_button)
        buttons.addStretch(1)
        box = QVBoxLayout(self)
        box.addLayout(buttons)
        box.addWidget(explain)
        box.addWidget(self.summary)
        box.addWidget(scroll, 1)
        self.session.opened.connect(self.reset)
        self.reset()

    def reset(self) -> None:
        self.report = None
        self.summary.setText("")
        self._show_pairs([])
        self.update_buttons()

    def update_buttons(self) -> None:
        free = self.free
        self.shots_button.setEnabled(free)
        self.file_button.setEnabled(free)

    def evaluate_shots(self) -> None:
        listing = self.session.listing
        queries = listing.enrolled_queries() if listing is not None else []
        if not queries:
            self.jobs.failed.emit("no enrolled shots to evaluate yet: enrol in-store photos first")
            return
        self._evaluate(queries, [], "the enrolled shots")

    def choose_file(self) -> None:
        path = self.choose_labelled_photos()
        if path is not None:
            self.evaluate_file(path)

    def evaluate_file(self, path: Path) -> None:
        try:
            queries, issues = read_queries(path)
        except CatalogError as exc:
            self.jobs.failed.emit(str(exc))
            return
        self._evaluate(queries, [(i.row, i.reason) for i in issues], path.name)

    def _evaluate(self, queries: list[Query], skipped: list[tuple[int, str]], what: str) -> None:
        db, settings, embedders = (
            self.session.require(),
            self.session.settings,
            self.session.embedders,
        )

        def work(ctx: JobContext) -> EvalReport:
            finder = open_finder(db, settings=settings)
            try:
                embedder, _ = embedders(db)
                try:
                    report = evaluate_queries(
                        finder, embedder, queries, settings=settings, progress=ctx.progress
                    )
                finally:
                    embedder.close()
            finally:
                finder.close()
            report.skipped = skipped + report.skipped
            return report

        def done(report: EvalReport) -> None:
            self.show_report(report, what)

        if self.jobs.run(f"Evaluating {what}", work, done):
            self.update_buttons()

    def show_report(self, report: EvalReport, what: str) -> None:
        self.report = report
        lines = [
            f"{plural(report.n, 'photo')} of {what} searched against "
            f"{plural(report.catalog_size, 'reference vector')}: Recall@1 "
            f"{report.recall_at_1:.3f}, Recall@5 {report.recall_at_5:.3f}.",
            (
                "Taken for another product, most often first (the right product, then the "
                "one found instead):"
                if report.confused
                else "No photo was taken for another product."
            ),
        ]
        if report.skipped:
            row, why = report.skipped[0]
            lines.append(
                f"{plural(len(report.skipped), 'photo')} skipped (first: row {row}: {why})."
            )
        self.summary.setText("\n".join(lines))
        self._show_pairs(report.confused)

    def _show_pairs(self, confused: list[Confusion]) -> None:
        clear_layout(self.list)
        self.thumbnails.clear()
        listing = self.session.listing
        products = (
            {r.product.sku: r.product for r in listing.products()}
            if listing is not None and confused
            else {}
        )
        self.pairs = [
            PairRow(
                products.get(c.sku),
                products.get(c.found_sku),
                (c.sku, c.found_sku),
                c.count,
                self.thumbnails,
            )
            for c in confused
        ]
        for row in self.pairs:
            self.list.addWidget(row)
