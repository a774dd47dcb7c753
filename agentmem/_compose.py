"""Policies([...]): several retention policies run in order as one.

A later policy sees memory as the earlier ones left it: what they forgot, merged or
closed is hidden from it, so two policies never fight over the same memory. This is the
one composition semantics: :class:`~agentmem.Memory` wraps the policies it is given in
:class:`Policies`, so what ``preview()`` shows is exactly what ``tick()`` applies.
It lives in core (re-exported as ``agentmem.policies.Policies``) because Memory uses it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

import numpy as np

from agentmem._errors import UserError
from agentmem._frame import Frame, read_columns
from agentmem._models import Filters, MemoryItem, Scope
from agentmem._protocols import Action, Decision, Embedder, PolicyContext, RetentionPolicy
from agentmem._tracing import Tracer, traced

__all__ = ["Policies"]


class _Overlay:
    """A policy context that hides what earlier decisions removed or closed."""

    def __init__(self, base: PolicyContext) -> None:
        self._base = base
        self.gone: set[str] = set()
        self.closed: set[str] = set()
        self._everything: list[MemoryItem] | None = None
        self._frames: dict[tuple[str, ...], Frame] = {}
        self._index: dict[tuple[str, ...], dict[str, int]] = {}

    @property
    def now(self) -> datetime:
        return self._base.now

    @property
    def embedder(self) -> Embedder | None:
        return self._base.embedder

    def note(self, decisions: Iterable[Decision]) -> None:
        for decision in decisions:
            if decision.action is Action.FORGET:
                self.gone.update(decision.item_ids)
            elif decision.action is Action.MERGE:
                self.closed.update(decision.item_ids)
            elif decision.changes.get("valid_to") is not None:
                self.closed.update(decision.item_ids)

    def scan(
        self,
        *,
        scope: Scope | None = None,
        filters: Filters | None = None,
        include_closed: bool = False,
    ) -> Iterator[MemoryItem]:
        if scope is None and filters is None and not include_closed:
            # Every policy of a tick scans all open memories: read them once.
            if self._everything is None:
                self._everything = list(self._base.scan())
            found: Iterable[MemoryItem] = self._everything
        else:
            found = self._base.scan(scope=scope, filters=filters, include_closed=include_closed)
        if not self.gone and (include_closed or not self.closed):
            return iter(found)
        return self._visible(found, include_closed)

    def _visible(self, found: Iterable[MemoryItem], include_closed: bool) -> Iterator[MemoryItem]:
        for item in found:
            if item.id in self.gone or (not include_closed and item.id in self.closed):
                continue
            yield item

    def frame(
        self,
        *,
        scope: Scope | None = None,
        filters: Filters | None = None,
        extra: Sequence[str] = (),
    ) -> Frame:
        cached: tuple[str, ...] | None = None
        if scope is None and filters is None:
            # Every policy of a tick reads all open memories: read them once.
            key = cached = tuple(extra)
            if key not in self._frames:
                self._frames[key] = Frame.from_columns(read_columns(self._base, extra=extra))
            found = self._frames[key]
        else:
            found = Frame.from_columns(
                read_columns(self._base, scope=scope, filters=filters, extra=extra)
            )
        hidden = self.gone | self.closed
        if not hidden:
            return found
        if len(hidden) * 4 < len(found):
            visible = np.fromiter((i not in hidden for i in found.ids), bool, len(found))
        else:  # most of it hidden: look the hidden ids up instead of every id
            positions = self._positions(found, cached)
            visible = np.ones(len(found), dtype=bool)
            visible[[positions[i] for i in hidden if i in positions]] = False
        return found.take(np.flatnonzero(visible))

    def _positions(self, frame: Frame, cached: tuple[str, ...] | None) -> dict[str, int]:
        if cached is not None and cached in self._index:
            return self._index[cached]
        positions = {item_id: i for i, item_id in enumerate(frame.ids.tolist())}
        if cached is not None:  # the shared read of a tick: index it once
            self._index[cached] = positions
        return positions

    def get(self, item_id: str) -> MemoryItem | None:
        return None if item_id in self.gone else self._base.get(item_id)


class Policies:
    """Compose retention policies; they decide in the order given.

    Args:
        policies: the policies, first decides first.
        name: a name for the set (default: the members' names joined by ``+``).
        tracer: called with a record of each member's decision (``kind="policy"``).
    """

    def __init__(
        self,
        policies: Sequence[RetentionPolicy],
        *,
        name: str | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        for policy in policies:
            if not isinstance(policy, RetentionPolicy):
                msg = f"Policies([...]) takes retention policies, got {type(policy).__name__}"
                raise UserError(msg)
        self.policies = list(policies)
        self.name = name or "+".join(p.name for p in self.policies) or "none"
        self.tracer = tracer

    def __repr__(self) -> str:
        return f"Policies({self.policies!r})"

    def on_write(self, items: Sequence[MemoryItem], ctx: PolicyContext) -> list[Decision]:
        """Each policy decides on the written items that earlier ones left alone."""
        overlay = _Overlay(ctx)
        out: list[Decision] = []
        for policy in self.policies:
            left = [item for item in items if item.id not in overlay.gone]
            decisions = []
            if left:
                with traced(self.tracer, "policy", f"{policy.name}.on_write", count=len(left)):
                    decisions = policy.on_write(left, overlay)
            overlay.note(decisions)
            out += decisions
        return out

    def on_access(self, items: Sequence[MemoryItem], ctx: PolicyContext) -> list[Decision]:
        """Each policy decides on the recalled items that earlier ones left alone."""
        overlay = _Overlay(ctx)
        out: list[Decision] = []
        for policy in self.policies:
            left = [item for item in items if item.id not in overlay.gone]
            decisions = policy.on_access(left, overlay) if left else []
            overlay.note(decisions)
            out += decisions
        return out

    def on_tick(self, ctx: PolicyContext) -> list[Decision]:
        """Each policy decides in turn, seeing memory as the earlier ones left it."""
        overlay = _Overlay(ctx)
        out: list[Decision] = []
        for policy in self.policies:
            with traced(self.tracer, "policy", f"{policy.name}.on_tick"):
                decisions = policy.on_tick(overlay)
            overlay.note(decisions)
            out += decisions
        return out
