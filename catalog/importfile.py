"""Reading product files (CSV, JSON, JSONL) into validated product records.

This module only parses and validates; :mod:`catalog.importer` writes. Problems in a row become
:class:`ImportIssue` (row, column, reason) and reject that row's SKU; problems with the file as a
whole (unknown format, UTF-16, no ``sku`` column, invalid JSON) raise :class:`InputFileError`.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputFileError

#: Columns with a meaning; anything else is kept as an attribute.
SCALAR_FIELDS = (
    "name",
    "price",
    "currency",
    "category",
    "subcategory",
    "aisle",
    "description",
    "in_stock",
)
ALIASES = {
    "location": "aisle",
    "images": "image",
    "image_path": "image",
    "image_paths": "image",
    "photo": "image",
    "related_skus": "related",
    "goes_well_with": "related",
    "instock": "in_stock",
    "stock": "in_stock",
    "title": "name",
}
KNOWN = {"sku", "image", "related", "attributes", *SCALAR_FIELDS}
_TRUE = {"1", "true", "yes", "y", "t", "in stock", "x"}
_FALSE = {"0", "false", "no", "n", "f", "out of stock", "sold out"}
_PRICE = re.compile(r"^\s*[€$£]?\s*(\d+(?:[.,]\d{1,4})?)\s*(?:[€$£]|[A-Z]{3})?\s*$")


@dataclass(frozen=True)
class ImportIssue:
    """One problem in an input file: where (row, column) and why."""

    row: int  # line number in a CSV/JSONL file (header = 1), item number in a JSON array
    column: str
    reason: str

    def __str__(self) -> str:
        where = f"row {self.row}" + (f", {self.column}" if self.column else "")
        return f"{where}: {self.reason}"


@dataclass
class ProductRecord:
    """One SKU as the file describes it, merged over all its rows."""

    sku: str
    rows: list[int]
    fields: dict[str, Any] = field(default_factory=dict)  # only the columns the file has
    images: list[tuple[int, Path]] | None = None  # (row, absolute path); None: no image column
    related: list[str] | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass
class ParsedFile:
    records: dict[str, ProductRecord]  # valid SKUs only, in file order
    issues: list[ImportIssue]
    rejected: list[str]  # SKUs with at least one bad row (none of their rows are used)
    rows: int


def normalise_column(name: str) -> str:
    key = re.sub(r"[\s\-]+", "_", name.strip().lower())
    return ALIASES.get(key, key)


def read_text(path: Path) -> str:
    """The file as text: UTF-8 with or without BOM; undecodable bytes kept as surrogates
    so that the rows holding them can be reported (and the others imported)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such file") from None
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read ({exc.strerror})") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputFileError(f"{path}: the file is UTF-16; save it as UTF-8 (CSV UTF-8)")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return data.decode("utf-8", errors="surrogateescape")


def _has_bad_text(value: Any) -> bool:
    if isinstance(value, str):
        return any("\udc80" <= ch <= "\udcff" for ch in value)
    if isinstance(value, list):
        return any(_has_bad_text(v) for v in value)
    if isinstance(value, dict):
        return any(_has_bad_text(k) or _has_bad_text(v) for k, v in value.items())
    return False


def iter_raw_rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str]]:
    """(row number, raw mapping, reason) for every record of the file.

    A non-empty reason marks a malformed record; its mapping is then None or holds only the
    SKU it seems to be about.
    """
    suffix = path.suffix.lower()
    text = read_text(path)
    if suffix in (".csv", ".tsv", ".txt"):
        yield from _csv_rows(path, text)
    elif suffix in (".jsonl", ".ndjson"):
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                yield lineno, None, f"invalid JSON ({exc.msg}, column {exc.colno})"
                continue
            yield (
                (lineno, item, "")
                if isinstance(item, dict)
                else (lineno, None, "expected a JSON object")
            )
    elif suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputFileError(
                f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno} ({exc.msg})"
            ) from None
        if isinstance(data, dict) and isinstance(data.get("products"), list):
            data = data["products"]
        if not isinstance(data, list):
            raise InputFileError(
                f'{path}: expected a JSON array of products (or {{"products": [...]}})'
            )
        for i, item in enumerate(data, start=1):
            yield (i, item, "") if isinstance(item, dict) else (i, None, "expected a JSON object")
    else:
        raise InputFileError(f"{path}: unknown file type {suffix!r} (use .csv, .json or .jsonl)")


