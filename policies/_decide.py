"""Building decisions in bulk: a policy deciding over 100k memories skips re-validation."""

from __future__ import annotations

from typing import Any

from agentmem._protocols import Action, Decision

__all__ = ["decision"]


def decision(
    action: Action,
    item_ids: list[str],
    reason: str,
    policy: str,
    changes: dict[str, Any] | None = None,
) -> Decision:
    """A :class:`Decision` built without validation (every argument is already typed)."""
    return Decision.model_construct(
        action=action,
        item_ids=item_ids,
        reason=reason,
        policy=policy,
        changes={} if changes is None else changes,
        merged=None,
    )
