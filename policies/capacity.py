"""CapacityPolicy: at most N memories per scope; the rest are evicted in a chosen order."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Literal

from agentmem.policies.base import BasePolicy

from agentmem._errors import UserError
from agentmem._models import MemoryItem, Scope
from agentmem._protocols import Action, Decision, PolicyContext

__all__ = ["CapacityPolicy"]

Evict = Literal["lru", "oldest", "least_important"]
Per = Literal["user", "agent", "session"]


def _last_used(item: MemoryItem) -> datetime:
    return item.last_accessed_at or item.created_at


_ORDERS: dict[str, Callable[[MemoryItem], tuple[object, ...]]] = {
    # Evicted first = smallest key.
    "lru": lambda i: (_last_used(i), i.created_at, i.recorded_at),
    "oldest": lambda i: (i.created_at, i.recorded_at),
    "least_important": lambda i: (i.importance, _last_used(i), i.created_at),
}


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
        if evict not in _ORDERS:
            msg = f"evict must be one of {sorted(_ORDERS)}, got {evict!r}"
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
            scope = Scope(user_id=key[0], agent_id=key[1], session_id=key[2])
            out += self._evict(self._scoped(ctx.scan(scope=scope), key), key)
        return out

    def on_tick(self, ctx: PolicyContext) -> list[Decision]:
        """Evict from every scope over the limit."""
        groups: dict[tuple[str, str | None, str | None], list[MemoryItem]] = defaultdict(list)
        for item in ctx.scan():
            groups[self._key(item.scope)].append(item)
        out: list[Decision] = []
        for key, members in groups.items():
            out += self._evict(members, key)
        return out

    def _scoped(
        self, items: Iterable[MemoryItem], key: tuple[str, str | None, str | None]
    ) -> list[MemoryItem]:
        # ``scan(scope=...)`` with no agent/session returns the whole user; narrow exactly.
        return [item for item in items if self._key(item.scope) == key]

    def _evict(
        self, items: list[MemoryItem], key: tuple[str, str | None, str | None]
    ) -> list[Decision]:
        excess = len(items) - self.max_items
        if excess <= 0:
            return []
        victims = sorted(items, key=_ORDERS[self.evict])[:excess]
        where = "/".join(part for part in key if part)
        reason = (
            f"capacity: {len(items)} memories in {where} exceed {self.max_items}; "
            f"evicting the {excess} {self.evict.replace('_', ' ')}"
        )
        return [
            Decision(
                action=Action.FORGET,
                item_ids=[item.id for item in victims],
                reason=reason,
                policy=self.name,
            )
        ]
