"""A third-party store in one file: memories in a JSON file, found by shared words.

It shows what a store must do to plug into agentmem: the eight methods of
``agentmem.MemoryStore`` and the behaviour the shipped contract suite checks
(``test_tinystore.py`` beside this file runs it). Not for production: every write
rewrites the whole file.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

from agentmem import ClosedError, Filters, Hit, MemoryItem, NotFoundError, Scope

_WORD = re.compile(r"\w+")


class TinyStore:
    """Memories in ``folder/items.json``; search scores the share of query words a memory has."""

    def __init__(self, folder: str | os.PathLike[str], *, name: str = "tiny") -> None:
        self.name = name
        self._file = Path(folder) / "items.json"
        self._file.parent.mkdir(parents=True, exist_ok=True)
        self._items: dict[str, MemoryItem] | None = {}
        if self._file.exists():
            rows = json.loads(self._file.read_text())
            self._items = {row["id"]: MemoryItem.model_validate(row) for row in rows}

    def _open(self) -> dict[str, MemoryItem]:
        if self._items is None:
            raise ClosedError(f"store {self.name!r} is closed")
        return self._items

    def _save(self, items: dict[str, MemoryItem]) -> None:
        tmp = self._file.with_suffix(".tmp")
        tmp.write_text(json.dumps([i.model_dump(mode="json") for i in items.values()]))
        os.replace(tmp, self._file)  # all or nothing
        self._items = items

    def add(self, items: Sequence[MemoryItem]) -> None:
        """Store new items, all or none; a known id is an error."""
        current = self._open()
        if any(item.id in current for item in items) or len({i.id for i in items}) < len(items):
            raise ValueError("an item with this id is already stored")
        if items:
            self._save({**current, **{item.id: item for item in items}})

    def get(self, item_id: str) -> MemoryItem | None:
        """The item with this id, or None."""
        return self._open().get(item_id)

    def update(self, items: Sequence[MemoryItem]) -> None:
        """Replace stored items by id, all or none."""
        current = self._open()
        for item in items:
            if item.id not in current:
                raise NotFoundError(f"no memory with id {item.id!r} in store {self.name!r}")
        self._save({**current, **{item.id: item for item in items}})

    def delete(self, ids: Sequence[str]) -> int:
        """Delete items for good; return how many existed."""
        current = self._open()
        kept = {i: item for i, item in current.items() if i not in set(ids)}
        self._save(kept)
        return len(current) - len(kept)

    def scan(
        self,
        *,
        scope: Scope | None = None,
        filters: Filters | None = None,
        include_closed: bool = True,
    ) -> Iterator[MemoryItem]:
        """Stored items, oldest first."""
        found = [
            item
            for item in self._open().values()
            if (scope is None or _in_scope(item, scope))
            and (filters is None or filters.matches(item))
            and (include_closed or item.valid_to is None)
        ]
        return iter(sorted(found, key=lambda i: (i.created_at, i.id)))

    def count(self, *, scope: Scope | None = None) -> int:
        """How many items are stored (in ``scope``)."""
        return sum(1 for _ in self.scan(scope=scope))

    def search(
        self,
        query: str,
        *,
        scope: Scope,
        k: int = 10,
        filters: Filters | None = None,
        as_of: datetime | None = None,
    ) -> list[Hit]:
        """The ``k`` valid items in ``scope`` that share the most query words."""
        words = set(_WORD.findall(query.lower()))
        scored = []
        for item in self.scan(scope=scope, filters=filters):
            if not _valid(item, as_of):
                continue
            shared = words & set(_WORD.findall(item.text.lower()))
            scored.append((len(shared) / max(len(words), 1), item))
        scored.sort(key=lambda pair: (-pair[0], pair[1].created_at, pair[1].id))
        return [Hit(item=item, score=score, store=self.name) for score, item in scored[:k]]

    def close(self) -> None:
        """Forget the in-memory copy; further calls raise ClosedError."""
        self._items = None


def _in_scope(item: MemoryItem, scope: Scope) -> bool:
    return (
        item.scope.user_id == scope.user_id
        and scope.agent_id in (None, item.scope.agent_id)
        and scope.session_id in (None, item.scope.session_id)
    )


def _valid(item: MemoryItem, as_of: datetime | None) -> bool:
    if as_of is None:
        return item.valid_to is None
    start = item.valid_from or item.created_at
    return start <= as_of and (item.valid_to is None or as_of < item.valid_to)
