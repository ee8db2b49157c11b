"""``aislelens catalog …``: the staff tool. Thin: parse options, call the library, print.

Library errors (CatalogError, ModelError) propagate to the root command, which prints
``error: …`` and exits with status 2. A command that finishes with some rows or images
rejected exits with status 1 after printing what was skipped and why.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from models import ImageEmbedder, load_bundle

from .db import get_meta, open_catalog_readonly
from .enroll import EnrollItem, enroll_images, read_enroll_file, remove_products
from .errors import BundleMismatchError, CatalogNotFoundError
from .evaluate import evaluate_queries, read_queries
from .finder import TextEncoder, open_finder
from .importer import import_products
from .importfile import ImportIssue
from .indexer import index_catalog
from .maintenance import catalog_stats, check_catalog
from .progress import ProgressBar
from .settings import CatalogSettings

MAX_LISTED = 20


def _progress(total: int, desc: str) -> ProgressBar:
    """tqdm on stderr with rate and ETA; hidden when stderr is not a terminal."""
    return tqdm(total=total, desc=desc, unit="img", disable=None, dynamic_ncols=True)


def _db_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--db",
        "db",
        required=True,
        envvar="AISLELENS_CATALOG_DB",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Catalog database file (or $AISLELENS_CATALOG_DB).",
    )(fn)


def _settings(ctx: click.Context) -> CatalogSettings:
    return ctx.find_object(CatalogSettings) or CatalogSettings.from_env()


def _list(title: str, lines: list[str]) -> None:
    if not lines:
        return
    click.echo(f"{title}:", err=True)
    for line in lines[:MAX_LISTED]:
        click.echo(f"  {line}", err=True)
    if len(lines) > MAX_LISTED:
        click.echo(f"  … and {len(lines) - MAX_LISTED} more", err=True)


def _catalog_bundle(db: Path) -> tuple[str | None, str | None]:
    """(bundle name or path, precision) the catalog was indexed with; (None, None) if new."""
    if not db.exists():
        return None, None
    rdb = open_catalog_readonly(db)
    try:
        return get_meta(rdb, "bundle_ref"), get_meta(rdb, "bundle_precision")
    finally:
        rdb.close()


def _open_embedder(
    db: Path, bundle: str | None, precision: str | None
) -> tuple[ImageEmbedder, str | None]:
    """The bundle the catalog was indexed with, unless another is named; and how to name it."""
    ref, stored_precision = _catalog_bundle(db)
    use_ref = bundle or ref
    use_precision = precision or (stored_precision if not bundle or bundle == ref else None)
    return ImageEmbedder.open(use_ref, use_precision or "auto"), use_ref


def _open_text_embedder(db: Path) -> TextEncoder | None:
    """The text tower of the catalog's bundle, when it has one (CLIP-style bundles)."""
    ref, precision = _catalog_bundle(db)
    if not ref:
        return None
    bundle = load_bundle(ref)
    if bundle.manifest.text is None:
        return None
    from models.text import TextEmbedder

    return TextEmbedder(bundle, precision or "fp32")


@click.group()
@click.pass_context
def catalog(ctx: click.Context) -> None:
    """The product catalog: import, enrol photos, index, search and evaluate.

    \b
    Example, from a product list to a searchable catalog:
      aislelens catalog import products.csv --db store.db
      aislelens catalog index --db store.db
      aislelens catalog search --db store.db photo.jpg
    """
    ctx.obj = CatalogSettings.from_env()


