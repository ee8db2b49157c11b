"""Packaged goods drawn with OpenCV: boxes, bottles, cans, cartons, jars and crisp bags.

Every ``draw_*`` function paints one product, centred, on a transparent 400 × 400 canvas and
returns it as BGRA; :mod:`kiosk.demo.scenes` places it in camera frames, and the catalog photo
is the same drawing on white. Only shapes, colours and text tell products apart, as on a shelf.
"""

from __future__ import annotations

import cv2
import numpy as np

SIZE = 400
Colour = tuple[int, int, int]  # BGR

FONT = cv2.FONT_HERSHEY_DUPLEX
FONT_BOLD = cv2.FONT_HERSHEY_TRIPLEX


def scaled(colour: Colour, k: float) -> Colour:
    """``colour`` darkened (k < 1) or lightened (k > 1)."""
    b, g, r = (min(255, int(c * k)) for c in colour)
    return b, g, r


def canvas() -> np.ndarray:
    """A transparent BGRA canvas."""
    return np.zeros((SIZE, SIZE, 4), np.uint8)


def fill(img: np.ndarray, pts: np.ndarray | list[tuple[int, int]], colour: Colour) -> None:
    """Fill a polygon opaquely."""
    cv2.fillPoly(img, [np.asarray(pts, np.int32)], (*colour, 255), cv2.LINE_AA)


def rect(img: np.ndarray, x0: int, y0: int, x1: int, y1: int, colour: Colour) -> None:
    cv2.rectangle(img, (x0, y0), (x1, y1), (*colour, 255), -1, cv2.LINE_AA)


def ellipse(
    img: np.ndarray,
    c: tuple[int, int],
    axes: tuple[int, int],
    colour: Colour,
    angle: float = 0,
    start: int = 0,
    end: int = 360,
) -> None:
    cv2.ellipse(img, c, axes, angle, start, end, (*colour, 255), -1, cv2.LINE_AA)


