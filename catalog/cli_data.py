"""``aislelens catalog list``, ``export`` and ``restore``: the catalog's data for staff."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .cli_common import db_option, echo_list, plural, progress_bar, settings_of
from .export import FORMATS, export_catalog
from .importfile import shown
from .listing import ProductRow, list_products
from .removed import list_removed, restore_products


def _price(row: ProductRow) -> str:
    return "" if row.price is None else f"{row.price:.2f} {row.currency}"


def _table(header: list[str], rows: list[list[str]], right: frozenset[int] = frozenset()) -> None:
    """Columns as wide as their widest cell (text cut to 40 characters, escaped); nothing
    when there are no rows."""
    if not rows:
        return
    cells = [[shown(c, 40) for c in r] for r in [header, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for r in cells:
        line = "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        click.echo(line.rstrip())


@click.command("list")
@db_option
@click.option("--category", help="Only products of this category (any case).")
@click.option(
    "--in-stock/--out-of-stock",
    "in_stock",
    default=None,
    help="Only those in stock / out of stock.",
)
@click.option(
    "--with-shots/--without-shots",
    "with_shots",
    default=None,
    help="Only products with / without enrolled in-store shots.",
)
@click.option("--text", help="Only products matching these words (as the kiosk's text search).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def list_cmd(
    db: Path,
    category: str | None,
    in_stock: bool | None,
    with_shots: bool | None,
    text: str | None,
    as_json: bool,
) -> None:
    """The catalog's products: SKU, name, price, aisle, category, catalog photos and enrolled
    shots (by SKU; best match first with --text).

    \b
    Examples:
      aislelens catalog list --db store.db
      aislelens catalog list --db store.db --category Fruit --without-shots
      aislelens catalog list --db store.db --text "granny smith" --json
    """
    rows = list_products(db, category=category, in_stock=in_stock, with_shots=with_shots, text=text)
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in rows], indent=2, ensure_ascii=False))
        return
    _table(
        ["sku", "name", "price", "aisle", "category", "stock", "photos", "shots"],
        [
            [
                r.sku,
                r.name,
                _price(r),
                r.aisle,
                r.category,
                "yes" if r.in_stock else "no",
                str(r.catalog_photos),
                str(r.enrolled_shots),
            ]
            for r in rows
        ],
        right=frozenset({2, 6, 7}),
    )
    click.echo(plural(len(rows), "product"))


@click.command()
@db_option
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(sorted(set(FORMATS.values()))),
    help="csv, json or jsonl (default: by OUT's suffix, which must agree).",
)
@click.option(
    "--images",
    "images_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Copy the catalog photos into this folder and reference the copies.",
)
@click.pass_context
def export(
    ctx: click.Context, db: Path, out: Path, fmt: str | None, images_dir: Path | None
) -> None:
    """Write the products to OUT (CSV, JSON or JSONL) in the format `import` reads.

    Importing OUT into an empty catalog and exporting again gives the same file, byte for
    byte. Catalog photos are referenced by path: relative to OUT's folder when they lie in it
    (or below it), absolute otherwise; --images DIR copies them into DIR first (named
    SKU-HASH.ext) and references the copies. Enrolled in-store shots are not exported.
    OUT is written to a temporary file and renamed into place. Exit status 1 when a photo's
    file is missing (listed).

    \b
    Examples:
      aislelens catalog export --db store.db products.csv
      aislelens catalog export --db store.db backup/products.jsonl --images backup/photos
    """
    report = export_catalog(db, out, format=fmt, images_dir=images_dir, progress=progress_bar)
    click.echo(
        f"exported {plural(report.products, 'product')} with "
        f"{plural(report.images, 'catalog photo')} to {out} ({report.format}"
        + (f"; {report.copied} photos copied to {images_dir}" if images_dir else "")
        + ")"
    )
    echo_list("photos missing", [f"{sku}: {path}" for sku, path in report.missing])
    if report.missing:
        ctx.exit(1)


@click.command()
@db_option
@click.argument("skus", nargs=-1)
@click.option(
    "--list", "show", is_flag=True, help="List the removed products that can be restored."
)
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="Restore every restorable product that is not in the catalog again (e.g. after an "
    "`import --sync` from the wrong file).",
)
@click.option(
    "--replace",
    is_flag=True,
    help="A SKU in the catalog again: put the removed one back in its place (the current one "
    "is kept as removed, restorable in its turn).",
)
@click.pass_context
def restore(
    ctx: click.Context,
    db: Path,
    skus: tuple[str, ...],
    show: bool,
    everything: bool,
    replace: bool,
) -> None:
    """Bring back products taken out by `remove` or `import --sync` (kept 30 days, or
    AISLELENS_CATALOG_REMOVED_KEEP_DAYS): their details, photos, enrolled shots and vectors.

    Restored photos with their vectors are found by the kiosk at once; photos whose vectors
    were made by another bundle are embedded by the next `index`.

    \b
    Examples:
      aislelens catalog restore --db store.db --list
      aislelens catalog restore --db store.db 4011 4012
      aislelens catalog restore --db store.db --replace 4011   # over the 4011 imported since
      aislelens catalog restore --db store.db --all            # undo a sync from a wrong file
    """
    settings = settings_of(ctx)
    if sum((show, everything, bool(skus))) != 1:
        raise click.UsageError("give SKUs to restore, or --all, or --list (one of them)")
    if everything:
        skus = tuple(dict.fromkeys(r.sku for r in list_removed(db, settings) if not r.in_catalog))
    if show:
        removed = list_removed(db, settings)
        _table(
            ["sku", "name", "removed", "kept until", "photos", "shots", "how"],
            [
                [
                    r.sku,
                    r.name,
                    r.removed_at[:10],
                    r.keep_until[:10],
                    str(r.catalog_photos),
                    str(r.enrolled_shots),
                    r.reason + (" (in the catalog again)" if r.in_catalog else ""),
                ]
                for r in removed
            ],
            right=frozenset({4, 5}),
        )
        click.echo(plural(len(removed), "removed product") + " can be restored")
        return
    report = restore_products(
        db, list(skus), settings=settings, progress=progress_bar, replace=replace
    )
    click.echo(
        f"restored {plural(len(report.restored), 'product')} with "
        f"{plural(report.images, 'reference image')}, {report.vectors} of them with their "
        "vectors (searchable now)"
    )
    if report.to_embed:
        click.echo(
            f"next: aislelens catalog index --db {db} (embeds the other "
            f"{plural(report.to_embed, 'photo')}: never embedded, or by another bundle)"
        )
