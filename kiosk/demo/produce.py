"""Fruit and vegetables drawn with OpenCV: distinct shapes and colours, softly shaded.

Same conventions as :mod:`kiosk.demo.packaged`: each function returns a 400 × 400 BGRA image.
"""

from __future__ import annotations

import cv2
import numpy as np

from .packaged import SIZE, Colour, canvas, ellipse, fill

LEAF: Colour = (40, 150, 60)
STEM: Colour = (30, 60, 90)


def shade_round(
    img: np.ndarray, centre: tuple[int, int], radius: float, strength: float = 0.45
) -> None:
    """Darken drawn pixels away from a light spot up-left of ``centre``: a round body."""
    alpha = img[..., 3] > 0
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    lx, ly = centre[0] - radius * 0.35, centre[1] - radius * 0.35
    d = np.sqrt((xx - lx) ** 2 + (yy - ly) ** 2) / (radius * 1.6)
    gain = 1.15 - strength * np.clip(d, 0, 1) ** 1.5
    spot = np.exp(-(((xx - lx) ** 2 + (yy - ly) ** 2) / (2 * (radius * 0.12) ** 2)))
    rgb = img[..., :3].astype(np.float32) * gain[..., None] + 90 * spot[..., None]
    img[..., :3] = np.where(alpha[..., None], np.clip(rgb, 0, 255), img[..., :3]).astype(np.uint8)


def apple(colour: Colour = (40, 40, 200)) -> np.ndarray:
    img = canvas()
    ellipse(img, (165, 215), (95, 110), colour)
    ellipse(img, (235, 215), (95, 110), colour)
    shade_round(img, (200, 215), 130)
    cv2.line(img, (200, 120), (210, 70), (*STEM, 255), 8, cv2.LINE_AA)
    ellipse(img, (240, 85), (35, 14), LEAF, -25)
    return img


def vine_tomatoes() -> np.ndarray:
    """Cherry tomatoes on a branching green vine."""
    img = canvas()
    vine = [(60, 70), (200, 95), (340, 70)]
    cv2.polylines(img, [np.asarray(vine, np.int32)], False, (*LEAF, 255), 10, cv2.LINE_AA)
    spots = [
        (95, 150),
        (170, 165),
        (250, 160),
        (320, 140),
        (130, 240),
        (210, 250),
        (290, 235),
        (170, 320),
        (250, 320),
    ]
    for x, y in spots:
        cv2.line(img, (x, y - 40), (x + 8, 88), (*LEAF, 255), 5, cv2.LINE_AA)
    for x, y in spots:
        ellipse(img, (x, y), (40, 38), (30, 45, 215))
        ellipse(img, (x - 12, y - 14), (9, 7), (170, 180, 255))
        for k in range(5):
            ang = k * 2 * np.pi / 5
            cv2.line(
                img,
                (x, y - 34),
                (int(x + 16 * np.cos(ang)), int(y - 34 + 8 * np.sin(ang))),
                (*LEAF, 255),
                3,
                cv2.LINE_AA,
            )
    return img


def orange() -> np.ndarray:
    img = canvas()
    ellipse(img, (200, 205), (135, 135), (20, 140, 250))
    rng = np.random.default_rng(3)
    for _ in range(260):  # the dimpled peel
        x, y = rng.integers(80, 320, 2)
        if (x - 200) ** 2 + (y - 205) ** 2 < 125**2:
            cv2.circle(img, (int(x), int(y)), 2, (15, 115, 225, 255), -1)
    shade_round(img, (200, 205), 135)
    ellipse(img, (200, 72), (10, 6), LEAF)
    return img


def lemon() -> np.ndarray:
    img = canvas()
    ellipse(img, (200, 200), (140, 95), (40, 225, 245), -15)
    rng = np.random.default_rng(4)
    for _ in range(220):  # pitted peel
        x, y = rng.integers(70, 330), rng.integers(110, 290)
        if ((x - 200) / 130) ** 2 + ((y - 200) / 85) ** 2 < 1:
            cv2.circle(img, (int(x), int(y)), 2, (30, 200, 225, 255), -1)
    fill(img, [(41, 242), (79, 247), (71, 219)], (40, 225, 245))  # the pointed ends
    fill(img, [(359, 158), (329, 180), (321, 153)], (40, 225, 245))
    shade_round(img, (200, 200), 130, 0.35)
    return img


def banana() -> np.ndarray:
    img = canvas()
    outer = cv2.ellipse2Poly((200, 90), (175, 230), 0, 35, 145, 4)
    inner = cv2.ellipse2Poly((200, 60), (150, 180), 0, 40, 140, 4)
    fill(img, np.vstack([outer, inner[::-1]]), (50, 215, 245))
    cv2.polylines(img, [np.asarray(inner, np.int32)], False, (30, 170, 210, 255), 4, cv2.LINE_AA)
    ellipse(img, (58, 238), (14, 10), STEM, 40)  # the tips
    ellipse(img, (343, 238), (12, 9), (30, 40, 60), -40)
    return img


