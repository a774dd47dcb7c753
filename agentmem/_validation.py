"""Checks on what users hand to agentmem, with messages that say how to fix it."""

from __future__ import annotations

from agentmem._errors import InvalidInputError

__all__ = ["DEFAULT_MAX_TEXT_BYTES", "check_text"]

DEFAULT_MAX_TEXT_BYTES = 1_000_000


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
