"""HybridStore: dense (faiss / NumPy) and lexical (SQLite FTS5, BM25) search, fused.

It extends :class:`~agentmem.stores.VectorStore`: SQLite stays the source of truth, and
the same database holds an FTS5 index of every memory, written in the same transaction
as the memory itself. What is embedded and indexed carries the speaker and the day
(:class:`ContextOptions`); the stored text stays exact. A query's dates and names
(``"what did Alice say last May?"``) boost the memories from that time and about that
person; an optional LLM splits a multi-hop question into sub-queries; an optional
cross-encoder reranks. Embeddings are cached by content hash.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import re
import shutil
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from agentmem.stores._context import ContextOptions, contextual_text, speaker_line
from agentmem.stores._index import DenseIndex, IndexSettings, RowAttrs
from agentmem.stores._query import (
    ParsedQuery,
    TimeWindow,
    name_share,
    parse_query,
    speaks_of,
)
from agentmem.stores._rerank import CrossEncoderReranker, Reranker
from agentmem.stores._sqlite import ItemTable, check_k, to_micros, where_clause
from agentmem.stores.vector import _DB, VectorStore
from numpy.typing import NDArray
from tqdm import tqdm
from typing_extensions import override

from agentmem._clock import Clock, SystemClock
from agentmem._errors import InvalidInputError, NotFoundError, UserError
from agentmem._models import Filters, Hit, Kind, MemoryItem, Scope
from agentmem._prompts import render_prompt
from agentmem._protocols import ChatMessage, ChatModel, Embedder

__all__ = ["ContextOptions", "HybridStore", "IndexSettings", "conversation_options"]

logger = logging.getLogger(__name__)

Signal = Literal["dense", "bm25"]
_KINDS = list(Kind)
_WORD = re.compile(r"\w+", re.UNICODE)
_STOP = frozenset(
    "a an the is are was were be been am do does did of to in on at for with and or but "
    "what when where who whom whose why how which that this these those it its i you he "
    "she we they me him her us them my your his our their there here as by from about "
    "into than then so if not no yes can could would should will shall may might must "
    "have has had just also very any some all tell please s t d ll re ve m now".split()
)
_DENSE = "dense"
_DENSE_KEY = "key.json"
_EXTRA_SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS items_fts USING fts5(body, tokenize='porter unicode61');
CREATE TABLE IF NOT EXISTS embedding_cache (hash TEXT PRIMARY KEY, embedding BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS embedding_refs (vid INTEGER PRIMARY KEY, hash TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS embedding_refs_hash ON embedding_refs (hash);
CREATE INDEX IF NOT EXISTS items_session ON items (user_id, session_id, created_at);
"""


def conversation_options() -> dict[str, Any]:
    """:class:`HybridStore` options for long conversations: ``HybridStore(path, e, **these)``.

    Turns indexed with their speaker and previous turn (:meth:`ContextOptions.conversation`),
    BM25 weighted twice dense, a sharper reciprocal-rank fusion (``rrf_k=10``), a stronger
    speaker boost and no second hop. Fitted on the LoCoMo development conversations
    (``benchmarks/fit_locomo_fusion.py``, leave one conversation out): evidence recall@10
    0.44 -> 0.77 there; worse than the defaults on generated conversations and bAbI, whose
    statements stand alone and whose answers hinge on recency.
    """
    return {
        "context": ContextOptions.conversation(),
        "weights": {"dense": 1.0, "bm25": 2.0},
        "rrf_k": 10,
        "name_boost": 0.5,
        "expand": 0.0,
    }