def pear() -> np.ndarray:
    img = canvas()
    ellipse(img, (200, 265), (110, 100), (60, 200, 170))
    ellipse(img, (200, 165), (65, 80), (60, 200, 170))
    shade_round(img, (200, 240), 120, 0.35)
    cv2.line(img, (200, 90), (190, 45), (*STEM, 255), 7, cv2.LINE_AA)
    return img


def grapes() -> np.ndarray:
    img = canvas()
    cv2.line(img, (200, 70), (205, 30), (*STEM, 255), 6, cv2.LINE_AA)
    rows = [7, 6, 6, 5, 4, 3, 2]
    for r, n in enumerate(rows):
        for k in range(n):
            cx = int(200 + (k - (n - 1) / 2) * 42)
            cy = 95 + r * 40
            ellipse(img, (cx, cy), (22, 24), (90, 200, 150))
            ellipse(img, (cx - 7, cy - 8), (6, 6), (180, 245, 220))
    return img


def carrots() -> np.ndarray:
    img = canvas()
    for dx, ang in ((-50, -12), (0, 0), (50, 12)):
        pts = np.array([(-22, 0), (22, 0), (2, 240), (-2, 240)], np.float32)
        rot = np.deg2rad(ang)
        r = np.array([[np.cos(rot), -np.sin(rot)], [np.sin(rot), np.cos(rot)]], np.float32)
        pts = pts @ r.T + (200 + dx, 120)
        fill(img, pts, (20, 120, 240))
        for k in range(3):
            cv2.line(
                img, (200 + dx, 120), (200 + dx + (k - 1) * 25, 40), (*LEAF, 255), 7, cv2.LINE_AA
            )
        for k in range(5):
            y = 150 + 35 * k
            x = int(200 + dx + np.tan(rot) * (y - 120) * -1)
            cv2.line(img, (x - 10, y), (x + 6, y + 3), (10, 90, 200, 255), 2, cv2.LINE_AA)
    return img


def broccoli() -> np.ndarray:
    img = canvas()
    fill(img, [(175, 360), (225, 360), (240, 230), (160, 230)], (110, 190, 140))
    rng = np.random.default_rng(5)
    for _ in range(45):
        x, y = rng.normal(200, 55), rng.normal(160, 40)
        ellipse(img, (int(x), int(y)), (26, 26), (40, int(rng.integers(110, 150)), 30))
    return img


def aubergine() -> np.ndarray:
    img = canvas()
    ellipse(img, (215, 235), (85, 135), (110, 30, 80), -25)
    shade_round(img, (215, 235), 130, 0.3)
    fill(img, [(130, 95), (175, 60), (200, 120), (150, 140)], LEAF)
    cv2.line(img, (150, 80), (120, 40), (*LEAF, 255), 10, cv2.LINE_AA)
    return img


def avocado() -> np.ndarray:
    img = canvas()
    ellipse(img, (200, 250), (105, 115), (30, 80, 40))
    ellipse(img, (200, 150), (70, 85), (30, 80, 40))
    ellipse(img, (200, 245), (85, 95), (90, 210, 190))
    ellipse(img, (200, 160), (50, 60), (90, 210, 190))
    ellipse(img, (200, 255), (45, 50), (40, 90, 150))
    shade_round(img, (200, 220), 120, 0.25)
    return img


def strawberry() -> np.ndarray:
    img = canvas()
    fill(img, [(95, 140), (305, 140), (280, 250), (200, 360), (120, 250)], (50, 30, 215))
    ellipse(img, (200, 150), (105, 45), (50, 30, 215))
    rng = np.random.default_rng(9)
    for _ in range(60):
        x, y = int(rng.integers(120, 280)), int(rng.integers(150, 300))
        if abs(x - 200) < 100 - (y - 150) * 0.55:
            ellipse(img, (x, y), (3, 5), (90, 220, 245))
    for k in range(7):
        ang = np.pi + k * np.pi / 6
        ellipse(
            img,
            (int(200 + 55 * np.cos(ang)), int(118 + 25 * np.sin(ang))),
            (35, 10),
            LEAF,
            float(np.degrees(ang)),
        )
    shade_round(img, (200, 210), 130, 0.3)
    return img


def pineapple() -> np.ndarray:
    """A pineapple: a golden, diamond-patterned body under a crown of spiky leaves."""
    img = canvas()
    for k in range(9):  # the crown
        ang = np.deg2rad(-90 + (k - 4) * 14)
        tip = (int(200 + 120 * np.cos(ang)), int(150 + 120 * np.sin(ang)))
        fill(img, [(190 + 3 * (k - 4), 150), tip, (210 + 3 * (k - 4), 150)], (60, 140, 40))
    ellipse(img, (200, 260), (95, 125), (40, 160, 215))
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    body = img[..., 3] > 0
    grid = ((xx + yy) % 38 < 4) | ((xx - yy) % 38 < 4)
    inside = body & grid & (yy > 140)
    img[inside] = (20, 90, 140, 255)
    shade_round(img, (200, 260), 130, 0.35)
    return img
