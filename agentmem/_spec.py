"""The one-line spec syntax shared by policy sets and evaluated systems.

A spec is a name, then optionally ``:`` and ``key=value`` pairs joined by ``,``
(``capacity:max_items=200,evict=lru``, ``recent-window:n=40``). What the values mean is
up to the caller; this module only splits.
"""

from __future__ import annotations

from agentmem._errors import UserError

__all__ = ["split_spec"]


def split_spec(spec: str, what: str = "spec") -> tuple[str, dict[str, str]]:
    """Split ``name:key=value,key=value`` into the name and its options (text, stripped).

    Raises:
        UserError: an option that is not ``key=value``; ``what`` names the spec's kind.
    """
    name, _, rest = spec.strip().partition(":")
    options: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = part.partition("=")
        if not eq or not key.strip():
            msg = f"{what} {spec.strip()!r}: option {part!r} must look like key=value"
            raise UserError(msg)
        options[key.strip()] = value.strip()
    return name.strip(), options
