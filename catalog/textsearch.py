"""Text search: find the products a person means by what they type, best kind of match first.

Three stages, each only adding products the ones before did not find (:class:`MatchKind`):

1. **word** — every word typed is a word, or starts a word, of the SKU, name, category,
   subcategory or description (FTS5 ``unicode61`` with accents folded; whole words before
   word beginnings, each by BM25 with the name weighted highest): "gran smi" finds Granny
   Smith, "creme" finds Crème fraîche, "milk" finds Milk before Milky Way.
2. **inner** — every word typed (three letters or more) appears inside the name, category or
   subcategory (FTS5 ``trigram``, accents folded by :mod:`catalog.textfold`): "milch" finds
   Vollmilch. A catalog made before that table (a kiosk reads it as it is until a staff command
   upgrades it) is scanned with ``LIKE`` instead.
3. **typo** — only when the first two found fewer than :data:`FEW`: each word of four letters
   or more may be a misspelling (an optimal-string-alignment edit distance of 1, or 2 from
   seven letters on) of a word of the catalog's names, categories and subcategories; the
   closest spelling wins: "vollmlch" → Vollmilch, "bananna" → Banana, "tomatos" → Tomatoes.
   Candidates come from the word table's vocabulary (FTS5 ``fts5vocab``), whose distances to
   the typed word are computed in one vectorised pass (:class:`Vocabulary`).

Words are quoted before they reach FTS5, so operators and punctuation typed are harmless.
"""

from __future__ import annotations

import bisect
import os
import re
import unicodedata
from collections.abc import Callable, Iterable

import numpy as np
from sqlite_utils import Database

from .db import open_catalog_readonly, reading
from .products import products_by_id
from .textfold import fold_for_trigram, fold_word
from .types import MatchKind, TextHit

#: below this many word and inner-word hits, misspellings are looked for too
FEW = 3
#: columns a misspelling is looked for in (descriptions would match too much)
TYPO_COLUMNS = ("name", "category", "subcategory")
#: typed words shorter than this are never taken for misspellings
TYPO_MIN_LENGTH = 4
#: longest catalog word compared letter by letter
MAX_TERM_LENGTH = 40
#: catalog words a misspelling may stand for (the closest ones)
MAX_CORRECTIONS = 12
TRIGRAM_TABLE = "products_trigram"

_WORD = re.compile(r"\w+", re.UNICODE)


#: what is looked at of a query: a person types a few words (a pasted essay is cut short)
MAX_QUERY_CHARS = 200
MAX_QUERY_WORDS = 10


def query_words(text: str) -> list[str]:
    """The words of what was typed (punctuation and FTS5 syntax dropped; composed to NFC, as
    the catalog's text is; each word once, at most :data:`MAX_QUERY_WORDS`)."""
    words = _WORD.findall(unicodedata.normalize("NFC", text[:MAX_QUERY_CHARS]))
    return list(dict.fromkeys(words))[:MAX_QUERY_WORDS]


def _phrases(words: Iterable[str], star: str = "") -> str:
    """Words as quoted FTS5 phrases (``star="*"``: as prefixes), so nothing typed is syntax."""
    return " ".join(f'"{w}"{star}' for w in words)


def allowed_edits(word: str) -> int:
    """How many edits a typed word may be away from the catalog's word it stands for."""
    if len(word) < TYPO_MIN_LENGTH:
        return 0
    return 1 if len(word) < 7 else 2


def has_trigram_table(db: Database) -> bool:
    """Whether the catalog has the inner-word table (migration m006)."""
    row = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [TRIGRAM_TABLE]
    ).fetchone()
    return row is not None


