"""Helpers shared by the ``aislelens catalog`` commands: options, progress, bundles."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from models import ImageEmbedder, load_bundle

from .db import get_meta, open_catalog_readonly
from .finder import TextEncoder
from .progress import ProgressBar
from .settings import CatalogSettings

MAX_LISTED = 20


def progress_bar(total: int, desc: str) -> ProgressBar:
    """tqdm on stderr with rate and ETA; hidden when stderr is not a terminal."""
    return tqdm(total=total, desc=desc, unit="img", disable=None, dynamic_ncols=True)


def db_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--db",
        "db",
        required=True,
        envvar="AISLELENS_CATALOG_DB",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Catalog database file (or $AISLELENS_CATALOG_DB).",
    )(fn)


def settings_of(ctx: click.Context) -> CatalogSettings:
    return ctx.find_object(CatalogSettings) or CatalogSettings.from_env()


def echo_list(title: str, lines: list[str]) -> None:
    if not lines:
        return
    click.echo(f"{title}:", err=True)
    for line in lines[:MAX_LISTED]:
        click.echo(f"  {line}", err=True)
    if len(lines) > MAX_LISTED:
        click.echo(f"  … and {len(lines) - MAX_LISTED} more", err=True)


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 photo``, ``2 photos``."""
    return f"{n} {word if n == 1 else many or word + 's'}"


def catalog_bundle(db: Path) -> tuple[str | None, str | None]:
    """(bundle name or path, precision) the catalog was indexed with; (None, None) if new."""
    if not db.exists():
        return None, None
    rdb = open_catalog_readonly(db)
    try:
        ref, precision = get_meta(rdb, "bundle_ref"), get_meta(rdb, "bundle_precision")
    finally:
        rdb.close()
    # a published release names the bundle it carries by its place beside the database
    if ref and not os.path.isabs(ref) and (db.parent / ref).is_dir():
        ref = str(db.parent / ref)
    return ref, precision


def open_embedder(
    db: Path, bundle: str | None, precision: str | None
) -> tuple[ImageEmbedder, str | None]:
    """The bundle the catalog was indexed with, unless another is named; and how to name it."""
    ref, stored_precision = catalog_bundle(db)
    use_ref = bundle or ref
    use_precision = precision or (stored_precision if not bundle or bundle == ref else None)
    return ImageEmbedder.open(use_ref, use_precision or "auto"), use_ref


def open_text_embedder(db: Path) -> TextEncoder | None:
    """The text tower of the catalog's bundle, when it has one (CLIP-style bundles)."""
    ref, precision = catalog_bundle(db)
    if not ref:
        return None
    bundle = load_bundle(ref)
    if bundle.manifest.text is None:
        return None
    from models.text import TextEmbedder

    return TextEmbedder(bundle, precision or "fp32")
