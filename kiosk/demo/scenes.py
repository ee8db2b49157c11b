"""Camera frames of the drawn products: varied poses, lighting, blur and a hand in the way.

:func:`script` plans the demo's replay video as a list of :class:`Shot`\\ s (one product held
up for a while, products sliding in and out, an empty counter, a dark moment, a focus pull);
:func:`render` draws one frame of a shot. Everything is seeded, so a build is reproducible.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

WIDTH, HEIGHT = 640, 480


@dataclass(frozen=True)
class Shot:
    """One stretch of the replay: a product (or nothing) in one pose and light."""

    sku: str | None  # None: the empty counter
    frames: int
    angle: float = 0.0  # in-plane rotation, degrees
    scale: float = 1.0  # of the 400 px drawing relative to the 384 px framing guide
    offset: tuple[float, float] = (0.0, 0.0)
    tilt: tuple[float, ...] = (0.0,) * 8  # perspective: corner offsets, fraction of size
    gain: float = 1.0  # overall light
    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)
    side_light: float = 0.0  # -1..1: brighter on the left or the right
    blur: float = 0.0  # Gaussian sigma (defocus)
    focus_pull: bool = False  # starts blurred, sharpens in the first half
    slide_in: bool = False  # enters from the side with motion blur
    hand: int = -1  # -1 no hand, else which side the hand grips from (0..3)
    skin: tuple[int, int, int] = (120, 160, 215)


def background(seed: int = 0) -> np.ndarray:
    """A kiosk counter: a soft grey-beige gradient with some texture and a shelf edge."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, HEIGHT, dtype=np.float32)[:, None, None]
    top = np.array([178, 182, 186], np.float32)
    bottom = np.array([128, 138, 150], np.float32)
    img = top * (1 - y) + bottom * y + np.zeros((1, WIDTH, 1), np.float32)
    noise = cv2.resize(
        rng.normal(0, 10, (HEIGHT // 16, WIDTH // 16)).astype(np.float32),
        (WIDTH, HEIGHT),
        interpolation=cv2.INTER_CUBIC,
    )
    img += noise[..., None]
    img[HEIGHT - 60 : HEIGHT - 52] *= 0.7  # the counter's front edge
    return np.clip(img, 0, 255).astype(np.uint8)


def draw_hand(
    frame: np.ndarray,
    side: int,
    centre: tuple[float, float],
    reach: float,
    skin: tuple[int, int, int],
) -> None:
    """A hand gripping the product from ``side`` (0 bottom, 1 left, 2 right, 3 bottom-right)."""
    angle = {0: -90.0, 1: 0.0, 2: 180.0, 3: -135.0}[side]
    a = np.deg2rad(angle)
    d = np.array([np.cos(a), np.sin(a)])  # from the wrist towards the product
    n = np.array([-d[1], d[0]])
    c = np.asarray(centre)
    wrist = c - d * reach * 1.05
    palm = wrist + d * reach * 0.32
    layer = frame.copy()
    dark = tuple(int(v * 0.8) for v in skin)
    arm = [wrist - n * 58 - d * 400, wrist + n * 58 - d * 400, wrist + n * 55, wrist - n * 55]
    cv2.fillPoly(layer, [np.asarray(arm, np.int32)], dark, cv2.LINE_AA)
    cv2.ellipse(
        layer,
        tuple(int(v) for v in palm),
        (int(reach * 0.3), 62),
        angle,
        0,
        360,
        skin,
        -1,
        cv2.LINE_AA,
    )
    for k, length in zip((-1.5, -0.5, 0.5, 1.5), (0.28, 0.33, 0.31, 0.25), strict=True):
        base = palm + d * reach * 0.2 + n * k * 26
        tip = base + d * reach * length
        cv2.line(
            layer, tuple(int(v) for v in base), tuple(int(v) for v in tip), skin, 24, cv2.LINE_AA
        )
        cv2.circle(layer, tuple(int(v) for v in tip), 12, skin, -1, cv2.LINE_AA)
        cv2.line(
            layer,
            tuple(int(v) for v in tip - d * 14),
            tuple(int(v) for v in tip - d * 14 + n * 8),
            dark,
            2,
            cv2.LINE_AA,
        )
    thumb = palm + n * 60 + d * 20
    cv2.line(
        layer,
        tuple(int(v) for v in palm + n * 30),
        tuple(int(v) for v in thumb + d * 40),
        skin,
        26,
        cv2.LINE_AA,
    )
    frame[:] = layer


def _place(
    rgba: np.ndarray, shot: Shot, jitter: np.ndarray, slide: float
) -> tuple[np.ndarray, np.ndarray]:
    """Warp the drawing into frame coordinates: (BGR, alpha 0..1)."""
    side = 0.8 * min(WIDTH, HEIGHT)  # the framing guide
    s = side * shot.scale / rgba.shape[0]
    h = rgba.shape[0]
    src = np.array([[0, 0], [h, 0], [h, h], [0, h]], np.float32)
    t = np.asarray(shot.tilt, np.float32).reshape(4, 2) * h
    centre = np.array(
        [WIDTH / 2 + shot.offset[0] + jitter[0] + slide, HEIGHT / 2 + shot.offset[1] + jitter[1]],
        np.float32,
    )
    a = np.deg2rad(shot.angle + jitter[2])
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]], np.float32)
    dst = ((src + t - h / 2) * s) @ rot.T + centre
    m = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    warped = cv2.warpPerspective(
        rgba,
        m,
        (WIDTH, HEIGHT),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0, 0),
    )
    return warped[..., :3], warped[..., 3:4].astype(np.float32) / 255.0