def edit_distances(word: str, codes: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Optimal-string-alignment distance (Levenshtein plus swapped neighbours) from ``word`` to
    each row of ``codes`` (code points, padded with -1 past ``lengths``), all rows at once."""
    q = np.array([ord(c) for c in word], dtype=np.int32)
    m, (n, width) = len(q), codes.shape
    out = np.full(n, m, dtype=np.int32)  # the empty word: m insertions
    before = np.zeros((n, m + 1), dtype=np.int32)  # row j - 2 of the table
    prev = np.tile(np.arange(m + 1, dtype=np.int32), (n, 1))  # row j - 1
    for j in range(1, width + 1):
        letter = codes[:, j - 1]
        cur = np.empty_like(prev)
        cur[:, 0] = j
        for i in range(1, m + 1):
            best = np.minimum(prev[:, i], cur[:, i - 1]) + 1
            best = np.minimum(best, prev[:, i - 1] + (letter != q[i - 1]))
            if i > 1 and j > 1:
                swapped = (letter == q[i - 2]) & (codes[:, j - 2] == q[i - 1])
                best = np.where(swapped, np.minimum(best, before[:, i - 2] + 1), best)
            cur[:, i] = best
        done = lengths == j
        out[done] = cur[done, m]
        before, prev = prev, cur
    return out


class Vocabulary:
    """The distinct words (accents folded, lower case) of the catalog's names, categories and
    subcategories, as FTS5's word table holds them, ready to be compared with a typed word.

    Read in about 0.2 s from a catalog of 100,000 products (BENCHMARKS.md); a finder keeps one
    per catalog revision."""

    def __init__(self, terms: Iterable[tuple[str, int]]) -> None:
        """``terms``: (word, how many products have it)."""
        self.counts = {t: n for t, n in terms if len(t) <= MAX_TERM_LENGTH and not t.isdigit()}
        self.terms = sorted(self.counts)
        self.lengths = np.array([len(t) for t in self.terms], dtype=np.int32)
        self.codes = np.full((len(self.terms), MAX_TERM_LENGTH), -1, dtype=np.int32)
        for row, term in enumerate(self.terms):
            self.codes[row, : len(term)] = [ord(c) for c in term]

    @classmethod
    def load(cls, db: Database) -> Vocabulary:
        db.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp.aislelens_terms "
            "USING fts5vocab(main, products_fts, col)"
        )
        marks = ",".join("?" * len(TYPO_COLUMNS))
        rows = db.execute(
            f"SELECT term, sum(doc) FROM temp.aislelens_terms WHERE col IN ({marks}) GROUP BY term",
            list(TYPO_COLUMNS),
        )
        return cls((term, int(n)) for term, n in rows)

    def starts_a_word(self, word: str) -> bool:
        """Whether some catalog word starts with ``word`` (folded)."""
        at = bisect.bisect_left(self.terms, word)
        return at < len(self.terms) and self.terms[at].startswith(word)

    def closest(self, word: str, max_edits: int) -> tuple[int, list[str]]:
        """(edits, the catalog words that many edits from ``word``, the commonest first): the
        closest spellings within ``max_edits``, or (0, []) when there is none."""
        near = np.flatnonzero(np.abs(self.lengths - len(word)) <= max_edits)
        if not len(near) or max_edits < 1:
            return 0, []
        width = len(word) + max_edits
        dist = edit_distances(word, self.codes[near, :width], self.lengths[near])
        best = int(dist.min())
        if best > max_edits:
            return 0, []
        picked = sorted((self.terms[i] for i in near[dist == best]), key=lambda t: -self.counts[t])
        return best, picked[:MAX_CORRECTIONS]


def _rank(db: Database, sql: str, args: list[object]) -> list[int]:
    return [int(r[0]) for r in db.execute(sql, args)]


def _word_table(db: Database, query: str, limit: int) -> list[int]:
    """Product ids matching an FTS5 query of the word table, best first (the name weighs most
    of sku, name, category, subcategory, description)."""
    return _rank(
        db,
        "SELECT rowid FROM products_fts WHERE products_fts MATCH ? "
        "ORDER BY bm25(products_fts, 2.0, 10.0, 3.0, 3.0, 1.0) LIMIT ?",
        [query, limit],
    )


def _word_hits(db: Database, words: list[str], limit: int) -> list[int]:
    """Whole words first ("milk": Milk before Milky Way), then word beginnings."""
    out: dict[int, None] = {}
    for star in ("", "*"):
        out.update(dict.fromkeys(_word_table(db, _phrases(words, star), limit)))
    return list(out)[:limit]


def _inner_hits(db: Database, words: list[str], limit: int, trigram: bool) -> list[int]:
    long_words = [fold_for_trigram(w) for w in words if len(w) >= 3]
    short = [w for w in words if len(w) < 3]  # too short for trigrams: word prefixes instead
    if not long_words:
        return []
    if trigram:
        inner = _phrases(long_words)
        if not short:
            return _rank(
                db,
                f"SELECT rowid FROM {TRIGRAM_TABLE} WHERE {TRIGRAM_TABLE} MATCH ? "
                f"ORDER BY bm25({TRIGRAM_TABLE}, 10.0, 3.0, 3.0) LIMIT ?",
                [inner, limit],
            )
        # both sides materialised first: "rowid IN (FTS query)" makes SQLite run the inner
        # query once per row of the other, seconds on a large catalog
        return _rank(
            db,
            f"WITH t AS MATERIALIZED (SELECT rowid AS id, bm25({TRIGRAM_TABLE}, 10.0, 3.0, 3.0)"
            f" AS score FROM {TRIGRAM_TABLE} WHERE {TRIGRAM_TABLE} MATCH ?), "
            "w AS MATERIALIZED (SELECT rowid AS id FROM products_fts WHERE products_fts MATCH ?) "
            "SELECT t.id FROM t JOIN w ON w.id = t.id ORDER BY t.score LIMIT ?",
            [inner, _phrases(short, "*"), limit],
        )
    # an older catalog: scan (ASCII-only case folding, accents as stored); words are \w+, so
    # "_" is the only LIKE wildcard they can hold
    field = "({c} LIKE ? ESCAPE '!')"
    like = " AND ".join(
        "(" + " OR ".join(field.format(c=c) for c in TYPO_COLUMNS) + ")" for _ in long_words
    )
    patterns: list[object] = [
        "%" + w.replace("_", "!_") + "%" for w in long_words for _ in TYPO_COLUMNS
    ]
    if short:
        like += " AND id IN (SELECT rowid FROM products_fts WHERE products_fts MATCH ?)"
        patterns.append(_phrases(short, "*"))
    return _rank(
        db,
        f"SELECT id FROM products WHERE {like} ORDER BY name COLLATE NOCASE LIMIT ?",
        [*patterns, limit],
    )


def _typo_hits(
    db: Database, words: list[str], limit: int, vocabulary: Vocabulary
) -> list[tuple[int, int, tuple[str, ...]]]:
    """(product id, edits, corrected words) of the products that the words typed match once
    misspellings are corrected; the first misspelt word's commonest correction first."""
    options: list[list[str]] = []  # per word, what FTS5 may match for it
    corrections: list[str] = []
    first, edits = -1, 0
    for word in (fold_word(w) for w in words):
        max_edits = allowed_edits(word)
        if max_edits and not vocabulary.starts_a_word(word):
            n, near = vocabulary.closest(word, max_edits)
            if not near:
                return []  # nothing in the catalog is spelt anything like it
            first = len(options) if first < 0 else first
            edits += n
            corrections += near
            options.append([_phrases([t]) for t in near])
        else:
            options.append([_phrases([word], "*")])
    if first < 0:
        return []  # no word misspelt: the word stage had it all
    found: dict[int, None] = {}
    for term in options[first]:
        each = [*options[:first], [term], *options[first + 1 :]]
        query = " AND ".join("(" + " OR ".join(o) + ")" for o in each)
        columns = "{" + " ".join(TYPO_COLUMNS) + "}"
        found.update(dict.fromkeys(_word_table(db, f"{columns} : ({query})", limit)))
        if len(found) >= limit:
            break
    ids = list(found)[:limit]
    texts = {
        r[0]: set(_WORD.findall(fold_word(" ".join(r[1:]))))
        for r in db.execute(
            f"SELECT id, {', '.join(TYPO_COLUMNS)} FROM products WHERE id IN "
            f"({','.join('?' * len(ids))})",
            ids,
        )
    }
    return [(pid, edits, tuple(t for t in corrections if t in texts.get(pid, ()))) for pid in ids]


def find_text(
    db: Database, text: str, k: int = 20, *, vocabulary: Callable[[], Vocabulary] | None = None
) -> list[TextHit]:
    """The products matching what was typed, best first: word hits, then inner-word hits, then
    (when those are fewer than :data:`FEW`) misspellings, at most ``k`` in all.

    ``vocabulary``: returns the catalog's :class:`Vocabulary` when the caller keeps one (called,
    like the database is read otherwise, only when misspellings are looked for)."""
    words = query_words(text)
    if not words or k < 1:
        return []
    found: dict[int, tuple[MatchKind, int, tuple[str, ...]]] = {}
    for pid in _word_hits(db, words, k):
        found[pid] = (MatchKind.WORD, 0, ())
    if len(found) < k:
        for pid in _inner_hits(db, words, k + len(found), has_trigram_table(db)):
            if len(found) < k:
                found.setdefault(pid, (MatchKind.INNER, 0, ()))
    if len(found) < min(k, FEW):
        words_of = vocabulary() if vocabulary is not None else Vocabulary.load(db)
        for pid, edits, used in _typo_hits(db, words, k + len(found), words_of):
            if len(found) < k:
                found.setdefault(pid, (MatchKind.TYPO, edits, used))
    products = products_by_id(db, found)
    return [
        TextHit(products[pid], kind, edits, used)
        for pid, (kind, edits, used) in found.items()
        if pid in products
    ]


def search_catalog_text(db_path: str | os.PathLike[str], text: str, k: int = 20) -> list[TextHit]:
    """:func:`find_text` on the catalog file at ``db_path``, opened read-only for the call (a
    caller searching often keeps a finder instead: ``open_finder(db).find_text``)."""
    with reading(db_path):
        db = open_catalog_readonly(db_path)
        try:
            return find_text(db, text, k)
        finally:
            db.close()
