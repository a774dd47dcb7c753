"""Checks on what users hand to agentmem, with messages that say how to fix it.

Everything that reaches a store passes here first, so nothing accepted today can make a
later read fail:

- text: valid, non-empty UTF-8 of bounded size;
- metadata: strict JSON (str / int / float / bool / None keys and values, lists and
  dicts of those; no NaN or infinity), bounded in size and depth;
- times: within :data:`MIN_TIME` .. :data:`MAX_TIME`, so date arithmetic on them (a
  search's time windows, a policy's decay) never overflows;
- ids: user, agent and session ids are compared after Unicode NFC normalisation, so
  ``"José"`` typed on two keyboards is one tenant, not two.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from agentmem._errors import InvalidInputError

__all__ = [
    "DEFAULT_MAX_METADATA_BYTES",
    "DEFAULT_MAX_TEXT_BYTES",
    "MAX_METADATA_DEPTH",
    "MAX_TIME",
    "MIN_TIME",
    "check_metadata",
    "check_text",
    "check_time",
    "normalize_id",
]

DEFAULT_MAX_TEXT_BYTES = 1_000_000
DEFAULT_MAX_METADATA_BYTES = 64_000
MAX_METADATA_DEPTH = 16
MIN_TIME = datetime(1000, 1, 1, tzinfo=UTC)
MAX_TIME = datetime(3000, 1, 1, tzinfo=UTC)


def check_text(text: object, *, max_bytes: int = DEFAULT_MAX_TEXT_BYTES, what: str = "text") -> str:
    """Return ``text`` as a valid, non-empty str of at most ``max_bytes`` UTF-8 bytes.

    Bytes are decoded as strict UTF-8. Raises InvalidInputError otherwise.
    """
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            msg = f"{what} is not valid UTF-8 (bad byte at offset {exc.start}); decode it first"
            raise InvalidInputError(msg) from exc
    if not isinstance(text, str):
        msg = f"{what} must be a str, got {type(text).__name__}"
        raise InvalidInputError(msg)
    if not text.strip():
        msg = f"{what} is empty; there is nothing to remember"
        raise InvalidInputError(msg)
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        msg = f"{what} holds a lone surrogate at position {exc.start}; it is not valid Unicode"
        raise InvalidInputError(msg) from exc
    if "\x00" in text:
        msg = f"{what} contains a NUL character"
        raise InvalidInputError(msg)
    if size > max_bytes:
        msg = (
            f"{what} is {size:,} bytes; the limit is {max_bytes:,} "
            "(split it, or raise Memory(max_text_bytes=...))"
        )
        raise InvalidInputError(msg)
    return text


def check_metadata(
    metadata: object,
    *,
    max_bytes: int = DEFAULT_MAX_METADATA_BYTES,
    max_depth: int = MAX_METADATA_DEPTH,
) -> dict[str, Any]:
    """Return ``metadata`` as a plain JSON object, or raise InvalidInputError saying why.

    Accepted: a mapping with str keys whose values are str, int, float (finite), bool,
    None, lists/tuples and mappings of those, nested at most ``max_depth`` deep, at most
    ``max_bytes`` bytes once written as JSON. Nothing is silently converted: a datetime,
    bytes or a set is refused (convert it yourself, e.g. ``dt.isoformat()``).
    """
    if not isinstance(metadata, Mapping):
        msg = f"metadata must be a dict, got {type(metadata).__name__}"
        raise InvalidInputError(msg)
    budget = [max_bytes, max_bytes]  # what is left, the limit
    out = _plain_json(metadata, "metadata", 0, max_depth, budget)
    assert isinstance(out, dict)
    return out


def _spend(budget: list[int], n: int, where: str) -> None:
    budget[0] -= n
    if budget[0] < 0:
        msg = (
            f"metadata is larger than {budget[1]:,} bytes (at {where}); keep large content in "
            "the memory's text or outside agentmem"
        )
        raise InvalidInputError(msg)


def _plain_json(value: object, where: str, depth: int, max_depth: int, budget: list[int]) -> Any:
    if value is None or isinstance(value, bool):
        _spend(budget, 5, where)
        return value
    if isinstance(value, int):
        _spend(budget, len(str(value)), where)
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            msg = f"{where} is {value!r}; JSON has no NaN or infinity (use None or a number)"
            raise InvalidInputError(msg)
        _spend(budget, 24, where)
        return float(value)
    if isinstance(value, str):
        try:
            size = len(value.encode("utf-8"))
        except UnicodeEncodeError as exc:
            msg = f"{where} holds a lone surrogate; it is not valid Unicode"
            raise InvalidInputError(msg) from exc
        _spend(budget, size + 2, where)
        return value
    if depth >= max_depth:
        msg = f"metadata is nested deeper than {max_depth} levels (at {where}); flatten it"
        raise InvalidInputError(msg)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            if not isinstance(key, str):
                msg = f"metadata keys must be str; {where} has the key {key!r}"
                raise InvalidInputError(msg)
            _spend(budget, len(key.encode("utf-8", "replace")) + 4, where)
            out[key] = _plain_json(inner, f"{where}[{key!r}]", depth + 1, max_depth, budget)
        return out
    if isinstance(value, list | tuple):
        return [
            _plain_json(inner, f"{where}[{i}]", depth + 1, max_depth, budget)
            for i, inner in enumerate(value)
        ]
    msg = (
        f"{where} is a {type(value).__name__}, which is not JSON; metadata holds only str, "
        "int, float, bool, None, lists and dicts (convert it first, e.g. dt.isoformat())"
    )
    raise InvalidInputError(msg)


def check_time(when: datetime, what: str = "time") -> datetime:
    """Return ``when`` (aware) if it lies within ``MIN_TIME`` .. ``MAX_TIME``, else raise."""
    if not isinstance(when, datetime):
        msg = f"{what} must be a datetime, got {type(when).__name__}"
        raise InvalidInputError(msg)
    aware = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    if not MIN_TIME <= aware <= MAX_TIME:
        msg = (
            f"{what} {when.isoformat()} is outside the supported range "
            f"{MIN_TIME.date()} .. {MAX_TIME.date()}"
        )
        raise InvalidInputError(msg)
    return when


def normalize_id(value: str) -> str:
    """An id in Unicode NFC, the one form every store compares and keeps."""
    return unicodedata.normalize("NFC", value)
