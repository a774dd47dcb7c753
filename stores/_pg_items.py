"""The items table in PostgreSQL: row mapping, scoped conditions and the two retrievers.

The SQL twin of :mod:`agentmem.stores._sqlite`: scope, validity and filters mean the same
thing here as there (``Filters.matches`` is the reference). Dense search is an ordered
pgvector scan (HNSW, cosine distance, iterative so a filter never starves it); lexical
search is PostgreSQL full-text search (``tsvector`` of the indexed text, ranked by
``ts_rank_cd``). Every function takes an open connection: the caller owns the transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from agentmem._dialect import ITEM_COLUMNS, Dialect, item_where
from agentmem._dialect import row_item as dialect_row_item
from agentmem._models import Filters, MemoryItem, Scope

__all__ = [
    "COLUMNS",
    "POSTGRES",
    "dense_search",
    "index_terms",
    "insert_rows",
    "item_values",
    "lexical_search",
    "row_item",
    "where_clause",
]

COLUMNS = ITEM_COLUMNS
_N = len(COLUMNS.split(","))


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def item_values(item: MemoryItem) -> tuple[Any, ...]:
    """The column values of ``item``, in :data:`COLUMNS` order."""
    from psycopg.types.json import Jsonb

    return (
        item.id,
        item.scope.user_id,
        item.scope.agent_id,
        item.scope.session_id,
        item.kind.value,
        item.text,
        item.created_at,
        item.recorded_at,
        item.valid_from or item.created_at,
        item.valid_to,
        item.importance,
        item.strength,
        item.access_count,
        item.last_accessed_at,
        Jsonb(list(item.source_ids), dumps=_dumps),
        Jsonb(item.metadata, dumps=_dumps),
    )


def row_item(row: Sequence[Any]) -> MemoryItem:
    """Build a MemoryItem from a row selected as :data:`COLUMNS`."""
    return dialect_row_item(POSTGRES, row)


def _one_of(column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
    return f"{column} = ANY(%s)", [list(values)]


def _metadata_is(key: str, value: Any) -> tuple[str, list[Any]]:
    if value is None:
        return "coalesce(metadata -> %s, 'null'::jsonb) = 'null'::jsonb", [key]
    from psycopg.types.json import Jsonb

    return "metadata -> %s = %s", [key, Jsonb(value, dumps=_dumps)]


POSTGRES = Dialect(
    mark="%s",
    always="true",
    moment=lambda when: when,  # timestamptz columns take datetimes as they are
    one_of=_one_of,
    metadata_is=_metadata_is,
    time_out=lambda value: value,  # psycopg loads timestamptz as aware datetimes
    json_out=lambda value: value,  # and jsonb as Python data
)
"""PostgreSQL: times as ``timestamptz``, metadata as ``jsonb``."""


def where_clause(
    scope: Scope | None,
    filters: Filters | None,
    *,
    as_of: datetime | None = None,
    open_only: bool = False,
) -> tuple[str, list[Any]]:
    """SQL ``WHERE`` text (``%s`` placeholders) and parameters for scope, filters, validity."""
    return item_where(POSTGRES, scope, filters, as_of=as_of, open_only=open_only)


Indexed = tuple[str, Any, str, str | None, Any, str | None]
"""What a memory is indexed by: its text (``body``), embedding and cache key, then the
same three in context (a conversation turn's; ``None`` for other memories)."""

INDEX_COLUMNS = "body, embedding, embedding_hash, context_body, context_embedding, context_hash"


def insert_rows(conn: Any, items: Sequence[MemoryItem], indexed: Sequence[Indexed]) -> None:
    """Insert items with what they are indexed by (caller's transaction)."""
    with conn.cursor() as cur:
        cur.executemany(
            f"INSERT INTO items ({COLUMNS}, {INDEX_COLUMNS}) "
            f"VALUES ({', '.join(['%s'] * (_N + 6))})",
            [(*item_values(item), *index) for item, index in zip(items, indexed, strict=True)],
        )
    index_terms(conn, [item.id for item in items])


def index_terms(conn: Any, ids: Sequence[str], *, context: bool = True) -> None:
    """(Re)write the inverted-index rows of these items from their ``tsvector``.

    Both texts' rows; ``context=False``: the own text's only (a schema before version 5).
    """
    tables = [("terms", "tsv", "tokens")]
    if context:
        tables.append(("context_terms", "context_tsv", "context_tokens"))
    for table, tsv, tokens in tables:
        conn.execute(
            f"DELETE FROM {table} WHERE vid IN (SELECT vid FROM items WHERE id = ANY(%s))",
            (list(ids),),
        )
        conn.execute(
            f"INSERT INTO {table} (user_id, lexeme, vid, tf, tokens) "
            "SELECT i.user_id, u.lexeme, i.vid, coalesce(array_length(u.positions, 1), 1), "
            f"i.{tokens} FROM items AS i, unnest(i.{tsv}) AS u WHERE i.id = ANY(%s) "
            f"AND i.{tokens} IS NOT NULL",
            (list(ids),),
        )


def dense_search(
    conn: Any,
    vector: NDArray[np.float32],
    where: str,
    params: Sequence[Any],
    depth: int,
    *,
    context: bool = False,
) -> list[tuple[int, float]]:
    """``(vid, cosine similarity)`` of the ``depth`` nearest rows that pass ``where``.

    ``context``: by the in-context embedding of conversation turns instead.
    """
    column = "context_embedding" if context else "embedding"
    only = " AND context_embedding IS NOT NULL" if context else ""
    rows = conn.execute(
        f"WITH found AS MATERIALIZED (SELECT vid, {column} <=> %s AS distance FROM items "
        f"WHERE {where}{only} ORDER BY {column} <=> %s LIMIT %s) "
        "SELECT vid, distance FROM found ORDER BY distance, vid",
        (vector, *params, vector, depth),
    ).fetchall()
    return [(int(vid), 1.0 - float(distance)) for vid, distance in rows]


# Every posting of the query's words for one user, Okapi BM25 per memory (%s: the query
# text, the user twice). Statistics from all of the user's memories, as FTS5 takes them;
# k1 = 1.2, b = 0.75: tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * length / mean)), in float8,
# the sum rounded so that equal memories tie whatever order it was added up in.
_SCORED = (
    "WITH query AS (SELECT DISTINCT lexeme FROM unnest(to_tsvector('english', %s))), "
    "posting AS MATERIALIZED (SELECT t.lexeme, t.vid, t.tf::float8 AS tf, "
    "t.tokens::float8 AS tokens FROM {terms} AS t JOIN query USING (lexeme) "
    "WHERE t.user_id = %s), "
    "df AS MATERIALIZED (SELECT lexeme, count(*)::float8 AS n FROM posting GROUP BY lexeme), "
    "coll AS MATERIALIZED (SELECT count(*)::float8 AS n, "
    "coalesce(avg({tokens}), 1)::float8 AS mean FROM items WHERE user_id = %s{only}), "
    "idf AS MATERIALIZED (SELECT df.lexeme, "
    "greatest(ln((c.n - df.n + 0.5) / (df.n + 0.5)), 1e-6) AS w, "
    "0.9 / greatest(c.mean, 1) AS per_token FROM df CROSS JOIN coll AS c), "
    "scored AS (SELECT h.vid, round(sum(f.w * h.tf * 2.2 / (h.tf + 0.3 + f.per_token * "
    "h.tokens))::numeric, 9) AS score FROM posting AS h JOIN idf AS f USING (lexeme) "
    "GROUP BY h.vid) "
)
# The best %s memories, each with whether it passes the filters.
_BEST_FIRST = (
    "SELECT b.vid, b.score, coalesce(({where}), false) FROM (SELECT vid, score FROM scored "
    "ORDER BY score DESC, vid LIMIT %s) AS b JOIN items AS i ON i.vid = b.vid "
    "ORDER BY b.score DESC, b.vid"
)
# The best %s memories that pass the filters, all checked.
_FILTER_ALL = (
    "SELECT s.vid, s.score FROM scored AS s JOIN items AS i ON i.vid = s.vid WHERE {where} "
    "ORDER BY s.score DESC, s.vid LIMIT %s"
)


def lexical_search(
    conn: Any,
    words: Sequence[str],
    user_id: str,
    where: str,
    params: Sequence[Any],
    depth: int,
    *,
    context: bool = False,
) -> list[tuple[int, float]]:
    """``(vid, BM25 score)`` of the ``depth`` best full-text matches of any of ``words``.

    Okapi BM25 (k1 = 1.2, b = 0.75, as SQLite FTS5 ranks) over the ``terms`` inverted
    index: the query's words go through the same English stemming as the memories
    (``to_tsvector``). Document frequencies, the collection size and the mean length
    (in words, stop words included, as FTS5 counts) come from all of the user's
    memories, as FTS5 takes them from its whole table: filters choose which memories
    are ranked, not how. A user's ranking depends on that user's memories alone.

    Memories are ranked over all postings first and only the best ``4 * depth`` are
    checked against the filters (most pass: a scope is one user, most memories are
    open); when fewer than ``depth`` of those pass, every ranked memory is checked. The
    result is the exact ranking either way.

    ``context``: over conversation turns' in-context text instead (its own inverted
    index, with statistics from the user's turns, as a second FTS5 table would give).
    """
    if not words:
        return []
    head = (" ".join(words), user_id, user_id)
    best = 4 * depth
    scored = _SCORED.format(
        terms="context_terms" if context else "terms",
        tokens="context_tokens" if context else "tokens",
        only=" AND context_body IS NOT NULL" if context else "",
    )
    best_first = scored + _BEST_FIRST.format(where=where)
    ranked = conn.execute(best_first, (*head, *params, best)).fetchall()
    rows = [(vid, score) for vid, score, passes in ranked if passes][:depth]
    if len(rows) < depth and len(ranked) == best:  # the filters rejected many: check all
        rows = conn.execute(
            scored + _FILTER_ALL.format(where=where), (*head, *params, depth)
        ).fetchall()
    return [(int(vid), float(score)) for vid, score in rows]
