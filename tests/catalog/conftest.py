"""Fixtures for the catalog: real image files drawn with OpenCV, catalogs on disk, embedders."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from catalog_images import draw_product, shop_photo

from catalog import CatalogSettings, EnrollItem, enroll_images, import_products, index_catalog
from models import FakeEngine, ImageEmbedder, load_bundle

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def write_image() -> Callable[..., Path]:
    def write(path: Path, image: np.ndarray, ext: str | None = None) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        ok, buf = cv2.imencode(ext or path.suffix, image)
        assert ok
        path.write_bytes(buf.tobytes())
        return path

    return write


@pytest.fixture
def shop(tmp_path: Path, write_image) -> Callable[..., Path]:
    """``shop(n)`` writes n product images and products.csv in tmp_path/shop; returns the CSV."""

    def make(n: int = 6, *, extra_rows: list[str] | None = None) -> Path:
        folder = tmp_path / "shop"
        lines = ["sku,name,price,category,subcategory,description,image,related,colour"]
        for i in range(n):
            write_image(folder / "images" / f"p{i}.jpg", draw_product(i))
            related = f"S{(i + 1) % n}|S{(i + 2) % n}"
            category = ("Fruit", "Dairy", "Bakery")[i % 3]
            lines.append(
                f"S{i},Product {i},{i + 0.5},{category},Sub{i % 2},"
                f"Tasty thing number {i},images/p{i}.jpg,{related},red"
            )
        lines += extra_rows or []
        csv_path = folder / "products.csv"
        csv_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return csv_path

    return make


class RecordedBars(dict[str, list[int]]):
    """A progress factory (``factory(total, description)``, what the CLI passes tqdm as and a
    staff window its own bar) that records every bar as description → [total, done]."""

    class Bar:
        def __init__(self, counts: list[int]) -> None:
            self.counts = counts

        def update(self, n: int = 1) -> None:
            self.counts[1] += n

        def close(self) -> None:
            pass

    def __call__(self, total: int, description: str) -> RecordedBars.Bar:
        self[description] = [total, 0]
        return RecordedBars.Bar(self[description])


@pytest.fixture
def progress_bars() -> RecordedBars:
    return RecordedBars()


@pytest.fixture
def fake_embedder() -> ImageEmbedder:
    """The default bundle's preprocessing with a fast deterministic fake model (1280-d)."""
    return ImageEmbedder(load_bundle(), "fp32", engine=FakeEngine(dim=1280))


@pytest.fixture
def indexed(shop, tmp_path, fake_embedder) -> Path:
    """A catalog of 9 products (S0-S8), one photo each, indexed photo by photo."""
    db = tmp_path / "store.db"
    import_products(db, shop(9))
    index_catalog(db, fake_embedder)
    return db


@pytest.fixture
def adapted(shop, tmp_path, fake_embedder, write_image) -> Path:
    """A catalog of 8 products with 3 enrolled shots each, indexed with the store adaptation."""
    db = tmp_path / "store.db"
    import_products(db, shop(8))
    shots = [
        EnrollItem(f"S{i}", write_image(tmp_path / f"s{i}_{k}.jpg", shop_photo(i, k)))
        for i in range(8)
        for k in range(3)
    ]
    enroll_images(db, shots)
    report = index_catalog(db, fake_embedder, settings=CatalogSettings(adapt_views=4))
    assert report.adaptation is not None and report.adaptation.action == "fitted"
    assert report.adaptation.products == 8 and report.adaptation.views_embedded == 8
    return db


@pytest.fixture(scope="session")
def real_embedder() -> ImageEmbedder:
    """The real default bundle, int8, as the kiosk runs it."""
    e = ImageEmbedder.open()
    yield e
    e.close()


@pytest.fixture(scope="session")
def pretrained_embedder() -> ImageEmbedder:
    """The ImageNet-pretrained Lite0, int8: the grocery dev set's products are new to it (the
    default bundle was trained on them, so it cannot judge methods on them)."""
    e = ImageEmbedder.open("efficientnet-lite0")
    yield e
    e.close()


@pytest.fixture
def hnsw_settings() -> CatalogSettings:
    """Settings that make even a tiny catalog use an HNSW index file of its photos (and search
    it: no store adaptation, whose prototypes the finder would search instead)."""
    return CatalogSettings(
        exact_threshold=1, hnsw_m=8, hnsw_ef_construction=64, hnsw_ef=32, adapt=0
    )


@pytest.fixture(scope="session")
def dev_data() -> Path:
    """The grocery dev set (by path only; it is never copied into the repository)."""
    root = Path(
        os.environ.get("AISLELENS_DEV_DATA", REPO.parent / "shared/datasets/grocerystore-dev")
    )
    if not (root / "products.csv").is_file():
        pytest.skip(f"grocery dev set not found at {root} (set AISLELENS_DEV_DATA)")
    return root
