"""DecayPolicy (MemoryBank): the Ebbinghaus forgetting curve, reinforced by recall.

Retention is ``R = exp(-t / S)``: ``t`` is the time since the memory was last recalled
(or since it happened, if never), in ``unit`` (default: days), and ``S`` its strength.
Each recall raises ``S`` (``+increment`` or ``x factor``). When ``R`` falls under the
threshold the memory is forgotten, or archived (closed with ``valid_to``, kept in
history). With ``stochastic=True`` a memory is instead forgotten with probability
``1 - R`` at each tick, drawn from a seeded generator so runs repeat exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from agentmem._errors import UserError
from agentmem._frame import ages, read_frame
from agentmem._models import Kind, MemoryItem
from agentmem._protocols import Action, Decision, PolicyContext
from agentmem.policies._decide import decision
from agentmem.policies.base import BasePolicy

__all__ = ["DecayPolicy"]


class DecayPolicy(BasePolicy):
    """Forget memories whose retention ``exp(-t / S)`` fell under ``threshold``.

    Args:
        threshold: forget (or archive) when retention is below this (0 < threshold < 1).
        reinforce: how a recall raises strength: ``"add"`` (``S + increment``) or
            ``"multiply"`` (``S * factor``).
        increment: added to strength per recall when ``reinforce="add"``.
        factor: strength multiplier per recall when ``reinforce="multiply"``.
        unit: the time unit of ``t`` and ``S`` (default: one day).
        archive: close instead of delete.
        stochastic: forget with probability ``1 - R`` instead of by threshold.
        seed: seeds the stochastic draws.
        kinds: the kinds that decay (default: every kind).
    """

    name = "decay"

    def __init__(
        self,
        *,
        threshold: float = 0.1,
        reinforce: Literal["add", "multiply"] = "add",
        increment: float = 1.0,
        factor: float = 2.0,
        unit: timedelta = timedelta(days=1),
        archive: bool = False,
        stochastic: bool = False,
        seed: int = 0,
        kinds: Iterable[Kind | str] | None = None,
    ) -> None:
        if not 0.0 < threshold < 1.0:
            msg = f"threshold is a retention between 0 and 1 (exclusive), got {threshold!r}"
            raise UserError(msg)
        if reinforce not in ("add", "multiply"):
            msg = f'reinforce must be "add" or "multiply", got {reinforce!r}'
            raise UserError(msg)
        if increment < 0 or factor < 1:
            msg = f"increment must be >= 0 and factor >= 1, got {increment!r} and {factor!r}"
            raise UserError(msg)
        if unit <= timedelta(0):
            msg = f"unit must be a positive timedelta, got {unit!r}"
            raise UserError(msg)
        self.threshold = threshold
        self.reinforce = reinforce
        self.increment = increment
        self.factor = factor
        self.unit = unit
        self.archive = archive
        self.stochastic = stochastic
        self.kinds = None if kinds is None else frozenset(Kind(k) for k in kinds)
        self._rng = np.random.default_rng(seed)

    def __repr__(self) -> str:
        return f"DecayPolicy(threshold={self.threshold}, reinforce={self.reinforce!r})"

    def retention(self, item: MemoryItem, now: datetime) -> float:
        """``exp(-t / S)`` for one memory at ``now``."""
        return float(self.retentions([item], now)[0])

    def retentions(self, items: Sequence[MemoryItem], now: datetime) -> NDArray[np.float64]:
        """Retention of every item at ``now``, as an array."""
        anchors = [item.last_accessed_at or item.created_at for item in items]
        t = np.maximum(ages(anchors, now), 0.0) / self.unit.total_seconds()
        strength = np.fromiter((item.strength for item in items), np.float64, len(items))
        return np.exp(-t / strength)

    @property
    def _unit_name(self) -> str:
        return "days" if self.unit == timedelta(days=1) else f"x {self.unit}"

    def strengthened(self, strength: float) -> float:
        """The strength after one more recall."""
        if self.reinforce == "add":
            return strength + self.increment
        return strength * self.factor

    def on_access(self, items: Sequence[MemoryItem], ctx: PolicyContext) -> list[Decision]:
        """Each recall raises the recalled memory's strength."""
        return [
            Decision(
                action=Action.DECAY,
                item_ids=[item.id],
                reason=f"recalled: strength {item.strength:g} -> "
                f"{self.strengthened(item.strength):g}",
                policy=self.name,
                changes={"strength": self.strengthened(item.strength)},
            )
            for item in items
            if self.kinds is None or item.kind in self.kinds
        ]

    def on_tick(self, ctx: PolicyContext) -> list[Decision]:
        """Forget (or archive) the memories whose retention fell too low."""
        frame = read_frame(ctx)
        chosen = frame.of_kinds(self.kinds)
        if chosen.size == 0:
            return []
        now = ctx.now
        elapsed = (
            np.maximum(frame.ages(frame.last_used()[chosen], now), 0.0) / self.unit.total_seconds()
        )
        retention = np.exp(-elapsed / frame.strength[chosen])
        if self.stochastic:
            lost = np.flatnonzero(self._rng.random(chosen.size) >= retention)
            rule = "drawn at random"
        else:
            lost = np.flatnonzero(retention < self.threshold)
            rule = f"< {self.threshold:g}"
        # Memories with the same (rounded) explanation share one decision: a tick that
        # forgets 50k memories builds hundreds of decisions, not 50k.
        strengths = frame.strength[chosen[lost]].tolist()
        groups: dict[tuple[float, int], list[int]] = {}
        for j, strength, days in zip(lost.tolist(), strengths, elapsed[lost].tolist(), strict=True):
            groups.setdefault((strength, round(days)), []).append(j)
        decisions: list[Decision] = []
        for (strength, days), members in groups.items():
            reason = (
                f"retention {retention[members[0]]:.2g} {rule} (strength {strength:g}, "
                f"{days} {self._unit_name} since last recall)"
            )
            positions = chosen[members].tolist()
            if self.archive:
                for i in positions:
                    changes = {"valid_to": max(now, frame.time(i, "valid_from"))}
                    decisions.append(
                        decision(Action.UPDATE, [frame.ids[i]], reason, self.name, changes)
                    )
            else:
                ids = frame.ids[positions].tolist()
                decisions.append(decision(Action.FORGET, ids, reason, self.name))
        return decisions