def read_image_sku_rows(
    path: Path, image_columns: tuple[str, ...] = ("image",)
) -> tuple[list[tuple[int, Path, str]], list[ImportIssue]]:
    """(row, image path, sku) of a file with an image and a ``sku`` column.

    Paths may be absolute or relative to the file; extra columns are ignored; rows with a
    missing value or a malformed record are reported, not fatal.
    """
    base = path.resolve().parent
    rows: list[tuple[int, Path, str]] = []
    issues: list[ImportIssue] = []
    for row, raw, reason in iter_raw_rows(path):
        if reason:
            issues.append(ImportIssue(row, "", reason))
            continue
        raw = {str(k).strip().lower(): v for k, v in (raw or {}).items()}
        sku = str(raw.get("sku") or "").strip()
        ref = next((str(raw[c]).strip() for c in image_columns if raw.get(c)), "")
        if not sku or not ref:
            issues.append(ImportIssue(row, "sku" if not sku else "image", "missing value"))
            continue
        p = Path(ref).expanduser()
        rows.append((row, p if p.is_absolute() else base / p, sku))
    return rows, issues


def _csv_rows(path: Path, text: str) -> Iterator[tuple[int, dict[str, Any] | None, str]]:
    sample = text[:8192]
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
    except csv.Error:
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise InputFileError(f"{path}: the file is empty") from None
    columns = [normalise_column(c) for c in header]
    dupes = sorted({c for c in columns if columns.count(c) > 1 and c})
    if dupes:
        raise InputFileError(f"{path}: header repeats column(s) {', '.join(dupes)}")
    if "sku" not in columns:
        raise InputFileError(f"{path}: no sku column (columns: {', '.join(header)})")
    last_line = reader.line_num
    while True:
        start = last_line + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield start, None, f"malformed CSV from here on ({exc}; an unbalanced quote?)"
            return
        end, last_line = reader.line_num, reader.line_num
        if not values or all(not v.strip() for v in values):
            continue
        if len(values) != len(columns):
            span = f" (lines {start}–{end}: an unbalanced quote?)" if end > start else ""
            at = columns.index("sku")
            hint = {"sku": values[at]} if at < len(values) and end == start else None
            yield start, hint, f"{len(values)} fields, the header has {len(columns)}{span}"
            continue
        yield start, {c: v for c, v in zip(columns, values, strict=True) if c}, ""


def _split_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in str(value).split("|") if part.strip()]


