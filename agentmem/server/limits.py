"""Request limits: the largest body a request may send, and how fast one key may call.

The body limit is an ASGI middleware: a declared ``Content-Length`` over the limit is
refused before anything is read, and a body streamed without one is read first, up to the
limit, and refused as soon as it passes it (413 either way).

The rate limit is a token bucket per API key, kept in the server process: with
``--workers N`` a key may make up to N times the rate.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from agentmem._errors import InvalidInputError

__all__ = ["BodyLimitMiddleware", "RateLimiter"]

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[Message], Any]


class BodyLimitMiddleware:
    """Refuse request bodies larger than ``max_bytes`` with 413, whatever the route."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        if max_bytes <= 0:
            msg = f"max_bytes must be positive, got {max_bytes}"
            raise InvalidInputError(msg)
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, or answer 413 if its body is over the limit."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared < 0 or declared > self.max_bytes:
                    await self._refuse(send)
                    return
        if not any(name == b"content-length" for name, _ in scope.get("headers", [])):
            # A streamed body: read it (at most the limit) before the app sees any of it.
            body = bytearray()
            more = True
            while more:
                message: Message = await receive()
                if message["type"] != "http.request":
                    return
                body += message.get("body", b"")
                more = bool(message.get("more_body", False))
                if len(body) > self.max_bytes:
                    await self._refuse(send)
                    return
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if replayed:
                    return dict(await receive())
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}

            await self.app(scope, replay, send)
            return
        await self.app(scope, receive, send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {"detail": f"request body too large: the limit is {self.max_bytes} bytes"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class RateLimiter:
    """A token bucket per name: ``rate`` requests a second on average, bursts of ``burst``.

    ``rate`` 0 turns the limit off. ``clock`` (seconds, monotonic) is injectable for tests.
    """

    def __init__(
        self,
        rate: float,
        burst: int | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_names: int = 100_000,
    ) -> None:
        if rate < 0:
            msg = f"rate must be >= 0 requests per second, got {rate}"
            raise InvalidInputError(msg)
        self.rate = rate
        self.burst = max(1, int(burst if burst is not None else max(1.0, 2 * rate)))
        self._clock = clock
        self._max_names = max_names
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, name: str) -> float:
        """Spend one token of ``name``: 0.0 if allowed, else seconds until the next token."""
        if self.rate == 0:
            return 0.0
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(name, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                if len(self._buckets) >= self._max_names and name not in self._buckets:
                    self._buckets.clear()  # bounded memory under a flood of names
                self._buckets[name] = (tokens - 1.0, now)
                return 0.0
            self._buckets[name] = (tokens, now)
            return (1.0 - tokens) / self.rate
