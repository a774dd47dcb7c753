"""Tracing: a hook that sees every store operation, policy run and model call."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["TraceRecord", "Tracer", "traced"]


class TraceRecord(BaseModel):
    """One traced operation: what was asked, what came back, how long it took."""

    model_config = ConfigDict(defer_build=True)

    kind: str  # "store", "llm", "embed", "policy"
    name: str
    request: dict[str, Any] = Field(default_factory=dict)
    response: dict[str, Any] = Field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None


Tracer = Callable[[TraceRecord], None]


@contextmanager
def traced(tracer: Tracer | None, kind: str, name: str, **request: Any) -> Iterator[dict[str, Any]]:
    """Time the block and report it to ``tracer``; the block fills the yielded response."""
    response: dict[str, Any] = {}
    if tracer is None:
        yield response
        return
    start = time.perf_counter()
    error: str | None = None
    try:
        yield response
    except BaseException as exc:
        error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        tracer(
            TraceRecord(
                kind=kind,
                name=name,
                request=request,
                response=response,
                seconds=time.perf_counter() - start,
                error=error,
            )
        )
