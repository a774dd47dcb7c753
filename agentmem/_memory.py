"""Memory: stores, retention policies, an embedder and a clock behind one API."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from pydantic import BaseModel, Field, ValidationError

from agentmem._audit import AuditLog
from agentmem._clock import Clock, SystemClock, as_utc
from agentmem._columns import item_columns, merge_columns
from agentmem._errors import (
    AgentMemError,
    ClosedError,
    InvalidInputError,
    NotFoundError,
    UserError,
)
from agentmem._fusion import reciprocal_rank
from agentmem._models import EventOp, Filters, Hit, Kind, MemoryEvent, MemoryItem, Scope
from agentmem._protocols import (
    Action,
    Decision,
    Embedder,
    MemoryStore,
    PolicyContext,
    RetentionPolicy,
)
from agentmem._tracing import Tracer, traced
from agentmem._validation import (
    DEFAULT_MAX_TEXT_BYTES,
    check_metadata,
    check_text,
    check_time,
)

__all__ = ["Changes", "Memory"]

logger = logging.getLogger(__name__)

_RECORD_KEYS = frozenset(
    {"text", "agent_id", "session_id", "kind", "created_at", "importance", "metadata", "source_ids"}
)


class Changes(BaseModel):
    """What one write, recall or tick did to memory."""

    written: list[MemoryItem] = Field(default_factory=list)
    updated: list[MemoryItem] = Field(default_factory=list)
    forgotten: list[MemoryItem] = Field(default_factory=list)
    events: list[MemoryEvent] = Field(default_factory=list)

    def extend(self, other: Changes) -> None:
        """Add ``other``'s changes to these."""
        self.written += other.written
        self.updated += other.updated
        self.forgotten += other.forgotten
        self.events += other.events


