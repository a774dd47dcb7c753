"""Full-text search with SQLite FTS5 (BM25), shared by the stores that keep items in SQLite.

One query builder (:func:`match_expression`) turns free text into an FTS5 ``MATCH``
expression; one query (:func:`bm25_search`) ranks a store's ``items_fts`` rows joined to
its ``items`` under the store's scope filter. :class:`FtsIndex` is the contentful sidecar
index that :class:`~agentmem.stores.HybridStore` writes in the same transaction as the
items (its indexed text carries context the stored text does not);
:class:`~agentmem.stores.SymbolicStore` indexes ``items.text`` through triggers instead.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from typing import Any

from agentmem._sql import chunks

__all__ = [
    "STOP_WORDS",
    "ContextFtsIndex",
    "FtsIndex",
    "bm25_search",
    "match_expression",
    "words",
]

WORD = re.compile(r"\w+", re.UNICODE)

STOP_WORDS = frozenset(
    "a an the is are was were be been am do does did of to in on at for with and or but "
    "what when where who whom whose why how which that this these those it its i you he "
    "she we they me him her us them my your his our their there here as by from about "
    "into than then so if not no yes can could would should will shall may might must "
    "have has had just also very any some all tell please s t d ll re ve m now".split()
)
"""Question words and function words a lexical query ignores (they match everything)."""


def words(text: str, stop_words: frozenset[str] = frozenset()) -> list[str]:
    """The distinct lower-cased words of ``text``, in order, less ``stop_words``."""
    return [w for w in dict.fromkeys(WORD.findall(text.lower())) if w not in stop_words]


def match_expression(text: str, stop_words: frozenset[str] = frozenset()) -> str | None:
    """An FTS5 ``MATCH`` expression: any of the words of ``text`` (quoted), or ``None``.

    Every word is quoted, so FTS5 operators and punctuation in user text are inert.
    ``None`` when no word is left (nothing to search for).
    """
    found = words(text, stop_words)
    if not found:
        return None
    return " OR ".join('"' + w.replace('"', "") + '"' for w in found)


def bm25_search(
    conn: sqlite3.Connection,
    match: str,
    where: str,
    params: Sequence[Any],
    limit: int,
    *,
    table: str = "items_fts",
) -> list[tuple[int, float]]:
    """The best ``limit`` ``(vid, score)`` of ``table`` matching ``match``, best first.

    ``where``/``params`` filter the joined ``items`` rows (a store's scope clause). The
    score is the negated BM25 rank (higher is better); ties go to the older row.
    ``table`` is ``items_fts`` or another FTS5 table keyed by ``vid`` (a constant, never
    user input).
    """
    rows = conn.execute(
        f"SELECT items.vid, bm25({table}) AS rank FROM {table} JOIN items "
        f"ON items.vid = {table}.rowid WHERE {table} MATCH ? AND ({where}) "
        "ORDER BY rank, items.vid LIMIT ?",
        (match, *params, limit),
    ).fetchall()
    return [(int(vid), -float(rank)) for vid, rank in rows]


class FtsIndex:
    """A contentful FTS5 table ``items_fts(body)`` whose rowids are the items' ``vid``.

    The caller holds the store's transaction (and lock) around every write, so the index
    and the items commit together.
    """

    TABLE = "items_fts"
    SCHEMA = (
        "CREATE VIRTUAL TABLE IF NOT EXISTS items_fts "
        "USING fts5(body, tokenize='porter unicode61');"
    )

    @classmethod
    def insert(cls, conn: sqlite3.Connection, vids: Sequence[int], bodies: Sequence[str]) -> None:
        """Index ``bodies`` under ``vids``."""
        conn.executemany(
            f"INSERT INTO {cls.TABLE} (rowid, body) VALUES (?, ?)",
            list(zip(vids, bodies, strict=True)),
        )

    @classmethod
    def delete(cls, conn: sqlite3.Connection, vids: Sequence[int]) -> None:
        """Drop the entries of ``vids``."""
        for chunk, qs in chunks(vids):
            conn.execute(f"DELETE FROM {cls.TABLE} WHERE rowid IN ({qs})", chunk)

    @classmethod
    def replace(cls, conn: sqlite3.Connection, vids: Sequence[int], bodies: Sequence[str]) -> None:
        """Re-index ``vids`` with new ``bodies``."""
        cls.delete(conn, vids)
        cls.insert(conn, vids, bodies)

    @classmethod
    def clear(cls, conn: sqlite3.Connection) -> None:
        """Drop every entry (before a full rebuild)."""
        conn.execute(f"DELETE FROM {cls.TABLE}")

    @classmethod
    def bodies(cls, conn: sqlite3.Connection, vids: Sequence[int]) -> dict[int, str]:
        """The indexed text of each of ``vids`` that has one."""
        out: dict[int, str] = {}
        for chunk, qs in chunks(vids):
            rows = conn.execute(
                f"SELECT rowid, body FROM {cls.TABLE} WHERE rowid IN ({qs})", chunk
            ).fetchall()
            out.update((int(r), str(b)) for r, b in rows)
        return out


class ContextFtsIndex(FtsIndex):
    """The second lexical index of conversation turns: each turn in its context.

    Same shape as :class:`FtsIndex` (rowid = the item's ``vid``), holding only the turns
    that have an in-context text (:class:`~agentmem.stores._context.IndexedTexts`).
    """

    TABLE = "items_context_fts"
    SCHEMA = (
        "CREATE VIRTUAL TABLE IF NOT EXISTS items_context_fts "
        "USING fts5(body, tokenize='porter unicode61');"
    )
