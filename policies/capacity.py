"""CapacityPolicy: at most N memories per scope; the rest are evicted in a chosen order."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from agentmem._errors import UserError
from agentmem._frame import Frame, read_frame
from agentmem._models import MemoryItem, Scope
from agentmem._protocols import Action, Decision, PolicyContext
from agentmem.policies.base import BasePolicy

__all__ = ["CapacityPolicy"]

Evict = Literal["lru", "oldest", "least_important"]
Per = Literal["user", "agent", "session"]


def _order(frame: Frame, positions: NDArray[np.intp], evict: str) -> NDArray[np.intp]:
    """``positions`` in eviction order (evicted first), ties kept in scan order."""
    created, recorded = frame.created_at[positions], frame.recorded_at[positions]
    if evict == "oldest":
        keys: tuple[NDArray[Any], ...] = (recorded, created)
    elif evict == "lru":
        keys = (recorded, created, frame.last_used()[positions])
    else:
        keys = (created, frame.last_used()[positions], frame.importance[positions])
    return positions[np.lexsort(keys)]


_EVICTS = ("lru", "oldest", "least_important")


class CapacityPolicy(BasePolicy):
    """Keep at most ``max_items`` open memories per scope.

    Args:
        max_items: the most memories a scope may hold.
        evict: which go first: ``"lru"`` (least recently recalled, or created if never
            recalled), ``"oldest"`` (by ``created_at``) or ``"least_important"``.
        per: the scope the limit applies to: each ``"user"``, each ``(user, agent)`` or
            each ``(user, agent, session)``.
    """

    name = "capacity"

    def __init__(self, max_items: int, *, evict: Evict = "lru", per: Per = "user") -> None:
        if not isinstance(max_items, int) or max_items < 1:
            msg = f"max_items must be a positive int, got {max_items!r}"
            raise UserError(msg)
        if evict not in _EVICTS:
            msg = f"evict must be one of {sorted(_EVICTS)}, got {evict!r}"
            raise UserError(msg)
        if per not in ("user", "agent", "session"):
            msg = f'per must be "user", "agent" or "session", got {per!r}'
            raise UserError(msg)
        self.max_items = max_items
        self.evict = evict
        self.per = per

    def __repr__(self) -> str:
        return f"CapacityPolicy({self.max_items}, evict={self.evict!r}, per={self.per!r})"

    def _key(self, scope: Scope) -> tuple[str, str | None, str | None]:
        return (
            scope.user_id,
            None if self.per == "user" else scope.agent_id,
            scope.session_id if self.per == "session" else None,
        )

    def on_write(self, items: Sequence[MemoryItem], ctx: PolicyContext) -> list[Decision]:
        """Evict from the scopes that just grew."""
        keys = {self._key(item.scope) for item in items}
        out: list[Decision] = []
        for key in keys:
            # ``scope`` with no agent/session reads the whole user; narrow exactly.
            frame = read_frame(ctx, scope=Scope(user_id=key[0], agent_id=key[1], session_id=key[2]))
            out += self._evict(frame, self._groups(frame).get(key, []), key)
        return out

    def on_tick(self, ctx: PolicyContext) -> list[Decision]:
        """Evict from every scope over the limit."""
        frame = read_frame(ctx)
        out: list[Decision] = []
        for key, members in self._groups(frame).items():
            out += self._evict(frame, members, key)
        return out

    def _groups(self, frame: Frame) -> dict[tuple[str, str | None, str | None], list[int]]:
        groups: dict[tuple[str, str | None, str | None], list[int]] = defaultdict(list)
        agents = frame.agent_id if self.per != "user" else [None] * len(frame)
        sessions = frame.session_id if self.per == "session" else [None] * len(frame)
        for i, key in enumerate(zip(frame.user_id, agents, sessions, strict=True)):
            groups[key].append(i)
        return groups

    def _evict(
        self, frame: Frame, members: list[int], key: tuple[str, str | None, str | None]
    ) -> list[Decision]:
        excess = len(members) - self.max_items
        if excess <= 0:
            return []
        victims = _order(frame, np.asarray(members, dtype=np.intp), self.evict)[:excess]
        where = "/".join(part for part in key if part)
        reason = (
            f"capacity: {len(members)} memories in {where} exceed {self.max_items}; "
            f"evicting the {excess} {self.evict.replace('_', ' ')}"
        )
        return [
            Decision(
                action=Action.FORGET,
                item_ids=frame.ids[victims].tolist(),
                reason=reason,
                policy=self.name,
            )
        ]
