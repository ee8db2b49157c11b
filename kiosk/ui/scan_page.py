"""The main screen: live preview with the framing guide, results beside it, big buttons below."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ..i18n import Translator
from .preview import PreviewWidget
from .results_panel import ResultsPanel
from .widgets import LongPressArea, Thumbnails


class ScanPage(QWidget):
    """Preview + :class:`ResultsPanel`; the window wires the buttons to the controller."""

    findRequested = Signal()
    autoToggled = Signal(bool)
    searchRequested = Signal()
    browseRequested = Signal()
    languageRequested = Signal()

    def __init__(
        self,
        thumbs: Thumbnails,
        tr: Callable[[], Translator],
        *,
        guide_fraction: float,
        mirror: bool,
        long_press_s: float,
        auto: bool,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._tr = tr
        self.auto = auto
        self.brand = LongPressArea("AisleLens", long_press_s)
        self.brand.setObjectName("brand")
        self.brand.setFixedHeight(70)
        self.heading = QLabel()
        self.heading.setObjectName("title")
        self.language_button = QPushButton()
        self.language_button.setFixedWidth(190)
        self.language_button.clicked.connect(self.languageRequested)
        header = QHBoxLayout()
        header.addWidget(self.brand)
        header.addSpacing(30)
        header.addWidget(self.heading, 1)
        header.addWidget(self.language_button)

        self.preview = PreviewWidget(guide_fraction, mirror)
        self.panel = ResultsPanel(thumbs, tr())
        self.panel.setFixedWidth(470)
        body = QHBoxLayout()
        body.setSpacing(18)
        body.addWidget(self.preview, 1)
        body.addWidget(self.panel)

        self.find_button = QPushButton()
        self.find_button.setObjectName("primary")
        self.find_button.clicked.connect(self.findRequested)
        self.auto_button = QPushButton()
        self.auto_button.clicked.connect(self._toggle_auto)
        self.search_button = QPushButton()
        self.search_button.clicked.connect(self.searchRequested)
        self.browse_button = QPushButton()
        self.browse_button.clicked.connect(self.browseRequested)
        footer = QHBoxLayout()
        footer.setSpacing(14)
        footer.addWidget(self.find_button, 3)
        footer.addWidget(self.auto_button, 2)
        footer.addWidget(self.search_button, 2)
        footer.addWidget(self.browse_button, 1)

        outer = QVBoxLayout(self)
        outer.setContentsMargins(22, 12, 22, 18)
        outer.setSpacing(14)
        outer.addLayout(header)
        outer.addLayout(body, 1)
        outer.addLayout(footer)
        self.retranslate()

    def _toggle_auto(self) -> None:
        self.auto = not self.auto
        self.retranslate()
        self.autoToggled.emit(self.auto)

    def retranslate(self) -> None:
        tr = self._tr()
        self.heading.setText(tr("app_title"))
        self.language_button.setText(tr("language_button"))
        self.find_button.setText(tr("find"))
        self.auto_button.setText(tr("auto_on") if self.auto else tr("auto_off"))
        self.auto_button.setObjectName("toggleOn" if self.auto else "")
        self.auto_button.style().unpolish(self.auto_button)
        self.auto_button.style().polish(self.auto_button)
        self.search_button.setText(tr("search"))
        self.browse_button.setText(tr("browse"))
        self.panel.set_translator(tr)
