"""Finds text that does not fit on screen: labels and buttons whose text is wider or taller
than the widget, or that their parent cuts off (used by the layout tests)."""

from __future__ import annotations

from PySide6.QtCore import QRect, Qt
from PySide6.QtWidgets import QAbstractScrollArea, QLabel, QPushButton, QWidget


def _in_scroll_area(w: QWidget) -> bool:
    p = w.parentWidget()
    while p is not None:
        if isinstance(p, QAbstractScrollArea):
            return True
        p = p.parentWidget()
    return False


def _cut_by_parents(w: QWidget) -> bool:
    """True when an ancestor (up to the window) does not show all of ``w``."""
    rect = QRect(w.mapTo(w.window(), w.rect().topLeft()), w.size())
    p = w.parentWidget()
    while p is not None:
        area = QRect(p.mapTo(w.window(), p.rect().topLeft()), p.size())
        if not area.contains(rect):
            return True
        p = p.parentWidget()
    return False


def clipped(root: QWidget) -> list[str]:
    """A description of every visible label or button under ``root`` whose text is cut."""
    found = []
    for label in root.findChildren(QLabel):
        text = label.text().strip()
        if not label.isVisibleTo(root) or not text or label.textFormat() == Qt.TextFormat.RichText:
            continue
        fm, cr = label.fontMetrics(), label.contentsRect()
        if label.wordWrap():
            widest = max(text.split(), key=fm.horizontalAdvance)
            needed = fm.boundingRect(cr, int(Qt.TextFlag.TextWordWrap), text).height()
            if fm.horizontalAdvance(widest) > cr.width():
                found.append(f"{text!r}: the word {widest!r} is wider than {cr.width()} px")
            elif needed > cr.height() + 2:
                found.append(f"{text!r}: needs {needed} px of height, has {cr.height()}")
        else:
            lines = label.text().split("\n")
            widest = max(fm.horizontalAdvance(line) for line in lines)
            if widest > cr.width() + 1:
                found.append(f"{text!r}: {widest} px wide, has {cr.width()}")
            elif len(lines) * fm.lineSpacing() > cr.height() + 3:
                found.append(f"{text!r}: {len(lines)} lines, {cr.height()} px of height")
        if not _in_scroll_area(label) and _cut_by_parents(label):
            found.append(f"{text!r}: cut off by the widget it is in")
    for button in root.findChildren(QPushButton):
        text = button.text().replace("&&", "&").strip()
        if not button.isVisibleTo(root) or not text:
            continue
        needed = QPushButton.sizeHint(button).width()  # at the font it has now (FitButton)
        if needed > button.width() + 1:
            found.append(f"button {text!r}: needs {needed} px, has {button.width()}")
        if not _in_scroll_area(button) and _cut_by_parents(button):
            found.append(f"button {text!r}: cut off by the widget it is in")
    return found