@catalog.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_db_option
@click.option("--dry-run", is_flag=True, help="Validate and report, write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def import_cmd(ctx: click.Context, file: Path, db: Path, dry_run: bool, as_json: bool) -> None:
    """Add or update products from a CSV, JSON or JSONL FILE (upsert by SKU).

    Columns: sku (required), name, price, currency, category, subcategory, aisle, description,
    in_stock, image (paths absolute or relative to FILE, several separated by |), related
    (SKUs separated by |); any other column is kept as an attribute. A SKU may span several
    rows (one image each). Rows with problems are listed (row, column, reason) and their SKU is
    left untouched; everything else is imported.

    \b
    Example:
      aislelens catalog import products.csv --db store.db --dry-run
      aislelens catalog import products.csv --db store.db
    """
    report = import_products(db, file, dry_run=dry_run, settings=_settings(ctx), progress=_progress)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    else:
        verb = "would import" if dry_run else "imported"
        click.echo(
            f"{verb} {file.name}: {len(report.created)} new, {len(report.updated)} "
            f"updated, {len(report.unchanged)} unchanged, {len(report.rejected)} rejected "
            f"({report.images_added} images added, {report.images_removed} removed)"
        )
        _list("problems (row, column: reason)", [str(i) for i in report.issues])
        _list("products without images (not findable by photo)", report.without_images)
        if not dry_run and (report.created or report.updated):
            click.echo(f"next: aislelens catalog index --db {db}")
    if report.issues:
        ctx.exit(1)


@catalog.command()
@_db_option
@click.option("--sku", help="Enrol the IMAGE arguments for this product.")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def enroll(ctx: click.Context, db: Path, sku: str | None, files: tuple[Path, ...]) -> None:
    """Add in-store photos of products as reference images.

    Either --sku SKU with image files, or one CSV with image and sku columns (paths absolute
    or relative to the CSV). Photos are embedded by the next `index`.

    \b
    Examples:
      aislelens catalog enroll --db store.db --sku 4011 shelf1.jpg shelf2.jpg
      aislelens catalog enroll --db store.db shots.csv
    """
    if sku:
        items = [EnrollItem(sku, f.resolve(), row=i) for i, f in enumerate(files, start=1)]
        issues: list[ImportIssue] = []
    elif len(files) == 1:
        items, issues = read_enroll_file(files[0])
    else:
        raise click.UsageError("give --sku SKU IMAGE…, or a single CSV with image and sku columns")
    report = enroll_images(db, items, settings=_settings(ctx), progress=_progress)
    issues += report.issues
    click.echo(
        f"enrolled {report.added} photos for {len(report.skus)} products"
        f" ({report.duplicates} already enrolled, {len(issues)} rejected)"
    )
    _list("problems (row, column: reason)", [str(i) for i in issues])
    if report.added:
        click.echo(f"next: aislelens catalog index --db {db}")
    if issues:
        ctx.exit(1)


@catalog.command()
@_db_option
@click.argument("skus", nargs=-1, required=True)
@click.pass_context
def remove(ctx: click.Context, db: Path, skus: tuple[str, ...]) -> None:
    """Remove products (with their photos' vectors and thumbnails) by SKU.

    \b
    Example:
      aislelens catalog remove --db store.db 4011 4012
    """
    report = remove_products(db, list(skus), settings=_settings(ctx))
    click.echo(f"removed {len(report.removed)} products and {report.images} reference images")


@catalog.command()
@_db_option
@click.option(
    "--bundle",
    help="Model bundle name or folder (default: the catalog's, or the "
    "default bundle for a new catalog).",
)
@click.option(
    "--precision",
    type=click.Choice(["auto", "fp32", "fp16", "int8"]),
    help="Model precision (default: the catalog's, else int8 when present).",
)
@click.option(
    "--rebuild",
    is_flag=True,
    help="Rebuild the index from scratch; needed to switch bundles, which re-embeds every image.",
)
@click.pass_context
def index(
    ctx: click.Context, db: Path, bundle: str | None, precision: str | None, rebuild: bool
) -> None:
    """Embed new and changed photos, then update the search index.

    Safe to interrupt: a rerun keeps what was embedded and carries on.

    \b
    Examples:
      aislelens catalog index --db store.db
      aislelens catalog index --db store.db --bundle ./bundles/clip-b32 --rebuild
    """
    settings = _settings(ctx)
    if not db.exists():
        raise CatalogNotFoundError(
            f"{db}: no catalog here (create one with `aislelens catalog import FILE --db {db}`)"
        )
    embedder, ref = _open_embedder(db, bundle, precision)
    report = index_catalog(
        db, embedder, rebuild=rebuild, settings=settings, progress=_progress, bundle_ref=ref
    )
    click.echo(
        f"{report.images} reference images with {report.bundle_id}: "
        f"{report.embedded} embedded ({report.images_per_s:.1f} images/s), "
        f"{report.up_to_date} up to date, {len(report.failed)} unreadable"
    )
    if report.index:
        ix = report.index
        if ix.kind == "exact":
            click.echo(f"index: {ix.count} vectors, searched exactly (no index file needed)")
        else:
            click.echo(
                f"index: {ix.action} ({ix.count} vectors, +{ix.added} −{ix.deleted}"
                + (f"; {ix.reason}" if ix.action == "rebuilt" and ix.reason else "")
                + ")"
            )
    _list("skipped (fix or remove these photos)", [f"{s}: {r}" for s, r in report.failed])
    _list("photos missing, stored vectors kept", [f"{s}: {r}" for s, r in report.kept_missing])
    if report.failed:
        ctx.exit(1)


def _print_matches(label: str, result: Any) -> None:
    click.echo(f"{label}  (margin {result.margin:.3f})")
    for rank, m in enumerate(result.matches, start=1):
        price = f"{m.product.price:.2f} {m.product.currency}" if m.product.price is not None else ""
        click.echo(f"  {rank:>2}. {m.score:.3f}  {m.product.sku:<16} {m.product.name}  {price}")


@catalog.command()
@_db_option
@click.argument("images", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--text", help="Search names, descriptions and categories instead of photos.")
@click.option("--k", "k", default=10, show_default=True, type=click.IntRange(1, 1000))
@click.option("--category", help="Only products of this category.")
@click.option("--in-stock", is_flag=True, help="Only products in stock.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def search(
    ctx: click.Context,
    db: Path,
    images: tuple[Path, ...],
    text: str | None,
    k: int,
    category: str | None,
    in_stock: bool,
    as_json: bool,
) -> None:
    """Find the products that look like IMAGE (or match --text).

    \b
    Examples:
      aislelens catalog search --db store.db photo.jpg --k 5
      aislelens catalog search --db store.db --text "granny smith" --json
    """
    if bool(images) == bool(text):
        raise click.UsageError("give IMAGE files or --text, not both")
    text_embedder = _open_text_embedder(db) if text else None
    finder = open_finder(db, settings=_settings(ctx), text_embedder=text_embedder)
    try:
        if text:
            products = finder.search_text(text, k)
            if as_json:
                click.echo(
                    json.dumps(
                        [
                            {"sku": p.sku, "name": p.name, "category": p.category, "price": p.price}
                            for p in products
                        ],
                        ensure_ascii=False,
                    )
                )
            for p in [] if as_json else products:
                click.echo(f"{p.sku:<16} {p.name}  ({p.category})")
            return
        embedder, _ = _open_embedder(db, None, None)
        if finder.bundle_id and embedder.model_id != finder.bundle_id:
            raise BundleMismatchError(
                f"{db}: vectors made by {finder.bundle_id}, but its "
                f"bundle now loads as {embedder.model_id}"
            )
        result = embedder.embed_files([str(p) for p in images])
        out = []
        for vector, i in zip(result.vectors, result.ok, strict=True):
            res = finder.search_vector(vector, k, category=category, in_stock_only=in_stock)
            if as_json:
                out.append(
                    {
                        "image": str(images[i]),
                        "margin": round(res.margin, 4),
                        "timings_ms": {n: round(v, 3) for n, v in res.timings_ms.items()},
                        "matches": [
                            {
                                "sku": m.product.sku,
                                "name": m.product.name,
                                "category": m.product.category,
                                "price": m.product.price,
                                "score": round(m.score, 4),
                            }
                            for m in res.matches
                        ],
                    }
                )
            else:
                _print_matches(str(images[i]), res)
        if as_json:
            click.echo(json.dumps(out, indent=2, ensure_ascii=False))
        _list("skipped", [f"{images[i]}: {why}" for i, why in result.failed])
        if result.failed:
            ctx.exit(1)
    finally:
        finder.close()


@catalog.command("eval")
@_db_option
@click.argument("queries", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--k",
    "k",
    default=10,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="Results per search when timing.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def eval_cmd(ctx: click.Context, db: Path, queries: Path, k: int, as_json: bool) -> None:
    """Recall@1/5/10, MRR, per-category recall, confusions and latency on labelled photos.

    QUERIES is a CSV with image and sku columns (paths absolute or relative to it; other
    columns are ignored).

    \b
    Example:
      aislelens catalog eval --db store.db shelf-photos.csv --json
    """
    settings = _settings(ctx)
    items, issues = read_queries(queries)
    finder = open_finder(db, settings=settings)
    try:
        embedder, _ = _open_embedder(db, None, None)
        report = evaluate_queries(
            finder, embedder, items, k=k, settings=settings, progress=_progress
        )
    finally:
        finder.close()
    report.skipped = [(i.row, str(i)) for i in issues] + report.skipped
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False))
        return
    click.echo(
        f"{report.n} queries against {report.catalog_size} reference vectors "
        f"({report.index_kind} search)"
    )
    click.echo(
        f"  Recall@1 {report.recall_at_1:.3f}  Recall@5 {report.recall_at_5:.3f}  "
        f"Recall@10 {report.recall_at_10:.3f}  MRR {report.mrr:.3f}"
    )
    click.echo(
        f"  latency p50 {report.latency_ms['p50']:.2f} ms  "
        f"p95 {report.latency_ms['p95']:.2f} ms (search + product lookup, k={k})"
    )
    for cat, figures in report.per_category.items():
        click.echo(f"  {cat:<20} n={figures['n']:<5} Recall@1 {figures['recall_at_1']:.3f}")
    _list("most confused (true → found: times)", [f"{t} → {f}: {c}" for t, f, c in report.confused])
    _list("skipped", [f"row {r}: {why}" for r, why in report.skipped])


@catalog.command()
@_db_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def stats(db: Path, as_json: bool) -> None:
    """Products, images, vectors, index and sizes of a catalog.

    \b
    Example:
      aislelens catalog stats --db store.db
    """
    s = catalog_stats(db)
    if as_json:
        click.echo(json.dumps(s.as_dict(), indent=2))
        return
    per = s.bytes_per_product
    click.echo(
        f"{s.path} (schema {s.schema_version}, revision {s.catalog_revision}."
        f"{s.embeddings_revision})"
    )
    click.echo(f"  products:  {s.products} in {s.categories} categories")
    click.echo(
        f"  images:    {s.catalog_images} catalog + {s.enrolled_images} enrolled; "
        f"{s.embedded} embedded, {s.pending} pending, {s.failed} unreadable"
    )
    click.echo(f"  bundle:    {s.bundle_id or '(not indexed yet)'}")
    click.echo(f"  index:     {s.index_kind}, {s.index_items} vectors")
    click.echo(
        f"  size:      database {s.db_bytes / 1e6:.1f} MB (vectors {s.vector_bytes / 1e6:.1f},"
        f" thumbnails {s.thumbnail_bytes / 1e6:.1f}), index {s.index_bytes / 1e6:.1f} MB; "
        f"{per['total'] / 1e3:.1f} kB per product"
    )


@catalog.command()
@_db_option
@click.pass_context
def check(ctx: click.Context, db: Path) -> None:
    """Integrity of the database, and agreement of the index with its tables (exit 1 if not).

    \b
    Example:
      aislelens catalog check --db store.db
    """
    report = check_catalog(db, _settings(ctx))
    for note in report.notes:
        click.echo(f"note: {note}")
    for problem in report.problems:
        click.echo(f"problem: {problem}")
    click.echo("ok" if report.ok else f"{len(report.problems)} problem(s)")
    if not report.ok:
        ctx.exit(1)
