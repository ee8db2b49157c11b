"""Colours, sizes and the style sheet: large touch targets, readable from a metre away."""

from __future__ import annotations

BG = "#0f1720"
PANEL = "#1b2633"
CARD = "#ffffff"
INK = "#11202e"
MUTED = "#5b6b7a"
ACCENT = "#ffb000"
GOOD = "#1f9d55"
WARN = "#e0662b"
ON_DARK = "#f2f5f8"

TOUCH = 84  # minimum height of a touch target, px (≈ 15 mm on a 10" 1280 × 800 panel)
BASE_PT = 20

STYLE = f"""
QWidget {{ background: {BG}; color: {ON_DARK}; font-size: {BASE_PT}px; }}
QLabel {{ background: transparent; }}
QLabel#title {{ font-size: 34px; font-weight: 700; }}
QLabel#subtitle {{ font-size: 24px; color: #c9d3dc; }}
QLabel#hero {{ font-size: 64px; font-weight: 800; color: {ACCENT}; }}
QLabel#heroBody {{ font-size: 32px; color: {ON_DARK}; }}
QLabel#brand {{ font-size: 28px; font-weight: 800; color: {ACCENT}; }}
QFrame#panel {{ background: {PANEL}; border-radius: 18px; }}
QPushButton {{
    background: #2c3b4b; color: {ON_DARK}; border: none; border-radius: 16px;
    min-height: {TOUCH}px; padding: 0 26px; font-size: 24px; font-weight: 600;
}}
QPushButton:pressed {{ background: #40556b; }}
QPushButton:disabled {{ background: #26313c; color: #6e7d8b; }}
QPushButton#primary {{ background: {ACCENT}; color: {INK}; font-size: 28px; font-weight: 800; }}
QPushButton#primary:pressed {{ background: #e09a00; }}
QPushButton#primary:disabled {{ background: #6b5a2e; color: #2a2a2a; }}
QPushButton#toggleOn {{ background: {GOOD}; }}
QPushButton#category {{ background: #24405e; min-height: {TOUCH}px; }}
QPushButton#key {{ min-height: 76px; min-width: 76px; padding: 0; font-size: 28px; }}
QLineEdit {{
    background: {CARD}; color: {INK}; border-radius: 14px; padding: 10px 18px;
    font-size: 34px; min-height: {TOUCH}px;
}}
QLineEdit#searchField {{ min-height: 52px; padding: 6px 18px; font-size: 30px; }}
QScrollArea {{ border: none; background: transparent; }}
QScrollArea > QWidget > QWidget {{ background: transparent; }}
QScrollBar:vertical {{ width: 18px; background: {PANEL}; }}
QScrollBar::handle:vertical {{ background: #4a5d70; border-radius: 9px; min-height: 60px; }}
QScrollBar:horizontal {{ height: 18px; background: {PANEL}; }}
QScrollBar::handle:horizontal {{ background: #4a5d70; border-radius: 9px; min-width: 60px; }}
QLabel#staffKey {{ color: #9fb0c0; font-size: 18px; }}
QLabel#staffValue {{ font-size: 18px; font-weight: 600; }}
QLabel#banner {{
    background: rgba(15, 23, 32, 200); color: {ACCENT}; border-radius: 14px;
    padding: 8px 22px; font-size: 30px; font-weight: 700;
}}
"""
