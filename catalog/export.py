"""``export_catalog``: the catalog back out as a product file in the format ``import`` reads.

CSV, JSON (an array) or JSONL, chosen by the file's suffix. The file is a fixed point of
import: exported, imported into an empty catalog and exported again, it comes out byte for
byte the same (prices with two to four decimals, ``in_stock`` as yes/no, lists joined by
``|`` in CSV; an attribute becomes its own CSV column when import would read it back as it
was — a plain, trimmed text under a name import keeps — and goes into the ``attributes`` JSON
column otherwise). Catalog photos are referenced by path: relative to the output file's folder
when they lie in it (or below it), absolute otherwise; ``images_dir`` copies them there first
(named ``<sku>-<sha256 prefix>.<ext>``) and references the copies. Enrolled in-store shots are
not part of a product file (``enroll`` takes them). Everything is read in one snapshot and the
file is written to a temporary name and swapped in, so a failed export leaves no file.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .atomic import write_atomic
from .db import open_catalog_readonly, reading
from .errors import OutputFileError
from .imagefiles import resolve_stored, safe_file_name, sha256_file, stored_path
from .importfile import KNOWN, MAX_VALUE_CHARS, SCALAR_FIELDS, normalise_column
from .products import PRODUCT_SELECT, product_from_row
from .progress import ProgressFactory, start_progress
from .types import Product

#: what each file suffix means (as import reads them)
FORMATS = {".csv": "csv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}
#: the columns every export has, in this order (then attribute columns, then ``attributes``)
COLUMNS = ("sku", *SCALAR_FIELDS, "image", "related")


@dataclass
class ExportReport:
    """What :func:`export_catalog` wrote."""

    path: str
    format: str  # "csv", "json" or "jsonl"
    products: int = 0
    images: int = 0  # catalog photos referenced
    copied: int = 0  # of them copied into ``images_dir`` (already there and the same: not)
    #: (sku, path) of photos whose file is gone: referenced all the same, or, when copying,
    #: left out
    missing: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def export_format(out: Path, format: str | None = None) -> str:
    """The format to write ``out`` in: ``format``, else its suffix's (they must agree, since
    import reads a file by its suffix)."""
    by_suffix = FORMATS.get(out.suffix.lower())
    if format is not None and format not in FORMATS.values():
        raise OutputFileError(f"{out}: unknown format {format!r} (csv, json or jsonl)")
    if format and by_suffix and format != by_suffix:
        raise OutputFileError(
            f"{out}: the name says {by_suffix}, the format asked is {format} "
            "(import reads a file by its suffix)"
        )
    if by_suffix is None:  # import goes by the suffix: it could not read the file back
        raise OutputFileError(
            f"{out}: unknown file type {out.suffix!r} (use .csv, .json or .jsonl: import "
            "reads a file by its suffix)"
        )
    return by_suffix


def export_catalog(
    db_path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    format: str | None = None,
    images_dir: str | os.PathLike[str] | None = None,
    progress: ProgressFactory | None = None,
) -> ExportReport:
    """Write the catalog's products to ``out`` in the import format (see the module's doc).

    Raises :class:`OutputFileError` for an unknown format, a value the format cannot hold
    (a ``|`` inside a CSV list item) or a file that cannot be written; the catalog is only
    read."""
    db_path, out = Path(db_path), Path(out)
    fmt = export_format(out, format)
    products, photos = _read_catalog(db_path)
    out_dir = Path(os.path.realpath(out.parent))
    copy_to = Path(os.path.realpath(images_dir)) if images_dir is not None else None
    report = ExportReport(str(out), fmt, len(products))
    records = []
    bar = start_progress(progress, len(products), "export")
    try:
        for pid, product in products:
            refs = []
            for stored, sha in photos.get(pid, []):
                src = Path(os.path.realpath(resolve_stored(stored, db_path.parent)))
                if not src.is_file():  # listed, and still referenced where it was: an import
                    report.missing.append((product.sku, str(src)))  # of the file reports it
                elif copy_to is not None:
                    src = _copy_photo(src, copy_to, product.sku, sha, report)
                refs.append(stored_path(src, out_dir))
            report.images += len(refs)
            records.append(_record(product, refs))
            bar.update(1)
    finally:
        bar.close()
    data = _render(records, fmt, out)
    try:
        write_atomic(out, data)
    except OSError as exc:
        raise OutputFileError(f"{out}: cannot write it ({exc.strerror})") from None
    return report


def _read_catalog(
    db_path: Path,
) -> tuple[list[tuple[int, Product]], dict[int, list[tuple[str, str]]]]:
    """(product id, product) in catalog order, and each product's catalog photos (stored path,
    sha256) in their order; one snapshot."""
    db = open_catalog_readonly(db_path)
    try:
        with reading(db_path):
            db.conn.execute("BEGIN")
            products = [
                (row[0], product_from_row(row))
                for row in db.conn.execute(f"{PRODUCT_SELECT} ORDER BY p.id")
            ]
            photos: dict[int, list[tuple[str, str]]] = {}
            for pid, path, sha in db.conn.execute(
                "SELECT product_id, path, sha256 FROM images WHERE kind = 'catalog' ORDER BY id"
            ):
                photos.setdefault(pid, []).append((path, sha))
            db.conn.execute("ROLLBACK")
    finally:
        db.close()
    return products, photos


def _copy_photo(src: Path, folder: Path, sku: str, sha: str, report: ExportReport) -> Path:
    dest = folder / f"{safe_file_name(sku)}-{sha[:12]}{src.suffix.lower() or '.img'}"
    try:
        same_size = dest.is_file() and dest.stat().st_size == src.stat().st_size
        if same_size and sha256_file(dest) == sha256_file(src):
            return dest
        write_atomic(dest, src.read_bytes())
    except OSError as exc:
        raise OutputFileError(f"{dest}: cannot copy the photo there ({exc.strerror})") from None
    report.copied += 1
    return dest


def _price_text(price: float | None) -> str:
    """``2.5`` → ``2.50``; up to the four decimals import keeps; "" when unknown."""
    if price is None:
        return ""
    whole, _, decimals = f"{price:.4f}".rstrip("0").partition(".")
    return f"{whole}.{decimals.ljust(2, '0')}"


def _record(product: Product, images: list[str]) -> dict[str, Any]:
    return {
        "sku": product.sku,
        "name": product.name,
        "price": product.price,
        "currency": product.currency,
        "category": product.category,
        "subcategory": product.subcategory,
        "aisle": product.aisle,
        "description": product.description,
        "in_stock": product.in_stock,
        "image": images,
        "related": list(product.related),
        "attributes": product.attributes,
    }


def _column_attribute(key: str, value: Any) -> bool:
    """Whether a CSV column of its own reads back as this very attribute."""
    return (
        isinstance(value, str)
        and value != ""
        and value == value.strip()
        and len(value) <= MAX_VALUE_CHARS
        and key != ""
        and normalise_column(key) == key
        and key not in KNOWN
    )


def _joined(out: Path, sku: str, column: str, items: list[str]) -> str:
    bad = [item for item in items if "|" in item]
    if bad:
        raise OutputFileError(
            f"{out}: SKU {sku}: {column} {bad[0]!r} holds a '|', which a CSV list cannot "
            "(export to .json or .jsonl instead)"
        )
    return "|".join(items)


def _render(records: list[dict[str, Any]], fmt: str, out: Path) -> bytes:
    if fmt == "json":
        return (json.dumps(records, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    if fmt == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")
    columns = sorted(
        {k for r in records for k, v in r["attributes"].items() if _column_attribute(k, v)}
    )
    other = any(not _column_attribute(k, v) for r in records for k, v in r["attributes"].items())
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([*COLUMNS, *columns, *(["attributes"] if other else [])])
    for r in records:
        cells = {
            **r,
            "price": _price_text(r["price"]),
            "in_stock": "yes" if r["in_stock"] else "no",
            "image": _joined(out, r["sku"], "image", r["image"]),
            "related": _joined(out, r["sku"], "related", r["related"]),
        }
        attrs = r["attributes"]
        rest = {k: v for k, v in attrs.items() if not _column_attribute(k, v)}
        writer.writerow(
            [
                *(cells[c] for c in COLUMNS),
                *(attrs[c] if _column_attribute(c, attrs.get(c)) else "" for c in columns),
                *(
                    [json.dumps(rest, ensure_ascii=False, sort_keys=True) if rest else ""]
                    if other
                    else []
                ),
            ]
        )
    # with a BOM: spreadsheets then read the accents right (import skips it)
    return buf.getvalue().encode("utf-8-sig")
