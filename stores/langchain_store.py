"""LangChainStore: memories in SQLite, searched through any LangChain ``VectorStore``.

SQLite (the shared :class:`~agentmem.stores._sqlite.ItemTable`) holds every item and is
the source of truth; the LangChain vector store (Qdrant, Milvus, pgvector, Chroma,
``InMemoryVectorStore``, ...) is the search index. Each memory is one document there:
the memory's id, its text, and its scope and kind as metadata. An index found empty on
open is filled again from SQLite, so an in-memory LangChain store survives a restart.

Searches are scoped in SQLite first (user, agent, session, validity, filters); the
index is then asked with a filter when the store supports one (``InMemoryVectorStore``
does, or pass ``scope_filter=`` for yours), else over-fetched, and every result is
checked against the allowed ids, so a search never returns another user's memory.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Literal

from tqdm import tqdm

from agentmem._errors import InvalidInputError, MissingDependencyError, NotFoundError, StoreError
from agentmem._models import Filters, Hit, MemoryItem, Scope
from agentmem.stores._sqlite import TableStore, check_k, open_table, where_clause

try:
    from langchain_core.documents import Document
    from langchain_core.vectorstores import InMemoryVectorStore
    from langchain_core.vectorstores import VectorStore as LangChainVectorStore
except ImportError as exc:
    raise MissingDependencyError.for_extra("langchain_core", "langchain", "LangChainStore") from exc

__all__ = ["LangChainStore", "ScopeFilter"]

logger = logging.getLogger(__name__)

_DB = "langchain.sqlite"

ScopeFilter = Callable[[Scope, frozenset[str]], Any]
"""Builds the backend's own search filter from a scope and the ids allowed in it."""


def _in_memory_filter(scope: Scope, allowed: frozenset[str]) -> Any:
    return lambda doc: doc.id in allowed


