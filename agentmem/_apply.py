"""Applying and undoing decisions: how ``Memory.apply`` and ``Memory.undo`` change memory.

Functions over a :class:`~agentmem.Memory` (its stores, audit log and clock), kept out
of ``_memory.py`` so that module holds the API and this one the bookkeeping: batching
consecutive updates and forgets per store, merges, the audit events of each change, and
reading an event back to reverse it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from agentmem._capabilities import BatchGetStore
from agentmem._changes import Changes
from agentmem._clock import as_utc
from agentmem._errors import NotFoundError, UserError
from agentmem._models import EventOp, MemoryEvent, MemoryItem
from agentmem._protocols import Action, Decision, MemoryStore
from agentmem._tracing import traced

if TYPE_CHECKING:
    from agentmem._memory import Memory

__all__ = ["apply_decisions", "locate_many", "snapshot", "undo"]

logger = logging.getLogger(__name__)


def undo(memory: Memory, event_id: int) -> Changes:
    """Reverse one applied change, read back from the audit log; the undo is logged too.

    An add is forgotten, a forgotten memory is restored in full, an update or decay gets
    its old values back, and a merge is taken apart (the merged memory goes, its sources
    reopen). Recalls and whole-user erasures cannot be undone.
    """
    memory._check_open()
    event = memory.audit.get(event_id)
    if event is None:
        msg = f"no audit event with id {event_id}; list them with Memory.events()"
        raise NotFoundError(msg)
    reason = f"undo of event {event_id} ({event.op.value}: {event.reason})"
    if event.op is EventOp.ADD:
        decision = Decision(
            action=Action.FORGET, item_ids=event.item_ids, reason=reason, policy="undo"
        )
        return memory.apply([decision])
    if event.op is EventOp.FORGET and event.policy == "user":
        msg = (
            f"event {event_id} erased memories on request; an erasure cannot be undone "
            "(nothing of them was kept)"
        )
        raise UserError(msg)
    if event.op is EventOp.FORGET and event.before is not None and event.item_ids:
        return restore(memory, MemoryItem.model_validate(event.before), reason)
    if event.op in (EventOp.UPDATE, EventOp.DECAY) and event.before is not None:
        decision = Decision(
            action=Action.UPDATE,
            item_ids=event.item_ids,
            reason=reason,
            policy="undo",
            changes=dict(event.before),
        )
        return memory.apply([decision])
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
        return memory.apply(decisions)
    msg = (
        f"event {event_id} ({event.op.value}) cannot be undone: only adds, updates, "
        "decays, merges and forgets of single memories can"
    )
    raise UserError(msg)


def restore(memory: Memory, item: MemoryItem, reason: str) -> Changes:
    """Add back a forgotten memory exactly as it was (the undo of a forget)."""
    if memory._locate(item.id) is not None:
        msg = f"memory {item.id} exists again; there is nothing to restore"
        raise UserError(msg)
    store = memory.stores[0]
    event = MemoryEvent(
        op=EventOp.ADD,
        item_ids=[item.id],
        user_id=item.scope.user_id,
        at=memory.clock.now(),
        reason=reason,
        policy="undo",
        after=snapshot(item),
    )
    derived = memory._derive([item])  # what was derived from it, derived again
    with memory._atomic(store, *memory._side_stores()):
        store.add([item])
        if memory.derived is not None and derived:
            memory.derived.add(derived)
        return Changes(written=[item], events=memory._log([event]))


def apply_decisions(memory: Memory, decisions: Sequence[Decision]) -> Changes:
    """Carry out ``decisions``; the caller holds the stores' transactions (``Memory.apply``)."""
    changes = Changes()
    now = memory.clock.now()
    events: list[MemoryEvent] = []
    pending: dict[str, tuple[MemoryStore, MemoryItem]] = {}
    doomed = _Doomed()  # forgotten, not yet deleted: consecutive forgets delete at once
    retexted: list[MemoryItem] = []  # whose text changed: derived memories made again

    def delete() -> None:
        for store, ids in doomed.by_store.values():
            with traced(memory.tracer, "store", f"{store.name}.delete", count=len(ids)):
                store.delete(ids)
        doomed.clear()

    def flush() -> None:
        delete()
        by_store: dict[str, tuple[MemoryStore, list[MemoryItem]]] = {}
        for store, item in pending.values():
            by_store.setdefault(store.name, (store, []))[1].append(item)
        for store, items in by_store.values():
            with traced(memory.tracer, "store", f"{store.name}.update", count=len(items)):
                store.update(items)
        pending.clear()

    for decision in decisions:
        if decision.action is Action.KEEP:
            continue
        if decision.action is Action.MERGE:
            flush()
            apply_merge(memory, decision, now, changes, events)
            continue
        if decision.action is Action.FORGET:
            if pending:
                flush()
            apply_forget(memory, decision, now, changes, events, doomed)
            continue
        delete()
        for item_id in decision.item_ids:
            found = pending.get(item_id) or memory._locate(item_id)
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
            if new.text != item.text:
                retexted.append(new)
            op = EventOp.DECAY if decision.action is Action.DECAY else EventOp.UPDATE
            before = {key: plain(getattr(item, key)) for key in decision.changes}
            after = {key: plain(getattr(new, key)) for key in decision.changes}
            events.append(make_event(op, decision, item, now, before=before, after=after))
    flush()
    if memory.derived is not None and (changes.forgotten or retexted):
        # What was derived from a forgotten memory goes with it (an undo derives it
        # again); a memory whose text changed has its derived memories made anew.
        gone = [*changes.forgotten, *retexted]
        with traced(memory.tracer, "store", "derived.delete", count=len(gone)):
            memory.derived.drop(gone)
        forgotten = {item.id for item in changes.forgotten}
        latest = {item.id: item for item in retexted if item.id not in forgotten}
        memory.derived.add(memory._derive(list(latest.values())))
    changes.events = memory._log(events)
    return changes


