"""PostgresStore: the default store's behaviour on PostgreSQL + pgvector, for many machines.

One database serves every process on every machine: there is no per-process index to
catch up, so a write is in every other worker's next search. Items keep the same data
model as the SQLite default (bi-temporal fields, metadata as ``jsonb``); dense search
runs on a pgvector HNSW index (cosine), lexical search on PostgreSQL full-text search
(BM25 over an inverted index of ``tsvector`` lexemes), and both are ranked by the very
code :class:`~agentmem.stores.HybridStore` ranks with (``_ranking.rank``), over the same
indexed texts (``_context.indexed_texts``: a conversation turn alone and in its
context). Identical indexed texts are embedded once (the embedding is looked up by
content hash across the database). The audit log (:meth:`PostgresStore.audit_sink`) and
the structured facts (:meth:`PostgresStore.facts`) live in the same database, and inside
:meth:`PostgresStore.transaction` an item change, its facts and its events commit
together.

Every query names its user. With ``row_security=True`` the tables also enforce it: a
policy shows a transaction only the rows of the user it acts for, and a store opened
with ``tenant="alice"`` acts for alice alone, whatever a query asks.

The module is over 500 lines on purpose: it is one class implementing the whole
``MemoryStore`` contract (writes with the embedding cache, reads, scans, the bound
retriever) plus the transaction, audit, fact, touch, erase and purge hooks, each method
a thin call into the SQL kept apart in ``_pg_items`` (rows and retrievers),
``_pg_schema`` (migrations), ``_pg_db`` (pool, transactions), ``_pg_audit`` (the audit
log) and ``_pg_facts`` (the fact table); splitting the class would scatter one contract
over several files.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Unpack

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from agentmem._clock import Clock, SystemClock
from agentmem._errors import InvalidInputError, NotFoundError, StoreError, UserError
from agentmem._models import Filters, Hit, MemoryItem, Scope
from agentmem._protocols import ChatModel, Embedder
from agentmem.stores import _neighbours as neighbours
from agentmem.stores._context import (
    ContextOptions,
    IndexedTexts,
    context_vector,
    indexed_texts,
    speaker_line,
)
from agentmem.stores._fts import STOP_WORDS, words
from agentmem.stores._pg_audit import PostgresAuditLog
from agentmem.stores._pg_db import PgDatabase, import_psycopg, redact, split_schema
from agentmem.stores._pg_facts import PgFactTable, runner
from agentmem.stores._pg_items import (
    COLUMNS,
    POSTGRES,
    Indexed,
    dense_search,
    index_terms,
    insert_rows,
    item_values,
    lexical_search,
    row_item,
    where_clause,
)
from agentmem.stores._pg_schema import migrate, set_row_security
from agentmem.stores._ranking import (
    RankingOptions,
    Signal,
    plan_query,
    rank,
    ranking_settings,
    rewrite_query,
)
from agentmem.stores._rerank import CrossEncoderReranker, Reranker
from agentmem.stores._sqlite import check_k
from agentmem.stores.facts import follow_items

__all__ = ["PostgresStore", "stored_embedder"]

logger = logging.getLogger(__name__)


class PostgresStore:
    """Memories in PostgreSQL: pgvector (HNSW, cosine) and full-text search, fused.

    Args:
        url: a ``postgresql://`` URL or libpq connection string.
        embedder: turns texts into vectors; the same model must be used on reopen.
        name: the store's name in hits and traces.
        schema: the PostgreSQL schema for this memory's tables (created if missing);
            default: the URL's ``?schema=`` parameter, else ``agentmem``.
        tenant: act for this user only (every transaction, every query).
        row_security: enforce the per-user policies in the database (needs the tables'
            owner; superusers are never subject to row-level security).
        signals: which retrievers run: ``("dense", "bm25")`` (hybrid, the default),
            ``("dense",)`` or ``("bm25",)``.
        context: what the indexed text carries (speaker, day, previous turn).
        clock: "now" for relative dates in queries (default: the system clock).
        fusion, weights, rrf_k, candidates, time_mode, time_boost, name_boost,
            recency_boost, expand, rerank_depth: the ranking, exactly as for
            :class:`~agentmem.stores.HybridStore` (the same code ranks both).
        rewriter: a chat model that rewrites a query into sub-queries (off if ``None``).
        reranker: a cross-encoder model path, or any :class:`Reranker` (off if ``None``).
        ef_search: the HNSW search breadth (pgvector's ``hnsw.ef_search``); the scan
            goes on past it when filters reject candidates.
        min_connections: connections the pool keeps open.
        max_connections: connections the pool may open.
    """

    def __init__(
        self,
        url: str,
        embedder: Embedder,
        *,
        name: str = "vector",
        schema: str | None = None,
        tenant: str | None = None,
        row_security: bool = False,
        context: ContextOptions | None = None,
        clock: Clock | None = None,
        rewriter: ChatModel | None = None,
        reranker: str | Reranker | None = None,
        ef_search: int = 100,
        min_connections: int = 1,
        max_connections: int = 8,
        **ranking: Unpack[RankingOptions],
    ) -> None:
        self.ranking = ranking_settings(ranking)
        self.signals: tuple[Signal, ...] = self.ranking.signals
        self.rewriter = rewriter
        self.reranker: Reranker | None = (
            CrossEncoderReranker(reranker) if isinstance(reranker, str) else reranker
        )
        if not isinstance(ef_search, int) or not 1 <= ef_search <= 1000:
            msg = f"ef_search must be an int from 1 to 1000, got {ef_search!r}"
            raise InvalidInputError(msg)
        self.name = name
        self.embedder = embedder
        self.context = context or ContextOptions()
        self.clock: Clock = clock or SystemClock()
        self.ef_search = ef_search
        self._dim = int(embedder.dim)
        url, named = split_schema(url)
        self._db = PgDatabase(
            url,
            schema=schema or named or "agentmem",
            tenant=tenant,
            min_size=min_connections,
            max_size=max_connections,
        )
        try:
            self._open_schema(row_security)
        except BaseException:
            self._db.close()
            raise

    def _open_schema(self, row_security: bool) -> None:
        with self._db.transaction() as conn:
            found = migrate(conn, self._db.schema, self._dim)
            if 0 < found < 3:  # facts came with version 3: draw them from the fact memories
                rows = conn.execute(
                    f"SELECT {COLUMNS} FROM items WHERE kind = 'fact' ORDER BY created_at, vid"
                ).fetchall()
                follow_items(
                    self.facts, runner(conn), [row_item(r) for r in rows], now=self.clock.now()
                )
            if row_security:
                set_row_security(conn, self._db.schema)
            stored = dict(
                conn.execute(
                    "SELECT key, value FROM meta WHERE key IN ('embedder', 'dim', 'context')"
                ).fetchall()
            )
            if "embedder" not in stored:
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('embedder', %s), ('dim', %s), "
                    "('context', %s) ON CONFLICT (key) DO NOTHING",
                    (self.embedder.name, str(self._dim), self.context.key),
                )
                return
        if stored.get("dim") != str(self._dim) or stored.get("embedder") != self.embedder.name:
            msg = (
                f"the PostgreSQL memory in schema {self._db.schema!r} was built with the "
                f"embedder {stored.get('embedder')!r} ({stored.get('dim')} dimensions) but "
                f"was opened with {self.embedder.name!r} ({self._dim} dimensions); open it "
                "with the same embedder, or use another schema"
            )
            self._db.close()
            raise UserError(msg)
        if stored.get("context") != self.context.key:
            logger.warning(
                "the PostgreSQL memory in schema %r was indexed with context %r; indexing "
                "every memory again with %r",
                self._db.schema,
                stored.get("context"),
                self.context.key,
            )
            try:
                self._reindex()
            except BaseException:
                self._db.close()
                raise

    def _reindex(self, batch: int = 500) -> int:
        """Index every memory again with this store's ContextOptions; return how many.

        One transaction; unchanged texts keep their stored embeddings (the cache).
        """
        done = 0
        with self._db.transaction() as conn:
            self._db.guard_index_writes(conn)
            order = "ORDER BY user_id, session_id, created_at, vid"
            ids = [str(r[0]) for r in conn.execute(f"SELECT id FROM items {order}").fetchall()]
            for start in range(0, len(ids), batch):
                rows = conn.execute(
                    f"SELECT {COLUMNS} FROM items WHERE id = ANY(%s) {order}",
                    (ids[start : start + batch],),
                ).fetchall()
                items = [row_item(r) for r in rows]
                self._set_index(conn, items, self._index(conn, items))
                done += len(items)
            conn.execute("UPDATE meta SET value = %s WHERE key = 'context'", (self.context.key,))
        return done

    # -- lifecycle ---------------------------------------------------------------------
    @property
    def database(self) -> PgDatabase:
        """The connection pool and transactions this store runs on."""
        return self._db

    def transaction(self, user_id: str | None = None) -> AbstractContextManager[Any]:
        """One PostgreSQL transaction for every store call (and audit write) inside it.

        Commits when the block ends, rolls back on an error; nested blocks join it.
        """
        return self._db.transaction(user_id)

    def audit_sink(self) -> PostgresAuditLog:
        """The audit log in this store's database, written in its transactions."""
        return PostgresAuditLog(self._db)

    def facts(self, user_id: str) -> PgFactTable:
        """The user's structured facts (``upsert`` / ``current`` / ``as_of`` / ``history``).

        The same timeline as :class:`~agentmem.stores.FactTable`, in this database. Fact
        memories (kind ``fact`` with ``subject``, ``attribute`` and ``value`` in their
        metadata) keep it in step: storing one sets its value, closing it closes the
        value, erasing it deletes it, each in the memory's own transaction.
        """
        return PgFactTable(self._db, user_id=user_id, clock=self.clock)

    def erase_user(self, user_id: str) -> int:
        """Delete the user's structured facts (their memories go with ``delete``)."""
        self._db.ensure_open()
        with self._db.transaction(user_id) as conn:
            cursor = conn.execute("DELETE FROM facts WHERE user_id = %s", (user_id,))
            return int(cursor.rowcount)

    def touch(self, ids: Sequence[str], when: datetime) -> dict[str, int]:
        """Count one access to each item, atomically (no lost increments); new counts by id."""
        if not ids:
            return {}
        with self._db.transaction() as conn:
            self._db.guard_index_writes(conn)  # a row update may insert into the HNSW index
            rows = conn.execute(
                "UPDATE items SET access_count = access_count + 1, last_accessed_at = %s "
                "WHERE id = ANY(%s) RETURNING id, access_count",
                (when, list(ids)),
            ).fetchall()
        return {str(r[0]): int(r[1]) for r in rows}

    def purge(self) -> None:
        """Vacuum the tables after an erasure, so deleted rows leave table and indexes.

        PostgreSQL keeps a deleted row until ``VACUUM`` reclaims it; this runs it at once
        (outside any transaction; a role that does not own the tables skips it with a
        warning). Freed space is reused, not zeroed, and the server's WAL and backups hold
        what they held: see ``docs/postgres.md`` for what erasure means on a server.
        """
        if self._db.in_transaction:
            msg = "purge() cannot run inside a transaction; call it after the block"
            raise UserError(msg)
        # Writers wait meanwhile: pgvector's HNSW vacuum must not race an insert.
        self._db.vacuum(("items", "terms", "context_terms", "events", "event_items", "facts"))

    def close(self) -> None:
        """Close the connection pool. Further calls raise ClosedError."""
        self._db.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- indexing ----------------------------------------------------------------------
    def _texts(self, conn: Any, items: Sequence[MemoryItem]) -> IndexedTexts:
        """Every text to index for each item, own and in context (shared with HybridStore)."""

        def stored_turn_before(item: MemoryItem) -> str | None:
            row = conn.execute(
                f"SELECT {COLUMNS} FROM items WHERE user_id = %s AND session_id = %s "
                "AND created_at < %s AND id <> %s ORDER BY created_at DESC, vid DESC LIMIT 1",
                (item.scope.user_id, item.scope.session_id, item.created_at, item.id),
            ).fetchone()
            return None if row is None else speaker_line(row_item(row))

        return indexed_texts(items, self.context, stored_turn_before)

    def _index(
        self,
        conn: Any,
        items: Sequence[MemoryItem],
        given: Sequence[NDArray[np.float32] | None] | None = None,
        *,
        progress: bool = False,
    ) -> list[Indexed]:
        """What each item is indexed by: texts, embeddings (one embed call) and cache keys."""
        texts = self._texts(conn, items)
        names = sorted({name for name in texts.speakers if name is not None})
        if given is not None:
            given = [*given, *([None] * len(names))]
        vectors, hashes = self._embed(conn, [*texts.dense, *names], given, progress=progress)
        speaker = dict(zip(names, vectors[len(items) :], strict=True))
        out: list[Indexed] = []
        for n, item in enumerate(items):
            own = (texts.lexical[n], vectors[n], hashes[n])
            name = texts.speakers[n]
            if name is None:
                out.append((*own, None, None, None))
                continue
            before = texts.previous[n]
            previous = vectors[before] if before is not None else self._stored_before(conn, item)
            mixed = context_vector(vectors[n], previous, speaker[name])
            # a mixed vector is no text's embedding: no hash, never reused as one
            out.append((*own, texts.context_lexical[n], mixed, None))
        return out

    def _stored_before(self, conn: Any, item: MemoryItem) -> NDArray[np.float32] | None:
        """The stored embedding of the memory before ``item`` in its session, if any."""
        row = conn.execute(
            "SELECT embedding FROM items WHERE user_id = %s AND session_id = %s "
            "AND created_at < %s AND id <> %s ORDER BY created_at DESC, vid DESC LIMIT 1",
            (item.scope.user_id, item.scope.session_id, item.created_at, item.id),
        ).fetchone()
        if row is None or row[0] is None:
            return None
        return np.asarray(row[0].to_numpy(), dtype=np.float32)

    @staticmethod
    def _set_index(conn: Any, items: Sequence[MemoryItem], indexed: Sequence[Indexed]) -> None:
        """Store what ``items`` are now indexed by and rewrite their inverted-index rows."""
        if not items:
            return
        with conn.cursor() as cur:
            cur.executemany(
                "UPDATE items SET body = %s, embedding = %s, embedding_hash = %s, "
                "context_body = %s, context_embedding = %s, context_hash = %s WHERE id = %s",
                [(*index, item.id) for item, index in zip(items, indexed, strict=True)],
            )
        index_terms(conn, [item.id for item in items])

    def _embed(
        self,
        conn: Any,
        texts: Sequence[str],
        given: Sequence[NDArray[np.float32] | None] | None = None,
        *,
        progress: bool = False,
    ) -> tuple[NDArray[np.float32], list[str]]:
        """Embed ``texts``, reusing the stored embedding of any identical indexed text.

        ``given`` holds embeddings already computed (e.g. copied from another store) for
        some texts; those are used as they are.
        """
        prefix = f"{self.embedder.name}\0"
        hashes = [
            hashlib.sha256((prefix + t).encode("utf-8", "surrogatepass")).hexdigest() for t in texts
        ]
        cached: dict[str, NDArray[np.float32]] = {}
        for digest, vector in zip(hashes, given or [None] * len(texts), strict=True):
            if vector is not None:
                cached.setdefault(digest, _checked(vector, self._dim))
        unique = [h for h in dict.fromkeys(hashes) if h not in cached]
        for start in range(0, len(unique), 5000):
            rows = conn.execute(
                "SELECT DISTINCT ON (embedding_hash) embedding_hash, embedding FROM items "
                "WHERE embedding_hash = ANY(%s) UNION ALL "
                "SELECT DISTINCT ON (context_hash) context_hash, context_embedding FROM items "
                "WHERE context_hash = ANY(%s)",
                (unique[start : start + 5000], unique[start : start + 5000]),
            ).fetchall()
            cached.update((str(h), np.asarray(v.to_numpy(), dtype=np.float32)) for h, v in rows)
        missing = [h for h in unique if h not in cached]
        if missing:
            first = dict(zip(hashes, texts, strict=True))
            todo = [first[h] for h in missing]
            batch = 256
            chunks = range(0, len(todo), batch)
            for start in tqdm(chunks, desc="embedding", unit="batch", disable=not progress):
                vectors = self._embed_texts(todo[start : start + batch])
                cached.update(zip(missing[start : start + batch], vectors, strict=True))
        if not texts:
            return np.zeros((0, self._dim), np.float32), []
        return np.stack([cached[h] for h in hashes]).astype(np.float32, copy=False), hashes

    def _embed_texts(self, texts: Sequence[str]) -> NDArray[np.float32]:
        vectors = np.asarray(self.embedder.embed(list(texts)), dtype=np.float32)
        if vectors.shape != (len(texts), self._dim):
            msg = (
                f"the embedder returned an array of shape {vectors.shape} for {len(texts)} "
                f"texts; expected ({len(texts)}, {self._dim})"
            )
            raise StoreError(msg)
        return np.ascontiguousarray(vectors)

    # -- MemoryStore: writing ------------------------------------------------------------
    def add(self, items: Sequence[MemoryItem]) -> None:
        """Embed (or reuse stored embeddings) and store ``items`` in one transaction."""
        if not items:
            return
        self._db.ensure_open()
        with self._db.transaction(_one_user(items)) as conn:
            self._insert(conn, items)
            # A turn written into the middle of a stored session (a late message, an
            # undone forget) becomes the previous turn of the one after it; a turn of
            # the batch whose previous turn is a stored one, not the batch's, is indexed
            # after that one.
            if self.context.needs_previous and neighbours.interleaved(
                runner(conn), POSTGRES, items
            ):
                self._reindex_neighbours(conn, [neighbours.place(item) for item in items], items)

    def _insert(
        self,
        conn: Any,
        items: Sequence[MemoryItem],
        given: Sequence[NDArray[np.float32] | None] | None = None,
        *,
        progress: bool = False,
    ) -> None:
        psycopg = self._db._psycopg
        indexed = self._index(conn, items, given, progress=progress)
        self._db.guard_index_writes(conn)
        try:
            with conn.transaction():  # a savepoint: a duplicate id leaves the outer one usable
                insert_rows(conn, items, indexed)
        except psycopg.errors.UniqueViolation as exc:
            msg = f"a memory with one of these ids already exists: {exc.diag.message_detail}"
            raise InvalidInputError(msg) from exc
        follow_items(self.facts, runner(conn), items, now=self.clock.now())

    def _copy_in(
        self,
        items: Iterable[MemoryItem],
        *,
        batch: int = 5000,
        progress: bool = False,
        embeddings: Mapping[str, NDArray[np.float32]] | None = None,
    ) -> int:
        """The loading step of :func:`agentmem.copy_memory`; return how many were stored.

        One transaction, ``batch`` at a time; the items may come from a generator; all or
        nothing. ``embeddings`` maps item ids to vectors already computed for their
        indexed (dense) text by this store's embedder and context options; the other
        items are embedded here. It writes no audit event: the copy carries the source's
        events over, ids kept. Not a way around :class:`~agentmem.Memory`: bulk loading is
        :meth:`Memory.add_many <agentmem.Memory.add_many>` (audited, policies applied or
        skipped with a reason).
        """
        if batch <= 0:
            msg = f"batch must be positive, got {batch}"
            raise InvalidInputError(msg)
        self._db.ensure_open()
        added = 0
        source = iter(items)
        with (
            self._db.transaction() as conn,
            tqdm(desc="storing", unit="memory", disable=not progress) as bar,
        ):
            while chunk := list(itertools.islice(source, batch)):
                given = None if embeddings is None else [embeddings.get(i.id) for i in chunk]
                self._insert(conn, chunk, given, progress=progress)
                added += len(chunk)
                bar.update(len(chunk))
        return added

    def update(self, items: Sequence[MemoryItem]) -> None:
        """Replace stored items by id; a changed indexed text is re-embedded."""
        if not items:
            return
        self._db.ensure_open()
        with self._db.transaction(_one_user(items)) as conn:
            rows = {
                str(r[0]): row_item(r)
                for r in conn.execute(
                    f"SELECT {COLUMNS} FROM items WHERE id = ANY(%s)",
                    ([item.id for item in items],),
                ).fetchall()
            }
            for item in items:
                if item.id not in rows:
                    msg = f"no memory with id {item.id!r} in store {self.name!r}"
                    raise NotFoundError(msg)
            # What a memory is indexed by comes from these fields and its previous turn;
            # the turns whose previous turn a change moves are found after the write.
            changed = [item for item in items if _indexed(rows[item.id]) != _indexed(item)]
            fresh = self._index(conn, changed) if changed else []
            self._db.guard_index_writes(conn)  # an update that is not HOT inserts into HNSW
            names = [c.strip() for c in COLUMNS.split(",")][1:]
            assign = ", ".join(f"{c} = %s" for c in names)
            with conn.cursor() as cur:
                cur.executemany(
                    f"UPDATE items SET {assign} WHERE id = %s",
                    [(*item_values(item)[1:], item.id) for item in items],
                )
            self._set_index(conn, changed, fresh)
            # The turns after a changed turn, where it was and where it is now, were
            # indexed with its old text in their context.
            was = [neighbours.place(rows[item.id]) for item in changed]
            now = [neighbours.place(item) for item in changed]
            self._reindex_neighbours(conn, [*was, *now], changed)
            follow_items(self.facts, runner(conn), items, rows, now=self.clock.now())

    def delete(self, ids: Sequence[str]) -> int:
        """Delete items for good; return how many existed."""
        if not ids:
            return 0
        self._db.ensure_open()
        with self._db.transaction() as conn:
            places = conn.execute(
                "SELECT user_id, session_id, created_at FROM items WHERE id = ANY(%s)",
                (list(ids),),
            ).fetchall()
            cursor = conn.execute("DELETE FROM items WHERE id = ANY(%s)", (list(ids),))
            conn.execute("DELETE FROM facts WHERE item_id = ANY(%s)", (list(ids),))
            self._reindex_neighbours(conn, places)
            return int(cursor.rowcount)

    def _reindex_neighbours(
        self,
        conn: Any,
        places: Sequence[neighbours.Place],
        written: Sequence[MemoryItem] = (),
    ) -> None:
        """Index again the stored turns a write left after the wrong previous turn.

        Found by :func:`~agentmem.stores._neighbours.stale`, indexed one at a time in the
        caller's transaction, as ``HybridStore`` does.
        """
        if not self.context.needs_previous:
            return
        ids = neighbours.stale(runner(conn), POSTGRES, places, written)
        if not ids:
            return
        rows = conn.execute(f"SELECT {COLUMNS} FROM items WHERE id = ANY(%s)", (ids,)).fetchall()
        found = {item.id: item for item in map(row_item, rows)}
        turns = [found[i] for i in ids if i in found and neighbours.is_turn(found[i])]
        if turns:
            self._db.guard_index_writes(conn)
        for item in turns:
            self._set_index(conn, [item], self._index(conn, [item]))

    # -- MemoryStore: reading ------------------------------------------------------------
    def get(self, item_id: str) -> MemoryItem | None:
        """The item with this id, or None."""
        self._db.ensure_open()
        lock = self._lock_clause()
        with self._db.transaction() as conn:
            row = conn.execute(
                f"SELECT {COLUMNS} FROM items WHERE id = %s{lock}", (item_id,)
            ).fetchone()
        return None if row is None else row_item(row)

    def _lock_clause(self) -> str:
        # Read inside a caller's transaction: lock the rows, so that a read-modify-write
        # (Memory.apply) cannot lose another process's update made in between.
        return " FOR UPDATE" if self._db.in_transaction else ""

    def get_many(self, ids: Sequence[str]) -> dict[str, MemoryItem]:
        """The items with these ids that exist here, by id."""
        self._db.ensure_open()
        lock = self._lock_clause()
        with self._db.transaction() as conn:
            rows = conn.execute(
                f"SELECT {COLUMNS} FROM items WHERE id = ANY(%s) ORDER BY id{lock}",
                (list(ids),),
            ).fetchall()
        return {str(row[0]): row_item(row) for row in rows}

    def scan(
        self,
        *,
        scope: Scope | None = None,
        filters: Filters | None = None,
        include_closed: bool = True,
        batch: int = 1000,
    ) -> Iterator[MemoryItem]:
        """Iterate over stored items, oldest first, in batches."""
        self._db.ensure_open()
        where, params = where_clause(scope, filters, open_only=not include_closed)
        user = None if scope is None else scope.user_id
        last: tuple[Any, int] | None = None
        while True:
            after = "" if last is None else " AND (created_at, vid) > (%s, %s)"
            with self._db.transaction(user) as conn:
                rows = conn.execute(
                    f"SELECT created_at, vid, {COLUMNS} FROM items WHERE ({where}){after} "
                    "ORDER BY created_at, vid LIMIT %s",
                    (*params, *(last or ()), batch),
                ).fetchall()
            if not rows:
                return
            for row in rows:
                yield row_item(row[2:])
            last = (rows[-1][0], int(rows[-1][1]))

    def count(self, *, scope: Scope | None = None) -> int:
        """Count stored items (in ``scope`` if given)."""
        self._db.ensure_open()
        where, params = where_clause(scope, None)
        with self._db.transaction(None if scope is None else scope.user_id) as conn:
            (found,) = conn.execute(
                f"SELECT count(*) FROM items WHERE {where}", params
            ).fetchone() or (0,)
        return int(found)

    def users(self) -> list[str]:
        """Every user with at least one memory."""
        with self._db.transaction() as conn:
            rows = conn.execute("SELECT DISTINCT user_id FROM items ORDER BY 1").fetchall()
        return [str(r[0]) for r in rows]

    # -- search ------------------------------------------------------------------------
    def search(
        self,
        query: str,
        *,
        scope: Scope,
        k: int = 10,
        filters: Filters | None = None,
        as_of: datetime | None = None,
    ) -> list[Hit]:
        """The ``k`` memories in ``scope`` most relevant to ``query``, fused, best first.

        The ranking is :class:`~agentmem.stores.HybridStore`'s own (shared code): only
        the retrievers differ. One transaction, acting for the searched user, serves
        every query of the search.
        """
        check_k(k)
        self._db.ensure_open()
        now = as_of if as_of is not None else self.clock.now()
        parsed, filters = plan_query(query, now, filters, self.ranking)
        sub_queries = rewrite_query(self.rewriter, query, now)
        depth = max(k, self.ranking.candidates)
        with self._db.transaction(scope.user_id) as conn:
            conn.execute(
                "SELECT set_config('hnsw.ef_search', %s, true)", (str(max(self.ef_search, depth)),)
            )
            ranked = rank(
                query,
                parsed,
                (_ContextRetriever if self.context.turn_context else _Retriever)(
                    self, conn, scope, filters, as_of
                ),
                self.ranking,
                k,
                now=self.clock.now(),
                sub_queries=sub_queries,
                rerank=None if self.reranker is None else self.reranker.score,
            )
        return [Hit(item=r.item, score=r.score, store=self.name, signal=r.signal) for r in ranked]


class _Retriever:
    """PostgreSQL's retrievers bound to one search's transaction, scope, filters and time."""

    def __init__(
        self,
        store: PostgresStore,
        conn: Any,
        scope: Scope,
        filters: Filters | None,
        as_of: datetime | None,
    ) -> None:
        self._store = store
        self._conn = conn
        self._user = scope.user_id
        self._where, self._params = where_clause(
            scope, filters, as_of=as_of, open_only=as_of is None
        )
        self._bodies: dict[int, str] = {}
        self._vectors: dict[str, NDArray[np.float32]] = {}

    def _vector(self, text: str) -> NDArray[np.float32]:
        if text not in self._vectors:  # one model call per query text, for both lists
            self._vectors[text] = self._store._embed_texts([text])[0]
        return self._vectors[text]

    def dense(self, text: str, depth: int) -> list[tuple[int, float]]:
        vector = self._vector(text)
        return dense_search(self._conn, vector, self._where, self._params, depth)

    def lexical(self, text: str, depth: int) -> list[tuple[int, float]]:
        found = words(text, STOP_WORDS)
        return lexical_search(self._conn, found, self._user, self._where, self._params, depth)

    def recent(self, depth: int) -> list[tuple[int, float]]:
        rows = self._conn.execute(
            f"SELECT vid FROM items WHERE {self._where} ORDER BY created_at DESC, vid DESC "
            "LIMIT %s",
            (*self._params, depth),
        ).fetchall()
        return [(int(r[0]), 0.0) for r in rows]

    def items(self, keys: Sequence[int]) -> dict[int, MemoryItem]:
        rows = self._conn.execute(
            f"SELECT vid, body, {COLUMNS} FROM items WHERE vid = ANY(%s)", (list(keys),)
        ).fetchall()
        self._bodies.update((int(r[0]), str(r[1])) for r in rows)
        return {int(r[0]): row_item(r[2:]) for r in rows}

    def bodies(self, keys: Sequence[int]) -> dict[int, str]:
        missing = [key for key in keys if key not in self._bodies]
        if missing:
            rows = self._conn.execute(
                "SELECT vid, body FROM items WHERE vid = ANY(%s)", (missing,)
            ).fetchall()
            self._bodies.update((int(r[0]), str(r[1])) for r in rows)
        return {key: self._bodies[key] for key in keys if key in self._bodies}


class _ContextRetriever(_Retriever):
    """The retrievers, plus conversation turns by their in-context text and embedding.

    As in the SQLite default, each kind of vector is searched apart (``depth`` each), so
    one kind never crowds the other out of its list.
    """

    _turns: bool | None = None

    def _has_turns(self) -> bool:
        """Whether the user has any turn indexed in context.

        Without one both lists are empty, and a nearest-neighbour query over no vectors
        could scan every row.
        """
        if self._turns is None:
            self._turns = bool(
                self._conn.execute(
                    "SELECT EXISTS (SELECT 1 FROM items WHERE user_id = %s "
                    "AND context_body IS NOT NULL)",
                    (self._user,),
                ).fetchone()[0]
            )
        return self._turns

    def dense_context(self, text: str, depth: int) -> list[tuple[int, float]]:
        if not self._has_turns():
            return []
        vector = self._vector(text)
        return dense_search(self._conn, vector, self._where, self._params, depth, context=True)

    def lexical_context(self, text: str, depth: int) -> list[tuple[int, float]]:
        if not self._has_turns():
            return []
        found = words(text, STOP_WORDS)
        return lexical_search(
            self._conn, found, self._user, self._where, self._params, depth, context=True
        )


def stored_embedder(url: str, schema: str | None = None) -> str | None:
    """The name of the embedder the memory in ``schema`` was built with, or None.

    ``schema`` defaults to the URL's ``?schema=`` parameter, else ``agentmem``.
    """
    psycopg, _ = import_psycopg()
    url, named = split_schema(url)
    schema = schema or named or "agentmem"
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            found = conn.execute("SELECT to_regclass(%s)", (f"{schema}.meta",)).fetchone()
            if found is None or found[0] is None:
                return None
            row = conn.execute(f"SELECT value FROM {schema}.meta WHERE key = 'embedder'").fetchone()
    except psycopg.Error as exc:
        msg = f"cannot read the memory at {redact(url)}: {exc}"
        raise StoreError(msg) from exc
    return None if row is None else str(row[0])


def _checked(vector: NDArray[np.float32], dim: int) -> NDArray[np.float32]:
    out = np.asarray(vector, dtype=np.float32).reshape(-1)
    if out.shape != (dim,):
        msg = f"a given embedding has shape {out.shape}; this store needs ({dim},)"
        raise InvalidInputError(msg)
    return out


def _indexed(item: MemoryItem) -> tuple[Any, ...]:
    """What the indexed text of ``item`` is made from (a change means re-embedding)."""
    speaker = item.metadata.get("speaker")
    return (
        item.text,
        None if speaker is None else str(speaker),
        item.created_at,
        item.scope.user_id,
    )


def _one_user(items: Sequence[MemoryItem]) -> str | None:
    users = {item.scope.user_id for item in items}
    return next(iter(users)) if len(users) == 1 else None
