"""Build (once, then cached) the demo: product images, a products file and a replay video.

``aislelens kiosk --demo`` needs nothing but the repository: it draws the demo products
(:mod:`kiosk.demo.products`), renders a replay "camera" of them being held up
(:mod:`kiosk.demo.scenes`) and writes both under the cache folder, in a folder named after
the demo version, built in a temporary folder and renamed into place when complete. Later
starts find it and skip straight to opening the catalog.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import DemoError
from . import scenes
from .products import DEMO_PRODUCTS, DemoProduct, catalog_photo

log = logging.getLogger(__name__)

#: bump when the drawings, the script or the file layout change: old builds are then ignored
DEMO_VERSION = 2  # 2: the in-store shots are enrolled (enroll.csv), not catalog photos
ENROLLED_SHOTS = 5  # in-store photos per product, as staff would enrol them


@dataclass(frozen=True)
class DemoAssets:
    """What a demo build left on disk."""

    root: Path
    products_file: Path  # products.json: the catalog import file (with image paths)
    enroll_file: Path  # enroll.csv: the in-store shots to enrol (image, sku)
    camera: Path  # the replay video
    shots: list[dict]  # [{"sku": ..., "start": frame, "end": frame}] of the held shots

    def held_frames(self, sku: str) -> list[int]:
        """Frame numbers of the video where ``sku`` is held still (for tests)."""
        return [f for s in self.shots if s["sku"] == sku for f in range(s["start"], s["end"])]


def _fingerprint(items: Sequence[DemoProduct], hold_s: float, fps: float) -> str:
    key = json.dumps([DEMO_VERSION, [d.product.sku for d in items], hold_s, fps])
    return hashlib.sha256(key.encode()).hexdigest()[:10]


def demo_root(
    cache_dir: Path,
    items: Sequence[DemoProduct] = DEMO_PRODUCTS,
    hold_s: float = 2.2,
    fps: float = 30.0,
) -> Path:
    """The folder a build with these parameters lives in."""
    return Path(cache_dir) / f"demo-v{DEMO_VERSION}-{_fingerprint(items, hold_s, fps)}"


def build_demo(
    cache_dir: Path,
    items: Sequence[DemoProduct] = DEMO_PRODUCTS,
    *,
    hold_s: float = 2.2,
    fps: float = 30.0,
    progress: Callable[[str, int, int], None] | None = None,
) -> DemoAssets:
    """The demo's files under ``cache_dir``, building them first if they are not there yet.

    ``progress(stage, done, total)`` reports long work. Raises :class:`DemoError` when the
    folder cannot be written or the video cannot be encoded.
    """
    root = demo_root(cache_dir, items, hold_s, fps)
    if (root / "demo.json").is_file():
        return _load(root)
    tmp = root.with_name(f"{root.name}.tmp-{os.getpid()}")
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        (tmp / "images").mkdir(parents=True)
        _write_products(tmp, items, progress)
        shots = _write_video(tmp, items, hold_s, fps, progress)
        (tmp / "demo.json").write_text(json.dumps({"version": DEMO_VERSION, "shots": shots}))
        if root.exists():  # another process finished first
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            os.replace(tmp, root)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DemoError(f"cannot build the demo in {cache_dir}: {exc}") from exc
    log.info("demo built in %s", root)
    return _load(root)


def _load(root: Path) -> DemoAssets:
    meta = json.loads((root / "demo.json").read_text())
    return DemoAssets(
        root, root / "products.json", root / "enroll.csv", root / "camera.mp4", meta["shots"]
    )


def _write_products(
    root: Path, items: Sequence[DemoProduct], progress: Callable[[str, int, int], None] | None
) -> None:
    """Catalog photo per product (products.json) and in-store shots of it (enroll.csv)."""
    rng = np.random.default_rng(11)
    bg = scenes.background(7)
    rows = []
    enrolled = ["image,sku"]
    for n, item in enumerate(items):
        p = item.product
        drawing = item.draw()
        names = [f"{p.sku}.png"]
        cv2.imwrite(str(root / "images" / names[0]), catalog_photo(item))
        for k in range(ENROLLED_SHOTS):
            shot = scenes.random_shot(p.sku, 1, rng)
            if k < 3:  # staff enrol most shots without a hand in the way
                shot = scenes.Shot(**{**shot.__dict__, "hand": -1})
            frame = scenes.render(shot, 0, drawing, bg, rng)
            side = int(0.8 * min(frame.shape[:2]))
            y0, x0 = (frame.shape[0] - side) // 2, (frame.shape[1] - side) // 2
            name = f"{p.sku}-shot{k + 1}.jpg"
            cv2.imwrite(
                str(root / "images" / name),
                frame[y0 : y0 + side, x0 : x0 + side],
                [cv2.IMWRITE_JPEG_QUALITY, 92],
            )
            enrolled.append(f"images/{name},{p.sku}")
        rows.append(
            {
                "sku": p.sku,
                "name": p.name,
                "price": p.price,
                "currency": p.currency,
                "category": p.category,
                "aisle": p.aisle,
                "description": p.description,
                "related": list(p.related),
                "images": [f"images/{name}" for name in names],
            }
        )
        if progress:
            progress("drawing products", n + 1, len(items))
    (root / "products.json").write_text(json.dumps(rows, indent=1))
    (root / "enroll.csv").write_text("\n".join(enrolled) + "\n")


def _write_video(
    root: Path,
    items: Sequence[DemoProduct],
    hold_s: float,
    fps: float,
    progress: Callable[[str, int, int], None] | None,
) -> list[dict]:
    """The replay camera: every product held up in turn, with variety in between."""
    shots = scenes.script([d.product.sku for d in items], fps=fps, hold_s=hold_s)
    drawings = {d.product.sku: d.draw() for d in items}
    total = sum(s.frames for s in shots)
    path = root / "camera.mp4"
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (scenes.WIDTH, scenes.HEIGHT)
    )
    if not writer.isOpened():
        raise DemoError("OpenCV cannot encode mp4v video here")
    held: list[dict] = []
    start = 0
    try:
        for n, (frame, shot, i) in enumerate(scenes.frames(shots, drawings)):
            writer.write(frame)
            if i == 0:
                start = n
                if shot.sku and not shot.slide_in and shot.gain > 0.5:
                    # Frames after a focus pull's blurry half count as "held".
                    settle = int(shot.frames * 0.6) if shot.focus_pull else 0
                    held.append(
                        {"sku": shot.sku, "start": start + settle, "end": start + shot.frames}
                    )
            if progress and (n % 60 == 0 or n == total - 1):
                progress("rendering the replay camera", n + 1, total)
    finally:
        writer.release()
    return held
