"""Copying a memory to another backend: memories, embeddings, facts and audit history.

``copy_memory(source, target)`` moves what one :class:`~agentmem.Memory` holds into
another (typically a folder into PostgreSQL). It is resumable: memories are copied in
batches, each committed on its own, and a memory whose id the target already holds is
skipped, so running it again after an interruption picks up where it stopped. Audit
events keep their ids and are skipped the same way. The target's derived memories (see
``DerivedMemories``) are drawn again from the memories it receives. Structured facts: fact memories
bring theirs (the target draws them again as it stores them); facts set directly in a
store's fact table are copied with their times, skipped when already there. Stored
embeddings are copied when both sides embed the same text with the same model;
otherwise the target embeds. At the end every memory of the source is looked up in the
target (the count check).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel

from agentmem._capabilities import FactStore
from agentmem._errors import StoreError, UserError
from agentmem._memory import Memory
from agentmem._models import MemoryItem, Scope
from agentmem._protocols import MemoryStore

__all__ = ["CopyReport", "copy_memory"]

logger = logging.getLogger(__name__)

_BARE = "speaker=none,date=none,prev=none"


class CopyReport(BaseModel):
    """What :func:`copy_memory` did, and the count check at the end."""

    memories_in_source: int
    memories_copied: int
    memories_already_there: int
    memories_missing: int
    events_in_source: int
    events_copied: int
    events_missing: int
    embeddings_copied: int
    facts_copied: int = 0

    @property
    def complete(self) -> bool:
        """Whether every memory and event of the source is in the target."""
        return self.memories_missing == 0 and self.events_missing == 0


def copy_memory(
    source: Memory, target: Memory, *, batch: int = 500, progress: bool = False
) -> CopyReport:
    """Copy every memory, its embedding, facts and the audit history of ``source`` into ``target``.

    Args:
        source: the memory to read (left unchanged).
        target: the memory to write; its first store must take copies (PostgreSQL).
        batch: memories per committed batch.
        progress: show a progress bar.

    Raises:
        StoreError: if the count check finds memories or events missing afterwards.
    """
    if batch <= 0:
        msg = f"batch must be positive, got {batch}"
        raise UserError(msg)
    store = target.stores[0]
    # The memories are copied, not written anew: no add events (the source's events are
    # imported below, ids kept) and no policies. The target store needs a copy step of
    # its own, which also takes the source's embeddings (PostgresStore has one).
    copy_in = getattr(store, "_copy_in", None)
    if copy_in is None:
        msg = f"the target store {store.name!r} cannot take a copy (copy into PostgreSQL)"
        raise UserError(msg)
    from tqdm import tqdm

    total = sum(s.count() for s in source.stores)
    copied = present = reused = 0
    with tqdm(total=total, desc="copying memories", unit="memory", disable=not progress) as bar:
        for from_store in source.stores:
            reuse = _same_embedding(from_store, store)
            stored: dict[str, dict[str, NDArray[np.float32]]] = {}
            for chunk in _batches(from_store.scan(), batch):
                have = _existing(store, [item.id for item in chunk])
                todo = [item for item in chunk if item.id not in have]
                present += len(chunk) - len(todo)
                if todo:
                    vectors = _embeddings(from_store, todo, stored) if reuse else {}
                    reused += len(vectors)
                    copy_in(todo, batch=len(todo), embeddings=vectors)
                    if target.derived is not None:  # derived memories are drawn again
                        target.derived.add(target.derived.derive(todo))
                    copied += len(todo)
                bar.update(len(chunk))
    events = source.audit.events()
    imported = _import_events(target, events)
    facts = _copy_facts(source, store)
    missing = 0
    for from_store in source.stores:
        for chunk in _batches(from_store.scan(), 2000):
            have = _existing(store, [item.id for item in chunk])
            missing += sum(1 for item in chunk if item.id not in have)
    there = {event.id for event in target.audit.events()}
    found = sum(1 for event in events if event.id in there)
    report = CopyReport(
        memories_in_source=total,
        memories_copied=copied,
        memories_already_there=present,
        memories_missing=missing,
        events_in_source=len(events),
        events_copied=imported,
        events_missing=len(events) - found,
        embeddings_copied=reused,
        facts_copied=facts,
    )
    if not report.complete:
        msg = (
            f"the copy is incomplete: {report.memories_missing} of {total} memories and "
            f"{report.events_missing} of {len(events)} events are missing in the target; "
            "run it again to resume"
        )
        raise StoreError(msg)
    return report


def _batches(items: Iterator[MemoryItem], size: int) -> Iterator[list[MemoryItem]]:
    chunk: list[MemoryItem] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _existing(store: MemoryStore, ids: Sequence[str]) -> set[str]:
    get_many = getattr(store, "get_many", None)
    if get_many is not None:
        return set(get_many(list(ids)))
    return {i for i in ids if store.get(i) is not None}


def _context_key(store: Any) -> str:
    context = getattr(store, "context", None)
    return _BARE if context is None else str(context.key)


def _same_embedding(source: MemoryStore, target: MemoryStore) -> bool:
    """Whether ``source`` stores the very vectors ``target`` would compute."""
    a, b = getattr(source, "embedder", None), getattr(target, "embedder", None)
    if a is None or b is None or a.name != b.name or a.dim != b.dim:
        return False
    if getattr(source, "columns", None) is None:
        return False
    return _context_key(source) == _context_key(target)


def _embeddings(
    store: Any, items: Sequence[MemoryItem], stored: dict[str, dict[str, NDArray[np.float32]]]
) -> dict[str, NDArray[np.float32]]:
    """The stored embeddings of ``items`` in ``store``, by id (read once per user)."""
    out: dict[str, NDArray[np.float32]] = {}
    for item in items:
        user = item.scope.user_id
        if user not in stored:
            columns = store.columns(
                scope=Scope(user_id=user), include_closed=True, extra=("embedding",)
            )
            stored[user] = {
                str(i): np.frombuffer(bytes(blob), dtype=np.float32)
                for i, blob in zip(columns["id"], columns["embedding"], strict=True)
                if blob is not None
            }
        vector = stored[user].get(item.id)
        if vector is not None:
            out[item.id] = vector
    return out


def _copy_facts(source: Memory, target: MemoryStore) -> int:
    """Copy the structured facts set directly in the source's stores; return how many.

    Facts drawn from fact memories need no copy: the target draws them again as it
    stores those memories. A target without a fact table takes none (and a source that
    has some is an error, not a silent loss).
    """
    tables: list[FactStore] = [s for s in source.stores if isinstance(s, FactStore)]
    users = sorted({user for s in tables for user in s.facts("default").users()})
    wanted = {user: [r for s in tables for r in s.facts(user).set_directly()] for user in users}
    if not any(wanted.values()):
        return 0
    if not isinstance(target, FactStore):
        msg = f"the target store {target.name!r} has no fact table for the source's facts"
        raise UserError(msg)
    return sum(target.facts(user).restore(records) for user, records in wanted.items())


def _import_events(target: Memory, events: Sequence[Any]) -> int:
    importer = getattr(target.audit, "import_events", None)
    if importer is None:
        msg = "the target's audit log cannot import events with their ids"
        raise UserError(msg)
    done = 0
    for start in range(0, len(events), 1000):
        done += int(importer(events[start : start + 1000]))
    return done
