"""TTLPolicy: memories of some kinds expire a fixed time after they happened."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

import numpy as np

from agentmem._errors import UserError
from agentmem._frame import read_frame
from agentmem._models import Kind
from agentmem._protocols import Action, Decision, PolicyContext
from agentmem._time import describe_duration
from agentmem.policies.base import BasePolicy

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
        frame = read_frame(ctx)
        chosen = frame.of_kinds(self.kinds)
        if chosen.size == 0:
            return []
        now = ctx.now
        anchors = frame.created_at[chosen]
        if self.refresh_on_read:  # never recalled (NEVER) is the smallest int64
            anchors = np.maximum(anchors, frame.last_accessed_at[chosen])
        expired = chosen[frame.ages(anchors, now) >= self.ttl.total_seconds()].tolist()
        if not expired:
            return []
        reason = f"TTL: older than {describe_duration(self.ttl)} on {now:%Y-%m-%d %H:%M}"
        if self.archive:
            return [
                Decision(
                    action=Action.UPDATE,
                    item_ids=[frame.ids[i]],
                    reason=reason,
                    policy=self.name,
                    changes={"valid_to": max(now, frame.time(i, "valid_from"))},
                )
                for i in expired
            ]
        ids = frame.ids[expired].tolist()
        return [Decision(action=Action.FORGET, item_ids=ids, reason=reason, policy=self.name)]