_NOISE: list[np.ndarray] = []


def _noise(rng: np.random.Generator) -> np.ndarray:
    """Sensor noise, drawn from a small bank (generating a fresh field per frame is slow)."""
    if not _NOISE:
        bank = np.random.default_rng(99)
        _NOISE.extend(bank.normal(0, 3.0, (HEIGHT, WIDTH, 3)).astype(np.float32) for _ in range(8))
    return np.roll(_NOISE[int(rng.integers(len(_NOISE)))], int(rng.integers(0, 64)), axis=1)


def shake(base: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A held frame: ``base`` nudged by hand tremor, plus fresh sensor noise (fast path)."""
    dx, dy, da = rng.normal(0, [1.2, 1.2, 0.35])
    m = cv2.getRotationMatrix2D((WIDTH / 2, HEIGHT / 2), float(da), 1.0)
    m[:, 2] += (dx, dy)
    moved = cv2.warpAffine(base, m, (WIDTH, HEIGHT), borderMode=cv2.BORDER_REFLECT)
    return np.clip(moved + _noise(rng), 0, 255).astype(np.uint8)


def render(
    shot: Shot,
    i: int,
    drawing: np.ndarray | None,
    bg: np.ndarray,
    rng: np.random.Generator,
    *,
    still: bool = False,
) -> np.ndarray:
    """Frame ``i`` of ``shot`` (8-bit BGR, 640 × 480); ``still``: no tremor, no noise."""
    jitter = np.zeros(3) if still else rng.normal(0, [1.2, 1.2, 0.35])
    frame: np.ndarray = bg.astype(np.float32)
    slide = 0.0
    if shot.slide_in:
        slide = (1.0 - min(1.0, (i + 1) / max(1, shot.frames * 0.6))) * 420
    if drawing is not None and shot.sku is not None:
        bgr, alpha = _place(drawing, shot, jitter, slide)
        small = cv2.GaussianBlur(cv2.resize(alpha, (WIDTH // 4, HEIGHT // 4)), (0, 0), 3)
        shadow = np.roll(cv2.resize(small, (WIDTH, HEIGHT)), (14, 10), axis=(0, 1))
        frame *= 1 - 0.35 * np.clip(shadow.reshape(HEIGHT, WIDTH, 1), 0, 1)
        frame = frame * (1 - alpha) + bgr.astype(np.float32) * alpha
        if shot.hand >= 0:
            hand_frame = np.clip(frame, 0, 255).astype(np.uint8)
            centre = (WIDTH / 2 + shot.offset[0] + slide, HEIGHT / 2 + shot.offset[1])
            draw_hand(hand_frame, shot.hand, centre, 0.8 * HEIGHT * shot.scale * 0.55, shot.skin)
            frame = hand_frame.astype(np.float32)
    # light: overall gain, colour tint, a gradient from one side
    x = np.linspace(-1, 1, WIDTH, dtype=np.float32)[None, :, None]
    frame *= shot.gain * (1 + 0.25 * shot.side_light * x) * np.array(shot.tint, np.float32)
    sigma = shot.blur
    if shot.focus_pull:
        sigma = max(shot.blur, 5.0 * max(0.0, 1 - i / max(1, shot.frames * 0.5)))
    if shot.slide_in and slide > 1:
        k = max(3, int(slide / 12) | 1)
        frame = cv2.blur(frame, (k, 1))
    if sigma > 0.3:
        frame = cv2.GaussianBlur(frame, (0, 0), sigma)
    if not still:
        frame += _noise(rng)
    return np.clip(frame, 0, 255).astype(np.uint8)


def random_shot(sku: str, frames: int, rng: np.random.Generator, *, hard: bool = False) -> Shot:
    """A held-up product in a random but recognisable pose and light."""
    tilt = tuple(float(v) for v in rng.uniform(-0.07, 0.07, 8))
    return Shot(
        sku=sku,
        frames=frames,
        angle=float(rng.uniform(-22, 22)),
        scale=float(rng.uniform(0.85, 1.15)),
        offset=(float(rng.uniform(-25, 25)), float(rng.uniform(-20, 20))),
        tilt=tilt,
        gain=float(rng.uniform(0.7, 1.15)) if not hard else float(rng.uniform(0.55, 0.8)),
        tint=tuple(float(v) for v in rng.uniform(0.9, 1.1, 3)),  # type: ignore[arg-type]
        side_light=float(rng.uniform(-1, 1)),
        blur=float(rng.choice([0.0, 0.0, 0.8, 1.4])) if not hard else 1.8,
        hand=int(rng.integers(-1, 4)) if not hard else int(rng.integers(0, 4)),
        skin=tuple(
            int(v)
            for v in rng.choice(  # type: ignore[arg-type]
                [(120, 160, 215), (90, 130, 185), (60, 95, 140), (150, 185, 230)]
            )
        ),
    )


def script(
    skus: Sequence[str], seed: int = 1, fps: float = 30.0, hold_s: float = 2.2
) -> list[Shot]:
    """The demo's replay: every product held up once, with some variety in between."""
    rng = np.random.default_rng(seed)
    hold, enter = int(hold_s * fps), int(0.6 * fps)
    shots: list[Shot] = [Shot(None, int(1.5 * fps))]
    for n, sku in enumerate(skus):
        held = random_shot(sku, hold, rng)
        if n % 7 == 3:
            held = Shot(**{**held.__dict__, "focus_pull": True, "frames": hold + int(0.5 * fps)})
        shots.append(Shot(**{**held.__dict__, "frames": enter, "slide_in": True}))
        shots.append(held)
        if n % 9 == 8:
            shots.append(Shot(None, int(1.0 * fps)))
        if n == len(skus) // 2:
            shots.append(Shot(**{**held.__dict__, "gain": 0.22, "frames": int(1.2 * fps)}))
    return shots


def frames(
    shots: Sequence[Shot], drawings: dict[str, np.ndarray], seed: int = 2
) -> Iterator[tuple[np.ndarray, Shot, int]]:
    """Every frame of ``shots``, in order, with its shot and index within the shot."""
    rng = np.random.default_rng(seed)
    bg = background(seed)
    for shot in shots:
        drawing = drawings.get(shot.sku) if shot.sku else None
        base = None
        if not (shot.slide_in or shot.focus_pull):  # a held pose: render once, then shake it
            base = render(shot, 0, drawing, bg, rng, still=True).astype(np.float32)
        for i in range(shot.frames):
            if base is not None:
                yield shake(base, rng), shot, i
            else:
                yield render(shot, i, drawing, bg, rng), shot, i