def parse_price(value: Any) -> float | None:
    """A price from a number or text such as ``"1.99"``, ``"€1.99"``, ``"1,99"``; None if empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError("not a price")
    if isinstance(value, int | float):
        price = float(value)
    else:
        m = _PRICE.match(str(value))
        if not m:
            raise ValueError(f"{value!r} is not a price (e.g. 1.99)")
        price = float(m.group(1).replace(",", "."))
    if not math.isfinite(price) or price < 0:
        raise ValueError(f"{value!r} is not a price (must be a number >= 0)")
    return round(price, 4)


def parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value is None or (isinstance(value, str) and not value.strip()):
        return True
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{value!r} is not yes/no")


def _clean_row(
    row: int, raw: dict[str, Any], base: Path, issues: list[ImportIssue]
) -> ProductRecord | None:
    """Validate one raw row; append its problems to ``issues`` (returns None when it has any)."""
    before = len(issues)
    for column, value in raw.items():
        if _has_bad_text(value):
            issues.append(ImportIssue(row, column, "not valid UTF-8 text (save the file as UTF-8)"))
    if len(issues) > before:
        return None
    for column in ("sku", "name", "price", "category", "subcategory", "currency"):
        if isinstance(raw.get(column), str) and "\n" in raw[column].strip():
            issues.append(
                ImportIssue(row, column, "line break inside the value (an unbalanced quote?)")
            )
    if len(issues) > before:
        return None
    sku = str(raw.get("sku") or "").strip()
    if not sku:
        issues.append(ImportIssue(row, "sku", "missing SKU"))
        return None
    rec = ProductRecord(sku=sku, rows=[row])
    for name in SCALAR_FIELDS:
        if name not in raw:
            continue
        value = raw[name]
        try:
            if name == "price":
                rec.fields[name] = parse_price(value)
            elif name == "in_stock":
                rec.fields[name] = parse_bool(value)
            elif name == "currency":
                cur = str(value or "").strip().upper()
                if cur and not re.fullmatch(r"[A-Z]{3}", cur):
                    raise ValueError(f"{value!r} is not a currency code (e.g. EUR)")
                if cur:
                    rec.fields[name] = cur
            else:
                rec.fields[name] = "" if value is None else str(value).strip()
        except ValueError as exc:
            issues.append(ImportIssue(row, name, str(exc)))
    if "image" in raw:
        rec.images = []
        for ref in _split_list(raw["image"]):
            p = Path(ref).expanduser()
            p = p if p.is_absolute() else base / p
            if not p.is_file():
                issues.append(ImportIssue(row, "image", f"no such image file: {ref}"))
            rec.images.append((row, p))
    if "related" in raw:
        rec.related = _split_list(raw["related"])
    attrs = raw.get("attributes")
    if isinstance(attrs, str) and attrs.strip():
        try:
            attrs = json.loads(attrs)
        except json.JSONDecodeError:
            attrs = None
        if not isinstance(attrs, dict):
            issues.append(ImportIssue(row, "attributes", "must be a JSON object"))
    if isinstance(attrs, dict):
        rec.attributes.update(attrs)
    for column, value in raw.items():
        if column not in KNOWN and column and value not in (None, ""):
            rec.attributes[column] = value.strip() if isinstance(value, str) else value
    return None if len(issues) > before else rec


def _merge(into: ProductRecord, rec: ProductRecord, row: int, issues: list[ImportIssue]) -> bool:
    """Merge a later row of the same SKU; a different non-empty value is a conflict."""
    ok = True
    for section in ("fields", "attributes"):
        mine, theirs = getattr(into, section), getattr(rec, section)
        for key, value in theirs.items():
            old = mine.get(key)
            if old in (None, "") or value in (None, "") or old == value:
                if old in (None, ""):
                    mine[key] = value
                continue
            issues.append(
                ImportIssue(
                    row,
                    key,
                    f"SKU {rec.sku}: {value!r} conflicts with {old!r} in row {into.rows[0]}",
                )
            )
            ok = False
    if rec.images is not None:
        into.images = (into.images or []) + rec.images
    if rec.related is not None:
        into.related = list(dict.fromkeys((into.related or []) + rec.related))
    into.rows.append(row)
    return ok


def parse_product_file(path: str | Path) -> ParsedFile:
    """Read and validate a product file; SKUs with any bad row are rejected as a whole."""
    path = Path(path)
    base = path.resolve().parent
    issues: list[ImportIssue] = []
    records: dict[str, ProductRecord] = {}
    bad: dict[str, None] = {}
    rows = 0
    for row, raw, reason in iter_raw_rows(path):
        rows += 1
        raw = {normalise_column(str(k)): v for k, v in (raw or {}).items()}
        rec = None
        if reason:
            issues.append(ImportIssue(row, "", reason))
        else:
            rec = _clean_row(row, raw, base, issues)
        if rec is None:
            sku = str(raw.get("sku") or "").strip()
            if sku and not _has_bad_text(sku):
                bad[sku] = None
            continue
        if rec.sku in records:
            if not _merge(records[rec.sku], rec, row, issues):
                bad[rec.sku] = None
        else:
            records[rec.sku] = rec
    for sku in bad:
        records.pop(sku, None)
    return ParsedFile(records, issues, list(bad), rows)
