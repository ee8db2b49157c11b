"""``aislelens catalog …``: the staff tool. Thin: parse options, call the library, print.

Library errors (CatalogError, ModelError) propagate to the root command, which prints
``error: …`` and exits with status 2. A command that finishes with some rows or images
rejected exits with status 1 after printing what was skipped and why.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from .cli_calibrate import calibrate
from .cli_common import db_option, echo_list, open_embedder, plural, progress_bar, settings_of
from .cli_data import export, list_cmd, restore
from .cli_search import eval_cmd, search
from .decisions import describe_found
from .enroll import enroll_files, enroll_images, read_enroll_file
from .errors import CatalogNotFoundError
from .importer import import_products
from .indexer import index_catalog
from .maintenance import catalog_stats, check_catalog
from .removed import remove_products
from .settings import CatalogSettings


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
@db_option
@click.option("--dry-run", is_flag=True, help="Validate and report, write nothing.")
@click.option(
    "--sync",
    is_flag=True,
    help="Also remove the products FILE does not name (kept for `restore`; try --dry-run first).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def import_cmd(
    ctx: click.Context, file: Path, db: Path, dry_run: bool, sync: bool, as_json: bool
) -> None:
    """Add or update products from a CSV, JSON or JSONL FILE (upsert by SKU).

    Columns: sku (required), name, price, currency, category, subcategory, aisle, description,
    in_stock, image (paths absolute or relative to FILE, several separated by |), related
    (SKUs separated by |); any other column is kept as an attribute. A SKU may span several
    rows (one image each). Rows with problems are listed (row, column, reason) and their SKU is
    left untouched, all of its rows; everything else is imported. Warnings (a price of 0, a
    related SKU not in the catalog, a photo another product has too) are listed apart and do
    not make the exit status 1. With --sync the products FILE does not name are removed (kept
    for `aislelens catalog restore`); nothing is removed when a row's SKU cannot be read.

    \b
    Example:
      aislelens catalog import products.csv --db store.db --dry-run
      aislelens catalog import products.csv --db store.db
      aislelens catalog import products.csv --db store.db --sync --dry-run
    """
    settings = settings_of(ctx)
    report = import_products(
        db, file, dry_run=dry_run, sync=sync, settings=settings, progress=progress_bar
    )
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    else:
        verb = "would import" if dry_run else "imported"
        click.echo(
            f"{verb} {file.name}: {len(report.created)} new, {len(report.updated)} "
            f"updated, {len(report.unchanged)} unchanged, {len(report.rejected)} rejected"
            + (f", {len(report.removed)} removed" if sync else "")
            + f" ({report.images_added} images added, {report.images_removed} removed)"
        )
        echo_list("problems (row, column: reason)", [str(i) for i in report.issues])
        echo_list("warnings (row, column: reason)", [str(i) for i in report.warnings])
        echo_list("products without images (not findable by photo)", report.without_images)
        echo_list(
            f"{'would remove' if dry_run else 'removed'} (not in {file.name}; `restore` brings "
            f"them back within {plural(settings.removed_keep_days, 'day')})",
            report.removed,
        )
        if report.sync_skipped:
            click.echo(f"sync: {report.sync_skipped}", err=True)
        if not dry_run and (report.created or report.updated):
            click.echo(f"next: aislelens catalog index --db {db}")
    if report.issues:
        ctx.exit(1)


@catalog.command()
@db_option
@click.option("--sku", help="Enrol the IMAGE arguments for this product.")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def enroll(ctx: click.Context, db: Path, sku: str | None, files: tuple[Path, ...]) -> None:
    """Add in-store photos of products as reference images.

    Either --sku SKU with image files, or one CSV with image and sku columns (paths absolute
    or relative to the CSV). Photos are embedded by the next `index`. An unknown --sku is an
    error (nothing is enrolled); in a CSV, rows with an unknown SKU or a bad photo are listed.

    \b
    Examples:
      aislelens catalog enroll --db store.db --sku 4011 shelf1.jpg shelf2.jpg
      aislelens catalog enroll --db store.db shots.csv
    """
    settings = settings_of(ctx)
    if sku:
        report = enroll_files(db, sku, list(files), settings=settings, progress=progress_bar)
        issues = report.issues
    elif len(files) == 1:
        items, issues = read_enroll_file(files[0])
        report = enroll_images(db, items, settings=settings, progress=progress_bar)
        issues += report.issues
    else:
        raise click.UsageError("give --sku SKU IMAGE…, or a single CSV with image and sku columns")
    click.echo(
        f"enrolled {plural(report.added, 'photo')} for {plural(len(report.skus), 'product')}"
        f" ({report.duplicates} already enrolled, {len(issues)} rejected)"
    )
    echo_list("problems" if sku else "problems (row, column: reason)", [str(i) for i in issues])
    if report.added:
        click.echo(f"next: aislelens catalog index --db {db}")
    if issues:
        ctx.exit(1)


@catalog.command()
@db_option
@click.argument("skus", nargs=-1, required=True)
@click.option("--dry-run", is_flag=True, help="List what would be removed, remove nothing.")
@click.pass_context
def remove(ctx: click.Context, db: Path, skus: tuple[str, ...], dry_run: bool) -> None:
    """Remove products (with their photos' vectors, thumbnails and enrolled shots) by SKU.

    Removed products are kept for a while (AISLELENS_CATALOG_REMOVED_KEEP_DAYS, 30 days) and
    `aislelens catalog restore` brings them back; a later write purges them after that.

    \b
    Example:
      aislelens catalog remove --db store.db 4011 4012 --dry-run
      aislelens catalog remove --db store.db 4011 4012
    """
    report = remove_products(db, list(skus), dry_run=dry_run, settings=settings_of(ctx))
    verb = "would remove" if dry_run else "removed"
    click.echo(
        f"{verb} {plural(len(report.removed), 'product')} and "
        f"{plural(report.images, 'reference image')}: {', '.join(report.removed)}"
    )
    if dry_run:
        click.echo(f"they would be kept until {report.keep_until[:10]} for `catalog restore`")
    else:
        click.echo(
            f"kept until {report.keep_until[:10]}: aislelens catalog restore --db {db} "
            + " ".join(report.removed)
        )
    if report.still_related:
        click.echo(
            f"warning: still named as 'goes well with' by {', '.join(report.still_related)}",
            err=True,
        )


@catalog.command()
@db_option
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
    settings = settings_of(ctx)
    if not db.exists():
        raise CatalogNotFoundError(
            f"{db}: no catalog here (create one with `aislelens catalog import FILE --db {db}`)"
        )
    embedder, ref = open_embedder(db, bundle, precision)
    report = index_catalog(
        db, embedder, rebuild=rebuild, settings=settings, progress=progress_bar, bundle_ref=ref
    )
    click.echo(
        f"{report.images} reference images with {report.bundle_id}: "
        f"{report.embedded} embedded ({report.images_per_s:.1f} images/s), "
        f"{report.up_to_date} up to date, {len(report.failed)} unreadable"
    )
    if report.damaged:
        click.echo(f"damaged on disk, dropped and redone: {', '.join(report.damaged)}")
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
    ad = report.adaptation
    if ad is not None and ad.action == "fitted" and ad.thresholds is not None:
        click.echo(
            f"store adaptation: fitted on {ad.products} products "
            f"({ad.views_embedded} photos' synthetic views embedded, {ad.seconds:.1f} s); "
            + describe_found(ad.thresholds)
        )
    elif ad is not None:
        click.echo(f"store adaptation: {ad.action}")
    for note in ad.notes if ad is not None else []:
        click.echo(f"note: {note}")
    echo_list("skipped (fix or remove these photos)", [f"{s}: {r}" for s, r in report.failed])
    echo_list("photos missing, stored vectors kept", [f"{s}: {r}" for s, r in report.kept_missing])
    if report.failed:
        ctx.exit(1)


@catalog.command()
@db_option
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
@db_option
@click.pass_context
def check(ctx: click.Context, db: Path) -> None:
    """Integrity of the database, and agreement of the index with its tables (exit 1 if not).

    Also: "goes well with" SKUs that are not in the catalog (a problem), and one photo on
    several products (a warning: warnings alone do not make the exit status 1).

    \b
    Example:
      aislelens catalog check --db store.db
    """
    report = check_catalog(db, settings_of(ctx))
    for note in report.notes:
        click.echo(f"note: {note}")
    for warning in report.warnings:
        click.echo(f"warning: {warning}")
    for problem in report.problems:
        click.echo(f"problem: {problem}")
    warned = f" ({plural(len(report.warnings), 'warning')})" if report.warnings else ""
    click.echo(("ok" if report.ok else plural(len(report.problems), "problem")) + warned)
    if not report.ok:
        ctx.exit(1)


catalog.add_command(list_cmd)
catalog.add_command(export)
catalog.add_command(restore)
catalog.add_command(search)
catalog.add_command(eval_cmd)
catalog.add_command(calibrate)