def text(
    img: np.ndarray,
    s: str,
    centre: tuple[int, int],
    scale: float,
    colour: Colour,
    thickness: int = 2,
    font: int = FONT,
    max_width: int | None = None,
) -> None:
    """Centred text, shrunk to fit ``max_width`` pixels."""
    (w, h), _ = cv2.getTextSize(s, font, scale, thickness)
    if max_width is not None and w > max_width:
        scale *= max_width / w
        (w, h), _ = cv2.getTextSize(s, font, scale, thickness)
    org = (centre[0] - w // 2, centre[1] + h // 2)
    cv2.putText(img, s, org, font, scale, (*colour, 255), thickness, cv2.LINE_AA)


def shade_horizontal(img: np.ndarray, strength: float = 0.35) -> None:
    """Darken towards the left and right edges of the drawn pixels: a cylinder's roundness."""
    alpha = img[..., 3] > 0
    cols = np.flatnonzero(alpha.any(axis=0))
    if cols.size == 0:
        return
    x = np.arange(SIZE, dtype=np.float32)
    mid, half = (cols[0] + cols[-1]) / 2, max(1.0, (cols[-1] - cols[0]) / 2)
    gain = 1.0 - strength * np.clip(np.abs(x - mid) / half, 0, 1) ** 2
    # a highlight a third of the way across
    gain += 0.25 * np.exp(-(((x - (mid - half * 0.4)) / (half * 0.12)) ** 2))
    rgb = img[..., :3].astype(np.float32) * gain[None, :, None]
    img[..., :3] = np.where(alpha[..., None], np.clip(rgb, 0, 255), img[..., :3]).astype(np.uint8)


def box(name: str, colour: Colour, accent: Colour, text_colour: Colour, emblem: str) -> np.ndarray:
    """A cereal-style box seen slightly from the side, with a brand band and an emblem."""
    img = canvas()
    x0, y0, x1, y1 = 95, 45, 285, 360
    side = scaled(colour, 0.6)
    fill(img, [(x1, y0), (x1 + 35, y0 + 20), (x1 + 35, y1 - 10), (x1, y1)], side)  # side face
    fill(
        img,
        [(x0, y0), (x1, y0), (x1 + 35, y0 + 20), (x0 + 35, y0 + 20)],
        scaled(colour, 1.2),
    )  # top
    rect(img, x0, y0, x1, y1, colour)
    rect(img, x0, y0 + 20, x1, y0 + 90, accent)
    text(
        img,
        name.split()[0].upper(),
        ((x0 + x1) // 2, y0 + 55),
        1.2,
        text_colour,
        3,
        FONT_BOLD,
        max_width=x1 - x0 - 20,
    )
    if len(name.split()) > 1:
        text(
            img,
            " ".join(name.split()[1:]).upper(),
            ((x0 + x1) // 2, y0 + 115),
            0.9,
            accent,
            2,
            FONT_BOLD,
            max_width=x1 - x0 - 20,
        )
    cx, cy = (x0 + x1) // 2, 260
    _emblem(img, emblem, (cx, cy), accent, text_colour)
    return img


def _emblem(img: np.ndarray, kind: str, c: tuple[int, int], a: Colour, b: Colour) -> None:
    cx, cy = c
    if kind == "sun":
        for k in range(12):
            ang = k * np.pi / 6
            p1 = (int(cx + 45 * np.cos(ang)), int(cy + 45 * np.sin(ang)))
            p2 = (int(cx + 75 * np.cos(ang + 0.12)), int(cy + 75 * np.sin(ang + 0.12)))
            p3 = (int(cx + 75 * np.cos(ang - 0.12)), int(cy + 75 * np.sin(ang - 0.12)))
            fill(img, [p1, p2, p3], a)
        ellipse(img, c, (45, 45), b)
    elif kind == "checker":
        for i in range(4):
            for j in range(4):
                colour = a if (i + j) % 2 else b
                rect(
                    img,
                    cx - 70 + 35 * i,
                    cy - 70 + 35 * j,
                    cx - 36 + 35 * i,
                    cy - 36 + 35 * j,
                    colour,
                )
    elif kind == "wheat":
        for dx in (-40, 0, 40):
            cv2.line(img, (cx + dx, cy + 80), (cx + dx, cy - 60), (*a, 255), 4, cv2.LINE_AA)
            for k in range(5):
                y = cy - 50 + 22 * k
                ellipse(img, (cx + dx - 10, y), (14, 6), a, -35)
                ellipse(img, (cx + dx + 10, y), (14, 6), a, 35)
    elif kind == "flower":
        for k in range(6):
            ang = k * np.pi / 3
            ellipse(
                img,
                (int(cx + 38 * np.cos(ang)), int(cy + 38 * np.sin(ang))),
                (30, 18),
                a,
                float(np.degrees(ang)),
            )
        ellipse(img, c, (22, 22), b)
    elif kind == "stripes":
        for k in range(5):
            rect(img, cx - 80, cy - 70 + 30 * k, cx + 80, cy - 58 + 30 * k, a if k % 2 else b)


def bottle(
    name: str,
    body: Colour,
    cap: Colour,
    label: Colour,
    text_colour: Colour,
    tall: bool = False,
    clear: bool = False,
) -> np.ndarray:
    """A bottle: cap, neck, shoulders, body and a wrap-around label."""
    img = canvas()
    w = 70 if tall else 85
    top = 40
    rect(img, 200 - 18, top, 200 + 18, top + 35, cap)  # cap
    rect(img, 200 - 15, top + 35, 200 + 15, top + (95 if tall else 75), body)  # neck
    shoulder_y = top + (95 if tall else 75)
    ellipse(img, (200, shoulder_y + 40), (w, 55), body, 0, 180, 360)
    rect(img, 200 - w, shoulder_y + 40, 200 + w, 370, body)
    ellipse(img, (200, 370), (w, 14), body)
    if clear:  # water: see-through body shows ripples
        for k in range(4):
            y = 170 + 45 * k
            cv2.line(
                img,
                (200 - w + 8, y),
                (200 + w - 8, y + 6),
                (*scaled(body, 0.85), 255),
                3,
            )
    ly0, ly1 = (230, 320) if tall else (200, 300)
    rect(img, 200 - w, ly0, 200 + w, ly1, label)
    text(img, name.split()[0].upper(), (200, ly0 + 30), 0.9, text_colour, 2, FONT_BOLD, 2 * w - 16)
    if len(name.split()) > 1:
        text(
            img, " ".join(name.split()[1:]), (200, ly0 + 68), 0.7, text_colour, 2, FONT, 2 * w - 16
        )
    shade_horizontal(img, 0.3)
    return img


def can(
    name: str, colour: Colour, band: Colour, text_colour: Colour, wave: bool = True
) -> np.ndarray:
    """A drinks can: metallic rims, a coloured body, a wave or band and the brand."""
    img = canvas()
    x0, x1, y0, y1 = 130, 270, 70, 340
    metal = (200, 200, 205)
    ellipse(img, (200, y1), (70, 16), metal)
    rect(img, x0, y0, x1, y1, colour)
    ellipse(img, (200, y0), (70, 16), metal)
    ellipse(img, (200, y0), (50, 10), (150, 150, 155))
    if wave:
        xs = np.arange(x0, x1 + 1)
        ys = 230 + 18 * np.sin((xs - x0) / 22.0)
        pts = [*zip(xs.tolist(), ys.astype(int).tolist(), strict=True), (x1, 275), (x0, 275)]
        fill(img, pts, band)
    else:
        rect(img, x0, 215, x1, 265, band)
    text(img, name.split()[0].upper(), (200, 150), 1.0, text_colour, 2, FONT_BOLD, x1 - x0 - 10)
    if len(name.split()) > 1:
        text(
            img,
            " ".join(name.split()[1:]).upper(),
            (200, 190),
            0.6,
            text_colour,
            1,
            FONT,
            x1 - x0 - 10,
        )
    shade_horizontal(img, 0.45)
    return img


def carton(
    name: str, colour: Colour, accent: Colour, text_colour: Colour, pattern: str
) -> np.ndarray:
    """A gable-top carton (milk, juice)."""
    img = canvas()
    x0, x1 = 120, 280
    fill(img, [(x0, 120), (200, 60), (x1, 120)], scaled(colour, 0.85))
    rect(img, 185, 45, 215, 62, accent)
    rect(img, x0, 120, x1, 365, colour)
    if pattern == "spots":
        rng = np.random.default_rng(7)
        for _ in range(7):
            cx, cy = int(rng.integers(x0 + 15, x1 - 15)), int(rng.integers(250, 350))
            ellipse(
                img,
                (cx, cy),
                (int(rng.integers(10, 22)), int(rng.integers(7, 15))),
                (30, 30, 30),
                float(rng.integers(0, 180)),
            )
    elif pattern == "slice":
        ellipse(img, (200, 290), (55, 55), accent)
        ellipse(img, (200, 290), (45, 45), (90, 200, 255))
        for k in range(8):
            ang = k * np.pi / 4
            cv2.line(
                img,
                (200, 290),
                (int(200 + 45 * np.cos(ang)), int(290 + 45 * np.sin(ang))),
                (*accent, 255),
                3,
            )
    rect(img, x0, 140, x1, 200, accent)
    text(img, name.split()[0].upper(), (200, 170), 1.0, text_colour, 2, FONT_BOLD, x1 - x0 - 16)
    if len(name.split()) > 1:
        text(
            img,
            " ".join(name.split()[1:]).upper(),
            (200, 225),
            0.8,
            accent,
            2,
            FONT_BOLD,
            x1 - x0 - 16,
        )
    return img


def jar(
    name: str,
    contents: Colour,
    lid: Colour,
    label: Colour,
    text_colour: Colour,
    gingham: bool = False,
) -> np.ndarray:
    """A glass jar with a lid and a round-cornered label."""
    img = canvas()
    rect(img, 105, 110, 295, 350, contents)
    ellipse(img, (200, 350), (95, 18), contents)
    rect(img, 115, 70, 285, 115, lid)
    if gingham:
        for k in range(0, 170, 20):
            rect(img, 115 + k, 70, 125 + k, 115, (255, 255, 255))
    cv2.rectangle(img, (125, 180), (275, 300), (*label, 255), -1, cv2.LINE_AA)
    cv2.rectangle(img, (125, 180), (275, 300), (*text_colour, 255), 3, cv2.LINE_AA)
    text(img, name.split()[0].upper(), (200, 220), 0.9, text_colour, 2, FONT_BOLD, 135)
    if len(name.split()) > 1:
        text(img, " ".join(name.split()[1:]), (200, 262), 0.75, text_colour, 2, FONT, 135)
    shade_horizontal(img, 0.3)
    return img


def bag(
    name: str, colour: Colour, accent: Colour, text_colour: Colour, style: str = "window"
) -> np.ndarray:
    """A crisp bag: crimped top and bottom; a window onto the crisps, or bold flames."""
    img = canvas()
    x0, x1 = 95, 305
    zig_top = [(x0 + 10 * k, 60 + (8 if k % 2 else 0)) for k in range(22)]
    zig_bot = [(x1 - 10 * k, 355 - (8 if k % 2 else 0)) for k in range(22)]
    fill(img, zig_top + zig_bot, colour)
    if style == "window":
        ellipse(img, (200, 255), (80, 60), accent)
        for k in range(5):  # crisps in the window
            ellipse(
                img, (150 + 25 * k, 255 + (10 if k % 2 else -8)), (22, 14), (80, 200, 240), 20.0 * k
            )
    else:
        for k in range(4):  # flames rising from the bottom
            cx = x0 + 30 + 50 * k
            fill(img, [(cx - 28, 345), (cx, 200 + 25 * (k % 2)), (cx + 28, 345)], accent)
            fill(img, [(cx - 14, 345), (cx, 265 + 25 * (k % 2)), (cx + 14, 345)], (40, 230, 250))
        cv2.line(img, (x0, 190), (x1, 150), (*text_colour, 255), 6, cv2.LINE_AA)
    text(img, name.split()[0].upper(), (200, 110), 1.1, text_colour, 3, FONT_BOLD, x1 - x0 - 30)
    if len(name.split()) > 1:
        text(
            img,
            " ".join(name.split()[1:]).upper(),
            (200, 215 if style != "window" else 160),
            0.8,
            text_colour,
            2,
            FONT,
            x1 - x0 - 30,
        )
    return img


def pump_bottle(
    name: str, body: Colour, pump: Colour, label: Colour, text_colour: Colour
) -> np.ndarray:
    """A hand-wash pump bottle: a squat rounded body, a pump head with a spout."""
    img = canvas()
    rect(img, 185, 40, 275, 58, pump)  # spout
    rect(img, 175, 40, 205, 110, pump)  # pump stem
    rect(img, 160, 105, 240, 140, pump)  # collar
    cv2.rectangle(img, (105, 135), (295, 365), (*body, 255), -1, cv2.LINE_AA)
    ellipse(img, (200, 140), (95, 25), body)
    ellipse(img, (200, 365), (95, 12), body)
    ellipse(img, (200, 255), (70, 70), label)
    text(img, name.split()[0].upper(), (200, 240), 0.8, text_colour, 2, FONT_BOLD, 130)
    if len(name.split()) > 1:
        text(img, " ".join(name.split()[1:]), (200, 275), 0.65, text_colour, 2, FONT, 120)
    shade_horizontal(img, 0.35)
    return img
