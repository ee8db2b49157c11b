"""Reading product files (CSV, JSON, JSONL) into validated product records.

This module only parses and validates; :mod:`catalog.importer` writes. Problems in a row become
:class:`ImportIssue` (row, column, reason) and reject that row's SKU (all of its rows: a product
is written from all of its rows or not at all, and the report says so at its other rows);
warnings (a price of 0) are issues too, kept apart, that reject nothing. Problems with the file
as a whole (unknown format, UTF-16, no ``sku`` column, invalid JSON) raise
:class:`InputFileError`.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

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
#: The product columns an import writes (the database's, besides id, sku and updated_at).
PRODUCT_COLUMNS = (*SCALAR_FIELDS, "attributes", "related")
_TRUE = {"1", "true", "yes", "y", "t", "in stock", "x"}
_FALSE = {"0", "false", "no", "n", "f", "out of stock", "sold out"}
_PRICE = re.compile(
    r"^\s*[€$£]?\s*(\d+(?:[.,]\d{1,4})?)\s*(?:[€$£]|[A-Z]{3})?\s*$", re.ASCII
)  # ASCII digits only: "１２３" is not read as 123
_MINUS = re.compile(r"^\s*[€$£]?\s*-")  # "-1.50", "€-1.50", "- 1.50"
#: The longest value a cell may hold (a description is a few hundred characters).
MAX_VALUE_CHARS = 65_536
#: The longest SKU.
MAX_SKU_CHARS = 128
#: How deep a JSON value may nest (an attribute may be an object of lists, not much more).
MAX_JSON_DEPTH = 32
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class ImportIssue:
    """One problem (or warning) in an input file: where (row, column) and why."""

    row: int  # line number in a CSV/JSONL file (header = 1), item number in a JSON array;
    # 0: not from a file (a photo named on the command line: the reason names it)
    column: str
    reason: str
    sku: str = ""  # the product it concerns, when known

    def __str__(self) -> str:
        if self.row <= 0:
            return self.reason
        where = f"row {self.row}" + (f", {shown(self.column)}" if self.column else "")
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
    sources: dict[str, int] = field(default_factory=dict)  # row a merged value came from


@dataclass
class ParsedFile:
    records: dict[str, ProductRecord]  # valid SKUs only, in file order
    issues: list[ImportIssue]
    rejected: list[str]  # SKUs with at least one bad row (none of their rows are used)
    rows: int
    warnings: list[ImportIssue] = field(default_factory=list)  # reject nothing
    #: every SKU the file names, rejected ones included (what `import --sync` keeps)
    listed: set[str] = field(default_factory=set)
    #: rows whose SKU could not be read: the file may name products it cannot show
    unread_rows: list[int] = field(default_factory=list)


class RawRecord(NamedTuple):
    """One record of a file as read, before validation."""

    row: int  # line number in a CSV/JSONL file (header = 1), item number in a JSON array
    fields: dict[str, Any] | None  # None for a malformed record
    reason: str = ""  # why the record is malformed ("" when it is not)
    skus: tuple[str, ...] = ()  # of a malformed record: SKUs whose rows it may have swallowed
    rest_of_file: bool = False  # the record swallowed the rest of the file (a quote gone wrong)


def shown(text: str, limit: int = 60) -> str:
    """``text`` made safe to print on a terminal: control and undecodable characters escaped,
    cut to ``limit`` characters."""
    out = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text[: limit + 1])
    return out if len(out) <= limit else out[: limit - 1] + "…"


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
    """True when a text anywhere in ``value`` holds bytes that were not UTF-8."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if any("\udc80" <= ch <= "\udcff" for ch in item):
                return True
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
    return False


