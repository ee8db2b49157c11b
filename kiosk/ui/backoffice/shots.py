"""Screenshots of the staff window on the demo shop: ``python -m kiosk.ui.backoffice.shots OUT``.

Run it under a real X server (``xvfb-run -a -s "-screen 0 1400x900x24" python -m
kiosk.ui.backoffice.shots docs/screenshots``) or offscreen. It makes a new catalog in a
temporary folder and, with the real default model, goes through the window as staff would:
the import check of the demo's product file (with two new rows broken on purpose), the import,
the in-store shots enrolled (one of them under the wrong product, as a slip), an index run
(shot a third of the way, with its progress bar), the product list, the confused pairs on the
enrolled shots, and a calibration on what the kiosk saw of the demo's replay camera. Only the
project's own drawn demo products appear; the demo's cached catalog is not touched.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
from pathlib import Path

import cv2
from PySide6.QtWidgets import QApplication

from catalog import read_enroll_file

from ...demo.build import DemoAssets, build_demo
from ...frames import crop_guide
from ...settings import load_settings
from ..app import dispose
from ..shots import settle, wait_until
from .window import BackofficeWindow

#: frames of the replay camera used as "labelled photos taken at the kiosk", per held shot
FRAMES_PER_SHOT = 3


def broken_products_file(assets: DemoAssets, folder: Path) -> Path:
    """The demo's product file (images where the demo keeps them) two new products whose
    rows staff must fix, and a "goes well with" naming a product that is not there."""
    rows = json.loads(assets.products_file.read_text())
    for row in rows:
        row["images"] = [str(assets.root / p) for p in row["images"]]
    picture = rows[0]["images"]
    rows.insert(
        4, {"sku": "NEW-101", "name": "Mint Tea", "price": "three euros", "images": picture}
    )
    rows.append({"sku": "NEW-102", "price": 2.1, "aisle": "Aisle 2", "images": picture})
    rows[2]["related"] = [*rows[2].get("related", []), "DEMO-099"]  # a warning: no such product
    path = folder / "products.json"
    path.write_text(json.dumps(rows, indent=1))
    return path


def kiosk_photos(assets: DemoAssets, folder: Path, guide_fraction: float) -> Path:
    """What the kiosk saw of the demo's replay camera while a product was held up (the part
    inside its framing guide), as a labelled CSV."""
    out = folder / "kiosk-photos"
    out.mkdir()
    wanted = {
        f: s["sku"]
        for s in assets.shots
        for f in range(s["start"], s["end"], max(1, (s["end"] - s["start"]) // FRAMES_PER_SHOT))
    }
    cap = cv2.VideoCapture(str(assets.camera))
    rows = []
    n = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if n in wanted:
            name = out / f"frame{n:05d}.jpg"
            cv2.imwrite(str(name), crop_guide(frame, guide_fraction))
            rows.append((name.name, wanted[n]))
        n += 1
    cap.release()
    path = out / "photos.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image", "sku"])
        writer.writerows(rows)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setStyle("Fusion")
    kiosk = load_settings()
    assets = build_demo(kiosk.cache_dir)
    work = Path(tempfile.mkdtemp(prefix="aislelens-staff-shots-"))
    os.chdir(work)  # the window shows file names as given: short, not a temporary folder
    window = BackofficeWindow()
    window.resize(1280, 800)
    window.show()

    def shoot(name: str) -> None:
        settle(app)
        window.grab().save(str(out / f"{name}.png"))
        print("saved", name)

    def idle(timeout: float = 600) -> None:
        wait_until(app, lambda: not window.jobs.busy, timeout)

    try:
        window.create_catalog(Path("store.db"))
        window.importer.check_file(broken_products_file(assets, Path(".")))
        idle()
        shoot("staff-01-import")
        window.importer.commit()
        idle()
        items, _ = read_enroll_file(assets.enroll_file)
        for sku in dict.fromkeys(i.sku for i in items):
            window.enrol(sku, [i.path for i in items if i.sku == sku])
            idle()
        # a slip staff make: a shot of Ruby Cola enrolled under Lime Fizz as well
        window.enrol("DEMO-006", [next(i.path for i in items if i.sku == "DEMO-005")])
        idle()
        window.tabs.setCurrentWidget(window.indexer)
        window.indexer.start()
        wait_until(app, lambda: window.progress.value() >= window.progress.maximum() // 3, 600)
        window.grab().save(str(out / "staff-02-index.png"))  # at once: it is moving on
        idle()
        window.tabs.setCurrentWidget(window.products)
        window.products.table.select_sku("DEMO-008")
        shoot("staff-03-products")
        window.tabs.setCurrentWidget(window.confusions)
        window.confusions.evaluate_shots()
        idle()
        shoot("staff-04-confusions")
        window.tabs.setCurrentWidget(window.calibration)
        window.calibration.use_photos(
            kiosk_photos(assets, Path("."), kiosk.recognition.guide_fraction)
        )
        window.calibration.calibrate()
        idle()
        shoot("staff-05-calibrate")
    finally:
        window.close()
        dispose(window)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
