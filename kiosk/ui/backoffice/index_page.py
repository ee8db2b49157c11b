"""The Index tab: what the catalog holds, and ``index_catalog`` with progress and Cancel.

Cancel (in the status bar) stops the run after the batch in hand; every chunk committed before
stays embedded and the next run carries on from there, as after an interrupted
``aislelens catalog index``.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from catalog import IndexReport, catalog_stats, index_catalog
from catalog.decisions import describe_found

from .jobs import JobContext, JobPage, JobRunner, stage_name
from .session import CatalogSession

STAT_ROWS = ("Products", "Photos", "Embedded", "Still to embed", "Unreadable", "Model", "Search")


def describe_index(report: IndexReport) -> list[str]:
    """The lines the Index tab shows after a run."""
    if report.cancelled:
        return [
            f"Cancelled: {report.embedded} photos embedded in this run are kept "
            f"({report.up_to_date} were already up to date).",
            "Index again to embed the rest; the search index and the store adaptation are "
            "brought up to date at the end of a run that finishes.",
        ]
    lines = [
        f"Done: {report.embedded} photos embedded ({report.images_per_s:.1f} per second), "
        f"{report.up_to_date} already up to date, {len(report.failed)} unreadable; "
        f"model {report.bundle_id}."
    ]
    if report.index is not None:
        ix = report.index
        lines.append(
            f"Search index: {ix.count} vectors searched exactly."
            if ix.kind == "exact"
            else f"Search index {ix.action}: {ix.count} vectors (+{ix.added} −{ix.deleted})."
        )
    ad = report.adaptation
    if ad is not None and ad.action == "fitted" and ad.thresholds is not None:
        lines.append(
            f"Store adaptation fitted on {ad.products} products; {describe_found(ad.thresholds)}."
        )
    elif ad is not None:
        lines.append(f"Store adaptation: {ad.action}.")
    lines += [f"Note: {note}" for note in (ad.notes if ad is not None else [])]
    lines += [f"Skipped {sku}: {why}" for sku, why in report.failed]
    lines += [f"Missing, vector kept: {sku}: {why}" for sku, why in report.kept_missing]
    return lines


class IndexPage(JobPage):
    """The catalog's figures and the Index button."""

    def __init__(
        self, session: CatalogSession, jobs: JobRunner, parent: QWidget | None = None
    ) -> None:
        super().__init__(session, jobs, parent)
        self.report: IndexReport | None = None
        self.values = {name: QLabel("") for name in STAT_ROWS}
        form = QFormLayout()
        for name, label in self.values.items():
            label.setObjectName("statValue")
            form.addRow(name, label)
        self.index_button = QPushButton("Index new and changed photos")
        self.index_button.setObjectName("primary")
        self.index_button.clicked.connect(self.start)
        explain = QLabel(
            "Embeds the photos added since the last run with the catalog's model, then updates "
            "the search index and the store adaptation. Cancel keeps what was embedded."
        )
        explain.setWordWrap(True)
        explain.setObjectName("hint")
        self.result = QPlainTextEdit()
        self.result.setReadOnly(True)
        self.result.setPlaceholderText("The result of the last run appears here.")
        row = QHBoxLayout()
        row.addWidget(self.index_button)
        row.addWidget(explain, 1)
        box = QVBoxLayout(self)
        box.addLayout(form)
        box.addLayout(row)
        box.addWidget(self.result, 1)
        self.session.opened.connect(self._opened)
        self.session.changed.connect(self.refresh)
        self.jobs.progress.connect(self._progress)
        self.running = False

    def _progress(self, stage: str, done: int, total: int) -> None:
        if self.running:
            self.result.setPlainText(f"Indexing: {stage_name(stage).lower()}, {done} of {total}…")

    def _opened(self) -> None:
        self.report = None
        self.result.clear()
        self.refresh()

    def refresh(self) -> None:
        """Show the figures of the catalog as it is now (``catalog_stats``)."""
        if self.session.db is None:
            for label in self.values.values():
                label.setText("")
            self.update_buttons()
            return
        s = catalog_stats(self.session.db)
        figures = {
            "Products": f"{s.products} in {s.categories} categories",
            "Photos": f"{s.catalog_images} catalog photos + {s.enrolled_images} enrolled shots",
            "Embedded": str(s.embedded),
            "Still to embed": str(s.pending),
            "Unreadable": str(s.failed),
            "Model": s.bundle_id or "(not indexed yet: the default bundle)",
            "Search": f"{s.index_kind}, {s.index_items} vectors",
        }
        for name, text in figures.items():
            self.values[name].setText(text)
        self.update_buttons()

    def update_buttons(self) -> None:
        if not self.jobs.busy:
            self.running = False  # it ended, in a report or an error
        self.index_button.setEnabled(self.free)

    def start(self) -> None:
        db, settings, embedders = (
            self.session.require(),
            self.session.settings,
            self.session.embedders,
        )

        def work(ctx: JobContext) -> IndexReport:
            embedder, ref = embedders(db)
            try:
                return index_catalog(
                    db,
                    embedder,
                    settings=settings,
                    progress=ctx.progress,
                    bundle_ref=ref,
                    should_stop=ctx.should_stop,
                )
            finally:
                embedder.close()

        if self.jobs.run("Indexing", work, self.show_report, cancellable=True):
            self.running = True
            self.result.setPlainText("Indexing…")
            self.update_buttons()

    def show_report(self, report: IndexReport) -> None:
        self.running = False
        self.report = report
        self.result.setPlainText("\n".join(describe_index(report)))
        self.session.changed.emit()