def _json_depth(value: Any) -> int:
    """How deep lists and objects nest in ``value`` (0 for a scalar), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        )
        if children is None:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_JSON_DEPTH:
            break
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _json_record(row: int, item: Any) -> RawRecord:
    if not isinstance(item, dict):
        return RawRecord(row, None, "expected a JSON object")
    if _json_depth(item) > MAX_JSON_DEPTH:
        sku = item.get("sku")
        skus = (str(sku).strip(),) if isinstance(sku, str | int) and str(sku).strip() else ()
        return RawRecord(row, None, _TOO_DEEP, skus)
    return RawRecord(row, item)


_TOO_DEEP = f"nested more than {MAX_JSON_DEPTH} levels deep"
_JSON_SKU = re.compile(r'"sku"\s*:\s*"((?:[^"\\]|\\.){1,128})"')


def _sku_of_cut_line(line: str) -> tuple[str, ...]:
    """The SKU an invalid JSON line names, if it names one."""
    m = _JSON_SKU.search(line)
    if m is None:
        return ()
    try:
        sku = json.loads(f'"{m.group(1)}"')
    except json.JSONDecodeError:
        sku = m.group(1)
    return (sku.strip(),) if isinstance(sku, str) and sku.strip() else ()


def iter_raw_rows(path: Path) -> Iterator[RawRecord]:
    """Every record of the file, malformed ones included (with a reason)."""
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
                # a cut line still names its SKU: the SKU's other lines must not be written
                skus = _sku_of_cut_line(line)
                yield RawRecord(lineno, None, f"invalid JSON ({exc.msg}, column {exc.colno})", skus)
                continue
            except RecursionError:
                yield RawRecord(lineno, None, _TOO_DEEP)
                continue
            yield _json_record(lineno, item)
    elif suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputFileError(
                f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno} ({exc.msg})"
            ) from None
        except RecursionError:
            raise InputFileError(f"{path}: invalid JSON ({_TOO_DEEP})") from None
        if isinstance(data, dict) and isinstance(data.get("products"), list):
            data = data["products"]
        if not isinstance(data, list):
            raise InputFileError(
                f'{path}: expected a JSON array of products (or {{"products": [...]}})'
            )
        for i, item in enumerate(data, start=1):
            yield _json_record(i, item)
    else:
        raise InputFileError(
            f"{path}: unknown file type {shown(suffix)!r} (use .csv, .json or .jsonl)"
        )


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
    columns: set[str] = set()
    for row, fields, reason, *_ in iter_raw_rows(path):
        if reason:
            issues.append(ImportIssue(row, "", reason))
            continue
        raw = {str(k).strip().lower(): v for k, v in (fields or {}).items()}
        columns.update(raw)
        try:
            sku = _sku(raw.get("sku"))
            ref = next((_text(raw[c]) for c in image_columns if raw.get(c)), "")
            if _has_bad_text(sku) or _has_bad_text(ref):
                raise ValueError("not valid UTF-8 text (save the file as UTF-8)")
        except ValueError as exc:
            issues.append(ImportIssue(row, "", str(exc)))
            continue
        if not sku or not ref:
            issues.append(ImportIssue(row, "sku" if not sku else "image", "missing value"))
            continue
        p = Path(ref).expanduser()
        rows.append((row, p if p.is_absolute() else base / p, sku))
    if columns and not columns.intersection(image_columns):
        listed = ", ".join(shown(c, 30) for c in sorted(columns)[:12])
        raise InputFileError(f"{path}: no {' or '.join(image_columns)} column (columns: {listed})")
    return rows, issues


def _skus_on(lines: list[str], at: int, delimiter: str) -> tuple[str, ...]:
    """The SKU column of each physical line, read on its own (for a malformed record)."""
    found: dict[str, None] = {}
    for line in lines:
        try:
            values = next(csv.reader([line], delimiter=delimiter))
        except (csv.Error, StopIteration):
            continue
        sku = values[at].strip() if at < len(values) else ""
        if sku and len(sku) <= MAX_SKU_CHARS and not _has_bad_text(sku):
            found[sku] = None
    return tuple(found)


_DELIMITERS = (",", ";", "\t")


def _delimiter(path: Path, text: str) -> str:
    """The delimiter with which the header has a ``sku`` column; else sniffed from the start
    of the file (a description full of semicolons cannot mislead the header)."""
    header = text.split("\n", 1)[0]
    fits = []
    for d in _DELIMITERS:
        try:
            columns = next(csv.reader([header], delimiter=d))
        except (csv.Error, StopIteration):
            continue
        if "sku" in (normalise_column(c) for c in columns):
            fits.append(d)
    if len(fits) == 1:
        return fits[0]
    try:
        return csv.Sniffer().sniff(text[:8192], delimiters="".join(_DELIMITERS)).delimiter
    except csv.Error:
        return "\t" if path.suffix.lower() == ".tsv" else ","


def _csv_rows(path: Path, text: str) -> Iterator[RawRecord]:
    # Cells are limited by MAX_VALUE_CHARS when validated (one bad row), not by the parser's
    # own 131,072-character limit, which would end the file there.
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    delimiter = _delimiter(path, text)
    lines = io.StringIO(text, newline="").readlines()
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise InputFileError(f"{path}: the file is empty") from None
    except csv.Error as exc:
        raise InputFileError(f"{path}: the header is not valid CSV ({exc})") from None
    columns = [normalise_column(c) for c in header]
    dupes = sorted({c for c in columns if columns.count(c) > 1 and c})
    if dupes:
        raise InputFileError(
            f"{path}: header repeats column(s) {', '.join(shown(d, 30) for d in dupes[:10])}"
        )
    if "sku" not in columns:
        listed = ", ".join(shown(c, 30) for c in header[:12]) + (", …" if len(header) > 12 else "")
        raise InputFileError(f"{path}: no sku column (columns: {listed})")
    at = columns.index("sku")
    last_line = reader.line_num
    while True:
        start = last_line + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            # Where a quote went wrong, nothing after it can be trusted to be split right:
            # stop, and keep every SKU named on the lines left untouched.
            skus = _skus_on(lines[start - 1 :], at, delimiter)
            yield RawRecord(
                start,
                None,
                f"malformed CSV from here on ({exc}; an unbalanced quote?)",
                skus,
                rest_of_file=True,
            )
            return
        end, last_line = reader.line_num, reader.line_num
        if not values or all(not v.strip() for v in values):
            continue
        if len(values) != len(columns):
            span = f" (lines {start}–{end}: an unbalanced quote?)" if end > start else ""
            skus = _skus_on(lines[start - 1 : end], at, delimiter)
            yield RawRecord(
                start, None, f"{len(values)} fields, the header has {len(columns)}{span}", skus
            )
            continue
        # a record over several lines may be a quote gone wrong that swallowed other rows
        # whose field count happens to add up: if the record is rejected, so are they
        skus = _skus_on(lines[start - 1 : end], at, delimiter) if end > start else ()
        yield RawRecord(start, {c: v for c, v in zip(columns, values, strict=True) if c}, "", skus)


def _json_kind(value: Any) -> str:
    """What a JSON value is, with its article: "an array", "an object", "true or false"..."""
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return "a number" if isinstance(value, int | float) else "text"


def _too_long(n: int) -> str:
    return f"{n:,} characters, at most {MAX_VALUE_CHARS:,}"


def _text(value: Any) -> str:
    """A cell as text: JSON numbers are fine, objects, arrays and true/false are not."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"must be text, not {_json_kind(value)}")
    # composed (NFC): a name a Mac wrote decomposed ("Ka" + U+0308 "se") is stored, searched
    # and exported as the same text as one typed on the kiosk
    text = unicodedata.normalize("NFC", value.strip()) if isinstance(value, str) else str(value)
    if len(text) > MAX_VALUE_CHARS:
        raise ValueError(_too_long(len(text)))
    if _CONTROL.search(text):
        raise ValueError("holds a control character (such as NUL)")
    return text