def locate_many(memory: Memory, ids: Sequence[str]) -> dict[str, tuple[MemoryStore, MemoryItem]]:
    """Like :meth:`_locate` for many ids, in one query per store where it can."""
    found: dict[str, tuple[MemoryStore, MemoryItem]] = {}
    for store in memory.stores:
        wanted = [item_id for item_id in ids if item_id not in found]
        if not wanted:
            break
        get_many = store.get_many if isinstance(store, BatchGetStore) else None
        if get_many is not None:
            here: dict[str, MemoryItem] = get_many(wanted)
        else:
            here = {i: item for i in wanted if (item := store.get(i)) is not None}
        found.update((item_id, (store, item)) for item_id, item in here.items())
    return found


def apply_forget(
    memory: Memory,
    decision: Decision,
    now: datetime,
    changes: Changes,
    events: list[MemoryEvent],
    doomed: _Doomed,
) -> None:
    """Mark a decision's memories for deletion, looked up in one query per store."""
    ids = [i for i in dict.fromkeys(decision.item_ids) if i not in doomed.ids]
    found = locate_many(memory, ids)
    for item_id in ids:
        if item_id not in found:
            logger.debug("%s: %s is already gone", decision.policy, item_id)
            continue
        store, item = found[item_id]
        doomed.add(store, item_id)
        changes.forgotten.append(item)
        if decision.kept is not None:
            changes.replaced_by[item_id] = decision.kept
        events.append(
            make_event(EventOp.FORGET, decision, item, now, before=snapshot(item), after=None)
        )


def apply_merge(
    memory: Memory, decision: Decision, now: datetime, changes: Changes, events: list[MemoryEvent]
) -> None:
    if decision.merged is None:
        msg = f"policy {decision.policy!r} decided a merge without a merged item"
        raise UserError(msg)
    sources = [found for i in decision.item_ids if (found := memory._locate(i)) is not None]
    if not sources:
        return
    store = sources[0][0]
    store.add([decision.merged])
    changes.written.append(decision.merged)
    for _, item in sources:
        changes.replaced_by[item.id] = decision.merged.id
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
                "valid_to": {item.id: plain(item.valid_to) for _, item in sources},
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


def plain(value: Any) -> Any:
    """A value as JSON keeps it (datetimes as ISO text)."""
    return value.isoformat() if isinstance(value, datetime) else value


def snapshot(item: MemoryItem) -> dict[str, Any]:
    """The whole item as JSON, so that ``Memory.undo`` can restore a forgotten memory."""
    return item.model_dump(mode="json")


def make_event(
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