class _Context:
    """The read-only view of memory that policies decide on."""

    def __init__(self, memory: Memory) -> None:
        self._memory = memory

    @property
    def now(self) -> datetime:
        return self._memory.clock.now()

    @property
    def embedder(self) -> Embedder | None:
        return self._memory.embedder

    def scan(
        self,
        *,
        scope: Scope | None = None,
        filters: Filters | None = None,
        include_closed: bool = False,
    ) -> Iterator[MemoryItem]:
        for store in self._memory.stores:
            yield from store.scan(scope=scope, filters=filters, include_closed=include_closed)

    def columns(
        self,
        *,
        scope: Scope | None = None,
        filters: Filters | None = None,
        include_closed: bool = False,
        extra: Sequence[str] = (),
    ) -> dict[str, list[Any]]:
        """Raw columns of every store's items (see ``VectorStore.columns``), no items built."""
        parts = []
        for store in self._memory.stores:
            read = getattr(store, "columns", None)
            if read is not None:
                parts.append(
                    read(scope=scope, filters=filters, include_closed=include_closed, extra=extra)
                )
            else:
                found = store.scan(scope=scope, filters=filters, include_closed=include_closed)
                parts.append(item_columns(found, extra))
        return merge_columns(parts)

    def get(self, item_id: str) -> MemoryItem | None:
        found = self._memory._locate(item_id)
        return None if found is None else found[1]


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
    ) -> None:
        if not stores:
            msg = "Memory needs at least one store, e.g. Memory([VectorStore(path, embedder)])"
            raise UserError(msg)
        names = [store.name for store in stores]
        if len(set(names)) != len(names):
            msg = f"store names must be unique, got {names}"
            raise UserError(msg)
        self.stores: list[MemoryStore] = list(stores)
        self.policies: list[RetentionPolicy] = list(policies)
        self.embedder = embedder if embedder is not None else getattr(stores[0], "embedder", None)
        self.clock: Clock = clock if clock is not None else SystemClock()
        if audit is None:
            sink = getattr(self.stores[0], "audit_sink", None)
            audit = sink() if sink is not None else AuditLog()
        self.audit = audit
        # The store whose database holds the audit log, if one does (events then commit
        # with that store's changes).
        owner = getattr(audit, "owner", None)
        self._audit_home = next((st for st in self.stores if st is owner), None)
        self.tracer = tracer
        self.max_text_bytes = max_text_bytes
        self._closed = False
        self._context = _Context(self)

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
        return cls._offline(folder, embedder, clock, policies, tracer)

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
        text = os.fspath(url)
        if text.startswith(("postgresql://", "postgres://")):
            from agentmem.embedders import SentenceTransformerEmbedder
            from agentmem.policies import UpdatePolicy
            from agentmem.stores.postgres import PostgresStore

            embedder = embedder if embedder is not None else SentenceTransformerEmbedder()
            clock = clock if clock is not None else SystemClock()
            store = PostgresStore(text, embedder, name="vector", clock=clock, **store_options)
            return cls(
                [store],
                policies=[UpdatePolicy()] if policies is None else policies,
                embedder=embedder,
                clock=clock,
                tracer=tracer,  # the audit log: the store's own (audit_sink), in its transactions
            )
        if store_options:
            msg = f"options {sorted(store_options)} apply to PostgreSQL URLs only"
            raise InvalidInputError(msg)
        if text.startswith("sqlite://"):
            # As SQLAlchemy reads it: sqlite:///relative/folder, sqlite:////absolute/folder.
            if not text.startswith("sqlite:///") or text == "sqlite:///":
                msg = f"a SQLite URL names a folder as sqlite:///path, got {text!r}"
                raise InvalidInputError(msg)
            text = text.removeprefix("sqlite:///")
        elif "://" in text:
            msg = (
                f"unknown memory URL {text!r}: use postgresql://user@host/db, sqlite:///folder "
                "or a folder path"
            )
            raise InvalidInputError(msg)
        return cls.default(text, embedder=embedder, clock=clock, policies=policies, tracer=tracer)

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
        return cls._offline(None, embedder, clock, policies, tracer)

    @classmethod
    def _offline(
        cls,
        folder: Path | None,
        embedder: Embedder | None,
        clock: Clock | None,
        policies: Sequence[RetentionPolicy] | None,
        tracer: Tracer | None,
    ) -> Memory:
        from agentmem.embedders import SentenceTransformerEmbedder
        from agentmem.policies import UpdatePolicy
        from agentmem.stores import HybridStore

        embedder = embedder if embedder is not None else SentenceTransformerEmbedder()
        clock = clock if clock is not None else SystemClock()  # one clock for store and memory
        store = HybridStore(folder, embedder, name="vector", clock=clock)
        audit = store.audit_sink()  # the events live in the store's database, atomically
        if folder is not None:
            _import_old_audit(folder / "audit.sqlite", audit)
        return cls(
            [store],
            policies=[UpdatePolicy()] if policies is None else policies,
            embedder=embedder,
            clock=clock,
            audit=audit,
            tracer=tracer,
        )

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
            begin = getattr(store, "transaction", None)
            if begin is not None and id(store) not in seen:
                seen.add(id(store))
                stack.enter_context(begin())
        return stack

    # -- writing -----------------------------------------------------------------------
    def make_item(
        self,
        text: str | bytes,
        *,
        user_id: str,
        agent_id: str | None = None,
        session_id: str | None = None,
        kind: Kind | str = Kind.MESSAGE,
        created_at: datetime | None = None,
        importance: float | None = None,
        metadata: Mapping[str, Any] | None = None,
        source_ids: Sequence[str] = (),
    ) -> MemoryItem:
        """Build a validated item (not yet stored) stamped with the memory's clock."""
        checked = check_text(text, max_bytes=self.max_text_bytes)
        now = self.clock.now()
        try:
            return MemoryItem(
                text=checked,
                kind=Kind(kind),
                scope=self._scope(user_id, agent_id, session_id),
                created_at=now if created_at is None else as_utc(created_at),
                recorded_at=now,
                importance=0.5 if importance is None else importance,
                metadata=cast(Any, {} if metadata is None else metadata),  # checked there
                source_ids=list(source_ids),
            )
        except ValidationError as exc:
            raise InvalidInputError(_explain("invalid memory", exc)) from exc

    def add(
        self,
        text: str | bytes,
        *,
        user_id: str,
        agent_id: str | None = None,
        session_id: str | None = None,
        kind: Kind | str = Kind.MESSAGE,
        created_at: datetime | None = None,
        importance: float | None = None,
        metadata: Mapping[str, Any] | None = None,
        source_ids: Sequence[str] = (),
        store: str | None = None,
    ) -> MemoryItem:
        """Store one memory directly (no LLM) and apply the retention policies.

        ``created_at`` is when it happened (default: now); returns the stored item.
        """
        item = self.make_item(
            text,
            user_id=user_id,
            agent_id=agent_id,
            session_id=session_id,
            kind=kind,
            created_at=created_at,
            importance=importance,
            metadata=metadata,
            source_ids=source_ids,
        )
        self.write([item], store=store)
        return item

    def add_many(
        self,
        records: Iterable[str | Mapping[str, Any]],
        *,
        user_id: str,
        agent_id: str | None = None,
        session_id: str | None = None,
        kind: Kind | str = Kind.MESSAGE,
        created_at: datetime | None = None,
        importance: float | None = None,
        metadata: Mapping[str, Any] | None = None,
        store: str | None = None,
        reason: str | None = None,
        batch: int = 1000,
    ) -> list[MemoryItem]:
        """Store many memories at once: batched embedding, audited like :meth:`add`.

        Each record is a text, or a mapping with ``text`` and any of ``agent_id``,
        ``session_id``, ``kind``, ``created_at``, ``importance``, ``metadata`` and
        ``source_ids``, which override the keyword defaults for that record. Records are
        written ``batch`` at a time: each batch is embedded in one call and stored in one
        transaction, every item gets its ``add`` event, and the retention policies see
        each batch as they see a write. A bad record raises :class:`InvalidInputError`
        before its batch is written (earlier batches stay stored). Returns the stored
        items, in order.

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
        defaults: dict[str, Any] = {
            "agent_id": agent_id,
            "session_id": session_id,
            "kind": kind,
            "created_at": created_at,
            "importance": importance,
            "metadata": metadata,
        }
        stored: list[MemoryItem] = []
        pending: list[MemoryItem] = []
        for position, record in enumerate(records):
            pending.append(self._record_item(record, position, user_id, defaults))
            if len(pending) >= batch:
                self.write(pending, store=store, reason=reason)
                stored += pending
                pending = []
        if pending:
            self.write(pending, store=store, reason=reason)
            stored += pending
        return stored

    def _record_item(
        self,
        record: str | bytes | Mapping[str, Any],
        position: int,
        user_id: str,
        defaults: Mapping[str, Any],
    ) -> MemoryItem:
        """One record of :meth:`add_many` as a validated item."""
        if isinstance(record, (str, bytes)):
            return self.make_item(record, user_id=user_id, **defaults)
        if not isinstance(record, Mapping):
            got = type(record).__name__
            msg = f"add_many record {position} must be a text or a mapping, got {got}"
            raise InvalidInputError(msg)
        unknown = sorted(set(record) - _RECORD_KEYS)
        if unknown or "text" not in record:
            msg = (
                f"add_many record {position}: needs 'text' and takes only "
                f"{sorted(_RECORD_KEYS)}; got {sorted(record)}"
            )
            raise InvalidInputError(msg)
        fields = {**defaults, **{k: v for k, v in record.items() if k != "text"}}
        return self.make_item(record["text"], user_id=user_id, **fields)

    def write(
        self, items: Sequence[MemoryItem], *, store: str | None = None, reason: str | None = None
    ) -> Changes:
        """Store prepared items in one transaction, then apply the policies' write rules.

        ``reason`` is logged with each add event (default: which store took the item).
        """
        self._check_open()
        if not items:
            return Changes()
        for item in items:
            check_text(item.text, max_bytes=self.max_text_bytes)
        target = self._store(store)
        now = self.clock.now()
        events = [
            MemoryEvent(
                op=EventOp.ADD,
                item_ids=[item.id],
                user_id=item.scope.user_id,
                at=now,
                reason=reason or f"stored {item.kind.value} in {target.name}",
                after={"text": item.text, "kind": item.kind.value, "metadata": item.metadata},
            )
            for item in items
        ]
        with self._atomic(target):
            with traced(self.tracer, "store", f"{target.name}.add", count=len(items)):
                target.add(list(items))
            changes = Changes(written=list(items), events=self._log(events))
        try:
            for policy in self.policies:
                with traced(self.tracer, "policy", f"{policy.name}.on_write", count=len(items)):
                    decisions = policy.on_write(list(items), self._context)
                changes.extend(self.apply(decisions))
        except BaseException:
            self._roll_back(changes)
            raise
        return changes

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
        per_store: list[list[Hit]] = []
        for store in self.stores:
            with traced(self.tracer, "store", f"{store.name}.search", query=query, k=k) as out:
                hits = store.search(query, scope=scope, k=k, filters=parsed, as_of=moment)
                out["hits"] = [hit.item.id for hit in hits]
            per_store.append(hits)
        hits = per_store[0] if len(per_store) == 1 else _fuse(per_store, k)
        if record_access and hits:
            self._accessed(hits)
        return hits

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
        with self._atomic(*stores):
            for store, found in zip(stores, by_store.values(), strict=True):
                counts = self._touch(store, [hit.item for hit in found], now)
                for hit in found:
                    if hit.item.id in counts:
                        hit.item = hit.item.model_copy(
                            update={"access_count": counts[hit.item.id], "last_accessed_at": now}
                        )
            self._log([event])
        accessed = [hit.item for hit in hits]
        for policy in self.policies:
            self.apply(policy.on_access(accessed, self._context))

    @staticmethod
    def _touch(store: MemoryStore, items: list[MemoryItem], now: datetime) -> dict[str, int]:
        """Count an access to each item: an atomic increment where the store offers one."""
        touch = getattr(store, "touch", None)
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
        scope = self._scope(user_id, None, None)
        now = self.clock.now()
        removed = 0
        with self._atomic(*self.stores):
            if ids is None:
                for store in self.stores:
                    ids_here = [item.id for item in store.scan(scope=scope)]
                    with traced(self.tracer, "store", f"{store.name}.delete", count=len(ids_here)):
                        removed += store.delete(ids_here)
                    erase_user = getattr(store, "erase_user", None)
                    if erase_user is not None:  # what the store keeps beside items (facts...)
                        erase_user(scope.user_id)
                for log in self._audit_logs():
                    log.forget_user(scope.user_id)
                event = MemoryEvent(
                    op=EventOp.FORGET,
                    item_ids=[],
                    user_id=scope.user_id,
                    at=now,
                    reason=f"{reason}: all {removed} memories of the user",
                    policy="user",
                )
            else:
                found = self._locate_many(list(dict.fromkeys(ids)))
                owned = {
                    i: hit for i, hit in found.items() if hit[1].scope.user_id == scope.user_id
                }
                by_store: dict[str, tuple[MemoryStore, list[str]]] = {}
                for item_id, (store, _) in owned.items():
                    by_store.setdefault(store.name, (store, []))[1].append(item_id)
                for store, ids_here in by_store.values():
                    with traced(self.tracer, "store", f"{store.name}.delete", count=len(ids_here)):
                        removed += store.delete(ids_here)
                for log in self._audit_logs():
                    log.erase_items(list(owned))
                event = MemoryEvent(
                    op=EventOp.FORGET,
                    item_ids=list(owned),
                    user_id=scope.user_id,
                    at=now,
                    reason=reason,
                    policy="user",
                    after={"sha256": {i: _digest(item.text) for i, (_, item) in owned.items()}},
                )
            self._log([event])
        for store in self.stores:
            purge = getattr(store, "purge", None)
            if purge is not None:
                with traced(self.tracer, "store", f"{store.name}.purge"):
                    purge()
        return removed

    def _audit_logs(self) -> list[AuditLog]:
        """This memory's audit log and any other a store writes its own events to."""
        logs = [self.audit]
        for store in self.stores:
            own = getattr(store, "audit", None)
            if own is not None and all(own is not log for log in logs):
                logs.append(own)
        return logs

    def tick(self) -> Changes:
        """Let time-based policies (decay, TTL, capacity) act at the clock's current time."""
        self._check_open()
        changes = Changes()
        for policy in self.policies:
            with traced(self.tracer, "policy", f"{policy.name}.on_tick"):
                decisions = policy.on_tick(self._context)
            changes.extend(self.apply(decisions))
        return changes

    def preview(self, policy: RetentionPolicy | None = None) -> list[Decision]:
        """What a tick would decide now, without changing anything.

        Inspect the decisions (each has a reason), then commit them with :meth:`apply`.

        Args:
            policy: the policy to ask; ``None`` asks every policy of this memory, in order.
        """
        self._check_open()
        policies = self.policies if policy is None else [policy]
        decisions: list[Decision] = []
        for each in policies:
            with traced(self.tracer, "policy", f"{each.name}.preview"):
                decisions += each.on_tick(self._context)
        return decisions

    def undo(self, event_id: int) -> Changes:
        """Reverse one applied change, read back from the audit log; the undo is logged too.

        An add is forgotten, a forgotten memory is restored in full, an update or decay gets
        its old values back, and a merge is taken apart (the merged memory goes, its sources
        reopen). Recalls and whole-user erasures cannot be undone.
        """
        self._check_open()
        event = self.audit.get(event_id)
        if event is None:
            msg = f"no audit event with id {event_id}; list them with Memory.events()"
            raise NotFoundError(msg)
        reason = f"undo of event {event_id} ({event.op.value}: {event.reason})"
        if event.op is EventOp.ADD:
            decision = Decision(
                action=Action.FORGET, item_ids=event.item_ids, reason=reason, policy="undo"
            )
            return self.apply([decision])
        if event.op is EventOp.FORGET and event.policy == "user":
            msg = (
                f"event {event_id} erased memories on request; an erasure cannot be undone "
                "(nothing of them was kept)"
            )
            raise UserError(msg)
        if event.op is EventOp.FORGET and event.before is not None and event.item_ids:
            return self._restore(MemoryItem.model_validate(event.before), reason)
        if event.op in (EventOp.UPDATE, EventOp.DECAY) and event.before is not None:
            decision = Decision(
                action=Action.UPDATE,
                item_ids=event.item_ids,
                reason=reason,
                policy="undo",
                changes=dict(event.before),
            )
            return self.apply([decision])
        if event.op is EventOp.MERGE and event.before is not None and event.item_ids:
            reopened: dict[str, Any] = event.before.get("valid_to", {})
            decisions = [
                Decision(
                    action=Action.FORGET, item_ids=event.item_ids[:1], reason=reason, policy="undo"
                ),
                *(
                    Decision(
                        action=Action.UPDATE,
                        item_ids=[item_id],
                        reason=reason,
                        policy="undo",
                        changes={"valid_to": reopened.get(item_id)},
                    )
                    for item_id in event.item_ids[1:]
                ),
            ]
            return self.apply(decisions)
        msg = (
            f"event {event_id} ({event.op.value}) cannot be undone: only adds, updates, "
            "decays, merges and forgets of single memories can"
        )
        raise UserError(msg)

    def _restore(self, item: MemoryItem, reason: str) -> Changes:
        if self._locate(item.id) is not None:
            msg = f"memory {item.id} exists again; there is nothing to restore"
            raise UserError(msg)
        store = self.stores[0]
        event = MemoryEvent(
            op=EventOp.ADD,
            item_ids=[item.id],
            user_id=item.scope.user_id,
            at=self.clock.now(),
            reason=reason,
            policy="undo",
            after=_snapshot(item),
        )
        with self._atomic(store):
            store.add([item])
            return Changes(written=[item], events=self._log([event]))

    def apply(self, decisions: Sequence[Decision]) -> Changes:
        """Carry out policy decisions and log each with its reason.

        Consecutive updates are written to each store in one batch, and so are consecutive
        forgets, so a policy that closes or forgets thousands of memories at once costs one
        transaction, not thousands. Every store's changes and their audit events commit
        together, and each item is read inside that transaction, so a decision changes
        only the fields it names on the latest stored values (no lost updates).
        """
        self._check_open()
        with self._atomic(*self.stores):
            return self._apply(decisions)

    def _apply(self, decisions: Sequence[Decision]) -> Changes:
        changes = Changes()
        now = self.clock.now()
        events: list[MemoryEvent] = []
        pending: dict[str, tuple[MemoryStore, MemoryItem]] = {}
        doomed = _Doomed()  # forgotten, not yet deleted: consecutive forgets delete at once

        def delete() -> None:
            for store, ids in doomed.by_store.values():
                with traced(self.tracer, "store", f"{store.name}.delete", count=len(ids)):
                    store.delete(ids)
            doomed.clear()

        def flush() -> None:
            delete()
            by_store: dict[str, tuple[MemoryStore, list[MemoryItem]]] = {}
            for store, item in pending.values():
                by_store.setdefault(store.name, (store, []))[1].append(item)
            for store, items in by_store.values():
                with traced(self.tracer, "store", f"{store.name}.update", count=len(items)):
                    store.update(items)
            pending.clear()

        for decision in decisions:
            if decision.action is Action.KEEP:
                continue
            if decision.action is Action.MERGE:
                flush()
                self._apply_merge(decision, now, changes, events)
                continue
            if decision.action is Action.FORGET:
                if pending:
                    flush()
                self._apply_forget(decision, now, changes, events, doomed)
                continue
            delete()
            for item_id in decision.item_ids:
                found = pending.get(item_id) or self._locate(item_id)
                if found is None:
                    logger.debug("%s: %s is already gone", decision.policy, item_id)
                    continue
                store, item = found
                try:
                    new = MemoryItem.model_validate({**item.model_dump(), **decision.changes})
                except ValidationError as exc:
                    msg = f"policy {decision.policy!r} made an invalid change: {exc}"
                    raise UserError(msg) from exc
                pending[item_id] = (store, new)
                changes.updated.append(new)
                op = EventOp.DECAY if decision.action is Action.DECAY else EventOp.UPDATE
                before = {key: _plain(getattr(item, key)) for key in decision.changes}
                after = {key: _plain(getattr(new, key)) for key in decision.changes}
                events.append(_event(op, decision, item, now, before=before, after=after))
        flush()
        changes.events = self._log(events)
        return changes

    def _locate_many(self, ids: Sequence[str]) -> dict[str, tuple[MemoryStore, MemoryItem]]:
        """Like :meth:`_locate` for many ids, in one query per store where it can."""
        found: dict[str, tuple[MemoryStore, MemoryItem]] = {}
        for store in self.stores:
            wanted = [item_id for item_id in ids if item_id not in found]
            if not wanted:
                break
            get_many = getattr(store, "get_many", None)
            if get_many is not None:
                here: dict[str, MemoryItem] = get_many(wanted)
            else:
                here = {i: item for i in wanted if (item := store.get(i)) is not None}
            found.update((item_id, (store, item)) for item_id, item in here.items())
        return found

    def _apply_forget(
        self,
        decision: Decision,
        now: datetime,
        changes: Changes,
        events: list[MemoryEvent],
        doomed: _Doomed,
    ) -> None:
        """Mark a decision's memories for deletion, looked up in one query per store."""
        ids = [i for i in dict.fromkeys(decision.item_ids) if i not in doomed.ids]
        found = self._locate_many(ids)
        for item_id in ids:
            if item_id not in found:
                logger.debug("%s: %s is already gone", decision.policy, item_id)
                continue
            store, item = found[item_id]
            doomed.add(store, item_id)
            changes.forgotten.append(item)
            events.append(
                _event(EventOp.FORGET, decision, item, now, before=_snapshot(item), after=None)
            )

    def _apply_merge(
        self, decision: Decision, now: datetime, changes: Changes, events: list[MemoryEvent]
    ) -> None:
        if decision.merged is None:
            msg = f"policy {decision.policy!r} decided a merge without a merged item"
            raise UserError(msg)
        sources = [found for i in decision.item_ids if (found := self._locate(i)) is not None]
        if not sources:
            return
        store = sources[0][0]
        store.add([decision.merged])
        changes.written.append(decision.merged)
        for source_store, item in sources:
            closed = item.model_copy(update={"valid_to": max(now, item.valid_from or now)})
            source_store.update([closed])
            changes.updated.append(closed)
        events.append(
            MemoryEvent(
                op=EventOp.MERGE,
                item_ids=[decision.merged.id, *(item.id for _, item in sources)],
                user_id=decision.merged.scope.user_id,
                at=now,
                reason=decision.reason,
                policy=decision.policy,
                before={
                    "texts": [item.text for _, item in sources],
                    "valid_to": {item.id: _plain(item.valid_to) for _, item in sources},
                },
                after={"text": decision.merged.text},
            )
        )


