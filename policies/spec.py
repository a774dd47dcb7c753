"""A one-line syntax for policy sets, for the command line and config files.

``decay:threshold=0.2+capacity:max_items=200,evict=lru`` is
``Policies([DecayPolicy(threshold=0.2), CapacityPolicy(max_items=200, evict="lru")])``.
Policies are joined by ``+``; each is a name, then optionally ``:`` and ``key=value``
pairs joined by ``,``. Values are numbers, ``true``/``false``, durations (``30m``,
``12h``, ``7d``, ``2w``), kind lists joined by ``|`` (``kinds=message|thought``) or text.
``none`` is the empty set (never forget).
"""

from __future__ import annotations

import inspect
import re
from datetime import timedelta
from typing import Any

from agentmem._errors import UserError
from agentmem._protocols import RetentionPolicy
from agentmem._spec import split_spec
from agentmem.policies.capacity import CapacityPolicy
from agentmem.policies.compose import Policies
from agentmem.policies.decay import DecayPolicy
from agentmem.policies.importance import EntropyImportance, HeuristicImportance, ImportancePolicy
from agentmem.policies.merge import MergePolicy
from agentmem.policies.ttl import TTLPolicy
from agentmem.policies.update import UpdatePolicy

__all__ = ["POLICY_NAMES", "parse_spec"]

POLICY_NAMES = ("update", "capacity", "ttl", "decay", "importance", "merge")

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def _value(text: str) -> Any:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    duration = _DURATION.match(lowered)
    if duration:
        return timedelta(**{_UNITS[duration.group(2)]: float(duration.group(1))})
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if "|" in text:
        return text.split("|")
    return text


_CLASSES: dict[str, type] = {
    "update": UpdatePolicy,
    "capacity": CapacityPolicy,
    "ttl": TTLPolicy,
    "decay": DecayPolicy,
    "importance": ImportancePolicy,
    "merge": MergePolicy,
}


def _check_options(name: str, kwargs: dict[str, Any], part: str) -> None:
    """Refuse unknown options and values of the wrong kind, naming the option."""
    options = dict(inspect.signature(_CLASSES[name]).parameters)
    known = sorted(options) + (["score"] if name == "importance" else [])
    for key, value in kwargs.items():
        if key not in known:
            msg = f"{name} has no option {key!r} (in {part!r}); its options: {', '.join(known)}"
            raise UserError(msg)
        if key == "score":
            continue
        hint = str(options[key].annotation)
        if "timedelta" in hint:
            if not isinstance(value, timedelta):
                msg = f"{name}:{key} takes a duration such as 30m, 12h, 7d or 2w; got {value!r}"
                raise UserError(msg)
        elif hint.startswith("bool"):
            if not isinstance(value, bool):
                msg = f"{name}:{key} takes true or false; got {value!r}"
                raise UserError(msg)
        elif re.match(r"^(float|int)\b", hint) and (
            isinstance(value, bool) or not isinstance(value, int | float)
        ):
            msg = f"{name}:{key} takes a number; got {value!r}"
            raise UserError(msg)


def _build(name: str, kwargs: dict[str, Any]) -> RetentionPolicy:
    if name == "update":
        return UpdatePolicy(**kwargs)
    if name == "capacity":
        return CapacityPolicy(**kwargs)
    if name == "ttl":
        return TTLPolicy(**kwargs)
    if name == "decay":
        return DecayPolicy(**kwargs)
    if name == "importance":
        score = kwargs.pop("score", False)
        if score == "entropy":
            kwargs["scorer"] = EntropyImportance()
        elif score is True or score == "heuristic":
            kwargs["scorer"] = HeuristicImportance()
        elif score is not False:
            msg = f"score= takes true, heuristic or entropy, got {score!r}"
            raise UserError(msg)
        return ImportancePolicy(**kwargs)
    return MergePolicy(**kwargs)


def parse_spec(spec: str, *, name: str | None = None) -> Policies:
    """Parse a policy-set spec such as ``decay:threshold=0.2+capacity:max_items=200``."""
    spec = spec.strip()
    if spec in ("", "none"):
        return Policies([], name=name or "none")
    policies: list[RetentionPolicy] = []
    for part in spec.split("+"):
        policy_name, options = split_spec(part, "policy")
        policy_name = policy_name.lower()
        if policy_name not in POLICY_NAMES:
            msg = f"unknown policy {policy_name!r} in {spec!r}; known: {', '.join(POLICY_NAMES)}"
            raise UserError(msg)
        kwargs: dict[str, Any] = {key: _value(raw) for key, raw in options.items()}
        if isinstance(kwargs.get("kinds"), str):
            kwargs["kinds"] = [kwargs["kinds"]]
        _check_options(policy_name, kwargs, part.strip())
        try:
            policies.append(_build(policy_name, kwargs))
        except TypeError as exc:
            msg = f"bad arguments for {policy_name!r} in {spec!r}: {exc}"
            raise UserError(msg) from exc
    return Policies(policies, name=name)
