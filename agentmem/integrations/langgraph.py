"""LangGraph integration: agentmem as a LangGraph ``BaseStore``, so LangMem's tools work on it.

Needs ``langgraph`` (``pip install 'agentmem[langgraph]'``). :class:`AgentMemStore` keeps
every LangGraph item as an agentmem memory: namespaces map onto agentmem scopes (by
default the namespace's last label is the user id, as in ``("memories", user_id)``), the
item's text is recalled through agentmem's hybrid search, and policies and the audit log
work underneath as for any memory.

Each memory carries the LangGraph side in its metadata: ``langgraph_namespace`` (the
labels joined by ``.``, which LangGraph forbids inside a label), ``langgraph_key``, the
whole value under ``langgraph_value``, its LangGraph timestamps and, for items with a
TTL, ``langgraph_expires_at``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from langgraph.store.base import (
    BaseStore,
    GetOp,
    InvalidNamespaceError,
    Item,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
    get_text_at_path,
    validate_op_namespace,
)

from agentmem._async_memory import memory_lock
from agentmem._clock import as_utc
from agentmem._errors import InvalidInputError, NotKeptError, UserError
from agentmem._memory import Memory
from agentmem._models import Filters, Kind, MemoryItem, Scope
from agentmem._protocols import Action, Decision, PolicyContext
from agentmem.policies.base import BasePolicy

__all__ = [
    "AgentMemStore",
    "LangGraphTTLPolicy",
    "default_namespace_to_scope",
]

NAMESPACE = "langgraph_namespace"
KEY = "langgraph_key"
VALUE = "langgraph_value"
CREATED = "langgraph_created_at"
UPDATED = "langgraph_updated_at"
EXPIRES = "langgraph_expires_at"
TTL = "langgraph_ttl_minutes"

NamespaceToScope = Callable[[tuple[str, ...]], Scope]


def default_namespace_to_scope(namespace: tuple[str, ...]) -> Scope:
    """The namespace's last label is the user id: ``("memories", "alice")`` is alice's."""
    return Scope(user_id=namespace[-1])


def _ns_text(namespace: tuple[str, ...]) -> str:
    return ".".join(namespace)


def _ns_of(item: MemoryItem) -> tuple[str, ...] | None:
    text = item.metadata.get(NAMESPACE)
    return tuple(text.split(".")) if isinstance(text, str) and text else None


def _expires_at(item: MemoryItem) -> datetime | None:
    raw = item.metadata.get(EXPIRES)
    return as_utc(datetime.fromisoformat(raw)) if isinstance(raw, str) else None


class LangGraphTTLPolicy(BasePolicy):
    """Forget LangGraph items whose TTL has run out (``langgraph_expires_at`` in the past).

    :class:`AgentMemStore` installs one in its memory's policies when TTLs are used, so
    ``memory.tick()`` (or :meth:`AgentMemStore.sweep_ttl`) deletes expired items, each
    forget logged with its reason. Reads skip expired items before any sweep.
    """

    name = "langgraph_ttl"

    def on_tick(self, ctx: PolicyContext) -> list[Decision]:
        """Forget every LangGraph item that expired at or before now."""
        now = ctx.now
        expired = [
            item.id
            for item in ctx.scan()
            if (when := _expires_at(item)) is not None and when <= now
        ]
        if not expired:
            return []
        reason = f"TTL: the LangGraph item expired before {now:%Y-%m-%d %H:%M}"
        return [Decision(action=Action.FORGET, item_ids=expired, reason=reason, policy=self.name)]


class AgentMemStore(BaseStore):
    """A LangGraph ``BaseStore`` over an agentmem :class:`~agentmem.Memory`.

    Use it wherever LangGraph takes a store (``graph.compile(store=...)``,
    ``create_react_agent(..., store=...)``, LangMem's memory tools).

    Args:
        memory: where items live; its policies and audit log see every change.
        namespace_to_scope: maps a namespace to the agentmem scope that owns it (default:
            the last label is the user id). A search of a namespace runs inside that
            scope only, so one user's namespace never returns another user's memories.
        text_field: the value field whose text is embedded and searched; by default
            ``content`` (what LangMem writes), else ``text``, else the whole value as JSON.
            A put's ``index=[...]`` fields take precedence.
        kind: the kind of memory items are stored as.
        ttl: LangGraph's TTL settings (``default_ttl`` in minutes, ``refresh_on_read``).
        max_workers: threads that run ``abatch`` off the event loop.
    """

    supports_ttl = True

    def __init__(
        self,
        memory: Memory,
        *,
        namespace_to_scope: NamespaceToScope = default_namespace_to_scope,
        text_field: str | None = None,
        kind: Kind | str = Kind.FACT,
        ttl: TTLConfig | None = None,
        max_workers: int = 4,
    ) -> None:
        self.memory = memory
        self.namespace_to_scope = namespace_to_scope
        self.text_field = text_field
        self.kind = Kind(kind)
        self.ttl_config = ttl
        self._max_workers = max_workers
        self._executor: ThreadPoolExecutor | None = None
        self._lock = memory_lock(memory)  # shared with AsyncMemory over the same memory
        self._known: set[tuple[str, ...]] | None = None
        if ttl is not None:
            self._install_ttl_policy()

    # -- the BaseStore contract ----------------------------------------------------------
    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run get, search, put and list-namespaces operations in order."""
        results: list[Result] = []
        with self._lock:
            for op in ops:
                validate_op_namespace(op)
                if isinstance(op, GetOp):
                    results.append(self._get(op))
                elif isinstance(op, SearchOp):
                    results.append(self._search(op))
                elif isinstance(op, PutOp):
                    self._put(op)
                    results.append(None)
                elif isinstance(op, ListNamespacesOp):
                    results.append(self._list_namespaces(op))
                else:
                    msg = f"unknown LangGraph store operation: {type(op).__name__}"
                    raise InvalidInputError(msg)
        return results

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Like :meth:`batch`, in a worker thread so the event loop never waits on SQLite."""
        listed = list(ops)
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                self._max_workers, thread_name_prefix="agentmem-langgraph"
            )
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.batch, listed)

    def sweep_ttl(self) -> int:
        """Delete every expired item now; returns how many were deleted."""
        policy = self._install_ttl_policy()
        changes = self.memory.apply(policy.on_tick(self.memory.context))
        return len(changes.forgotten)

    def close(self) -> None:
        """Stop the worker threads (the memory stays open; close it yourself)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    # -- helpers -------------------------------------------------------------------------
    def _install_ttl_policy(self) -> LangGraphTTLPolicy:
        for policy in self.memory.policies:
            if isinstance(policy, LangGraphTTLPolicy):
                return policy
        policy = LangGraphTTLPolicy()
        self.memory.policies.append(policy)
        return policy

    def _scope(self, namespace: tuple[str, ...]) -> Scope:
        if not namespace:
            msg = "a LangGraph namespace cannot be empty, e.g. ('memories', user_id)"
            raise InvalidNamespaceError(msg)
        scope = self.namespace_to_scope(namespace)
        if not isinstance(scope, Scope):
            msg = f"namespace_to_scope must return an agentmem Scope, got {scope!r}"
            raise UserError(msg)
        return scope

    def _text(self, value: Mapping[str, Any], index: Sequence[str] | None) -> str:
        if index:
            parts = [text for path in index for text in get_text_at_path(dict(value), path)]
            if parts:
                return "\n".join(parts)
        fields = [self.text_field] if self.text_field else ["content", "text"]
        for field in fields:
            found = value.get(field)
            if isinstance(found, str) and found.strip():
                return found
            if found is not None and not isinstance(found, str):
                return json.dumps(found, sort_keys=True, ensure_ascii=False, default=str)
        if self.text_field:
            msg = f"the value has no {self.text_field!r} field to store as text: {dict(value)}"
            raise InvalidInputError(msg)
        return json.dumps(dict(value), sort_keys=True, ensure_ascii=False, default=str)

    def _find(self, namespace: tuple[str, ...], key: str) -> MemoryItem | None:
        scope = self._scope(namespace)
        found = self.memory.items(
            user_id=scope.user_id,
            filters={"metadata": {NAMESPACE: _ns_text(namespace), KEY: key}},
        )
        found = [item for item in found if scope.contains(item.scope)]
        return found[-1] if found else None

    def _expired(self, item: MemoryItem, now: datetime) -> bool:
        when = _expires_at(item)
        return when is not None and when <= now

    def _refresh(self, items: Sequence[MemoryItem], now: datetime) -> None:
        for item in items:
            minutes = item.metadata.get(TTL)
            if not isinstance(minutes, int | float):
                continue
            metadata = {**item.metadata, EXPIRES: (now + timedelta(minutes=minutes)).isoformat()}
            self.memory.update(item.id, metadata=metadata, reason="TTL refreshed on read")

    def _known_namespaces(self) -> set[tuple[str, ...]]:
        if self._known is None:
            self._known = self._scan_namespaces()
        return self._known

    def _scan_namespaces(self) -> set[tuple[str, ...]]:
        now = self.memory.clock.now()
        return {
            namespace
            for item in self.memory.items()
            if (namespace := _ns_of(item)) is not None and not self._expired(item, now)
        }

    # -- operations ----------------------------------------------------------------------
    def _get(self, op: GetOp) -> Item | None:
        item = self._find(op.namespace, op.key)
        now = self.memory.clock.now()
        if item is None or self._expired(item, now):
            return None
        if op.refresh_ttl:
            self._refresh([item], now)
        return _to_item(item, op.namespace)

    def _put(self, op: PutOp) -> None:
        existing = self._find(op.namespace, op.key)
        scope = self._scope(op.namespace)
        if op.value is None:
            if existing is not None:
                self.memory.forget(
                    user_id=scope.user_id, ids=[existing.id], reason="deleted through LangGraph"
                )
            return
        now = self.memory.clock.now()
        index = None if op.index is False else op.index
        text = self._text(op.value, index)
        metadata: dict[str, Any] = {
            NAMESPACE: _ns_text(op.namespace),
            KEY: op.key,
            VALUE: dict(op.value),
            CREATED: now.isoformat() if existing is None else existing.metadata.get(CREATED),
            UPDATED: now.isoformat(),
        }
        if op.ttl is not None:
            self._install_ttl_policy()
            metadata[TTL] = op.ttl
            metadata[EXPIRES] = (now + timedelta(minutes=op.ttl)).isoformat()
        if existing is not None and not self._expired(existing, now):
            self.memory.update(
                existing.id, text=text, metadata=metadata, reason="updated through LangGraph"
            )
        else:
            if existing is not None:  # expired but not yet swept: replace it
                self.memory.forget(
                    user_id=scope.user_id, ids=[existing.id], reason="expired; replaced"
                )
            with contextlib.suppress(NotKeptError):  # a policy may evict it at once
                self.memory.add(
                    text,
                    user_id=scope.user_id,
                    agent_id=scope.agent_id,
                    session_id=scope.session_id,
                    kind=self.kind,
                    metadata=metadata,
                )
        self._known_namespaces().add(tuple(op.namespace))

    def _candidates(self, prefix: tuple[str, ...]) -> dict[Scope, set[tuple[str, ...]]]:
        """The namespaces under ``prefix`` grouped by the scope that owns them."""
        namespaces = {ns for ns in self._known_namespaces() if ns[: len(prefix)] == prefix}
        if prefix:
            namespaces.add(prefix)  # always searched: another process may have written it
        grouped: dict[Scope, set[tuple[str, ...]]] = {}
        for namespace in namespaces:
            grouped.setdefault(self._scope(namespace), set()).add(namespace)
        return grouped

    def _search(self, op: SearchOp) -> list[SearchItem]:
        if op.limit <= 0 or op.offset < 0:
            if op.offset < 0:
                msg = f"offset must be >= 0, got {op.offset}"
                raise InvalidInputError(msg)
            return []
        now = self.memory.clock.now()
        need = op.offset + op.limit
        found: list[tuple[float, MemoryItem]] = []
        for scope, namespaces in self._candidates(tuple(op.namespace_prefix)).items():
            found += self._search_scope(op, scope, namespaces, need, now)
        if op.query:
            found.sort(key=lambda pair: -pair[0])
        else:
            found.sort(key=lambda pair: str(pair[1].metadata.get(UPDATED)), reverse=True)
        chosen = found[op.offset : need]
        if op.refresh_ttl:
            self._refresh([item for _, item in chosen], now)
        return [
            _to_search_item(item, score if op.query else None)
            for score, item in chosen
            if _ns_of(item) is not None
        ]

    def _search_scope(
        self,
        op: SearchOp,
        scope: Scope,
        namespaces: set[tuple[str, ...]],
        need: int,
        now: datetime,
    ) -> list[tuple[float, MemoryItem]]:
        single = len(namespaces) == 1
        filters = (
            Filters(metadata={NAMESPACE: _ns_text(next(iter(namespaces)))}) if single else None
        )
        wanted = {_ns_text(ns) for ns in namespaces}

        def keep(item: MemoryItem) -> bool:
            return (
                scope.contains(item.scope)
                and item.metadata.get(NAMESPACE) in wanted
                and not self._expired(item, now)
                and _matches(item.metadata.get(VALUE) or {}, op.filter)
            )

        if not op.query:
            items = self.memory.items(user_id=scope.user_id, filters=filters)
            return [(0.0, item) for item in items if keep(item)]
        k = max(need * 2, 10)
        while True:
            hits = self.memory.search(
                op.query,
                user_id=scope.user_id,
                agent_id=scope.agent_id,
                session_id=scope.session_id,
                k=k,
                filters=filters,
                record_access=single and not op.filter,
            )
            kept = [(hit.score, hit.item) for hit in hits if keep(hit.item)]
            if len(kept) >= need or len(hits) < k:
                return kept
            k *= 4

    def _list_namespaces(self, op: ListNamespacesOp) -> list[tuple[str, ...]]:
        namespaces = self._scan_namespaces()
        self._known = set(namespaces)
        conditions: Sequence[MatchCondition] = op.match_conditions or ()
        matched = [ns for ns in namespaces if all(_match(c, ns) for c in conditions)]
        if op.max_depth is not None:
            matched = [ns[: op.max_depth] for ns in matched]
        ordered = sorted(set(matched))
        return ordered[op.offset : op.offset + op.limit]


def _match(condition: MatchCondition, namespace: tuple[str, ...]) -> bool:
    path = tuple(condition.path)
    if len(namespace) < len(path):
        return False
    if condition.match_type == "prefix":
        pairs = zip(namespace, path, strict=False)
    elif condition.match_type == "suffix":
        pairs = zip(reversed(namespace), reversed(path), strict=False)
    else:
        msg = f"match_type must be 'prefix' or 'suffix', got {condition.match_type!r}"
        raise InvalidInputError(msg)
    return all(want == "*" or have == want for have, want in pairs)


def _matches(value: Mapping[str, Any], conditions: Mapping[str, Any] | None) -> bool:
    """LangGraph's filter: exact values, nested dicts, or ``$eq``/``$ne``/``$gt``/... ops."""
    return all(_compare(value.get(key), want) for key, want in (conditions or {}).items())


_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "$eq": lambda have, want: bool(have == want),
    "$ne": lambda have, want: bool(have != want),
    "$gt": lambda have, want: float(have) > float(want),
    "$gte": lambda have, want: float(have) >= float(want),
    "$lt": lambda have, want: float(have) < float(want),
    "$lte": lambda have, want: float(have) <= float(want),
}


