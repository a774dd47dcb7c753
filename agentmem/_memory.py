"""Memory: stores, retention policies, an embedder and a clock behind one API.

This module is the public surface: each method is its docstring and a few lines, and
the work lives beside it (decisions applied and undone in ``_apply``, opening by location
in ``_open``, erasure in ``_erase``, batch records in ``_records``, the policies' view in
``_policy_context``). It is over 500 lines because the API and its documentation are.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Unpack, cast

from pydantic import ValidationError

from agentmem import _apply, _erase, _open, _records
from agentmem._audit import AuditLog
from agentmem._capabilities import (
    AuditedStore,
    EmbeddingStore,
    LazyCommitStore,
    TouchingStore,
    TransactionalStore,
)
from agentmem._changes import Changes
from agentmem._clock import Clock, SystemClock, as_utc
from agentmem._compose import Policies
from agentmem._derived import DerivedMemories, source_order
from agentmem._errors import (
    AgentMemError,
    ClosedError,
    InvalidInputError,
    NotFoundError,
    NotKeptError,
    UserError,
)
from agentmem._fusion import fuse_hits, reciprocal_rank
from agentmem._models import EventOp, Filters, Hit, Kind, MemoryEvent, MemoryItem, Scope
from agentmem._multihop import MultiHop
from agentmem._policy_context import MemoryContext
from agentmem._protocols import (
    Action,
    Decision,
    Embedder,
    MemoryStore,
    PolicyContext,
    RetentionPolicy,
)
from agentmem._records import ItemFields
from agentmem._tracing import Tracer, traced
from agentmem._validation import (
    DEFAULT_MAX_TEXT_BYTES,
    check_metadata,
    check_text,
    check_time,
)

__all__ = ["Changes", "Memory"]

logger = logging.getLogger(__name__)

FUSION_DEPTH = 25
"""The fewest hits each store and the derived memories hand to fusion in a search.

