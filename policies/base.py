"""A base class with do-nothing defaults, so a policy overrides only what it needs."""

from __future__ import annotations

from collections.abc import Sequence

from agentmem._models import MemoryItem
from agentmem._protocols import Decision, PolicyContext

__all__ = ["BasePolicy"]


class BasePolicy:
    """Implements :class:`~agentmem.RetentionPolicy` with no decisions; subclass it."""

    name = "policy"

    def on_write(self, items: Sequence[MemoryItem], ctx: PolicyContext) -> list[Decision]:
        """Decide nothing on writes."""
        return []

    def on_access(self, items: Sequence[MemoryItem], ctx: PolicyContext) -> list[Decision]:
        """Decide nothing on recall."""
        return []

    def on_tick(self, ctx: PolicyContext) -> list[Decision]:
        """Decide nothing as time passes."""
        return []