def _compare(have: Any, want: Any) -> bool:
    if isinstance(want, Mapping):
        if any(str(key).startswith("$") for key in want):
            for op, operand in want.items():
                if op not in _OPERATORS:
                    msg = f"unsupported filter operator {op!r}; use one of {sorted(_OPERATORS)}"
                    raise InvalidInputError(msg)
                if op not in ("$eq", "$ne") and have is None:
                    return False
                try:
                    if not _OPERATORS[op](have, operand):
                        return False
                except (TypeError, ValueError):
                    return False
            return True
        return isinstance(have, Mapping) and _matches(have, want)
    return bool(have == want)


def _times(item: MemoryItem) -> tuple[datetime, datetime]:
    created = item.metadata.get(CREATED)
    updated = item.metadata.get(UPDATED)
    first = datetime.fromisoformat(created) if isinstance(created, str) else item.recorded_at
    last = datetime.fromisoformat(updated) if isinstance(updated, str) else item.recorded_at
    return first, last


def _to_item(item: MemoryItem, namespace: tuple[str, ...]) -> Item:
    created, updated = _times(item)
    return Item(
        value=dict(item.metadata.get(VALUE) or {"content": item.text}),
        key=str(item.metadata.get(KEY)),
        namespace=namespace,
        created_at=created,
        updated_at=updated,
    )


def _to_search_item(item: MemoryItem, score: float | None) -> SearchItem:
    created, updated = _times(item)
    namespace = _ns_of(item)
    assert namespace is not None
    return SearchItem(
        namespace=namespace,
        key=str(item.metadata.get(KEY)),
        value=dict(item.metadata.get(VALUE) or {"content": item.text}),
        created_at=created,
        updated_at=updated,
        score=score,
    )
