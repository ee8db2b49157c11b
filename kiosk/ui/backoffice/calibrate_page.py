"""The Calibrate tab: when the kiosk says "We found it", proposed first, stored on Apply.

Calibrate asks :func:`catalog.adapter.propose_thresholds` (read-only) what
``aislelens catalog calibrate`` would choose, from the enrolled shots' cross-validation or
from a labelled photo file, and shows it beside the thresholds stored now; Apply then calls
:func:`catalog.adapter.calibrate_catalog` with the same scans and target, which is what the
command stores.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QRadioButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from catalog.adapter import calibrate_catalog, propose_thresholds
from catalog.calibration import DEFAULT_TARGET, Samples
from catalog.cli_common import plural
from catalog.decisions import DecisionThresholds
from catalog.labelled import labelled_samples, require_enough

from .jobs import JobContext, JobPage, JobRunner
from .session import CatalogSession

ROWS = (
    "'We found it' when the best product leads by",
    "… and scores at least",
    "'No match' below a score of",
    "On the calibration scans: 'We found it' shown",
    "… and right",
    "Chosen from",
)


@dataclass(frozen=True)
class Proposal:
    """Thresholds proposed for ``target``, and the labelled scans they came from (None: the
    cross-validation over the enrolled shots)."""

    thresholds: DecisionThresholds
    target: float
    scans: Samples | None
    skipped: list[str]


def threshold_cells(t: DecisionThresholds | None) -> list[str]:
    """The column of the comparison table for ``t``."""
    if t is None:
        return [""] * len(ROWS)
    m = t.measured
    never = t.confident_margin > 1.0
    return [
        "never (too little to go by)" if never else f"{t.confident_margin:.3f}",
        "" if never else f"{t.confident_score:.3f}",
        f"{t.min_score:.3f}",
        f"{m['found_share']:.0%}" if "found_share" in m else "",
        f"{m['found_precision']:.1%}" if "found_precision" in m else "",
        t.source,
    ]


class CalibratePage(JobPage):
    """Target, source, Calibrate, the comparison table, Apply."""

    def __init__(
        self, session: CatalogSession, jobs: JobRunner, parent: QWidget | None = None
    ) -> None:
        super().__init__(session, jobs, parent)
        self.proposal: Proposal | None = None
        self.photos: Path | None = None
        self.target = QDoubleSpinBox()
        self.target.setRange(0.5, 0.999)
        self.target.setDecimals(3)
        self.target.setSingleStep(0.01)
        self.target.setValue(DEFAULT_TARGET)
        self.from_shots = QRadioButton("the enrolled shots (cross-validation)")
        self.from_shots.setChecked(True)
        self.from_photos = QRadioButton("labelled photos:")
        group = QButtonGroup(self)
        group.addButton(self.from_shots)
        group.addButton(self.from_photos)
        self.photos_button = QPushButton("Choose a CSV…")
        self.photos_button.clicked.connect(self.choose_photos)
        self.photos_label = QLabel("(image, sku per row; best taken on another day)")
        self.photos_label.setObjectName("hint")
        self.calibrate_button = QPushButton("Calibrate")
        self.calibrate_button.clicked.connect(self.calibrate)
        self.apply_button = QPushButton("Apply")
        self.apply_button.setObjectName("primary")
        self.apply_button.clicked.connect(self.apply)
        self.table = QTableWidget(len(ROWS), 2)
        self.table.setHorizontalHeaderLabels(["Stored now", "Proposed"])
        self.table.setVerticalHeaderLabels(list(ROWS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        self.note.setObjectName("summary")
        target_row = QHBoxLayout()
        target_row.addWidget(QLabel("Share of 'We found it' answers that must be right:"))
        target_row.addWidget(self.target)
        target_row.addStretch(1)
        source_row = QHBoxLayout()
        source_row.addWidget(QLabel("Calibrate on"))
        for w in (self.from_shots, self.from_photos, self.photos_button):
            source_row.addWidget(w)
        source_row.addWidget(self.photos_label, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.calibrate_button)
        buttons.addWidget(self.apply_button)
        buttons.addStretch(1)
        box = QVBoxLayout(self)
        box.addLayout(target_row)
        box.addLayout(source_row)
        box.addLayout(buttons)
        box.addWidget(self.table)
        box.addWidget(self.note)
        box.addStretch(1)
        self.session.opened.connect(self.reset)
        self.session.changed.connect(self._show_stored)
        self.reset()

    def reset(self) -> None:
        self.proposal = None
        self.note.setText("")
        self._fill(1, None)
        self._show_stored()

    def _show_stored(self) -> None:
        listing = self.session.listing
        self._fill(0, listing.thresholds() if listing is not None else None)
        self.update_buttons()

    def _fill(self, column: int, t: DecisionThresholds | None) -> None:
        for row, text in enumerate(threshold_cells(t)):
            self.table.setItem(row, column, QTableWidgetItem(text))
        self.table.resizeRowsToContents()
        rows = sum(self.table.rowHeight(r) for r in range(self.table.rowCount()))
        self.table.setFixedHeight(rows + self.table.horizontalHeader().height() + 4)

    def update_buttons(self) -> None:
        free = self.free
        self.calibrate_button.setEnabled(free)
        self.apply_button.setEnabled(free and self.proposal is not None)

    def choose_photos(self) -> None:
        path = self.choose_labelled_photos()
        if path is not None:
            self.use_photos(path)

    def use_photos(self, path: Path) -> None:
        self.photos = path
        self.photos_label.setText(str(path))
        self.from_photos.setChecked(True)

    def calibrate(self) -> None:
        db, settings, embedders = (
            self.session.require(),
            self.session.settings,
            self.session.embedders,
        )
        target = round(self.target.value(), 3)
        photos = self.photos if self.from_photos.isChecked() else None
        if self.from_photos.isChecked() and photos is None:
            self.jobs.failed.emit("choose the labelled photo file (CSV with image and sku) first")
            return

        def work(ctx: JobContext) -> Proposal:
            scans: Samples | None = None
            skipped: list[str] = []
            if photos is not None:
                embedder, _ = embedders(db)
                try:
                    scans, skipped = labelled_samples(
                        db, photos, embedder, settings=settings, progress=ctx.progress
                    )
                finally:
                    embedder.close()
                require_enough(scans, photos)
            return Proposal(
                propose_thresholds(db, scans=scans, target=target), target, scans, skipped
            )

        if self.jobs.run("Calibrating", work, self.show_proposal):
            self.proposal = None
            self.update_buttons()

    def show_proposal(self, proposal: Proposal) -> None:
        self.proposal = proposal
        self._fill(1, proposal.thresholds)
        skipped = proposal.skipped
        self.note.setText(
            f"Proposed for {proposal.target:g}: nothing is stored until you press Apply."
            + (
                f" {plural(len(skipped), 'photo')} skipped (first: {skipped[0]})."
                if skipped
                else ""
            )
        )
        self.update_buttons()

    def apply(self) -> None:
        proposal, db, settings = self.proposal, self.session.require(), self.session.settings
        if proposal is None:
            return

        def work(ctx: JobContext) -> DecisionThresholds:
            return calibrate_catalog(
                db, scans=proposal.scans, target=proposal.target, settings=settings
            )

        def done(stored: DecisionThresholds) -> None:
            self.proposal = None
            self._fill(1, None)
            self._show_stored()
            changed = stored != proposal.thresholds
            self.note.setText(
                f"Stored in {db.name}: {stored.source}."
                + (
                    " The catalog had changed since the proposal: these are its figures now."
                    if changed
                    else ""
                )
            )
            self.session.changed.emit()

        if self.jobs.run("Storing the thresholds", work, done):
            self.update_buttons()
