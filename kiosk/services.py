"""What the kiosk runs on, opened once at start-up: camera, model, catalog, recognizer.

Qt-free. :class:`Backend` is what the window asks for, in two steps so the preview can start
before the model and catalog are loaded: first :meth:`Backend.camera` (building the demo's
replay video first when needed), then :meth:`Backend.open`. :class:`StoreBackend` serves a
real catalog and camera, :class:`DemoBackend` the self-drawn demo shop; tests pass their own.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Protocol

from catalog import (
    BundleMismatchError,
    CatalogError,
    CatalogNotFoundError,
    SchemaError,
    catalog_version_on_disk,
    enroll_images,
    import_products,
    index_catalog,
    open_finder,
    read_enroll_file,
)
from catalog.cli_common import catalog_bundle
from catalog.types import ProductFinder
from models import ImageEmbedder, ModelError
from models.embedder import planned_model_id

from .cache import ResultCache
from .demo.build import DemoAssets, build_demo
from .errors import KioskError, ModelChangedError, SettingsError
from .recognizer import Recognition, Recognizer
from .settings import KioskSettings, RecognitionSettings, bundle_choice
from .sources import FrameSource, open_source

log = logging.getLogger(__name__)

#: progress(stage, done, total) for long start-up work (the demo's first build)
Progress = Callable[[str, int, int], None]
CameraFactory = Callable[[], FrameSource]


@dataclass
class KioskServices:
    """The model, the catalog and the recognizer built on them."""

    embedder: ImageEmbedder
    finder: ProductFinder  # the current catalog: the one place it is held
    cache: ResultCache[Recognition]
    settings: RecognitionSettings
    #: the catalog database (staff may change it under the running kiosk; None: unknown)
    catalog_db: Path | None = None
    demo: bool = False  # the built-in demo shop
    recognizer: Recognizer = field(init=False)
    #: a catalog version on disk this kiosk cannot search (see :meth:`newer_finder`)
    _unusable_version: str | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.recognizer = Recognizer(self.embedder, lambda: self.finder, self.settings, self.cache)

    def newer_finder(self) -> ProductFinder | None:
        """A finder on the catalog as it is on disk now, if staff changed it; else None.

        Runs on the recognition pool: opening a large catalog takes a moment.
        """
        if self.catalog_db is None:
            return None
        version = catalog_version_on_disk(self.catalog_db)
        if version in (self.finder.catalog_version, self._unusable_version):
            return None
        try:
            return open_finder(self.catalog_db, bundle_id=self.embedder.model_id)
        except BundleMismatchError as exc:
            why = None if self.demo else self._restart_would_not_serve(self.catalog_db)
            if why is None and not self.demo:
                raise ModelChangedError(
                    f"the new catalog needs another model than {self.embedder.model_id}"
                ) from None
            self._unusable_version = version  # said once, not at every poll
            raise BundleMismatchError(
                f"{exc}; {why or 'the demo keeps its own model'}: still searching catalog "
                f"{self.finder.catalog_version}"
            ) from None

    def _restart_would_not_serve(self, db: Path) -> str | None:
        """Why a restart would not serve catalog ``db`` either (None: it would). Loads the
        model a start would open, once per catalog version, on the pool."""
        ref, stored = catalog_bundle(db)
        bundle, precision = bundle_choice(self.settings, ref, stored)
        try:
            probe = ImageEmbedder.open(bundle, precision, threads=1)
        except ModelError as exc:
            return f"its model does not open here ({exc})"
        try:
            open_finder(db, bundle_id=probe.model_id).close()
        except CatalogError:
            pinned = "bundle" if self.settings.bundle is not None else "precision"
            return f"the settings' {pinned} ({probe.model_id}) cannot search it"
        finally:
            probe.close()
        return None

    def swap_finder(self, finder: ProductFinder) -> ProductFinder:
        """Search ``finder`` from now on; returns the old one (close it once no scan uses it).

        The services are the one owner of the current finder: the recognizer and every
        screen ask them for it, so this is the only place a new catalog comes in."""
        old, self.finder = self.finder, finder
        self.cache.clear()
        return old

    def close(self) -> None:
        self.finder.close()
        self.embedder.close()


class Backend(Protocol):
    """Where the window gets its camera and services from."""

    def camera(self, progress: Progress | None = None) -> CameraFactory:
        """A factory opening the camera (called again on every reconnection)."""
        ...

    def open(self, progress: Progress | None = None) -> KioskServices:
        """Load the model and the catalog; raises KioskError, ModelError or CatalogError."""
        ...


def make_services(
    settings: KioskSettings,
    embedder: ImageEmbedder,
    finder: ProductFinder,
    catalog_db: Path | None = None,
    *,
    demo: bool = False,
) -> KioskServices:
    """Wire a recognizer and its cache over an opened model and catalog."""
    cache: ResultCache[Recognition] = ResultCache(settings.cache.size, settings.cache.max_distance)
    return KioskServices(embedder, finder, cache, settings.recognition, catalog_db, demo)


def open_embedder(settings: KioskSettings, catalog_db: Path | None = None) -> ImageEmbedder:
    """The model bundle the settings name (else the one ``catalog_db`` was indexed with, which
    a release may carry beside it), with a core of headroom for the UI."""
    r = settings.recognition
    ref, stored = catalog_bundle(catalog_db) if catalog_db is not None else (None, None)
    bundle, precision = bundle_choice(r, ref, stored)
    return ImageEmbedder.open(bundle, precision, threads=r.threads, headroom=r.headroom)


def open_model_and_catalog(
    settings: KioskSettings, catalog_db: Path
) -> tuple[ImageEmbedder, ProductFinder]:
    """The model and the catalog, loaded side by side: the model on a thread of its own while
    the catalog opens (its index file read and checked) for the model's planned id. Nothing is
    left open when either fails."""
    r = settings.recognition
    bundle, precision = bundle_choice(r, *catalog_bundle(catalog_db))
    planned = planned_model_id(bundle, precision)
    with ThreadPoolExecutor(1, thread_name_prefix="model-load") as pool:
        loading = pool.submit(
            ImageEmbedder.open, bundle, precision, threads=r.threads, headroom=r.headroom
        )
        try:
            finder = open_finder(catalog_db, bundle_id=planned)
        except BaseException:
            with contextlib.suppress(Exception):
                loading.result().close()
            raise
        try:
            embedder = loading.result()
        except BaseException:
            finder.close()
            raise
    if embedder.model_id != planned:  # not expected: the manifest names the model it loads
        finder.close()
        try:
            finder = open_finder(catalog_db, bundle_id=embedder.model_id)
        except BaseException:
            embedder.close()
            raise
    return embedder, finder


class StoreBackend:
    """A store's catalog database and its camera (``camera.source``)."""

    def __init__(self, settings: KioskSettings) -> None:
        if settings.catalog_db is None:
            raise SettingsError(
                "no catalog: set catalog_db in the settings file or AISLELENS_CATALOG_DB, "
                "or run the demo with --demo"
            )
        self.settings = settings

    def camera(self, progress: Progress | None = None) -> CameraFactory:
        c = self.settings.camera
        return partial(
            open_source, c.source, width=c.width, height=c.height, fps=c.fps, loop=c.loop
        )

    def open(self, progress: Progress | None = None) -> KioskServices:
        assert self.settings.catalog_db is not None
        embedder, finder = open_model_and_catalog(self.settings, self.settings.catalog_db)
        log.info(
            "catalog %s version %s, model %s",
            self.settings.catalog_db,
            finder.catalog_version,
            embedder.model_id,
        )
        return make_services(self.settings, embedder, finder, self.settings.catalog_db)


