"""Does the results panel follow the camera? The kiosk window, in auto mode, on the demo video.

    python bench/bench_scene.py [--seconds 40] [--no-write]

The demo's replay video holds the products up one after another (with slides, empty counter
and hands in between); its build records which product is held in which frames. The kiosk
window runs on it as a shopper would see it (real model, demo catalog, default settings,
offscreen) and the panel is sampled every 100 ms against the frame being shown:

- *right*: while a product is held (from 1 s after it appears), the share of samples that
  show it as "We found it" or as one of the candidates;
- *stale or wrong*: the share of samples, while a product is held, that show a result whose
  top product is another one (the panel trailing the camera);
- *between products*: while nothing is held (a product sliding in or out, the empty counter),
  the share of samples still showing a result, which is then about nothing in front of it;
- *lag*: the median time from a product appearing to the panel showing it.

Writes the "scene" section of BENCHMARKS.md (unless --no-write).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from bench.report import write_section


class CountingSource:
    """The replay video, counting the frames read (which frame the window is showing)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.description = inner.description
        self.read_count = 0

    def read(self):
        frame = self.inner.read()
        if frame is not None:
            self.read_count += 1
        return frame

    def close(self) -> None:
        self.inner.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=40.0)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    from PySide6.QtWidgets import QApplication

    from kiosk.services import DemoBackend, demo_catalog_path, open_embedder
    from kiosk.settings import load_settings
    from kiosk.sources import ReplaySource
    from kiosk.testing import FixedBackend
    from kiosk.ui.main_window import KioskWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    tmp = Path(tempfile.mkdtemp(prefix="aislelens-scene-"))
    settings = load_settings(data_dir=tmp / "data", ui={"fullscreen": False})
    demo = DemoBackend(settings)
    assets = demo.assets()
    embedder = open_embedder(settings)
    demo.open().close()  # builds and indexes the demo catalog once (cached)
    embedder.close()
    held = {}
    for shot in assets.shots:
        for f in range(shot["start"], shot["end"]):
            held[f] = (shot["sku"], shot["start"])
    sources: list[CountingSource] = []

    def camera():
        sources.append(CountingSource(ReplaySource(assets.camera, fps=30, loop=False)))
        return sources[-1]

    window = KioskWindow(settings, FixedBackend(settings, camera, demo_catalog_path(assets)))
    window.start()
    window.resize(1280, 800)
    while window.services is None or not sources:
        app.processEvents()
        time.sleep(0.01)
    samples = []  # (video frame, held sku, since its start in s, panel state, top sku)
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)
        frame = sources[-1].read_count - 1
        panel = window.scan.panel
        top = panel.cards[0].product.sku if panel.cards else ""
        skus = [c.product.sku for c in panel.cards]
        sku, start = held.get(frame, ("", frame))
        q = window.controller.last_quality
        empty = q is not None and q.contrast < settings.quality.min_contrast
        faded = getattr(panel, "faded", False)
        samples.append((frame, sku, (frame - start) / 30.0, panel.state, top, skus, empty, faded))
        deadline = time.monotonic() + 0.1
        while time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.005)
    window.staff_exit()
    results = ("confident", "not_sure", "no_match")
    during = [s for s in samples if s[1] and s[2] >= 1.0]
    right = sum(1 for s in during if s[3] in ("confident", "not_sure") and s[1] in s[5])
    wrong = sum(1 for s in during if s[3] in results and s[4] and s[4] != s[1])
    lags = []
    for sku in dict.fromkeys(s[1] for s in samples if s[1]):
        mine = [s for s in samples if s[1] == sku]
        shown = [s[2] for s in mine if s[3] in ("confident", "not_sure") and s[1] in s[5]]
        if shown:
            lags.append(min(shown))
    products = len({s[1] for s in samples if s[1]})
    # between products (slides, the empty counter): a result left on screen is about nothing
    between = [s for s in samples if not s[1] and s[0] > 0]
    left = sum(1 for s in between if s[3] in results and not s[7])
    faded = sum(1 for s in between if s[3] in results and s[7])
    # the guide empty for 0.5 s (10 samples of 100 ms is too coarse: 5 in a row)
    empty_runs = [
        s for i, s in enumerate(samples) if i >= 5 and all(x[6] for x in samples[i - 5 : i + 1])
    ]
    on_empty = sum(1 for s in empty_runs if s[3] in ("confident", "not_sure") and not s[7])
    lines = [
        f"- products held up: {products}, samples while one was held (after 1 s): {len(during)}",
        f"- right product shown (found or among the candidates): {right / max(1, len(during)):.0%}",
        f"- another product's result shown (stale or wrong): {wrong / max(1, len(during)):.0%}",
        f"- between products (sliding in or out, focus pulls, the empty counter): a result "
        f"shown as current in {left / max(1, len(between)):.0%}, faded in "
        f"{faded / max(1, len(between)):.0%} of {len(between)} samples",
        f"- the guide empty for 0.5 s or more: a product result still shown in "
        f"{on_empty / max(1, len(empty_runs)):.0%} of {len(empty_runs)} samples",
        f"- median time from a product appearing to the panel showing it: "
        f"{statistics.median(lags) if lags else float('nan'):.2f} s "
        f"({len(lags)} of {products} products shown at all)",
    ]
    print("\n".join(lines))
    if not args.no_write:
        write_section(
            "scene",
            "Results follow the camera (demo video, auto mode)",
            "\n".join(lines),
            f"python bench/bench_scene.py --seconds {args.seconds:.0f}",
        )


if __name__ == "__main__":
    main()
