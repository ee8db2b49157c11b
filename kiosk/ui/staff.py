"""Behind the PIN: the PIN pad and the staff page (versions, camera, speed, temperature)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..i18n import Translator
from ..pin import PinGuard
from .widgets import FitButton


class PinPad(QFrame):
    """A numeric keypad; ``accepted`` when the PIN matches, ``cancelled`` on Cancel."""

    accepted = Signal()
    cancelled = Signal()

    def __init__(self, pin: str, tr: Translator, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.guard = PinGuard(pin)
        self._tr = tr
        self.setObjectName("panel")
        self.setFixedSize(460, 640)
        self.title = QLabel(tr("pin_title"))
        self.title.setObjectName("title")
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.field = QLineEdit()
        self.field.setEchoMode(QLineEdit.EchoMode.Password)
        self.field.setReadOnly(True)
        self.field.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message = QLabel("")
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setStyleSheet("color: #e0662b; font-weight: 700;")
        self._wrong_text = tr("pin_wrong")
        grid = QGridLayout()
        grid.setSpacing(10)
        self.keys: dict[str, QPushButton] = {}
        for i, key in enumerate(["1", "2", "3", "4", "5", "6", "7", "8", "9", "⌫", "0", "OK"]):
            b = QPushButton(tr("ok") if key == "OK" else key)
            b.setObjectName("primary" if key == "OK" else "key")
            b.clicked.connect(lambda _=False, k=key: self.press(k))
            grid.addWidget(b, i // 3, i % 3)
            self.keys[key] = b
        self.cancel_button = cancel = QPushButton(tr("cancel"))
        cancel.clicked.connect(self._cancel)
        box = QVBoxLayout(self)
        box.setContentsMargins(24, 24, 24, 24)
        for w in (self.title, self.field, self.message):
            box.addWidget(w)
        box.addLayout(grid)
        box.addWidget(cancel)

    def set_translator(self, tr: Translator) -> None:
        """Follow a language switch."""
        self._tr = tr
        self._wrong_text = tr("pin_wrong")
        self.title.setText(tr("pin_title"))
        self.keys["OK"].setText(tr("ok"))
        self.cancel_button.setText(tr("cancel"))
        self.message.clear()

    def press(self, key: str) -> None:
        if key == "⌫":
            self.field.backspace()
        elif key == "OK":
            entered = self.field.text()
            self.field.clear()
            result = self.guard.check(entered)
            if result.ok:
                self.message.clear()
                self.accepted.emit()
            elif result.wait_s > 0:
                self.message.setText(self._tr("pin_wait", seconds=max(1, round(result.wait_s))))
            else:
                self.message.setText(self._wrong_text)
        elif len(self.field.text()) < 8:
            self.field.insert(key)
            self.message.clear()

    def enter(self, pin: str) -> None:
        """Tap the digits of ``pin`` and OK (tests)."""
        for ch in pin:
            self.keys[ch].click()
        self.keys["OK"].click()

    def _cancel(self) -> None:
        self.field.clear()
        self.message.clear()
        self.cancelled.emit()


class StaffPage(QWidget):
    """What a store manager needs to know about this kiosk, and the diagnostics behind it."""

    back = Signal()
    exitRequested = Signal()
    resetRequested = Signal()
    teachRequested = Signal()

    def __init__(self, tr: Translator, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._tr = tr
        self.title = QLabel()
        self.title.setObjectName("title")
        self.values: dict[str, QLabel] = {}
        self._keys: dict[str, QLabel] = {}
        self._headings: dict[str, QLabel] = {}
        self._grids: dict[str, QGridLayout] = {}
        self.back_button = FitButton("")
        self.back_button.clicked.connect(self.back)
        self.reset_button = FitButton("")
        self.reset_button.clicked.connect(self.resetRequested)
        self.teach_button = FitButton("")
        self.teach_button.clicked.connect(self.teachRequested)
        self.exit_button = QPushButton()
        self.exit_button.setObjectName("primary")
        self.exit_button.clicked.connect(self.exitRequested)
        buttons = QHBoxLayout()
        buttons.addWidget(self.back_button)
        buttons.addWidget(self.reset_button)
        buttons.addWidget(self.teach_button)
        buttons.addStretch(1)
        buttons.addWidget(self.exit_button)
        columns = QHBoxLayout()
        columns.setSpacing(16)
        for section in ("staff_store", "staff_diagnostics"):
            frame = QFrame()
            frame.setObjectName("panel")
            inner = QVBoxLayout(frame)
            inner.setContentsMargins(24, 18, 24, 18)
            heading = QLabel()
            heading.setStyleSheet("font-size: 24px; font-weight: 700;")
            grid = QGridLayout()
            grid.setHorizontalSpacing(20)
            grid.setVerticalSpacing(8)
            grid.setColumnStretch(1, 1)
            inner.addWidget(heading)
            inner.addLayout(grid)
            inner.addStretch(1)
            self._headings[section], self._grids[section] = heading, grid
            columns.addWidget(frame, 1)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(28, 20, 28, 20)
        outer.setSpacing(16)
        outer.addWidget(self.title)
        outer.addLayout(columns, 1)
        outer.addLayout(buttons)
        self.set_translator(tr)

    def set_translator(self, tr: Translator) -> None:
        """Follow a language switch: headings, buttons and every row label."""
        self._tr = tr
        self.title.setText(tr("staff_title"))
        self.back_button.setText("‹  " + tr("staff_back"))
        self.reset_button.setText(tr("staff_reset"))
        self.teach_button.setText(tr("teach_button"))
        self.exit_button.setText(tr("staff_exit"))
        for key, heading in self._headings.items():
            heading.setText(tr(key))
        for key, label in self._keys.items():
            label.setText(tr(key))

    def show_info(self, store: list[tuple[str, str]], diagnostics: list[tuple[str, str]]) -> None:
        """Update the rows of both sections, (i18n key of the label, value) each."""
        for section, rows in (("staff_store", store), ("staff_diagnostics", diagnostics)):
            grid = self._grids[section]
            for key, value in rows:
                label = self.values.get(key)
                if label is None:
                    row = grid.rowCount()
                    k = QLabel(self._tr(key))
                    k.setObjectName("staffKey")
                    k.setWordWrap(True)
                    label = QLabel()
                    label.setObjectName("staffValue")
                    label.setWordWrap(True)
                    label.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
                    grid.addWidget(k, row, 0, Qt.AlignmentFlag.AlignTop)
                    grid.addWidget(label, row, 1)
                    self.values[key], self._keys[key] = label, k
                label.setText(value)
