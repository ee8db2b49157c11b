"""A simple on-screen keyboard (Qt Virtual Keyboard is GPL or commercial, so we draw our own)."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLineEdit, QPushButton, QVBoxLayout, QWidget

from ..i18n import Translator
from .widgets import button_text, clear_layout

LAYOUTS = {
    "en": ["1234567890", "QWERTYUIOP", "ASDFGHJKL'", "ZXCVBNM-&"],
    "de": ["1234567890", "QWERTZUIOPÜ", "ASDFGHJKLÖÄ", "YXCVBNM-&ß"],
}
BACKSPACE = "⌫"


class OnScreenKeyboard(QWidget):
    """Big keys that type into ``target``; ``keyPressed(key)`` for tests and the idle timer."""

    keyPressed = Signal(str)

    def __init__(self, target: QLineEdit, tr: Translator, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.target = target
        self.keys: dict[str, QPushButton] = {}
        self._outer = QVBoxLayout(self)
        self._outer.setContentsMargins(0, 0, 0, 0)
        self._outer.setSpacing(8)
        self.set_language(tr)

    def set_language(self, tr: Translator) -> None:
        clear_layout(self._outer)
        self.keys = {}
        grid = QGridLayout()
        grid.setSpacing(8)
        for r, row in enumerate(LAYOUTS.get(tr.language, LAYOUTS["en"])):
            for c, ch in enumerate(row):
                grid.addWidget(self._key(ch, ch), r, c)
        grid.addWidget(self._key(BACKSPACE, BACKSPACE), 0, len(LAYOUTS["de"][1]) - 1)
        self._outer.addLayout(grid)
        bottom = QHBoxLayout()
        bottom.setSpacing(8)
        bottom.addWidget(self._key(tr("key_clear"), "clear"), 1)
        bottom.addWidget(self._key(tr("key_space"), " "), 4)
        self._outer.addLayout(bottom)

    def _key(self, label: str, key: str) -> QPushButton:
        b = QPushButton(button_text(label))
        b.setObjectName("key")
        b.clicked.connect(lambda: self.press(key))
        self.keys[key] = b
        return b

    def press(self, key: str) -> None:
        """Type ``key`` (a character, BACKSPACE or "clear") into the target."""
        if key == BACKSPACE:
            self.target.backspace()
        elif key == "clear":
            self.target.clear()
        else:
            self.target.insert(key.lower() if key.isalpha() else key)
        self.keyPressed.emit(key)

    def type_text(self, text: str) -> None:
        """Press the keys for ``text`` one by one (tests, demos)."""
        for ch in text:
            up = ch.upper()
            key = up if len(up) == 1 and up in self.keys else ch
            self.keys[key].click()