class _Doomed:
    """Memories forgotten by ``Memory.apply`` and not yet deleted, by store."""

    def __init__(self) -> None:
        self.by_store: dict[str, tuple[MemoryStore, list[str]]] = {}
        self.ids: set[str] = set()

    def add(self, store: MemoryStore, item_id: str) -> None:
        self.by_store.setdefault(store.name, (store, []))[1].append(item_id)
        self.ids.add(item_id)

    def clear(self) -> None:
        self.by_store.clear()
        self.ids.clear()


def _explain(what: str, exc: ValidationError) -> str:
    """The first problem pydantic found, as one readable line."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    text = str(first.get("msg", exc)).removeprefix("Value error, ")
    return f"{what}: {where}: {text}" if where else f"{what}: {text}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _snapshot(item: MemoryItem) -> dict[str, Any]:
    """The whole item as JSON, so that ``Memory.undo`` can restore a forgotten memory."""
    return item.model_dump(mode="json")


def _event(
    op: EventOp,
    decision: Decision,
    item: MemoryItem,
    now: datetime,
    *,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> MemoryEvent:
    # Built without re-validation: every field is already typed (a tick may log 70k).
    return MemoryEvent.model_construct(
        id=None,
        op=op,
        item_ids=[item.id],
        user_id=item.scope.user_id,
        at=as_utc(now),
        reason=decision.reason,
        policy=decision.policy,
        before=before,
        after=after,
    )


def _fuse(per_store: list[list[Hit]], k: int) -> list[Hit]:
    """Reciprocal-rank fusion of several stores' hits."""
    scores = reciprocal_rank([(1.0, [hit.item.id for hit in hits]) for hits in per_store])
    best: dict[str, Hit] = {}
    for hits in per_store:
        for hit in hits:
            best.setdefault(hit.item.id, hit)
    ranked = sorted(scores, key=lambda item_id: -scores[item_id])[:k]
    return [best[i].model_copy(update={"score": scores[i]}) for i in ranked]


def _import_old_audit(path: Path, audit: AuditLog) -> None:
    """Move the events of a folder's old separate audit file into the store's database.

    Earlier versions kept the log in ``audit.sqlite`` beside the store; the events are
    copied once (ids kept) and the old file and its WAL removed.
    """
    if not path.exists():
        return
    old = AuditLog(path)
    try:
        events = old.events()
    finally:
        old.close()
    if audit.events(limit=1):
        logger.warning("%s is left alone: the store's own audit log already has events", path)
        return
    audit.record(events)
    logger.info("moved %d audit events from %s into the store's database", len(events), path)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