def _split_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [t for t in (_text(v) for v in value) if t]
    return [part.strip() for part in _text(value).split("|") if part.strip()]


def _sku(value: Any) -> str:
    if isinstance(value, float):
        raise ValueError("a SKU must be text or a whole number")
    sku = _text(value)
    if re.search(r"[\x00-\x1f\x7f]", sku):
        raise ValueError("holds a control character (such as NUL or a tab)")
    if len(sku) > MAX_SKU_CHARS:
        raise ValueError(f"{len(sku):,} characters, at most {MAX_SKU_CHARS}")
    return sku


def parse_price(value: Any) -> float | None:
    """A price from a number or text such as ``"1.99"``, ``"€1.99"``, ``"1,99"``; None if empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError("not a price")
    if isinstance(value, int | float):
        price = float(value)
    else:
        text = str(value)
        minus = _MINUS.match(text)  # read without its sign, then refused for being negative
        m = _PRICE.match(text[: minus.end() - 1] + text[minus.end() :] if minus else text)
        if not m:
            raise ValueError(f"{shown(text)!r} is not a price (e.g. 1.99)")
        price = float(m.group(1).replace(",", ".")) * (-1 if minus else 1)
    if not math.isfinite(price):
        raise ValueError(f"{shown(str(value))!r} is not a price (must be a number >= 0)")
    if price < 0:
        raise ValueError(f"{shown(str(value))!r} is a negative price (a price is 0 or more)")
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
    raise ValueError(f"{shown(str(value))!r} is not yes/no")


def _clean_row(
    row: int,
    raw: dict[str, Any],
    base: Path,
    issues: list[ImportIssue],
    warnings: list[ImportIssue],
) -> ProductRecord | None:
    """Validate one raw row; append its problems to ``issues`` (returns None when it has any)
    and what is odd but usable to ``warnings``."""
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
    try:
        sku = _sku(raw.get("sku"))
    except ValueError as exc:
        issues.append(ImportIssue(row, "sku", str(exc)))
        return None
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
                if rec.fields[name] == 0:
                    warnings.append(
                        ImportIssue(
                            row,
                            "price",
                            "the price is 0: the kiosk shows shoppers a price of 0.00 "
                            "(leave the cell empty when the price is not known)",
                            sku,
                        )
                    )
            elif name == "in_stock":
                rec.fields[name] = parse_bool(value)
            elif name == "currency":
                cur = _text(value).upper()
                if cur and not re.fullmatch(r"[A-Z]{3}", cur):
                    raise ValueError(f"{shown(cur)!r} is not a currency code (e.g. EUR)")
                if cur:
                    rec.fields[name] = cur
            else:
                rec.fields[name] = _text(value)
        except ValueError as exc:
            issues.append(ImportIssue(row, name, str(exc)))
    for name in ("image", "related"):
        if name not in raw:
            continue
        try:
            refs = _split_list(raw[name])
        except ValueError as exc:
            issues.append(ImportIssue(row, name, str(exc)))
            continue
        if name == "related":
            rec.related = refs
            continue
        rec.images = []
        for ref in refs:
            p = Path(ref).expanduser()
            p = p if p.is_absolute() else base / p
            if not p.is_file():
                issues.append(ImportIssue(row, "image", f"no such image file: {shown(ref)}"))
            rec.images.append((row, p))
    attrs = raw.get("attributes")
    if isinstance(attrs, str) and attrs.strip():
        try:
            attrs = json.loads(attrs)
        except (json.JSONDecodeError, RecursionError):
            attrs = None
        if not isinstance(attrs, dict) or _json_depth(attrs) > MAX_JSON_DEPTH:
            attrs = None
            issues.append(ImportIssue(row, "attributes", "must be a JSON object"))
    elif attrs not in (None, "") and not isinstance(attrs, dict):
        issues.append(
            ImportIssue(row, "attributes", f"must be a JSON object, not {_json_kind(attrs)}")
        )
    if isinstance(attrs, dict):
        rec.attributes.update(attrs)
    for column, value in raw.items():
        if column not in KNOWN and column and value not in (None, ""):
            if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
                issues.append(ImportIssue(row, column, _too_long(len(value))))
                continue
            rec.attributes[column] = value.strip() if isinstance(value, str) else value
    return None if len(issues) > before else rec


def _as_cell(key: str, value: Any) -> str:
    """A parsed value as a spreadsheet would show it: prices with their cents (1.20)."""
    if key == "price" and isinstance(value, float):
        return f"{value:.2f}"
    return shown(repr(value))


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
                    into.sources[key] = row
                continue
            issues.append(
                ImportIssue(
                    row,
                    key,
                    f"SKU {rec.sku} not imported: {_as_cell(key, value)} here, "
                    f"{_as_cell(key, old)} "
                    f"in row {into.sources.get(key, into.rows[0])} (the rows of one SKU must "
                    "agree: leave the cell empty in all but one)",
                    rec.sku,
                )
            )
            ok = False
    if rec.images is not None:
        into.images = (into.images or []) + rec.images
    if rec.related is not None:
        into.related = list(dict.fromkeys((into.related or []) + rec.related))
    into.rows.append(row)
    return ok


def _rows_text(rows: list[int]) -> str:
    return ("row " if len(rows) == 1 else "rows ") + ", ".join(map(str, rows))


def parse_product_file(path: str | Path) -> ParsedFile:
    """Read and validate a product file; SKUs with any bad row are rejected as a whole, and
    the report says so at their other rows.

    A malformed record (wrong field count, a quote gone wrong) rejects the SKU on its first
    line and every SKU of the file named on the lines it swallowed, so that no SKU is written
    from some of its rows only."""
    path = Path(path)
    base = path.resolve().parent
    issues: list[ImportIssue] = []
    warnings: list[ImportIssue] = []
    records: dict[str, ProductRecord] = {}
    bad: dict[str, list[int]] = {}  # SKU -> the rows that rejected it
    swallowed: dict[str, int] = {}  # SKU -> the malformed record that may hold one of its rows
    listed: set[str] = set()
    unread: list[int] = []
    rows = 0
    for row, fields, reason, skus, rest_of_file in iter_raw_rows(path):
        rows += 1
        listed.update(skus)
        if reason:
            issues.append(ImportIssue(row, "", reason, skus[0] if skus else ""))
            for sku in skus[:1]:
                bad.setdefault(sku, []).append(row)
            for sku in skus[1:]:
                swallowed.setdefault(sku, row)
            if rest_of_file or not skus:
                unread.append(row)
            continue
        raw = {normalise_column(str(k)): v for k, v in (fields or {}).items()}
        rec = _clean_row(row, raw, base, issues, warnings)
        if rec is None:
            for sku in skus:
                swallowed.setdefault(sku, row)
            try:
                sku = _sku(raw.get("sku"))
            except ValueError:
                sku = ""
            if sku and not _has_bad_text(sku):
                bad.setdefault(sku, []).append(row)
                listed.add(sku)
            else:
                unread.append(row)
            continue
        listed.add(rec.sku)
        if rec.sku in records:
            if not _merge(records[rec.sku], rec, row, issues):
                bad.setdefault(rec.sku, []).append(row)
        else:
            records[rec.sku] = rec
    for sku in sorted(swallowed.keys() & records.keys()):
        bad.setdefault(sku, []).append(swallowed[sku])
    for sku, blamed in bad.items():
        rec = records.pop(sku, None)
        others = [r for r in rec.rows if r not in blamed] if rec else []
        if others:
            issues.append(
                ImportIssue(
                    others[0],
                    "",
                    f"SKU {sku} not imported, this row included: {_rows_text(blamed)} of it "
                    "has a problem (the rows of one product are imported together or not at all)",
                    sku,
                )
            )
    warnings = [w for w in warnings if w.sku not in bad]
    return ParsedFile(records, issues, list(bad), rows, warnings, listed, unread)
