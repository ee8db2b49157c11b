"""The catalog database: opening it, its named migrations, its metadata and its write lock.

SQLite (through sqlite-utils) is the source of truth. The file is in WAL mode so the kiosk keeps
reading while the staff tool writes; writers also take an advisory lock file so two staff
commands never embed or rebuild the index at once. Triggers count every change to products,
images and embeddings (``catalog_revision``, ``embeddings_revision`` in ``meta``), which is how a
derived index file is recognised as stale.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from .errors import CatalogBusyError, CatalogDamagedError, CatalogNotFoundError, SchemaError

try:  # POSIX only; elsewhere the lock is a no-op and SQLite's own locking remains
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

MIGRATION_SET = "aislelens-catalog"
migrations = Migrations(MIGRATION_SET)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@migrations(name="m001_products_images_embeddings")
def _m001(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta (key, value) VALUES
            ('catalog_revision', '0'), ('embeddings_revision', '0');
        CREATE TABLE products (
            id INTEGER PRIMARY KEY,
            sku TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL DEFAULT '',
            price REAL CHECK (price IS NULL OR price >= 0),
            currency TEXT NOT NULL DEFAULT 'EUR',
            category TEXT NOT NULL DEFAULT '',
            subcategory TEXT NOT NULL DEFAULT '',
            aisle TEXT NOT NULL DEFAULT '',
            description TEXT NOT NULL DEFAULT '',
            in_stock INTEGER NOT NULL DEFAULT 1,
            attributes TEXT NOT NULL DEFAULT '{}',
            related TEXT NOT NULL DEFAULT '[]',
            updated_at TEXT NOT NULL
        );
        CREATE INDEX products_category ON products (category);
        CREATE TABLE images (
            id INTEGER PRIMARY KEY,
            product_id INTEGER NOT NULL REFERENCES products (id) ON DELETE CASCADE,
            kind TEXT NOT NULL CHECK (kind IN ('catalog', 'enrolled')),
            path TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            width INTEGER NOT NULL,
            height INTEGER NOT NULL,
            error TEXT,
            added_at TEXT NOT NULL,
            UNIQUE (product_id, sha256)
        );
        CREATE INDEX images_product ON images (product_id);
        CREATE TABLE embeddings (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            image_id INTEGER NOT NULL UNIQUE REFERENCES images (id) ON DELETE CASCADE,
            bundle_id TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            dim INTEGER NOT NULL,
            vector BLOB NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE thumbnails (
            image_id INTEGER PRIMARY KEY REFERENCES images (id) ON DELETE CASCADE,
            format TEXT NOT NULL,
            width INTEGER NOT NULL,
            height INTEGER NOT NULL,
            data BLOB NOT NULL
        );
        """
    )
    # Revision counters: what the kiosk shows (products, which images) and what it searches
    # (embeddings). Bookkeeping columns (images.error, size, mtime) do not count.
    for table, event in (
        ("products", "INSERT"),
        ("products", "UPDATE"),
        ("products", "DELETE"),
        ("images", "INSERT"),
        ("images", "UPDATE OF product_id, kind, sha256"),
        ("images", "DELETE"),
        ("embeddings", "INSERT"),
        ("embeddings", "DELETE"),
    ):
        key = "embeddings_revision" if table == "embeddings" else "catalog_revision"
        name = f"{table}_{event.split()[0].lower()}_rev"
        db.execute(
            f"CREATE TRIGGER {name} AFTER {event} ON {table} BEGIN "
            f"UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = '{key}'; END"
        )


@migrations(name="m002_products_fts5")
def _m002(db: Database) -> None:
    # External-content FTS5 table kept in step by triggers; diacritics folded so that
    # "creme" finds "Crème".
    db.executescript(
        """
        CREATE VIRTUAL TABLE products_fts USING fts5 (
            sku, name, category, subcategory, description,
            content='products', content_rowid='id',
            tokenize='unicode61 remove_diacritics 2'
        );
        CREATE TRIGGER products_fts_ai AFTER INSERT ON products BEGIN
            INSERT INTO products_fts (rowid, sku, name, category, subcategory, description)
            VALUES (new.id, new.sku, new.name, new.category, new.subcategory, new.description);
        END;
        CREATE TRIGGER products_fts_ad AFTER DELETE ON products BEGIN
            INSERT INTO products_fts (products_fts, rowid, sku, name, category, subcategory,
                                      description)
            VALUES ('delete', old.id, old.sku, old.name, old.category, old.subcategory,
                    old.description);
        END;
        CREATE TRIGGER products_fts_au AFTER UPDATE ON products BEGIN
            INSERT INTO products_fts (products_fts, rowid, sku, name, category, subcategory,
                                      description)
            VALUES ('delete', old.id, old.sku, old.name, old.category, old.subcategory,
                    old.description);
            INSERT INTO products_fts (rowid, sku, name, category, subcategory, description)
            VALUES (new.id, new.sku, new.name, new.category, new.subcategory, new.description);
        END;
        """
    )