class LangChainStore(TableStore):
    """A :class:`~agentmem.MemoryStore` that searches through a LangChain vector store.

    Args:
        path: a folder for the SQLite database (created if missing), or ``None`` to keep
            items in memory only.
        vectorstore: the LangChain vector store used as the search index; it embeds with
            its own ``Embeddings``. Its documents are managed by this store.
        name: the store's name in hits and traces.
        scope_filter: builds the ``filter=`` argument of the vector store's
            ``similarity_search_with_score`` from ``(scope, allowed_ids)``, e.g. for
            Qdrant a payload filter on ``metadata.user_id``. ``"auto"`` (the default):
            an id filter for ``InMemoryVectorStore``, none for others; ``None``: never
            filter in the backend, only over-fetch.
        overfetch: without a filter, ask the index for ``k * overfetch`` results first
            (growing until ``k`` in-scope results are found or the scope is exhausted).
        synchronous: SQLite durability, as for :class:`~agentmem.stores.VectorStore`.
        batch_size: documents per call when (re)indexing.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None,
        vectorstore: LangChainVectorStore,
        *,
        name: str = "langchain",
        scope_filter: ScopeFilter | Literal["auto"] | None = "auto",
        overfetch: int = 4,
        synchronous: str = "FULL",
        batch_size: int = 500,
    ) -> None:
        if overfetch < 1:
            msg = f"overfetch must be at least 1, got {overfetch}"
            raise InvalidInputError(msg)
        self.name = name
        self.vectorstore = vectorstore
        if scope_filter == "auto":
            scope_filter = (
                _in_memory_filter if isinstance(vectorstore, InMemoryVectorStore) else None
            )
        self.scope_filter: ScopeFilter | None = scope_filter
        self.overfetch = overfetch
        self.batch_size = batch_size
        _, self._table = open_table(path, _DB, synchronous=synchronous)
        if self._index_is_empty():
            self.reindex()

    # -- documents -----------------------------------------------------------------------
    @staticmethod
    def _document(item: MemoryItem) -> Document:
        metadata: dict[str, Any] = {
            "memory_id": item.id,
            "user_id": item.scope.user_id,
            "kind": item.kind.value,
        }
        if item.scope.agent_id is not None:
            metadata["agent_id"] = item.scope.agent_id
        if item.scope.session_id is not None:
            metadata["session_id"] = item.scope.session_id
        return Document(id=item.id, page_content=item.text, metadata=metadata)

    def _index(self, items: Sequence[MemoryItem]) -> None:
        if not items:
            return
        docs = [self._document(item) for item in items]
        try:
            self.vectorstore.add_documents(docs, ids=[item.id for item in items])
        except Exception as exc:  # the backend's errors are not ours to know
            msg = f"the LangChain vector store {type(self.vectorstore).__name__} failed: {exc}"
            raise StoreError(msg) from exc

    def _unindex(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        try:
            self.vectorstore.delete(list(ids))
        except Exception as exc:  # the backend's errors are not ours to know
            msg = f"the LangChain vector store {type(self.vectorstore).__name__} failed: {exc}"
            raise StoreError(msg) from exc

    def _index_is_empty(self) -> bool:
        row = self._table.conn.execute("SELECT id FROM items ORDER BY vid DESC LIMIT 1").fetchone()
        if row is None:
            return False  # nothing to index
        try:
            return not self.vectorstore.get_by_ids([str(row[0])])
        except NotImplementedError:
            logger.info(
                "%s cannot look documents up by id; assuming its index is current (call "
                "reindex() if it is not)",
                type(self.vectorstore).__name__,
            )
            return False

    def reindex(self) -> int:
        """Write every stored item into the LangChain index again; return how many."""
        total = self._table.count(None)
        done = 0
        batch: list[MemoryItem] = []
        with tqdm(total=total, desc="indexing memories", unit="item", disable=total < 1000) as bar:
            for item in self._table.scan(None, None):
                batch.append(item)
                if len(batch) >= self.batch_size:
                    self._index(batch)
                    done += len(batch)
                    bar.update(len(batch))
                    batch = []
            self._index(batch)
            done += len(batch)
            bar.update(len(batch))
        logger.debug("indexed %d memories into %s", done, type(self.vectorstore).__name__)
        return done

    # -- lifecycle -----------------------------------------------------------------------
    def close(self) -> None:
        """Close the database. Further calls raise ClosedError."""
        self._table.close()

    # -- MemoryStore ---------------------------------------------------------------------
    def add(self, items: Sequence[MemoryItem]) -> None:
        """Store ``items`` in SQLite and the index, all or none."""
        if not items:
            return
        with self._table.transaction():
            self._table.insert(items, [None] * len(items))
            self._table.bump_version()
            try:
                self._index(items)
            except StoreError:
                self._try_unindex([item.id for item in items])
                raise

    def _try_unindex(self, ids: Sequence[str]) -> None:
        try:
            self._unindex(ids)
        except StoreError as exc:
            logger.warning("could not remove half-written documents from the index: %s", exc)

    def update(self, items: Sequence[MemoryItem]) -> None:
        """Replace stored items by id; a changed text or scope is re-indexed."""
        if not items:
            return
        with self._table.transaction():
            changed: list[MemoryItem] = []
            for item in items:
                old = self._table.get(item.id)
                if old is None:
                    msg = f"no memory with id {item.id!r} in store {self.name!r}"
                    raise NotFoundError(msg)
                self._table.replace(item, None, keep_embedding=True)
                if (old.text, old.scope, old.kind) != (item.text, item.scope, item.kind):
                    changed.append(item)
            self._table.bump_version()
            # Re-adding an existing id replaces the document (LangChain's upsert contract).
            self._index(changed)

    def delete(self, ids: Sequence[str]) -> int:
        """Delete items for good; return how many existed."""
        if not ids:
            return 0
        with self._table.transaction():
            existing = [item_id for item_id in dict.fromkeys(ids) if self._table.get(item_id)]
            self._table.delete(existing)
            if existing:
                self._table.bump_version()
                self._unindex(existing)
        return len(existing)

    def search(
        self,
        query: str,
        *,
        scope: Scope,
        k: int = 10,
        filters: Filters | None = None,
        as_of: datetime | None = None,
    ) -> list[Hit]:
        """The ``k`` items in ``scope`` most similar to ``query``, by the index's score."""
        check_k(k)
        where, params = where_clause(scope, filters, as_of=as_of, open_only=as_of is None)
        with self._table.lock:
            rows = self._table.conn.execute(f"SELECT id FROM items WHERE {where}", params)
            allowed = frozenset(str(row[0]) for row in rows.fetchall())
        if not allowed:
            return []
        kwargs: dict[str, Any] = {}
        if self.scope_filter is not None:
            kwargs["filter"] = self.scope_filter(scope, allowed)
            fetch = min(k, len(allowed))
        else:
            fetch = k * self.overfetch
        while True:
            try:
                found = self.vectorstore.similarity_search_with_score(query, k=fetch, **kwargs)
            except Exception as exc:  # the backend's errors are not ours to know
                msg = f"the LangChain vector store {type(self.vectorstore).__name__} failed: {exc}"
                raise StoreError(msg) from exc
            scored: dict[str, float] = {}
            for doc, score in found:
                item_id = doc.id or doc.metadata.get("memory_id")
                if item_id in allowed and item_id not in scored:
                    scored[str(item_id)] = float(score)
            # Stop once k are in scope, or the index has nothing more to give.
            if len(scored) >= k or len(found) < fetch or len(scored) == len(allowed):
                break
            fetch *= 4
        ranked = list(scored.items())[:k]
        return [
            Hit(item=item, score=score, store=self.name, signal="dense")
            for item_id, score in ranked
            if (item := self._table.get(item_id)) is not None
        ]