Reciprocal-rank fusion of lists cut at ``k`` ranks differently for each ``k``: a derived
memory's source at the top of its list scores below the tenth hit of a store's list of
ten, and above the twelfth of a list of 25. Fusing lists of at least this depth makes a
search for ``k`` results the first ``k`` of a longer one (``benchmarks/RESULTS.md``:
evidence recall@10 on the LoCoMo dev conversations was 0.733 for a search of 10 and
0.755 for the first 10 of a search of 25).
"""


class Memory:
    """Long-term memory for an agent: write, search, update, forget, with an audit log.

    Everything is injected; nothing is built from global configuration.

    Args:
        stores: where memories live; writes go to the first unless a store is named.
        policies: retention policies, applied in order after every write, recall and tick.
        embedder: the embedder policies use (defaults to the first store's, if any).
        clock: where "now" comes from (defaults to the system clock).
        audit: the audit log (defaults to one kept in the first store's own database, if
            it offers one, so each change and its event commit together; else in memory).
        tracer: called with a :class:`TraceRecord` for every store operation and policy run.
        max_text_bytes: the largest text accepted, in UTF-8 bytes.
        derived: derived memories (:class:`~agentmem.DerivedMemories`): restatements of
            what each write says, kept in a side store, searched with the stores (a hit
            hands back its sources) and removed with their sources; ``None``: none.
        multihop: multi-hop search (:class:`~agentmem.MultiHop`): sub-queries and a
            second hop, fused with each search; ``None``: off.
    """

    def __init__(
        self,
        stores: Sequence[MemoryStore],
        *,
        policies: Sequence[RetentionPolicy] = (),
        embedder: Embedder | None = None,
        clock: Clock | None = None,
        audit: AuditLog | None = None,
        tracer: Tracer | None = None,
        max_text_bytes: int = DEFAULT_MAX_TEXT_BYTES,
        derived: DerivedMemories | None = None,
        multihop: MultiHop | None = None,
    ) -> None:
        if not stores:
            msg = "Memory needs at least one store, e.g. Memory([VectorStore(path, embedder)])"
            raise UserError(msg)
        names = [store.name for store in stores]
        if len(set(names)) != len(names):
            msg = f"store names must be unique, got {names}"
            raise UserError(msg)
        self.stores: list[MemoryStore] = list(stores)
        self.tracer = tracer
        self.policies = policies  # a list in, a list out (composed by Policies)
        if embedder is None and isinstance(stores[0], EmbeddingStore):
            embedder = stores[0].embedder
        self.embedder = embedder
        self.clock: Clock = clock if clock is not None else SystemClock()
        if audit is None:
            first = self.stores[0]
            sink = first.audit_sink if isinstance(first, AuditedStore) else None
            audit = sink() if sink is not None else AuditLog()
        self.audit = audit
        # The store whose database holds the audit log, if one does (events then commit
        # with that store's changes).
        owner = getattr(audit, "owner", None)
        self._audit_home = next((st for st in self.stores if st is owner), None)
        self.max_text_bytes = max_text_bytes
        self.derived = derived
        self.multihop = multihop
        self._closed = False
        self._context = MemoryContext(self)

    @property
    def policies(self) -> list[RetentionPolicy]:
        """The retention policies, in order; assign a new list to change them.

        They are composed with :class:`~agentmem.policies.Policies`: a later policy sees
        memory as the earlier ones left it, in every hook, so what :meth:`preview` shows
        is exactly what :meth:`tick` applies.
        """
        return self._policy.policies

    @policies.setter
    def policies(self, policies: Sequence[RetentionPolicy] | Policies) -> None:
        members = [policies] if isinstance(policies, Policies) else list(policies)
        self._policy = Policies(members, tracer=self.tracer)

    # -- construction ------------------------------------------------------------------
    @classmethod
    def default(
        cls,
        path: str | os.PathLike[str],
        *,
        embedder: Embedder | None = None,
        clock: Clock | None = None,
        policies: Sequence[RetentionPolicy] | None = None,
        tracer: Tracer | None = None,
    ) -> Memory:
        """The offline default: SQLite + faiss in the folder ``path``, the bundled embedder.

        The store is a :class:`~agentmem.stores.HybridStore` (dense and BM25 search fused,
        named ``"vector"``). The default policies are an
        :class:`~agentmem.policies.UpdatePolicy`, so a changed fact replaces the old one
        (kept in history).
        """
        folder = Path(path).expanduser()
        folder.mkdir(parents=True, exist_ok=True)
        return _open.open_offline(cls, folder, embedder, clock, policies, tracer)

    @classmethod
    def from_url(
        cls,
        url: str | os.PathLike[str],
        *,
        embedder: Embedder | None = None,
        clock: Clock | None = None,
        policies: Sequence[RetentionPolicy] | None = None,
        tracer: Tracer | None = None,
        **store_options: Any,
    ) -> Memory:
        """Open the memory at ``url``: a PostgreSQL server, or the embedded default.

        ``postgresql://user@host/db`` (or ``postgres://``) keeps memories, embeddings and
        the audit log in that database (:class:`~agentmem.stores.PostgresStore`; pass its
        options, e.g. ``schema=`` or ``tenant=``, as keywords); every process on every
        machine that opens the same URL shares one memory. ``sqlite:///path`` (relative;
        ``sqlite:////abs/path`` for an absolute one) or a plain folder path gives
        :meth:`default`. The other keywords mean what they mean there.
        """
        return _open.open_url(
            cls,
            url,
            embedder=embedder,
            clock=clock,
            policies=policies,
            tracer=tracer,
            **store_options,
        )

    @classmethod
    def in_memory(
        cls,
        *,
        embedder: Embedder | None = None,
        clock: Clock | None = None,
        policies: Sequence[RetentionPolicy] | None = None,
        tracer: Tracer | None = None,
    ) -> Memory:
        """Like :meth:`default`, but nothing touches the disk."""
        return _open.open_offline(cls, None, embedder, clock, policies, tracer)

    @property
    def context(self) -> PolicyContext:
        """The read-only view of this memory that retention policies decide on."""
        return self._context

    # -- lifecycle ---------------------------------------------------------------------
    def close(self) -> None:
        """Close every store and the audit log. Further calls raise ClosedError."""
        if self._closed:
            return
        self._closed = True
        for store in self.stores:
            store.close()
        if self.derived is not None:
            self.derived.close()
        self.audit.close()

    def __enter__(self) -> Memory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            msg = "this Memory is closed; open a new one"
            raise ClosedError(msg)

    # -- helpers -----------------------------------------------------------------------
    def _store(self, name: str | None) -> MemoryStore:
        if name is None:
            return self.stores[0]
        for store in self.stores:
            if store.name == name:
                return store
        msg = f"no store named {name!r}; stores: {[s.name for s in self.stores]}"
        raise UserError(msg)

    def _locate(self, item_id: str) -> tuple[MemoryStore, MemoryItem] | None:
        for store in self.stores:
            item = store.get(item_id)
            if item is not None:
                return store, item
        return None

    @staticmethod
    def _scope(user_id: str, agent_id: str | None, session_id: str | None) -> Scope:
        try:
            return Scope(user_id=user_id, agent_id=agent_id, session_id=session_id)
        except ValidationError as exc:
            msg = f"invalid scope: {exc.errors()[0]['msg']}"
            raise InvalidInputError(msg) from exc

    @staticmethod
    def _filters(filters: Filters | Mapping[str, Any] | None) -> Filters | None:
        if filters is None or isinstance(filters, Filters):
            return filters
        try:
            return Filters.model_validate(dict(filters))
        except ValidationError as exc:
            msg = f"invalid filters: {exc}"
            raise InvalidInputError(msg) from exc

    def _log(self, events: list[MemoryEvent]) -> list[MemoryEvent]:
        return self.audit.record(events) if events else []

    def _atomic(self, *stores: MemoryStore) -> contextlib.ExitStack:
        """One transaction per store (those that offer one) around a change and its events.

        Events are recorded inside, so they commit with the change when the audit log
        lives in the store's database, and before it otherwise: never a change without
        its event. Items read inside see the latest committed rows, so a
        read-modify-write inside cannot lose another writer's update.
        """
        stack = contextlib.ExitStack()
        seen: set[int] = set()
        # The audit's own store is entered last so that it commits first: a crash between
        # two stores' commits may leave an event without its change, never the reverse.
        home = self._audit_home
        for store in sorted(stores, key=lambda s: s is home):
            begin = store.transaction if isinstance(store, TransactionalStore) else None
            if begin is not None and id(store) not in seen:
                seen.add(id(store))
                stack.enter_context(begin())
        return stack

    # -- writing -----------------------------------------------------------------------
    def make_item(
        self, text: str | bytes, *, user_id: str, **fields: Unpack[ItemFields]
    ) -> MemoryItem:
        """Build a validated item (not yet stored) stamped with the memory's clock.

        The keywords are :class:`~agentmem._records.ItemFields`: ``agent_id``,
        ``session_id``, ``kind`` (default ``message``), ``created_at`` (when it happened;
        default now), ``importance`` (default 0.5), ``metadata`` and ``source_ids``.
        """
        checked = check_text(text, max_bytes=self.max_text_bytes)
        now = self.clock.now()
        unknown = sorted(set(fields) - ItemFields.__optional_keys__)
        if unknown:
            msg = f"unknown memory fields {unknown}; known: {sorted(ItemFields.__optional_keys__)}"
            raise InvalidInputError(msg)
        created_at, importance = fields.get("created_at"), fields.get("importance")
        metadata = fields.get("metadata")
        try:
            return MemoryItem(
                text=checked,
                kind=Kind(fields.get("kind", Kind.MESSAGE)),
                scope=self._scope(user_id, fields.get("agent_id"), fields.get("session_id")),
                created_at=now if created_at is None else as_utc(created_at),
                recorded_at=now,
                importance=0.5 if importance is None else importance,
                metadata=cast(Any, {} if metadata is None else metadata),  # checked there
                source_ids=list(fields.get("source_ids", ())),
            )
        except ValidationError as exc:
            raise InvalidInputError(_explain("invalid memory", exc)) from exc

    def add(
        self,
        text: str | bytes,
        *,
        user_id: str,
        store: str | None = None,
        **fields: Unpack[ItemFields],
    ) -> MemoryItem:
        """Store one memory directly (no LLM) and apply the retention policies.

        The keywords besides ``store`` (which store takes it) are those of
        :meth:`make_item`; ``created_at`` is when it happened (default: now). Returns what
        is stored, as stored: the new item, or, when a policy found it already stored or
        merged it with others, the memory that stands in its place (logged at INFO; the
        audit log has the reason). Never a memory that is gone. A fact that happened
        before one already stored about the same attribute is stored as history: it comes
        back closed (``valid_to`` set to when the newer one began).

        Raises:
            NotKeptError: a policy forgot the new memory at once (e.g. a capacity policy
                evicted it as the least important); the error carries the item as written
                and the policies' reasons, and the audit log has both steps. Use
                :meth:`write` to get every change instead of an error.
        """
        item = self.make_item(text, user_id=user_id, **fields)
        changes = self.write([item], store=store)
        survivor = changes.survivor(item.id)
        found = None if survivor is None else self._locate(survivor)
        if found is None:
            reasons = [
                event.reason
                for event in changes.events
                if event.op is not EventOp.ADD and item.id in event.item_ids
            ]
            raise NotKeptError(item, reasons)
        if survivor != item.id:
            logger.info("add: %s was stored as %s already (or merged into it)", item.id, survivor)
        return found[1]  # as stored: a policy may have changed it on write

    def add_many(
        self,
        records: Iterable[str | Mapping[str, Any]],
        *,
        user_id: str,
        store: str | None = None,
        reason: str | None = None,
        batch: int = 1000,
        skip_policies: str | None = None,
        **defaults: Unpack[ItemFields],
    ) -> list[MemoryItem]:
        """Store many memories at once: batched embedding, audited like :meth:`add`.

        This is the way to bulk-load memories (an import, a benchmark corpus). Each record
        is a text, or a mapping with ``text`` and any of the fields of :meth:`make_item`
        (``agent_id``, ``session_id``, ``kind``, ``created_at``, ``importance``,
        ``metadata``, ``source_ids``); given as keywords, the fields are the defaults of
        every record. Records are written ``batch`` at a time: each batch is embedded in
        one call and stored in one transaction together with one ``add`` event per item,
        and the retention policies see each batch as they see a write. A bad record raises
        :class:`InvalidInputError` before its batch is written (earlier batches stay
        stored). Returns the items as written, in order (a policy may have merged or
        forgotten some at once; :meth:`history` says so).

        To load without the policies' write rules (an import of memories already curated,
        a benchmark corpus), give the reason as ``skip_policies="..."``: it is written
        into every add event. ``None`` (default) applies them.

        Example::

            memory.add_many(
                [{"text": t.text, "metadata": {"speaker": t.speaker}} for t in turns],
                user_id="alice", session_id="s1", created_at=session_date,
            )
        """
        self._check_open()
        if not isinstance(batch, int) or batch <= 0:
            msg = f"batch must be a positive int, got {batch!r}"
            raise InvalidInputError(msg)
        if isinstance(records, (str, bytes)):
            msg = "add_many takes a list of texts or records; for one text use add()"
            raise InvalidInputError(msg)
        _check_skip(skip_policies)
        stored: list[MemoryItem] = []
        pending: list[MemoryItem] = []
        for position, record in enumerate(records):
            pending.append(_records.record_item(self, record, position, user_id, defaults))
            if len(pending) >= batch:
                self.write(pending, store=store, reason=reason, skip_policies=skip_policies)
                stored += pending
                pending = []
        if pending:
            self.write(pending, store=store, reason=reason, skip_policies=skip_policies)
            stored += pending
        return stored

    def write(
        self,
        items: Sequence[MemoryItem],
        *,
        store: str | None = None,
        reason: str | None = None,
        skip_policies: str | None = None,
    ) -> Changes:
        """Store prepared items in one transaction, then apply the policies' write rules.

        ``reason`` is logged with each add event (default: which store took the item).
        ``skip_policies`` is why the write rules are not run this time; it is logged with
        each add event too (see :meth:`add_many`).
        """
        self._check_open()
        _check_skip(skip_policies)
        if not items:
            return Changes()
        for item in items:
            check_text(item.text, max_bytes=self.max_text_bytes)
        target = self._store(store)
        now = self.clock.now()
        skipped = "" if skip_policies is None else f"; retention policies skipped: {skip_policies}"
        events = [
            MemoryEvent(
                op=EventOp.ADD,
                item_ids=[item.id],
                user_id=item.scope.user_id,
                at=now,
                reason=(reason or f"stored {item.kind.value} in {target.name}") + skipped,
                after={"text": item.text, "kind": item.kind.value, "metadata": item.metadata},
            )
            for item in items
        ]
        derived = self._derive(items)
        with self._atomic(target, *self._side_stores()):
            with traced(self.tracer, "store", f"{target.name}.add", count=len(items)):
                target.add(list(items))
            if self.derived is not None and derived:
                with traced(self.tracer, "store", "derived.add", count=len(derived)):
                    self.derived.add(derived)
            changes = Changes(written=list(items), events=self._log(events))
        if skip_policies is not None:
            logger.info(
                "stored %d memories without retention policies: %s", len(items), skip_policies
            )
            return changes
        try:
            changes.extend(self.apply(self._policy.on_write(list(items), self._context)))
        except BaseException:
            self._roll_back(changes)
            raise
        return changes

    def _derive(self, items: Sequence[MemoryItem]) -> list[MemoryItem]:
        """The derived memories of new ``items`` (none without :attr:`derived`)."""
        if self.derived is None:
            return []
        with traced(self.tracer, "derive", self.derived.deriver.name, count=len(items)):
            return self.derived.derive(items)

    def _side_stores(self) -> list[MemoryStore]:
        """The derived memories' store, where it joins this memory's transactions."""
        return [] if self.derived is None else self.derived.transactional()

    def _roll_back(self, changes: Changes) -> None:
        """Undo a write whose policies failed: its events reversed, newest first."""
        for event in reversed(changes.events):
            if event.id is None or event.op is EventOp.ACCESS:
                continue
            try:
                self.undo(event.id)
            except AgentMemError as exc:  # already gone, or not undoable: keep going
                logger.warning("rolling back event %s of a failed write: %s", event.id, exc)

    # -- reading -----------------------------------------------------------------------
    def get(self, item_id: str) -> MemoryItem:
        """The memory with this id; raises NotFoundError if there is none."""
        self._check_open()
        found = self._locate(item_id)
        if found is None:
            msg = f"no memory with id {item_id!r}"
            raise NotFoundError(msg)
        return found[1]

    def search(
        self,
        query: str,
        *,
        user_id: str,
        agent_id: str | None = None,
        session_id: str | None = None,
        k: int = 10,
        filters: Filters | Mapping[str, Any] | None = None,
        as_of: datetime | None = None,
        record_access: bool = True,
    ) -> list[Hit]:
        """The ``k`` memories of this user most relevant to ``query``, best first.

        Only open memories are searched unless ``as_of`` asks for those valid at a past
        time. Several stores are fused by reciprocal rank. An unknown user gets ``[]``.
        """
        self._check_open()
        query = check_text(query, max_bytes=self.max_text_bytes, what="query")
        if not isinstance(k, int) or k <= 0:
            msg = f"k must be a positive int, got {k!r}"
            raise InvalidInputError(msg)
        scope = self._scope(user_id, agent_id, session_id)
        parsed = self._filters(filters)
        moment = None if as_of is None else as_utc(check_time(as_of, "as_of"))

        def run(text: str) -> list[Hit]:
            return self._search_once(text, scope, k, parsed, moment)

        hits = run(query)
        if self.multihop is not None:
            now = moment if moment is not None else self.clock.now()
            with traced(self.tracer, "multihop", "search", query=query, k=k):
                hits = self.multihop.search(query, hits, run, k, now)
        if record_access and hits:
            self._accessed(hits)
        return hits

    def _search_once(
        self,
        query: str,
        scope: Scope,
        k: int,
        filters: Filters | None,
        as_of: datetime | None,
    ) -> list[Hit]:
        """One query through every store (fused) and the derived memories.

        Lists that are fused are asked for :data:`FUSION_DEPTH` hits at least, so the
        first ``k`` hits do not depend on ``k`` (up to that depth).
        """
        fusing = len(self.stores) > 1 or self.derived is not None
        depth = max(k, FUSION_DEPTH) if fusing else k
        per_store: list[list[Hit]] = []
        for store in self.stores:
            with traced(self.tracer, "store", f"{store.name}.search", query=query, k=depth) as out:
                hits = store.search(query, scope=scope, k=depth, filters=filters, as_of=as_of)
                out["hits"] = [hit.item.id for hit in hits]
            per_store.append(hits)
        hits = per_store[0] if len(per_store) == 1 else _fuse(per_store, depth)
        if self.derived is not None:
            hits = self._with_sources(hits, query, scope, depth, filters, as_of)
        return hits[:k]

    def _with_sources(
        self,
        hits: list[Hit],
        query: str,
        scope: Scope,
        k: int,
        filters: Filters | None,
        as_of: datetime | None,
    ) -> list[Hit]:
        """``hits`` fused with the sources of the best derived memories for ``query``."""
        assert self.derived is not None
        with traced(self.tracer, "store", "derived.search", query=query, k=k) as out:
            derived = self.derived.search(query, scope=scope, k=k, filters=filters, as_of=as_of)
            out["hits"] = [hit.item.id for hit in derived]
        if not derived:
            return hits
        order = source_order(derived)
        found = self._locate_many([source for source, _ in order])
        moment = as_of if as_of is not None else self.clock.now()
        sources: list[Hit] = []
        for source, hit in order:
            if source not in found:
                continue
            store, item = found[source]
            if item.valid_to is not None and item.valid_to <= moment:
                continue
            if filters is not None and not filters.matches(item):
                continue
            if item.scope.user_id != scope.user_id:
                continue
            sources.append(Hit(item=item, score=hit.score, store=store.name, signal="derived"))
        if not sources:
            return hits
        return fuse_hits([(1.0, hits), (self.derived.weight, sources)], k, self.derived.fusion_k)

    def _accessed(self, hits: list[Hit]) -> None:
        now = self.clock.now()
        by_store: dict[str, list[Hit]] = {}
        for hit in hits:
            by_store.setdefault(hit.store, []).append(hit)
        event = MemoryEvent(
            op=EventOp.ACCESS,
            item_ids=[hit.item.id for hit in hits],
            user_id=hits[0].item.scope.user_id,
            at=now,
            reason="recalled by search",
        )
        stores = [self._store(name) for name in by_store]
        with contextlib.ExitStack() as lazy:
            # Bookkeeping, not memories: commit without waiting for the disk (a killed
            # process keeps it; see LazyCommitStore).
            for store in sorted(stores, key=lambda s: s is self._audit_home):  # as _atomic
                if isinstance(store, LazyCommitStore):
                    lazy.enter_context(store.lazy_commit())
            lazy.enter_context(self._atomic(*stores))
            for store, found in zip(stores, by_store.values(), strict=True):
                counts = self._touch(store, [hit.item for hit in found], now)
                for hit in found:
                    if hit.item.id in counts:
                        hit.item = hit.item.model_copy(
                            update={"access_count": counts[hit.item.id], "last_accessed_at": now}
                        )
            self._log([event])
        accessed = [hit.item for hit in hits]
        self.apply(self._policy.on_access(accessed, self._context))

    @staticmethod
    def _touch(store: MemoryStore, items: list[MemoryItem], now: datetime) -> dict[str, int]:
        """Count an access to each item: an atomic increment where the store offers one."""
        touch = store.touch if isinstance(store, TouchingStore) else None
        if touch is not None:
            counts: dict[str, int] = touch([item.id for item in items], now)
            return counts
        fresh = [store.get(item.id) for item in items]  # inside the store's transaction
        updated = [
            item.model_copy(update={"access_count": item.access_count + 1, "last_accessed_at": now})
            for item in fresh
            if item is not None
        ]
        store.update(updated)
        return {item.id: item.access_count for item in updated}

    def items(
        self,
        *,
        user_id: str | None = None,
        include_closed: bool = False,
        filters: Filters | Mapping[str, Any] | None = None,
    ) -> list[MemoryItem]:
        """Every memory (of one user, if given), oldest first; closed ones on request."""
        self._check_open()
        scope = None if user_id is None else self._scope(user_id, None, None)
        parsed = self._filters(filters)
        out: list[MemoryItem] = []
        for store in self.stores:
            out += store.scan(scope=scope, filters=parsed, include_closed=include_closed)
        return sorted(out, key=lambda item: (item.created_at, item.recorded_at))

    def count(self, *, user_id: str | None = None) -> int:
        """How many memories are stored (for one user, if given), closed ones included."""
        self._check_open()
        scope = None if user_id is None else self._scope(user_id, None, None)
        return sum(store.count(scope=scope) for store in self.stores)

    def history(self, item_id: str) -> list[MemoryEvent]:
        """Every change to this memory, oldest first, each with its reason."""
        self._check_open()
        return self.audit.history(item_id)

    def events(
        self,
        *,
        user_id: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[MemoryEvent]:
        """Audit events, oldest first."""
        self._check_open()
        return self.audit.events(
            user_id=user_id, since=None if since is None else as_utc(since), limit=limit
        )

    # -- changing ----------------------------------------------------------------------
    def update(
        self,
        item_id: str,
        *,
        text: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        importance: float | None = None,
        valid_to: datetime | None = None,
        reason: str = "updated by the user",
    ) -> MemoryItem:
        """Change a memory in place; the old values go to the audit log."""
        changes: dict[str, Any] = {}
        if text is not None:
            changes["text"] = check_text(text, max_bytes=self.max_text_bytes)
        if metadata is not None:
            changes["metadata"] = check_metadata(metadata)
        if importance is not None:
            changes["importance"] = importance
        if valid_to is not None:
            changes["valid_to"] = as_utc(check_time(valid_to, "valid_to"))
        if not changes:
            msg = "update() needs at least one of text, metadata, importance, valid_to"
            raise InvalidInputError(msg)
        self.get(item_id)
        decision = Decision(
            action=Action.UPDATE,
            item_ids=[item_id],
            reason=reason,
            policy="user",
            changes=changes,
        )
        result = self.apply([decision])
        return result.updated[0]

    def forget(
        self,
        *,
        user_id: str,
        ids: Sequence[str] | None = None,
        reason: str = "forgotten on request",
    ) -> int:
        """Erase memories for good: the given ids of this user, or all of the user's.

        This is the forgetting a user asks for, and it cannot be undone: the memories
        leave every store, and once the memory is closed no byte of their text is left in
        any of its files (full-text segments merged, freed pages zeroed, saved indexes
        rewritten). The audit log keeps only ids, the op and a hash: the earlier events
        of an erased memory lose their text. Forgetting a whole user also removes that
        user's audit trail, leaving one event that records how many memories were erased.
        (Retention policies forget differently: they archive, and ``undo`` can restore.)
        Returns how many memories were erased.
        """
        self._check_open()
        return _erase.erase(self, user_id, ids, reason)

    def tick(self) -> Changes:
        """Let time-based policies (decay, TTL, capacity) act at the clock's current time."""
        self._check_open()
        return self.apply(self.preview())

    def preview(self, policy: RetentionPolicy | None = None) -> list[Decision]:
        """What a tick would decide now, without changing anything.

        Inspect the decisions (each has a reason), then commit them with :meth:`apply`.

        Args:
            policy: the policy to ask; ``None`` asks this memory's policies, composed as
                :meth:`tick` composes them (so ``apply(preview())`` is ``tick()``).
        """
        self._check_open()
        if policy is None:
            return self._policy.on_tick(self._context)
        with traced(self.tracer, "policy", f"{policy.name}.preview"):
            return policy.on_tick(self._context)

    def undo(self, event_id: int) -> Changes:
        """Reverse one applied change, read back from the audit log; the undo is logged too.

        An add is forgotten, a forgotten memory is restored in full, an update or decay gets
        its old values back, and a merge is taken apart (the merged memory goes, its sources
        reopen). Recalls and whole-user erasures cannot be undone.
        """
        self._check_open()
        return _apply.undo(self, event_id)

    def apply(self, decisions: Sequence[Decision]) -> Changes:
        """Carry out policy decisions and log each with its reason.

        Consecutive updates are written to each store in one batch, and so are consecutive
        forgets, so a policy that closes or forgets thousands of memories at once costs one
        transaction, not thousands. Every store's changes and their audit events commit
        together, and each item is read inside that transaction, so a decision changes
        only the fields it names on the latest stored values (no lost updates).
        """
        self._check_open()
        with self._atomic(*self.stores, *self._side_stores()):
            return _apply.apply_decisions(self, decisions)

    def _locate_many(self, ids: Sequence[str]) -> dict[str, tuple[MemoryStore, MemoryItem]]:
        """Like :meth:`_locate` for many ids, in one query per store where it can."""
        return _apply.locate_many(self, ids)


def _check_skip(skip_policies: object) -> None:
    """A reason to skip the policies must be a non-empty text (it goes into the log)."""
    if skip_policies is not None and (
        not isinstance(skip_policies, str) or not skip_policies.strip()
    ):
        msg = (
            "skip_policies takes the reason the retention policies are skipped, e.g. "
            f"skip_policies='import of a curated export'; got {skip_policies!r}"
        )
        raise InvalidInputError(msg)


def _explain(what: str, exc: ValidationError) -> str:
    """The first problem pydantic found, as one readable line."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    text = str(first.get("msg", exc)).removeprefix("Value error, ")
    return f"{what}: {where}: {text}" if where else f"{what}: {text}"


def _fuse(per_store: list[list[Hit]], k: int) -> list[Hit]:
    """Reciprocal-rank fusion of several stores' hits."""
    scores = reciprocal_rank([(1.0, [hit.item.id for hit in hits]) for hits in per_store])
    best: dict[str, Hit] = {}
    for hits in per_store:
        for hit in hits:
            best.setdefault(hit.item.id, hit)
    ranked = sorted(scores, key=lambda item_id: -scores[item_id])[:k]
    return [best[i].model_copy(update={"score": scores[i]}) for i in ranked]