@migrations(name="m003_store_adaptation")
def _m003(db: Database) -> None:
    # The store adaptation (catalog/adapter.py): derived from the embeddings, refitted by
    # `catalog index`, never edited by hand.
    db.executescript(
        """
        CREATE TABLE view_embeddings (
            image_id INTEGER PRIMARY KEY REFERENCES images (id) ON DELETE CASCADE,
            bundle_id TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            n INTEGER NOT NULL,
            dim INTEGER NOT NULL,
            vectors BLOB NOT NULL
        );
        CREATE TABLE adaptation (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            bundle_id TEXT NOT NULL,
            embeddings_revision INTEGER NOT NULL,
            dim INTEGER NOT NULL,
            out_dim INTEGER NOT NULL,
            mean BLOB NOT NULL,
            matrix BLOB NOT NULL,
            params TEXT NOT NULL,
            thresholds TEXT NOT NULL,
            graph_sha256 TEXT NOT NULL DEFAULT '',
            fitted_at TEXT NOT NULL
        );
        CREATE TABLE prototypes (
            product_id INTEGER PRIMARY KEY REFERENCES products (id) ON DELETE CASCADE,
            vector BLOB NOT NULL
        );
        INSERT INTO meta (key, value) VALUES ('adaptation_revision', '0');
        """
    )


@migrations(name="m004_vector_checksums")
def _m004(db: Database) -> None:
    # A CRC-32 beside every stored vector (catalog/vectorcheck.py): integrity_check does not
    # look inside BLOBs, so a damaged page could otherwise change a vector without an error.
    from .vectorcheck import register_crc_function

    register_crc_function(db)
    db.executescript(
        """
        ALTER TABLE embeddings ADD COLUMN crc INTEGER;
        ALTER TABLE view_embeddings ADD COLUMN crc INTEGER;
        ALTER TABLE prototypes ADD COLUMN crc INTEGER;
        ALTER TABLE adaptation ADD COLUMN crc INTEGER;
        UPDATE embeddings SET crc = aislelens_crc32(vector);
        UPDATE view_embeddings SET crc = aislelens_crc32(vectors);
        UPDATE prototypes SET crc = aislelens_crc32(vector);
        UPDATE adaptation SET crc = aislelens_crc32(mean, matrix);
        """
    )


@migrations(name="m005_removed_products")
def _m005(db: Database) -> None:
    # Products taken out by `remove` or `import --sync`, kept for a while so that `restore`
    # can bring them back (catalog/removed.py): the product's row, and per image its row, its
    # thumbnail, its vector and its synthetic views. The kiosk never reads these tables, and
    # no trigger counts them: a removed product is out of the catalog the kiosk searches.
    db.executescript(
        """
        CREATE TABLE removed_products (
            id INTEGER PRIMARY KEY,
            sku TEXT NOT NULL,  -- several copies when a SKU was removed more than once
            removed_at TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            name TEXT NOT NULL DEFAULT '',
            price REAL,
            currency TEXT NOT NULL DEFAULT 'EUR',
            category TEXT NOT NULL DEFAULT '',
            subcategory TEXT NOT NULL DEFAULT '',
            aisle TEXT NOT NULL DEFAULT '',
            description TEXT NOT NULL DEFAULT '',
            in_stock INTEGER NOT NULL DEFAULT 1,
            attributes TEXT NOT NULL DEFAULT '{}',
            related TEXT NOT NULL DEFAULT '[]',
            updated_at TEXT NOT NULL
        );
        CREATE INDEX removed_products_removed_at ON removed_products (removed_at);
        CREATE INDEX removed_products_sku ON removed_products (sku);
        CREATE TABLE removed_images (
            id INTEGER PRIMARY KEY,
            removed_id INTEGER NOT NULL REFERENCES removed_products (id) ON DELETE CASCADE,
            kind TEXT NOT NULL,
            path TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            width INTEGER NOT NULL,
            height INTEGER NOT NULL,
            error TEXT,
            added_at TEXT NOT NULL,
            thumb_format TEXT,
            thumb_width INTEGER,
            thumb_height INTEGER,
            thumb_data BLOB,
            emb_bundle_id TEXT,
            emb_sha256 TEXT,
            emb_dim INTEGER,
            emb_vector BLOB,
            emb_crc INTEGER,
            emb_created_at TEXT,
            views_bundle_id TEXT,
            views_sha256 TEXT,
            views_n INTEGER,
            views_dim INTEGER,
            views_vectors BLOB,
            views_crc INTEGER
        );
        CREATE INDEX removed_images_removed ON removed_images (removed_id);
        """
    )


