"""Accent folding for the trigram full-text table, in SQL (its triggers) and in Python (queries).

SQLite's ``trigram`` tokenizer folds case but, before SQLite 3.45, not accents (its
``remove_diacritics`` option does not exist in older versions, such as the 3.40 that Python
ships on Debian bookworm). So the ``products_trigram`` table (migration m006) indexes a copy of
the text with the accents already taken off by SQL ``replace()`` calls, and a query is folded
by the same table here before it is matched: "creme" finds "Crème", "kase" finds "Käse".

The table is frozen: the m006 triggers were written from it, so changing it needs a migration
that rewrites them and refills the table.
"""

from __future__ import annotations

import unicodedata


def _base_letter(ch: str) -> str:
    """``ch`` without its accents when that leaves a plain ASCII letter, else ``ch``."""
    base = "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
    return base if base != ch and base.isascii() and base.isalpha() else ch


#: Latin-1 Supplement and Latin Extended-A letters with accents → their base letter
#: (À → A, ç → c, ő → o, ž → z …), both cases: the SQL side folds before the tokenizer
#: lower-cases, so upper-case accented letters must be folded too.
TRIGRAM_FOLD: dict[str, str] = {
    ch: _base_letter(ch) for ch in map(chr, range(0xC0, 0x180)) if _base_letter(ch) != ch
}
_TABLE = str.maketrans(TRIGRAM_FOLD)


def fold_for_trigram(text: str) -> str:
    """``text`` as the trigram table stores it (accents off; the tokenizer folds the case)."""
    return text.translate(_TABLE)


#: replace() calls nested in one SQL expression: SQLite's parser stack (100 entries by default)
#: overflows past about 33, so the fold is split into several statements
_NESTED = 20


def fold_sql_updates(table: str, columns: tuple[str, ...], where: str) -> list[str]:
    """UPDATE statements that, run in order, fold ``columns`` of the rows of ``table`` that
    ``where`` selects like :func:`fold_for_trigram` does. Plain SQL, no user function, so any
    SQLite client that writes the catalog keeps the trigram table right."""
    pairs = list(TRIGRAM_FOLD.items())
    statements = []
    for start in range(0, len(pairs), _NESTED):
        sets = []
        for column in columns:
            expr = column
            for accented, base in pairs[start : start + _NESTED]:
                expr = f"replace({expr}, '{accented}', '{base}')"
            sets.append(f"{column} = {expr}")
        statements.append(f"UPDATE {table} SET {', '.join(sets)} WHERE {where};")
    return statements


def fold_word(text: str) -> str:
    """Lower case without combining accents, like FTS5's ``unicode61 remove_diacritics 2``
    (canonical decomposition only: "ǅ" and "ø" stay as they are, as they do there)."""
    decomposed = unicodedata.normalize("NFD", text.lower())
    return unicodedata.normalize(
        "NFC", "".join(c for c in decomposed if not unicodedata.combining(c))
    )
