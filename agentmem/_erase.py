"""Erasure on request: ``Memory.forget`` deletes for good and keeps only a hash.

Unlike a policy's forget (archived in the audit log, undoable), an erasure leaves no text
anywhere: the stores delete and purge, and every audit log rewrites the earlier events of
the erased memories (or of the whole user).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from agentmem._audit import AuditLog
from agentmem._capabilities import ErasingStore, PurgingStore
from agentmem._models import EventOp, MemoryEvent
from agentmem._protocols import MemoryStore
from agentmem._tracing import traced

if TYPE_CHECKING:
    from agentmem._memory import Memory

__all__ = ["audit_logs", "erase"]


def erase(memory: Memory, user_id: str, ids: Sequence[str] | None, reason: str) -> int:
    """Erase ``ids`` of ``user_id`` (all of the user's if ``None``); return how many."""
    scope = memory._scope(user_id, None, None)
    now = memory.clock.now()
    removed = 0
    derived = memory.derived
    if derived is not None:
        # What was derived goes first, in its own transaction: a crash in between leaves
        # the sources (erase again; derived memories can be rebuilt), never derived text
        # of an erased memory.
        with memory._atomic(*memory._side_stores()):
            if ids is None:
                derived.erase_user(scope.user_id)
            else:
                found = memory._locate_many(list(dict.fromkeys(ids)))
                derived.drop([i for _, i in found.values() if i.scope.user_id == scope.user_id])
    with memory._atomic(*memory.stores):
        if ids is None:
            for store in memory.stores:
                ids_here = [item.id for item in store.scan(scope=scope)]
                with traced(memory.tracer, "store", f"{store.name}.delete", count=len(ids_here)):
                    removed += store.delete(ids_here)
                erase_user = store.erase_user if isinstance(store, ErasingStore) else None
                if erase_user is not None:  # what the store keeps beside items (facts...)
                    erase_user(scope.user_id)
            for log in audit_logs(memory):
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
            found = memory._locate_many(list(dict.fromkeys(ids)))
            owned = {i: hit for i, hit in found.items() if hit[1].scope.user_id == scope.user_id}
            by_store: dict[str, tuple[MemoryStore, list[str]]] = {}
            for item_id, (store, _) in owned.items():
                by_store.setdefault(store.name, (store, []))[1].append(item_id)
            for store, ids_here in by_store.values():
                with traced(memory.tracer, "store", f"{store.name}.delete", count=len(ids_here)):
                    removed += store.delete(ids_here)
            for log in audit_logs(memory):
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
        memory._log([event])
    for store in memory.stores:
        purge = store.purge if isinstance(store, PurgingStore) else None
        if purge is not None:
            with traced(memory.tracer, "store", f"{store.name}.purge"):
                purge()
    if derived is not None:
        with traced(memory.tracer, "store", "derived.purge"):
            derived.purge()
    return removed


def audit_logs(memory: Memory) -> list[AuditLog]:
    """This memory's audit log and any other a store writes its own events to."""
    logs = [memory.audit]
    for store in memory.stores:
        own = getattr(store, "audit", None)
        if own is not None and all(own is not log for log in logs):
            logs.append(own)
    return logs


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