@migrations(name="m006_products_trigram")
def _m006(db: Database) -> None:
    # Inner-word text search ("milch" finds Vollmilch; catalog/textsearch.py): a trigram FTS5
    # index of the names, categories and subcategories beside the word index of m002, filled
    # from the existing rows and kept in step by triggers. The trigram tokenizer of SQLite
    # before 3.45 cannot fold accents, so it indexes products_folded, a copy of those columns
    # with the accents taken off by plain SQL (catalog/textfold.py; a user function would
    # break writes from any other SQLite client). Only rows with non-ASCII text are folded.
    from .textfold import fold_sql_updates

    columns = ("name", "category", "subcategory")
    names = ", ".join(columns)
    non_ascii = " OR ".join(f"{c} GLOB '*[^ -~]*'" for c in columns)

    def fold(where: str) -> list[str]:
        return fold_sql_updates("products_folded", columns, f"({where}) AND ({non_ascii})")

    def index(where: str) -> str:
        return (
            f"INSERT INTO products_trigram (rowid, {names}) "
            f"SELECT id, {names} FROM products_folded WHERE {where};"
        )

    def unindex(where: str) -> str:
        return (
            f"INSERT INTO products_trigram (products_trigram, rowid, {names}) "
            f"SELECT 'delete', id, {names} FROM products_folded WHERE {where};"
        )

    add = (
        f"INSERT INTO products_folded (id, {names}) "
        "VALUES (new.id, new.name, new.category, new.subcategory);"
    )
    drop = "DELETE FROM products_folded WHERE id = old.id;"
    statements = [
        """CREATE TABLE products_folded (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL, category TEXT NOT NULL, subcategory TEXT NOT NULL
        )""",
        f"""CREATE VIRTUAL TABLE products_trigram USING fts5 (
            {names}, content='products_folded', content_rowid='id', tokenize='trigram'
        )""",
        f"INSERT INTO products_folded (id, {names}) SELECT id, {names} FROM products",
        *fold("1"),
        "INSERT INTO products_trigram (products_trigram) VALUES ('rebuild')",
        f"""CREATE TRIGGER products_trigram_ai AFTER INSERT ON products BEGIN
            {add} {" ".join(fold("id = new.id"))} {index("id = new.id")}
        END""",
        f"""CREATE TRIGGER products_trigram_ad AFTER DELETE ON products BEGIN
            {unindex("id = old.id")} {drop}
        END""",
        f"""CREATE TRIGGER products_trigram_au AFTER UPDATE OF id, {names} ON products BEGIN
            {unindex("id = old.id")} {drop}
            {add} {" ".join(fold("id = new.id"))} {index("id = new.id")}
        END""",
    ]
    for sql in statements:  # one by one: sqlite-utils' executescript splits slowly
        db.execute(sql)


@migrations(name="m007_images_sha256")
def _m007(db: Database) -> None:
    # Photos by their bytes: the kiosk looks for products sharing a photo when it opens a
    # catalog (catalog/consistency.py), a GROUP BY that otherwise sorts every image (0.16 s
    # of the start-up at 100,000 products); covering, so the index alone answers it.
    db.execute("CREATE INDEX images_sha256 ON images (sha256, product_id)")


#: The schema version is the number of migrations this code knows.
SCHEMA_VERSION = len(migrations._migrations)
#: The oldest schema a read-only open (the kiosk) still reads: later migrations only add what
#: the kiosk does not read (the vector checksums of m004, the removed products of m005), or
#: reads only when present (the trigram table of m006: text search scans without it; the
#: photo index of m007 only speeds a query up).
READABLE_FROM = 3


def _connect(path: Path, *, read_only: bool) -> sqlite3.Connection:
    if read_only:
        conn = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30, check_same_thread=False
        )
    else:
        conn = sqlite3.connect(str(path), timeout=30)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 30000")
    # SQLite's temporary tables and sorts stay in memory: the catalog commands write nothing
    # outside the catalog's own files (no etilqs_* file in /var/tmp)
    conn.execute("PRAGMA temp_store = MEMORY")
    return conn


def _check_is_sqlite(path: Path) -> None:
    with open(path, "rb") as fh:
        head = fh.read(16)
    if head and head != b"SQLite format 3\x00":
        raise SchemaError(f"{path}: not a catalog database (not an SQLite file)")


def applied_migrations(db: Database) -> list[str]:
    if not db["_sqlite_migrations"].exists():
        return []
    return [m.name for m in migrations.applied(db)]


def check_schema(db: Database, path: Path) -> None:
    """Refuse files that are not catalogs, or catalogs written by a newer AisleLens."""
    known = {m.name for m in migrations._migrations}
    applied = applied_migrations(db)
    unknown = [name for name in applied if name not in known]
    if unknown:
        raise SchemaError(
            f"{path}: catalog schema is newer than this AisleLens understands "
            f"(migrations {', '.join(unknown)}); upgrade AisleLens"
        )
    if not applied:
        tables = set(db.table_names())
        if tables - {"_sqlite_migrations"}:
            raise SchemaError(f"{path}: an SQLite file, but not an AisleLens catalog")


