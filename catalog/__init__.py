"""AisleLens catalog: products in SQLite, their image vectors, and search over them.

SQLite is the source of truth; the HNSW index beside it (``<db>.hnsw`` + ``<db>.hnsw.json``,
and ``<db>.hnsw.pca``, the projection of its PCA-reduced vectors) is derived and can always be
rebuilt. Staff use ``aislelens catalog …``; the kiosk and the demo builder use these
functions::

    from catalog import import_products, index_catalog, open_finder
    from models import ImageEmbedder

    report = import_products("store.db", "products.csv")        # ImportReport (issues listed)
    embedder = ImageEmbedder.open()                             # the default bundle
    index_catalog("store.db", embedder)                         # IndexReport; resumable
    finder = open_finder("store.db", bundle_id=embedder.model_id)  # read-only ProductFinder
    result = finder.search_vector(embedder.embed([frame], fast=True)[0], k=5)
    result.matches[0].product.name, result.matches[0].score, result.margin

Other library functions: ``enroll_images`` / ``enroll_files`` / ``enroll_frame`` (in-store
photos as extra references), ``remove_products`` / ``list_removed`` / ``restore_products``
(removed products are kept a while), ``list_products`` (rows for staff), ``export_catalog``
(back out in the import format), ``evaluate_queries`` / ``evaluate_vectors`` (an
``EvalReport``; ``progress=`` takes a bar factory), ``search_catalog_text`` / ``find_text`` (text
search, :class:`TextHit` results: word, inner-word, then misspelt-word matches),
``catalog_stats``, ``check_catalog``, ``catalog_version_on_disk`` (poll it; when it differs from
``finder.catalog_version`` open a new finder and swap it in). ``CatalogSettings`` holds the
index parameters (``AISLELENS_CATALOG_*`` environment variables override them).
"""

from .enroll import (
    EnrolledShot,
    EnrollItem,
    EnrollReport,
    enroll_files,
    enroll_frame,
    enroll_frames,
    enroll_images,
    enrolled_shots,
    read_enroll_file,
    remove_enrolled,
)
from .errors import (
    BundleMismatchError,
    CatalogBusyError,
    CatalogDamagedError,
    CatalogError,
    CatalogNotFoundError,
    IndexCorruptError,
    IndexFileError,
    IndexStaleError,
    InputFileError,
    NotIndexedError,
    OutputFileError,
    ProductExistsError,
    SchemaError,
    UnknownProductError,
)
from .evaluate import (
    Confusion,
    EvalReport,
    Query,
    evaluate_queries,
    evaluate_vectors,
    read_queries,
)
from .export import ExportReport, export_catalog
from .finder import CatalogFinder, catalog_version_on_disk, open_finder
from .importer import ImportReport, import_products
from .importfile import ImportIssue
from .indexer import IndexReport, index_catalog
from .listing import ProductRow, list_products
from .maintenance import CatalogStats, CheckReport, catalog_stats, check_catalog
from .removed import (
    RemovedProduct,
    RemoveReport,
    RestoreReport,
    list_removed,
    remove_products,
    restore_products,
)
from .settings import CatalogSettings
from .textsearch import find_text, search_catalog_text
from .types import Match, MatchKind, Product, ProductFinder, SearchResult, TextHit
from .vector_index import ExactIndex, VectorIndex

__all__ = [
    "BundleMismatchError",
    "CatalogBusyError",
    "CatalogDamagedError",
    "CatalogError",
    "CatalogFinder",
    "CatalogNotFoundError",
    "CatalogSettings",
    "CatalogStats",
    "CheckReport",
    "Confusion",
    "EnrollItem",
    "EnrollReport",
    "EnrolledShot",
    "EvalReport",
    "ExactIndex",
    "ExportReport",
    "ImportIssue",
    "ImportReport",
    "IndexCorruptError",
    "IndexFileError",
    "IndexReport",
    "IndexStaleError",
    "InputFileError",
    "Match",
    "MatchKind",
    "NotIndexedError",
    "OutputFileError",
    "Product",
    "ProductExistsError",
    "ProductFinder",
    "ProductRow",
    "Query",
    "RemoveReport",
    "RemovedProduct",
    "RestoreReport",
    "SchemaError",
    "SearchResult",
    "TextHit",
    "UnknownProductError",
    "VectorIndex",
    "catalog_stats",
    "catalog_version_on_disk",
    "check_catalog",
    "enroll_files",
    "enroll_frame",
    "enroll_frames",
    "enroll_images",
    "enrolled_shots",
    "evaluate_queries",
    "evaluate_vectors",
    "export_catalog",
    "find_text",
    "import_products",
    "index_catalog",
    "list_products",
    "list_removed",
    "open_finder",
    "read_enroll_file",
    "read_queries",
    "remove_enrolled",
    "remove_products",
    "restore_products",
    "search_catalog_text",
]