class HybridStore(VectorStore):
    """Memories found by meaning and by words at once, fused; time- and name-aware.

    For long conversations: ``HybridStore(path, embedder, **conversation_options())``.

    Args:
        path: a folder for the database (created if missing), or ``None`` for memory only.
        embedder: turns texts into vectors; the same model must be used on reopen.
        name: the store's name in hits and traces.
        signals: which retrievers run: ``("dense", "bm25")`` (hybrid, the default),
            ``("dense",)`` or ``("bm25",)``.
        fusion: ``"rrf"`` (reciprocal-rank fusion) or ``"weighted"`` (min-max normalised
            scores, weighted).
        weights: per-signal weights, default 1.0 each.
        rrf_k: the RRF constant (score = weight / (rrf_k + rank)).
        candidates: how deep each retriever looks before fusion (at least ``k``).
        context: what the indexed text carries (speaker, day, previous turn).
        time_mode: what a date in the query does: ``"boost"`` (default), ``"filter"``
            (only memories from that time) or ``"off"``.
        time_boost: the boost factor for memories in a query's time window.
        name_boost: the boost factor for memories that mention a name in the query.
        expand: the weight of a second, multi-hop round (0 turns it off): names in the
            best first-round hits that the query lacks are searched for too, and fused.
        recency_boost: the boost of the newest candidate over the oldest (linear in
            time between them): among near-equal matches the latest wins, as facts change.
        clock: "now" for relative dates in queries (default: the system clock).
        rewriter: a chat model that rewrites a query into sub-queries (off if ``None``).
        reranker: a cross-encoder model path, or any :class:`Reranker` (off if ``None``).
        rerank_depth: how many fused candidates the reranker sees.
        index: when to switch from exact search to HNSW, and when to compact.
        synchronous: SQLite durability, ``FULL`` (default) or ``NORMAL``.
        faiss_threads: OpenMP threads for faiss (process-wide); ``None`` leaves it alone.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None,
        embedder: Embedder,
        *,
        name: str = "hybrid",
        signals: Sequence[Signal] = ("dense", "bm25"),
        fusion: Literal["rrf", "weighted"] = "rrf",
        weights: dict[str, float] | None = None,
        rrf_k: int = 60,
        candidates: int = 50,
        context: ContextOptions | None = None,
        time_mode: Literal["boost", "filter", "off"] = "boost",
        time_boost: float = 0.5,
        name_boost: float = 0.3,
        recency_boost: float = 0.1,
        expand: float = 0.25,
        clock: Clock | None = None,
        rewriter: ChatModel | None = None,
        reranker: str | Reranker | None = None,
        rerank_depth: int = 30,
        index: IndexSettings | None = None,
        synchronous: str = "FULL",
        faiss_threads: int | None = 1,
    ) -> None:
        self.signals: tuple[Signal, ...] = tuple(signals)
        if not self.signals or any(s not in ("dense", "bm25") for s in self.signals):
            msg = f"signals must be a non-empty subset of ('dense', 'bm25'), got {signals!r}"
            raise UserError(msg)
        if fusion not in ("rrf", "weighted"):
            msg = f"fusion must be 'rrf' or 'weighted', got {fusion!r}"
            raise UserError(msg)
        if time_mode not in ("boost", "filter", "off"):
            msg = f"time_mode must be 'boost', 'filter' or 'off', got {time_mode!r}"
            raise UserError(msg)
        self.fusion = fusion
        self.weights = {"dense": 1.0, "bm25": 1.0, **(weights or {})}
        self.weights.setdefault("dense-hop", expand * self.weights["dense"])
        self.weights.setdefault("bm25-hop", expand * self.weights["bm25"])
        self.rrf_k = rrf_k
        self.candidates = candidates
        self.context = context or ContextOptions()
        self.time_mode = time_mode
        self.time_boost = time_boost
        self.name_boost = name_boost
        self.recency_boost = recency_boost
        self.expand = expand
        self.clock: Clock = clock or SystemClock()
        self.rewriter = rewriter
        self.reranker: Reranker | None = (
            CrossEncoderReranker(reranker) if isinstance(reranker, str) else reranker
        )
        self.rerank_depth = rerank_depth
        self.index_settings = index or IndexSettings()
        super().__init__(
            path, embedder, name=name, synchronous=synchronous, faiss_threads=faiss_threads
        )

    # -- lifecycle ---------------------------------------------------------------------
    @override
    def _load_or_build_index(self) -> Any:
        conn = self._table.conn
        with self._table.lock:
            conn.executescript(_EXTRA_SCHEMA)
        self._dense = self._new_dense()
        version = self._table.get_meta("version") or "0"
        stored_context = self._table.get_meta("context")
        has_items = self._table.count(None) > 0
        if has_items and stored_context != self.context.key:
            logger.info(
                "indexing context changed (%s -> %s); re-embedding every memory",
                stored_context,
                self.context.key,
            )
            self._reindex_context(reembed=True)
        elif has_items and self._table.get_meta("fts_version") != version:
            logger.info("the full-text index lags the database; rebuilding it from SQLite")
            self._reindex_context(reembed=False)
        elif not has_items:
            with self._table.transaction():
                self._table.set_meta("context", self.context.key)
                self._table.set_meta("fts_version", version)
        if not self._load_saved_dense():
            self._load_dense()
        return None

    def _dense_key(self) -> dict[str, Any]:
        """What a saved dense index must match to be used: the data version and the model."""
        return {
            "version": self._table.get_meta("version") or "0",
            "embedder": self.embedder.name,
            "dim": self._dim,
            **DenseIndex.settings_key(self.index_settings),
        }

    def _load_saved_dense(self) -> bool:
        """Load the dense index saved by the last ``close``/``flush`` if it is current."""
        self._saved_dense: dict[str, Any] | None = None
        if self._folder is None:
            return False
        folder = self._folder / _DENSE
        key_path = folder / _DENSE_KEY
        if not key_path.exists():
            return False
        try:
            saved = json.loads(key_path.read_text())
            key = self._dense_key()
            if saved != key:
                logger.info(
                    "the saved dense index is stale (%s, database %s); rebuilding it",
                    saved.get("version"),
                    key["version"],
                )
                return False
            self._dense = DenseIndex.load(
                folder, self._dim, self.index_settings, lock=self._table.lock
            )
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            logger.warning("the saved dense index is unreadable (%s); rebuilding it", exc)
            self._dense = self._new_dense()
            return False
        self._saved_dense = key
        logger.info("loaded the saved dense index (%d vectors)", self._dense.size)
        self._dense.maintain_all()
        return True

    def _new_dense(self) -> DenseIndex:
        return DenseIndex(self._dim, self.index_settings, lock=self._table.lock)

    def _load_dense(self) -> None:
        last = -1
        while True:
            with self._table.lock:
                rows = self._table.conn.execute(
                    "SELECT vid, user_id, kind, created_at, valid_from, valid_to, embedding "
                    "FROM items WHERE vid > ? AND embedding IS NOT NULL ORDER BY vid LIMIT 20000",
                    (last,),
                ).fetchall()
            if not rows:
                break
            by_user: dict[str, list[Any]] = {}
            for row in rows:
                by_user.setdefault(str(row[1]), []).append(row)
            for user, group in by_user.items():
                vectors = np.frombuffer(b"".join(bytes(r[6]) for r in group), dtype=np.float32)
                self._dense.add(
                    user,
                    [int(r[0]) for r in group],
                    vectors.reshape(len(group), self._dim),
                    [RowAttrs(_KINDS.index(Kind(r[2])), r[3], r[4], r[5]) for r in group],
                    maintain=False,
                )
            last = int(rows[-1][0])
        self._dense.maintain_all()
        logger.debug("loaded %d vectors into the dense index", self._dense.size)

    def _reindex_context(self, *, reembed: bool) -> None:
        """Recompute every memory's indexed text; re-embed it if ``reembed``."""
        items = list(self._table.scan(None, None, batch=5000))
        texts, dense_texts = self._contextual(items, lookup=False)
        embedded = self._embed_cached(dense_texts) if reembed else None
        with self._table.transaction() as conn:
            conn.execute("DELETE FROM items_fts")
            vids = {str(i): int(v) for v, i in conn.execute("SELECT vid, id FROM items")}
            conn.executemany(
                "INSERT INTO items_fts (rowid, body) VALUES (?, ?)",
                [(vids[item.id], text) for item, text in zip(items, texts, strict=True)],
            )
            if embedded is not None:
                vectors, _, hashes = embedded
                conn.executemany(
                    "UPDATE items SET embedding = ? WHERE vid = ?",
                    [(v.tobytes(), vids[i.id]) for v, i in zip(vectors, items, strict=True)],
                )
                # Every memory was re-embedded: the cache holds exactly the new vectors.
                conn.execute("DELETE FROM embedding_refs")
                conn.execute("DELETE FROM embedding_cache")
                conn.executemany(
                    "INSERT INTO embedding_refs (vid, hash) VALUES (?, ?)",
                    [(vids[i.id], h) for i, h in zip(items, hashes, strict=True)],
                )
                conn.executemany(
                    "INSERT OR IGNORE INTO embedding_cache (hash, embedding) VALUES (?, ?)",
                    [(h, v.tobytes()) for h, v in zip(hashes, vectors, strict=True)],
                )
            self._table.set_meta("context", self.context.key)
            self._table.set_meta("fts_version", str(self._table.bump_version()))

    @override
    def flush(self) -> None:
        """Save the dense index (blocks and HNSW graphs) beside the database.

        The next open loads it instead of rebuilding, if no write happened since (the
        database's version is part of the save); otherwise it is rebuilt from SQLite.
        Called by ``close``; writes nothing when the saved index is already current.
        """
        if self._folder is None or self._table.closed:
            return
        with self._table.lock:
            key = self._dense_key()
            if key == self._saved_dense:
                return
            final, tmp, old = (self._folder / f"{_DENSE}{s}" for s in ("", ".tmp", ".old"))
            for stale in (tmp, old):
                shutil.rmtree(stale, ignore_errors=True)
            self._dense.save(tmp)
            (tmp / _DENSE_KEY).write_text(json.dumps(key))
            if final.exists():
                final.rename(old)
            tmp.rename(final)
            shutil.rmtree(old, ignore_errors=True)
            self._saved_dense = key
            self._unsaved = 0
        logger.debug("saved the dense index at version %s", key["version"])

    @override
    def close(self) -> None:
        """Wait for a background compaction, save the dense index, close the database."""
        if self._table.closed:
            return
        self._dense.wait()
        super().close()

    @override
    def _wrote(self, n: int) -> None:
        # Saving a large index every few thousand writes would cost more than rebuilding
        # it once after a crash: it is saved on flush and close only.
        self._unsaved += n

    @classmethod
    @override
    def reindex(
        cls, path: str | os.PathLike[str], embedder: Embedder, **options: Any
    ) -> HybridStore:
        """Re-embed every memory in the store at ``path`` with ``embedder`` and open it."""
        folder = Path(path).expanduser()
        table = ItemTable(folder / _DB)
        try:
            with table.transaction():
                table.set_meta("embedder", embedder.name)
                table.set_meta("dim", str(embedder.dim))
                table.set_meta("context", "")  # forces a re-embedding on open
                table.bump_version()
        finally:
            table.close()
        return cls(folder, embedder, **options)

    @property
    @override
    def index_size(self) -> int:
        """How many live vectors the dense index holds (equals ``count()``)."""
        return self._dense.size

    @property
    def dense_index(self) -> DenseIndex:
        """The in-memory dense index (for inspection and tests)."""
        return self._dense

    # -- indexing ----------------------------------------------------------------------
    def _contextual(
        self, items: Sequence[MemoryItem], *, lookup: bool = True
    ) -> tuple[list[str], list[str]]:
        """The lexical and the dense text to index for each item."""
        previous: dict[str, str] = {}
        if self.context.needs_previous:
            previous = self._previous_turns(items, lookup=lookup)
        lexical = [
            contextual_text(i, self.context, previous.get(i.id), side="lexical") for i in items
        ]
        dense = [contextual_text(i, self.context, previous.get(i.id), side="dense") for i in items]
        return lexical, dense

    def _previous_turns(self, items: Sequence[MemoryItem], *, lookup: bool) -> dict[str, str]:
        """The previous memory of the same session for each item, as ``Speaker: text``."""
        out: dict[str, str] = {}
        last: dict[tuple[str, str | None, str], MemoryItem] = {}
        ordered = sorted(items, key=lambda i: i.created_at)
        for item in ordered:
            session = item.scope.session_id
            if session is None:
                continue
            key = (item.scope.user_id, item.scope.agent_id, session)
            before = last.get(key)
            if before is None and lookup:
                with self._table.lock:
                    row = self._table.conn.execute(
                        "SELECT text, metadata FROM items WHERE user_id = ? AND session_id = ? "
                        "AND created_at < ? ORDER BY created_at DESC, vid DESC LIMIT 1",
                        (item.scope.user_id, session, to_micros(item.created_at)),
                    ).fetchone()
                if row is not None:
                    speaker = json.loads(row[1]).get("speaker")
                    out[item.id] = f"{speaker}: {row[0]}" if speaker else str(row[0])
            elif before is not None:
                out[item.id] = speaker_line(before)
            last[key] = item
        return out

    def _embed_cached(
        self, texts: Sequence[str]
    ) -> tuple[NDArray[np.float32], list[tuple[str, bytes]], list[str]]:
        """Embed ``texts``, reusing cached embeddings.

        Returns the vectors, the new cache rows, and each text's cache key.
        """
        prefix = f"{self.embedder.name}\0"
        hashes = [
            hashlib.sha256((prefix + t).encode("utf-8", "surrogatepass")).hexdigest() for t in texts
        ]
        cached: dict[str, bytes] = {}
        unique = list(dict.fromkeys(hashes))
        with self._table.lock:
            for start in range(0, len(unique), 500):
                chunk = unique[start : start + 500]
                rows = self._table.conn.execute(
                    f"SELECT hash, embedding FROM embedding_cache WHERE hash IN "
                    f"({', '.join('?' * len(chunk))})",
                    chunk,
                ).fetchall()
                cached.update((str(h), bytes(b)) for h, b in rows)
        missing = [h for h in unique if h not in cached]
        new_rows: list[tuple[str, bytes]] = []
        if missing:
            first = {h: t for h, t in zip(hashes, texts, strict=True)}
            todo = [first[h] for h in missing]
            batch = 256
            chunks = range(0, len(todo), batch)
            for start in tqdm(chunks, desc="embedding", unit="batch", disable=len(todo) < 5000):
                vectors = self._embed(todo[start : start + batch])
                for h, vector in zip(missing[start : start + batch], vectors, strict=True):
                    blob = vector.tobytes()
                    cached[h] = blob
                    new_rows.append((h, blob))
        out = np.frombuffer(b"".join(cached[h] for h in hashes), dtype=np.float32)
        return out.reshape(len(texts), self._dim).copy(), new_rows, hashes

    @staticmethod
    def _unref(conn: Any, vids: Sequence[int]) -> None:
        """Drop the cache references of ``vids``, and cached embeddings no item uses any more.

        The cache saves re-embedding text that is stored; it must not outlive a forgotten
        memory, so an embedding leaves the cache with the last memory that used it.
        """
        for start in range(0, len(vids), 500):
            chunk = list(vids[start : start + 500])
            marks = ", ".join("?" * len(chunk))
            hashes = [
                str(row[0])
                for row in conn.execute(
                    f"DELETE FROM embedding_refs WHERE vid IN ({marks}) RETURNING hash", chunk
                ).fetchall()
            ]
            conn.executemany(
                "DELETE FROM embedding_cache WHERE hash = ? AND NOT EXISTS "
                "(SELECT 1 FROM embedding_refs WHERE hash = ?)",
                [(h, h) for h in dict.fromkeys(hashes)],
            )

    @staticmethod
    def _attrs(item: MemoryItem) -> RowAttrs:
        return RowAttrs(
            _KINDS.index(item.kind),
            to_micros(item.created_at),
            to_micros(item.valid_from or item.created_at),
            None if item.valid_to is None else to_micros(item.valid_to),
        )

    def _commit(self, conn: Any, new_cache: list[tuple[str, bytes]]) -> None:
        if new_cache:
            conn.executemany(
                "INSERT OR IGNORE INTO embedding_cache (hash, embedding) VALUES (?, ?)", new_cache
            )
        self._table.set_meta("fts_version", str(self._table.bump_version()))

    # -- MemoryStore -------------------------------------------------------------------
    @override
    def add(self, items: Sequence[MemoryItem]) -> None:
        """Embed (or reuse cached embeddings) and store ``items`` in one transaction."""
        if not items:
            return
        self._table.ensure_open()
        texts, dense_texts = self._contextual(items)
        vectors, new_cache, hashes = self._embed_cached(dense_texts)
        with self._table.transaction() as conn:
            self._insert(conn, items, texts, vectors, hashes, new_cache, maintain=True)
        self._wrote(len(items))

    def add_bulk(self, items: Iterable[MemoryItem], *, batch: int = 10_000) -> int:
        """Load many memories fast: one transaction, each HNSW graph built once at the end.

        Unlike :meth:`add`, the items may come from a generator (read ``batch`` at a
        time) and the dense index is not maintained per batch: a user's graph is built
        once over all their vectors after the last row, instead of growing one batch at a
        time. All or nothing: on an error nothing is stored and the index is reloaded.

        Args:
            items: the memories to store (new ids).
            batch: how many items are embedded and inserted at a time.

        Returns:
            How many memories were stored.
        """
        if batch <= 0:
            msg = f"batch must be positive, got {batch}"
            raise InvalidInputError(msg)
        self._table.ensure_open()
        added = 0
        source = iter(items)
        try:
            with self._table.transaction() as conn:
                while chunk := list(itertools.islice(source, batch)):
                    texts, dense_texts = self._contextual(chunk)
                    vectors, new_cache, hashes = self._embed_cached(dense_texts)
                    self._insert(conn, chunk, texts, vectors, hashes, new_cache, maintain=False)
                    added += len(chunk)
                self._dense.maintain_all()
        except BaseException:
            logger.warning("bulk load failed after %d items; reloading the dense index", added)
            self._dense = self._new_dense()
            self._load_dense()
            raise
        self._wrote(added)
        return added

    def _insert(
        self,
        conn: Any,
        items: Sequence[MemoryItem],
        texts: Sequence[str],
        vectors: NDArray[np.float32],
        hashes: Sequence[str],
        new_cache: list[tuple[str, bytes]],
        *,
        maintain: bool,
    ) -> None:
        """Write rows, full-text entries and cache references; add the vectors to the index."""
        vids = self._table.insert(items, [row.tobytes() for row in vectors])
        conn.executemany(
            "INSERT OR REPLACE INTO embedding_refs (vid, hash) VALUES (?, ?)",
            list(zip(vids, hashes, strict=True)),
        )
        conn.executemany(
            "INSERT INTO items_fts (rowid, body) VALUES (?, ?)",
            list(zip(vids, texts, strict=True)),
        )
        self._commit(conn, new_cache)
        by_user: dict[str, list[int]] = {}
        for position, item in enumerate(items):
            by_user.setdefault(item.scope.user_id, []).append(position)
        for user, positions in by_user.items():
            self._dense.add(
                user,
                [vids[p] for p in positions],
                vectors[positions],
                [self._attrs(items[p]) for p in positions],
                maintain=maintain,
            )

    @override
    def update(self, items: Sequence[MemoryItem]) -> None:
        """Replace stored items by id; a changed indexed text is re-embedded and re-indexed."""
        if not items:
            return
        with self._table.lock:
            rows: dict[str, tuple[int, tuple[Any, ...]]] = {}
            for item in items:
                found = self._table.conn.execute(
                    "SELECT vid, text, metadata, created_at FROM items WHERE id = ?", (item.id,)
                ).fetchone()
                if found is None:
                    msg = f"no memory with id {item.id!r} in store {self.name!r}"
                    raise NotFoundError(msg)
                before = (found[1], json.loads(found[2]).get("speaker"), int(found[3]))
                rows[item.id] = (int(found[0]), before)
            changed = [
                item
                for item in items
                if rows[item.id][1]
                != (item.text, item.metadata.get("speaker"), to_micros(item.created_at))
            ]
            texts, dense_texts = self._contextual(changed) if changed else ([], [])
            vectors, new_cache, hashes = (
                self._embed_cached(dense_texts)
                if changed
                else (np.zeros((0, self._dim), np.float32), [], [])
            )
            fresh = {item.id: vectors[i] for i, item in enumerate(changed)}
            with self._table.transaction() as conn:
                for item in items:
                    vector = fresh.get(item.id)
                    self._table.replace(
                        item,
                        None if vector is None else vector.tobytes(),
                        keep_embedding=vector is None,
                    )
                changed_vids = [rows[item.id][0] for item in changed]
                self._unref(conn, changed_vids)
                conn.executemany(
                    "INSERT INTO embedding_refs (vid, hash) VALUES (?, ?)",
                    list(zip(changed_vids, hashes, strict=True)),
                )
                for item, text in zip(changed, texts, strict=True):
                    vid = rows[item.id][0]
                    conn.execute("DELETE FROM items_fts WHERE rowid = ?", (vid,))
                    conn.execute("INSERT INTO items_fts (rowid, body) VALUES (?, ?)", (vid, text))
                self._commit(conn, new_cache)
                for item in items:
                    vid = rows[item.id][0]
                    vector = fresh.get(item.id)
                    user = item.scope.user_id
                    if vector is None and self._dense.user_of(vid) == user:
                        self._dense.set_attrs(vid, self._attrs(item))
                        continue
                    if vector is None:
                        blob = conn.execute(
                            "SELECT embedding FROM items WHERE vid = ?", (vid,)
                        ).fetchone()[0]
                        vector = np.frombuffer(bytes(blob), dtype=np.float32)
                    self._dense.add(user, [vid], vector.reshape(1, -1), [self._attrs(item)])
        self._wrote(len(items))

    @override
    def delete(self, ids: Sequence[str]) -> int:
        """Delete items for good (rows and full-text entries); the index tombstones them."""
        if not ids:
            return 0
        with self._table.transaction() as conn:
            vids = self._table.delete(list(ids))
            if vids:
                for start in range(0, len(vids), 500):
                    chunk = vids[start : start + 500]
                    conn.execute(
                        f"DELETE FROM items_fts WHERE rowid IN ({', '.join('?' * len(chunk))})",
                        chunk,
                    )
                self._unref(conn, vids)
                self._commit(conn, [])
                self._dense.remove(vids)
        self._wrote(len(vids))
        return len(vids)

    # -- search ------------------------------------------------------------------------
    @override
    def search(
        self,
        query: str,
        *,
        scope: Scope,
        k: int = 10,
        filters: Filters | None = None,
        as_of: datetime | None = None,
    ) -> list[Hit]:
        """The ``k`` memories in ``scope`` most relevant to ``query``, fused, best first."""
        check_k(k)
        self._table.ensure_open()
        now = as_of if as_of is not None else self.clock.now()
        parsed = parse_query(query, now) if self.time_mode != "off" else ParsedQuery(query)
        if self.time_mode == "filter" and parsed.windows:
            filters = _within(filters, parsed.windows)
        depth = max(k, self.candidates)
        queries = [query, *self._rewrite(query, now)]
        # One embedding call per search: the query and its rewrites, batched; the second
        # hop below searches by words only, so it embeds nothing.
        vectors = self._embed(queries) if "dense" in self.signals else None
        lists: list[tuple[str, list[tuple[int, float]]]] = []
        for n, text in enumerate(queries):
            if vectors is not None:
                found = self._dense_search(vectors[n], scope, depth, filters, as_of)
                lists.append(("dense", found))
            if "bm25" in self.signals:
                lists.append(("bm25", self._bm25_search(text, scope, depth, filters, as_of)))
        scores, found_by = self._fuse(lists)
        if self.expand > 0 and scores:
            lists += self._expansion(scores, parsed, scope, depth, filters, as_of)
            scores, found_by = self._fuse(lists)
        if "dense" not in self.signals and len(scores) < depth:
            # Lexical search alone misses texts that share no word with the query; the
            # newest memories in scope fill the remaining places, ranked last.
            for vid, _ in self._recent(scope, depth, filters, as_of):
                if vid not in scores and len(scores) < depth:
                    scores[vid] = 0.0
                    found_by[vid] = ["recent"]
        if not scores:
            return []
        ranked = sorted(scores, key=lambda vid: (-scores[vid], vid))
        pool = ranked[: max(depth, self.rerank_depth)]
        items = self._table.by_vids(pool)
        bodies = self._bodies(pool) if self.reranker is not None else {}
        times = [items[v].created_at.timestamp() for v in pool if v in items]
        oldest, span = (min(times), (max(times) - min(times)) or 1.0) if times else (0.0, 1.0)
        for vid in pool:
            item = items.get(vid)
            if item is None:
                continue
            boost = 1.0 + self.recency_boost * (item.created_at.timestamp() - oldest) / span
            if self.time_mode == "boost" and speaks_of(item, parsed.windows):
                boost += self.time_boost
            if parsed.names:
                boost += self.name_boost * name_share(item, parsed.names)
            scores[vid] *= boost
        pool = sorted((v for v in pool if v in items), key=lambda vid: (-scores[vid], vid))
        if self.reranker is not None:
            head = pool[: self.rerank_depth]
            reranked = self.reranker.score(query, [bodies.get(v, items[v].text) for v in head])
            order = sorted(range(len(head)), key=lambda i: -reranked[i])
            for i in order:
                scores[head[i]] = reranked[i]
            pool = [head[i] for i in order] + pool[self.rerank_depth :]
        return [
            Hit(item=items[vid], score=scores[vid], store=self.name, signal="+".join(found_by[vid]))
            for vid in pool[:k]
        ]

    def _keep(self, filters: Filters | None, as_of: datetime | None) -> Any:
        moment = None if as_of is None else to_micros(as_of)
        kinds = (
            None
            if filters is None or filters.kinds is None
            else np.asarray([_KINDS.index(k) for k in filters.kinds], dtype=np.int8)
        )
        after = (
            None
            if filters is None or filters.created_after is None
            else to_micros(filters.created_after)
        )
        before = (
            None
            if filters is None or filters.created_before is None
            else to_micros(filters.created_before)
        )
        open_to = np.iinfo(np.int64).max

        def keep(block: Any, rows: NDArray[np.int64]) -> NDArray[np.bool_]:
            if moment is None:
                ok = block.valid_to[rows] == open_to
            else:
                ok = (block.valid_from[rows] <= moment) & (block.valid_to[rows] > moment)
            if kinds is not None:
                ok &= np.isin(block.kind[rows], kinds)
            if after is not None:
                ok &= block.created[rows] >= after
            if before is not None:
                ok &= block.created[rows] < before
            return np.asarray(ok, dtype=bool)

        return keep

    def _dense_search(
        self,
        vector: NDArray[np.float32],
        scope: Scope,
        depth: int,
        filters: Filters | None,
        as_of: datetime | None,
    ) -> list[tuple[int, float]]:
        only: list[int] | None = None
        if (
            scope.agent_id is not None
            or scope.session_id is not None
            or (filters and filters.metadata)
        ):
            only = self._table.vids(scope, filters, as_of=as_of, open_only=as_of is None)
            if not only:
                return []
        with self._table.lock:
            self._table.ensure_open()
            return self._dense.search(
                scope.user_id, vector, depth, self._keep(filters, as_of), only_vids=only
            )

    def _bm25_search(
        self,
        query: str,
        scope: Scope,
        depth: int,
        filters: Filters | None,
        as_of: datetime | None,
    ) -> list[tuple[int, float]]:
        words = [w for w in dict.fromkeys(_WORD.findall(query.lower())) if w not in _STOP]
        if not words:
            return []
        match = " OR ".join('"' + w.replace('"', "") + '"' for w in words)
        where, params = where_clause(scope, filters, as_of=as_of, open_only=as_of is None)
        with self._table.lock:
            rows = self._table.conn.execute(
                "SELECT items_fts.rowid, bm25(items_fts) AS s FROM items_fts "
                f"JOIN items ON items.vid = items_fts.rowid WHERE items_fts MATCH ? AND {where} "
                "ORDER BY s, items_fts.rowid LIMIT ?",
                (match, *params, depth),
            ).fetchall()
        return [(int(vid), -float(score)) for vid, score in rows]

    def _expansion(
        self,
        scores: dict[int, float],
        parsed: ParsedQuery,
        scope: Scope,
        depth: int,
        filters: Filters | None,
        as_of: datetime | None,
    ) -> list[tuple[str, list[tuple[int, float]]]]:
        """Second-hop lists: search for the names the best hits mention and the query lacks."""
        top = sorted(scores, key=lambda vid: (-scores[vid], vid))[:2]
        asked = {n.lower() for n in parsed.names} | {w.lower() for w in _WORD.findall(parsed.text)}
        names: list[str] = []
        for body in self._bodies(top).values():
            for name in parse_query(body, self.clock.now()).names:
                if name.lower() not in asked and name not in names:
                    names.append(name)
        if not names:
            return []
        hop = " ".join(names[:3])
        out: list[tuple[str, list[tuple[int, float]]]] = []
        if "bm25" in self.signals:
            out.append(("bm25-hop", self._bm25_search(hop, scope, depth, filters, as_of)))
        return out

    def _recent(
        self, scope: Scope, depth: int, filters: Filters | None, as_of: datetime | None
    ) -> list[tuple[int, float]]:
        where, params = where_clause(scope, filters, as_of=as_of, open_only=as_of is None)
        with self._table.lock:
            rows = self._table.conn.execute(
                f"SELECT vid FROM items WHERE {where} ORDER BY created_at DESC, vid DESC LIMIT ?",
                (*params, depth),
            ).fetchall()
        return [(int(r[0]), 0.0) for r in rows]

    def _bodies(self, vids: Sequence[int]) -> dict[int, str]:
        out: dict[int, str] = {}
        with self._table.lock:
            for start in range(0, len(vids), 500):
                chunk = list(vids[start : start + 500])
                marks = ", ".join("?" * len(chunk))
                rows = self._table.conn.execute(
                    f"SELECT rowid, body FROM items_fts WHERE rowid IN ({marks})", chunk
                ).fetchall()
                out.update((int(r), str(b)) for r, b in rows)
        return out

    def _fuse(
        self, lists: list[tuple[str, list[tuple[int, float]]]]
    ) -> tuple[dict[int, float], dict[int, list[str]]]:
        scores: dict[int, float] = {}
        found_by: dict[int, list[str]] = {}
        for signal, hits in lists:
            weight = self.weights.get(signal, 1.0)
            if self.fusion == "weighted" and hits:
                values = [s for _, s in hits]
                low, high = min(values), max(values)
                span = (high - low) or 1.0
            for rank, (vid, score) in enumerate(hits):
                if self.fusion == "rrf":
                    gain = weight / (self.rrf_k + rank + 1)
                else:
                    gain = weight * ((score - low) / span if high > low else 1.0)
                scores[vid] = scores.get(vid, 0.0) + gain
                signals = found_by.setdefault(vid, [])
                base = signal.removesuffix("-hop")
                if base not in signals:
                    signals.append(base)
        order = ("dense", "bm25")
        for signals in found_by.values():
            signals.sort(key=order.index)
        return scores, found_by

    def _rewrite(self, query: str, now: datetime) -> list[str]:
        if self.rewriter is None:
            return []
        prompt = render_prompt("query_rewrite", query=query, today=f"{now:%d %B %Y}", n=4)
        reply = self.rewriter.chat([ChatMessage(role="user", content=prompt)], max_tokens=120)
        out: list[str] = []
        for line in reply.text.splitlines():
            cleaned = re.sub(r"^\s*(?:[-*\u2022]|\d+[.)])\s*", "", line).strip()
            if cleaned and cleaned.lower() != query.lower() and cleaned not in out:
                out.append(cleaned[:500])
        return out[:4]


def _within(filters: Filters | None, windows: list[TimeWindow]) -> Filters:
    """``filters`` narrowed to the span covering the query's time windows."""
    start = min(w.start for w in windows)
    end = max(w.end for w in windows)
    base = filters or Filters()
    after = start if base.created_after is None else max(start, base.created_after)
    before = end if base.created_before is None else min(end, base.created_before)
    return base.model_copy(update={"created_after": after, "created_before": before})