def open_catalog(path: str | os.PathLike[str], *, create: bool = False) -> Database:
    """Open a catalog for writing (WAL mode, foreign keys on), applying pending migrations.

    ``create``: make a new catalog when the file does not exist (else CatalogNotFoundError).
    """
    p = Path(path)
    if not p.exists():
        if not create:
            raise CatalogNotFoundError(
                f"{p}: no catalog here (create one with `aislelens catalog import FILE --db {p}`)"
            )
        p.parent.mkdir(parents=True, exist_ok=True)
    else:
        _check_is_sqlite(p)
    try:
        db = Database(_connect(p, read_only=False))
        db.enable_wal()
        db.execute("PRAGMA synchronous = NORMAL")  # durable across process crashes in WAL mode
        check_schema(db, p)
        migrations.apply(db)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except sqlite3.DatabaseError as exc:
        raise SchemaError(f"{p}: cannot open the catalog ({exc})") from exc
    return db


def open_catalog_readonly(path: str | os.PathLike[str]) -> Database:
    """Open an existing catalog for reading only (the kiosk's view).

    A catalog a few migrations behind is read as it is (see ``READABLE_FROM``): a kiosk
    updated before its catalog keeps working; the next staff command upgrades the file."""
    p = Path(path)
    if not p.is_file():
        raise CatalogNotFoundError(f"{p}: no catalog here")
    _check_is_sqlite(p)
    try:
        db = Database(_connect(p, read_only=True))
        check_schema(db, p)
        version = db.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise SchemaError(f"{p}: cannot open the catalog ({exc})") from exc
    if not READABLE_FROM <= version <= SCHEMA_VERSION:
        db.close()
        raise SchemaError(
            f"{p}: catalog schema version {version}, this AisleLens needs {SCHEMA_VERSION}; "
            "run `aislelens catalog check --db …` once to upgrade it"
        )
    return db


def damaged(path: str | os.PathLike[str], exc: sqlite3.DatabaseError) -> CatalogDamagedError:
    """The one-line error for a database SQLite found damaged while reading it."""
    return CatalogDamagedError(
        f"{path}: the catalog database is damaged ({exc}); run `aislelens catalog check --db "
        f"{path}`, and restore it from a backup or import and index again"
    )


@contextlib.contextmanager
def reading(path: str | os.PathLike[str]) -> Iterator[None]:
    """Turn SQLite's errors while reading a catalog into :class:`CatalogDamagedError`."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        if not is_damage(exc):
            raise  # busy, closed, unwritable -shm …: not a damaged file
        raise damaged(path, exc) from exc


#: what SQLite says when the bytes of the file are wrong (as opposed to busy, closed …)
_DAMAGE = ("malformed", "not a database", "disk i/o", "could not decode", "corrupt")


def is_damage(exc: sqlite3.DatabaseError) -> bool:
    """True when ``exc`` means the database file's contents are damaged."""
    if isinstance(exc, sqlite3.ProgrammingError | sqlite3.InterfaceError):
        return False
    text = str(exc).lower()
    return any(word in text for word in _DAMAGE) or type(exc) is sqlite3.DatabaseError


def get_meta(db: Database, key: str, default: str | None = None) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
    return row[0] if row else default


def set_meta(db: Database, key: str, value: str) -> None:
    db.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [key, value],
    )


def revisions(db: Database) -> tuple[int, int]:
    """(catalog_revision, embeddings_revision): counters bumped by every change."""
    return (
        int(get_meta(db, "catalog_revision", "0") or 0),
        int(get_meta(db, "embeddings_revision", "0") or 0),
    )


def index_paths(db_path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """(index file, its metadata JSON) beside the database."""
    p = Path(db_path)
    return p.with_name(p.name + ".hnsw"), p.with_name(p.name + ".hnsw.json")


@contextlib.contextmanager
def write_lock(db_path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the catalog's advisory write lock (released by the OS if the process dies)."""
    p = Path(db_path)
    lock_path = p.with_name(p.name + ".lock")
    if not p.parent.is_dir():
        raise CatalogNotFoundError(f"{p}: no catalog here (the folder {p.parent} does not exist)")
    with open(lock_path, "a+b") as fh:
        if fcntl is not None:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise CatalogBusyError(
                    f"{p}: another `aislelens catalog` command is writing this catalog; "
                    "wait for it to finish"
                ) from None
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def new_memory_catalog() -> Database:
    """An empty catalog in memory (used for dry runs against a database that does not exist)."""
    db = Database(memory=True)
    db.execute("PRAGMA foreign_keys = ON")
    migrations.apply(db)
    return db