class DemoBackend:
    """The self-drawn demo shop: built once under ``cache_dir``, then reused."""

    def __init__(self, settings: KioskSettings) -> None:
        self.settings = settings
        self._assets: DemoAssets | None = None

    def assets(self, progress: Progress | None = None) -> DemoAssets:
        if self._assets is None:
            self._assets = build_demo(self.settings.cache_dir, progress=progress)
        return self._assets

    def camera(self, progress: Progress | None = None) -> CameraFactory:
        camera = self.assets(progress).camera
        c = self.settings.camera
        return partial(open_source, str(camera), fps=c.fps, loop=True)

    def open(self, progress: Progress | None = None) -> KioskServices:
        assets = self.assets(progress)
        embedder = open_embedder(self.settings)
        try:
            finder = open_demo_catalog(assets, embedder, progress)
        except BaseException:
            embedder.close()
            raise
        # the demo's catalog can be taught too (it lives in the cache folder)
        return make_services(self.settings, embedder, finder, demo_catalog_path(assets), demo=True)


def demo_catalog_path(assets: DemoAssets) -> Path:
    return assets.root / "catalog.db"


def open_demo_catalog(
    assets: DemoAssets, embedder: ImageEmbedder, progress: Progress | None = None
) -> ProductFinder:
    """The demo's catalog database, imported and indexed with ``embedder`` on first use."""
    db = demo_catalog_path(assets)
    try:
        finder = open_finder(db, bundle_id=embedder.model_id)
        if len(finder) > 0 and finder.adaptation is not None:
            return finder
        finder.close()  # not indexed yet, or cached by a release without the store adaptation
        rebuild = False
    except SchemaError:  # cached by an older release: `index` migrates it
        rebuild = False
    except CatalogNotFoundError:
        if progress:
            progress("importing the demo catalog", 0, 1)
        report = import_products(db, assets.products_file)
        if report.issues:
            raise KioskError(f"demo catalog import: {report.issues[0]}") from None
        rebuild = False
    except BundleMismatchError:
        rebuild = True  # another model made the stored vectors: re-embed with this one
    # (again) after an interrupted first build: shots already enrolled are skipped
    items, issues = read_enroll_file(assets.enroll_file)
    enrolled = enroll_images(db, items)
    if issues or enrolled.issues:
        raise KioskError(f"demo enrolment: {(issues + enrolled.issues)[0]}") from None
    if progress:
        progress("indexing the demo catalog", 0, 1)
    index_catalog(db, embedder, rebuild=rebuild)
    return open_finder(db, bundle_id=embedder.model_id)


def backend_for(settings: KioskSettings, demo: bool) -> Backend:
    """The backend the command line asked for."""
    return DemoBackend(settings) if demo else StoreBackend(settings)


START_ERRORS = (KioskError, ModelError, CatalogError, OSError)


def describe_error(exc: BaseException) -> str:
    """One line for the log and the staff page."""
    return f"{type(exc).__name__}: {exc}"
