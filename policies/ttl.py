"""TTLPolicy: memories of some kinds expire a fixed time after they happened."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import numpy as np
from agentmem.policies._arrays import ages
from agentmem.policies.base import BasePolicy

from agentmem._errors import UserError
from agentmem._models import Kind, MemoryItem
from agentmem._protocols import Action, Decision, PolicyContext

__all__ = ["TTLPolicy"]


class TTLPolicy(BasePolicy):
    """Forget (or archive) memories of the given kinds once they are older than ``ttl``.

    Age counts from ``created_at`` (when it happened), or from the last recall when
    ``refresh_on_read`` is set.

    Args:
        ttl: how long a memory lives.
        kinds: the kinds that expire (default: every kind).
        refresh_on_read: a recall restarts the countdown.
        archive: close expired memories (``valid_to``, kept in history) instead of deleting.
    """

    name = "ttl"

    def __init__(
        self,
        ttl: timedelta,
        *,
        kinds: Iterable[Kind | str] | None = None,
        refresh_on_read: bool = False,
        archive: bool = False,
    ) -> None:
        if not isinstance(ttl, timedelta) or ttl <= timedelta(0):
            msg = f"ttl must be a positive timedelta, e.g. timedelta(days=7), got {ttl!r}"
            raise UserError(msg)
        self.ttl = ttl
        self.kinds = None if kinds is None else frozenset(Kind(k) for k in kinds)
        self.refresh_on_read = refresh_on_read
        self.archive = archive

    def __repr__(self) -> str:
        return f"TTLPolicy(ttl={self.ttl!r}, kinds={self.kinds}, archive={self.archive})"

    def on_tick(self, ctx: PolicyContext) -> list[Decision]:
        """Expire every memory older than the TTL."""
        items = [i for i in ctx.scan() if self.kinds is None or i.kind in self.kinds]
        if not items:
            return []
        now = ctx.now
        anchors = [self._anchor(item) for item in items]
        expired = np.flatnonzero(ages(anchors, now) >= self.ttl.total_seconds())
        if expired.size == 0:
            return []
        ids = [items[i].id for i in expired]
        reason = f"TTL: older than {self.ttl} at {now:%Y-%m-%d %H:%M}"
        if self.archive:
            return [
                Decision(
                    action=Action.UPDATE,
                    item_ids=[items[i].id],
                    reason=reason,
                    policy=self.name,
                    changes={"valid_to": max(now, items[i].valid_from or now)},
                )
                for i in expired
            ]
        return [Decision(action=Action.FORGET, item_ids=ids, reason=reason, policy=self.name)]

    def _anchor(self, item: MemoryItem) -> datetime:
        if self.refresh_on_read and item.last_accessed_at is not None:
            return max(item.created_at, item.last_accessed_at)
        return item.created_at
