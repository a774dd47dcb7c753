"""Small SQLite helpers shared by core and stores: ``IN (...)`` lists in bounded chunks.

SQLite limits how many parameters one statement may bind; every ``WHERE x IN (...)`` over
a caller's list goes through :func:`chunks` so that limit is respected in one place.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

__all__ = ["CHUNK", "chunks", "marks"]

T = TypeVar("T")

CHUNK = 500
"""How many values one ``IN (...)`` list binds at the most."""


def marks(n: int) -> str:
    """``"?, ?, ..."``: ``n`` parameter placeholders for an ``IN (...)`` list."""
    return ", ".join("?" * n)


def chunks(values: Sequence[T], size: int = CHUNK) -> Iterator[tuple[list[T], str]]:
    """``values`` in slices of at most ``size``, each with its placeholders.

    Example::

        for chunk, qs in chunks(vids):
            conn.execute(f"DELETE FROM t WHERE vid IN ({qs})", chunk)
    """
    for start in range(0, len(values), size):
        chunk = list(values[start : start + size])
        yield chunk, marks(len(chunk))
