"""The Import tab: a product file checked by a dry run first, its problems as a table, then Import.

Both steps call :func:`catalog.import_products`, as ``aislelens catalog import FILE --dry-run``
and then without ``--dry-run`` do: the dry run writes nothing, the import writes every valid
SKU in one transaction and leaves the rejected ones untouched.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from catalog import ImportReport, import_products
from catalog.cli_common import plural

from .jobs import JobContext, JobPage, JobRunner
from .session import CatalogSession

PRODUCT_FILES = "Product files (*.csv *.json *.jsonl)"


def summary(report: ImportReport) -> str:
    verb = "Would import" if report.dry_run else "Imported"
    return (
        f"{verb} {Path(report.file).name}: {len(report.created)} new, {len(report.updated)} "
        f"updated, {len(report.unchanged)} unchanged, {len(report.rejected)} rejected "
        f"({report.images_added} images added, {report.images_removed} removed)"
    )


class ImportPage(JobPage):
    """Choose a file → dry run → report table → Import."""

    def __init__(
        self, session: CatalogSession, jobs: JobRunner, parent: QWidget | None = None
    ) -> None:
        super().__init__(session, jobs, parent)
        self.file: Path | None = None
        self.report: ImportReport | None = None
        self.choose_button = QPushButton("Choose a product file…")
        self.choose_button.clicked.connect(self.choose_file)
        self.check_button = QPushButton("Check again")
        self.check_button.clicked.connect(self.check)
        self.import_button = QPushButton("Import")
        self.import_button.setObjectName("primary")
        self.import_button.clicked.connect(self.commit)
        self.file_label = QLabel("CSV, JSON or JSONL: sku, name, price, aisle, image, … per row.")
        self.file_label.setObjectName("hint")
        self.summary = QLabel("")
        self.summary.setObjectName("summary")
        self.summary.setWordWrap(True)
        self.issues = QTableWidget(0, 4)  # problems (the row is left out), then warnings
        self.issues.setHorizontalHeaderLabels(["Row", "Column", "Reason", ""])
        self.issues.verticalHeader().setVisible(False)
        self.issues.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.issues.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.issues.setWordWrap(True)
        header = self.issues.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)
        self.without_images = QLabel("")
        self.without_images.setWordWrap(True)
        self.without_images.setObjectName("hint")
        row = QHBoxLayout()
        for w in (self.choose_button, self.check_button):
            row.addWidget(w)
        row.addWidget(self.file_label, 1)
        row.addWidget(self.import_button)
        box = QVBoxLayout(self)
        box.addLayout(row)
        box.addWidget(self.summary)
        box.addWidget(self.issues, 1)
        box.addWidget(self.without_images)
        self.session.opened.connect(self.reset)
        self.reset()

    def reset(self) -> None:
        self.file = self.report = None
        self.summary.setText("")
        self.issues.setRowCount(0)
        self.without_images.setText("")
        self.update_buttons()

    def update_buttons(self) -> None:
        free = self.free
        self.choose_button.setEnabled(free)
        self.check_button.setEnabled(free and self.file is not None)
        r = self.report
        self.import_button.setEnabled(
            free and r is not None and r.dry_run and bool(r.created or r.updated)
        )

    def choose_file(self) -> None:
        path = self.ask_for_file("Product file to import", PRODUCT_FILES)
        if path is not None:
            self.check_file(path)

    def check_file(self, path: Path) -> None:
        """Dry-run ``path`` against the open catalog and show what it would do."""
        self.file = path
        self.file_label.setText(str(path))
        self.check()

    def check(self) -> None:
        if self.file is not None:
            self._run(dry_run=True)

    def commit(self) -> None:
        """Import the checked file for real."""
        if self.file is not None and self.report is not None and self.report.dry_run:
            self._run(dry_run=False)

    def _run(self, *, dry_run: bool) -> None:
        db, file, settings = self.session.require(), self.file, self.session.settings
        assert file is not None

        def work(ctx: JobContext) -> ImportReport:
            return import_products(
                db, file, dry_run=dry_run, settings=settings, progress=ctx.progress
            )

        title = f"Checking {file.name}" if dry_run else f"Importing {file.name}"
        if self.jobs.run(title, work, self.show_report):
            self.report = None
            self.update_buttons()

    def show_report(self, report: ImportReport) -> None:
        self.report = report
        self.summary.setText(
            summary(report)
            + ("" if report.issues else ", no problems")
            + (f", {plural(len(report.warnings), 'warning')}" if report.warnings else "")
            + (
                ". Nothing is written until you press Import."
                if report.dry_run
                else ". Next: index the new photos (Index tab)."
            )
        )
        listed = [(i, "problem: not imported") for i in report.issues]
        listed += [(i, "warning: imported") for i in report.warnings]
        self.issues.setRowCount(len(listed))
        for r, (issue, kind) in enumerate(listed):
            for col, text in enumerate((str(issue.row), issue.column, issue.reason, kind)):
                self.issues.setItem(r, col, QTableWidgetItem(text))
        self.issues.resizeRowsToContents()
        missing = report.without_images
        self.without_images.setText(
            f"Without images (not findable by photo): {', '.join(missing[:20])}"
            + (f" … and {len(missing) - 20} more" if len(missing) > 20 else "")
            if missing
            else ""
        )
        if not report.dry_run:
            self.session.changed.emit()
        self.update_buttons()
