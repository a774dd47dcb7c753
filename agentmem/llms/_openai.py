"""Any OpenAI-compatible chat-completions server (vLLM, llama.cpp server, Ollama, ...).

One persistent ``httpx`` client per model (connections are reused), timeouts, retries
with exponential backoff and jitter on 429 / 5xx / connection errors (a server's
``Retry-After`` is respected), streaming, and structured output (a JSON schema from a
pydantic model) where the server supports it, remembered per instance.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from agentmem._clock import Clock, SystemClock
from agentmem._errors import InvalidInputError, ModelError
from agentmem._protocols import ChatMessage, ChatResult
from agentmem._tokens import estimate_tokens

if TYPE_CHECKING:
    import httpx

__all__ = ["OpenAICompatibleLLM"]

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
# What a server that cannot honour response_format answers (then we fall back to lines).
_UNSUPPORTED_STATUSES = frozenset({400, 404, 415, 422, 501})


class _HTTPError(ModelError):
    """A non-retryable HTTP status from the server."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class OpenAICompatibleLLM:
    """Talks to ``{base_url}/chat/completions`` with the standard JSON body.

    Args:
        base_url: e.g. ``http://localhost:8000/v1`` (vLLM), ``http://localhost:11434/v1``
            (Ollama), ``http://localhost:8080/v1`` (llama.cpp server).
        model: the model name the server expects.
        api_key: sent as a bearer token; default ``$OPENAI_API_KEY`` if set.
        temperature: sampling temperature (0 for reproducible answers).
        timeout: seconds to wait for a reply (each attempt).
        headers: extra HTTP headers.
        connect_timeout: seconds to wait for a connection.
        max_retries: further attempts after a 429, a 5xx, a timeout or a dropped
            connection; then :class:`~agentmem.ModelError` says what happened.
        backoff: the first retry's delay in seconds; each retry doubles it (up to
            ``max_backoff``), with random jitter in [50%, 100%] of the delay.
        max_backoff: the longest delay between attempts, ``Retry-After`` included.
        structured: ``"auto"`` asks for JSON-schema output where agentmem reads structured
            replies (facts, update decisions, SQL steps) and falls back to the line formats
            if the server refuses or ignores it (remembered); ``"off"`` never asks.
        sleep: how to wait between attempts (injectable for tests).
        async_sleep: the same for :meth:`achat`.
        clock: "now" for ``Retry-After`` given as an HTTP date.
        seed: seeds the jitter (reproducible delays).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        temperature: float = 0.0,
        timeout: float = 120.0,
        headers: Mapping[str, str] | None = None,
        connect_timeout: float = 10.0,
        max_retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        structured: Literal["auto", "off"] = "auto",
        sleep: Callable[[float], None] = time.sleep,
        async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Clock | None = None,
        seed: int | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            msg = f"base_url must start with http:// or https://, got {base_url!r}"
            raise InvalidInputError(msg)
        if not isinstance(max_retries, int) or max_retries < 0:
            msg = f"max_retries must be an int >= 0, got {max_retries!r}"
            raise InvalidInputError(msg)
        if timeout <= 0 or connect_timeout <= 0 or backoff < 0 or max_backoff < 0:
            msg = "timeout and connect_timeout must be > 0, backoff and max_backoff >= 0"
            raise InvalidInputError(msg)
        if structured not in ("auto", "off"):
            msg = f'structured must be "auto" or "off", got {structured!r}'
            raise InvalidInputError(msg)
        self.base_url = base_url.rstrip("/")
        self.model = model
        self._api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.temperature = temperature
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.structured = structured
        self._headers = dict(headers or {})
        self._sleep = sleep
        self._async_sleep = async_sleep
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._random = random.Random(seed)
        self._client: httpx.Client | None = None
        self._async_client: httpx.AsyncClient | None = None
        self.supports_structured: bool | None = None if structured == "auto" else False
        """Whether the server honours JSON-schema output (``None``: not tried yet)."""

    @property
    def name(self) -> str:
        """The model name."""
        return self.model

    # -- plumbing ------------------------------------------------------------------------
    def _timeout(self) -> httpx.Timeout:
        import httpx

        return httpx.Timeout(self.timeout, connect=self.connect_timeout)

    def _request_headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", **self._headers}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    @property
    def client(self) -> httpx.Client:
        """The persistent HTTP client (connections are kept alive between calls)."""
        if self._client is None:
            import httpx

            self._client = httpx.Client(timeout=self._timeout(), headers=self._request_headers())
        return self._client

    def _aclient(self) -> httpx.AsyncClient:
        if self._async_client is None:
            import httpx

            self._async_client = httpx.AsyncClient(
                timeout=self._timeout(), headers=self._request_headers()
            )
        return self._async_client

    def close(self) -> None:
        """Close the HTTP connections (a later call opens new ones)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> OpenAICompatibleLLM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        # A model dropped without close() must not leak its keep-alive sockets.
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown: nothing left to do
            logger.debug("closing the HTTP client at exit failed", exc_info=True)

    async def aclose(self) -> None:
        """Close the HTTP connections of both clients."""
        self.close()
        if self._async_client is not None:
            await self._async_client.aclose()
            self._async_client = None

    def _body(
        self,
        messages: Sequence[ChatMessage],
        max_tokens: int | None,
        **extra: Any,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "temperature": self.temperature,
            **extra,
        }
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        return body

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        """Seconds to wait before attempt ``attempt + 1``: Retry-After, else backoff."""
        if response is not None:
            asked = self._retry_after(response.headers.get("Retry-After"))
            if asked is not None:
                return float(min(asked, self.max_backoff))
        cap = min(self.max_backoff, self.backoff * (2.0**attempt))
        return float(cap) * (0.5 + 0.5 * self._random.random())

    def _retry_after(self, value: str | None) -> float | None:
        if not value:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, (when - self._clock.now()).total_seconds())

    def _classify(self, response: httpx.Response) -> str | None:
        """``None`` if the response is usable, ``"retry"``, or raises for a hard error."""
        if response.status_code < 400:
            return None
        if response.status_code in _RETRY_STATUSES:
            return "retry"
        detail = response.text[:500]
        msg = f"{self.base_url} answered HTTP {response.status_code}: {detail}"
        raise _HTTPError(msg, response.status_code)

    def _give_up(self, attempts: int, last: str) -> ModelError:
        msg = (
            f"the chat server at {self.base_url} failed {attempts} time(s) in a row "
            f"(last: {last}); gave up after {self.max_retries} retries. Check that the "
            "server is up and not overloaded, or raise max_retries / timeout"
        )
        return ModelError(msg)

    def _retry_delay(self, attempt: int, response: httpx.Response | None, last: str) -> float:
        """The pause before the next attempt; raises ModelError when none is left."""
        if attempt == self.max_retries:
            raise self._give_up(attempt + 1, last)
        delay = self._delay(attempt, response)
        logger.info("chat server: %s; retrying in %.2f s", last, delay)
        return delay

    def _send(self, body: dict[str, Any]) -> dict[str, Any]:
        import httpx

        url = f"{self.base_url}/chat/completions"
        for attempt in range(self.max_retries + 1):
            response = None
            try:
                response = self.client.post(url, json=body)
                if self._classify(response) is None:
                    return self._json(response)
                last = f"HTTP {response.status_code}"
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                last = _transport_failure(exc)
            delay = self._retry_delay(attempt, response, last)
            self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _asend(self, body: dict[str, Any]) -> dict[str, Any]:
        import httpx

        url = f"{self.base_url}/chat/completions"
        for attempt in range(self.max_retries + 1):
            response = None
            try:
                response = await self._aclient().post(url, json=body)
                if self._classify(response) is None:
                    return self._json(response)
                last = f"HTTP {response.status_code}"
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                last = _transport_failure(exc)
            delay = self._retry_delay(attempt, response, last)
            await self._async_sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        try:
            payload = response.json()
        except json.JSONDecodeError as exc:
            msg = f"{self.base_url} sent a reply that is not JSON: {exc}"
            raise ModelError(msg) from exc
        if not isinstance(payload, dict):
            msg = f"{self.base_url} sent an unexpected reply: {str(payload)[:300]}"
            raise ModelError(msg)
        return payload

    def _result(self, payload: dict[str, Any], messages: Sequence[ChatMessage]) -> ChatResult:
        try:
            text = payload["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError) as exc:
            msg = f"{self.base_url} sent an unexpected reply: {str(payload)[:300]}"
            raise ModelError(msg) from exc
        usage = payload.get("usage") or {}
        prompt = usage.get("prompt_tokens")
        completion = usage.get("completion_tokens")
        return ChatResult(
            text=str(text).strip(),
            prompt_tokens=int(prompt)
            if prompt is not None
            else sum(estimate_tokens(m.content) for m in messages),
            completion_tokens=int(completion) if completion is not None else estimate_tokens(text),
            model=str(payload.get("model") or self.model),
        )

    # -- the ChatModel API -----------------------------------------------------------------
    def chat(self, messages: Sequence[ChatMessage], *, max_tokens: int | None = None) -> ChatResult:
        """Send the conversation and return the first choice (retrying as configured)."""
        return self._result(self._send(self._body(messages, max_tokens)), messages)

    async def achat(
        self, messages: Sequence[ChatMessage], *, max_tokens: int | None = None
    ) -> ChatResult:
        """Like :meth:`chat`, on an async HTTP client (for asyncio code)."""
        return self._result(await self._asend(self._body(messages, max_tokens)), messages)

    def stream(
        self, messages: Sequence[ChatMessage], *, max_tokens: int | None = None
    ) -> Iterator[str]:
        """Yield the reply's text as the server streams it (server-sent events).

        Failures before the first chunk are retried like :meth:`chat`; a failure once
        text has arrived raises :class:`~agentmem.ModelError`.
        """
        import httpx

        body = self._body(messages, max_tokens, stream=True)
        url = f"{self.base_url}/chat/completions"
        for attempt in range(self.max_retries + 1):
            refused: httpx.Response | None = None  # an error reply, for its Retry-After
            try:
                with self.client.stream("POST", url, json=body) as response:
                    if response.status_code >= 400:
                        response.read()  # the error's text, for the message
                    if self._classify(response) is None:
                        yield from self._events(response)
                        return
                    refused = response
                    last = f"HTTP {response.status_code}"
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                last = _transport_failure(exc)
            self._sleep(self._retry_delay(attempt, refused, last))

    def _events(self, response: httpx.Response) -> Iterator[str]:
        import httpx

        started = finished = False
        try:
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[len("data:") :].strip()
                if data == "[DONE]":
                    return
                try:
                    event = json.loads(data)
                    choice = event["choices"][0]
                    delta = choice.get("delta") or {}
                except (json.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError):
                    logger.debug("skipping a stream event that is not a chat chunk: %r", data)
                    continue
                finished = finished or bool(choice.get("finish_reason"))
                text = delta.get("content")
                if text:
                    started = True
                    yield str(text)
        except httpx.HTTPError as exc:
            if not started:
                raise
            msg = f"the stream from {self.base_url} broke off: {type(exc).__name__}: {exc}"
            raise ModelError(msg) from exc
        if not finished:  # closed with neither [DONE] nor a finish_reason: cut short
            msg = f"the stream from {self.base_url} broke off before the reply was finished"
            raise ModelError(msg)

    # -- structured output ---------------------------------------------------------------
    def chat_structured(
        self,
        messages: Sequence[ChatMessage],
        schema: type[M],
        *,
        max_tokens: int | None = None,
    ) -> tuple[M | None, ChatResult] | None:
        """Ask for a reply that follows ``schema`` (a JSON schema via ``response_format``).

        Returns ``None`` without asking when the server is known not to support it (or
        ``structured="off"``); ``(parsed, result)`` otherwise, where ``parsed`` is
        ``None`` if the server ignored the schema (its plain text is in ``result``).
        A server that refuses the request is remembered, and ``None`` is returned so the
        caller can ask again in the line format.
        """
        if self.supports_structured is False:
            return None
        response_format = {
            "type": "json_schema",
            "json_schema": {
                "name": schema.__name__,
                "schema": schema.model_json_schema(),
                "strict": True,
            },
        }
        body = self._body(messages, max_tokens, response_format=response_format)
        try:
            payload = self._send(body)
        except _HTTPError as exc:
            if exc.status not in _UNSUPPORTED_STATUSES:
                raise
            logger.info("%s refused structured output (%s); using line formats", self.base_url, exc)
            self.supports_structured = False
            return None
        result = self._result(payload, messages)
        try:
            parsed = schema.model_validate_json(result.text)
        except ValidationError:
            logger.info("%s ignored the JSON schema; using line formats", self.base_url)
            self.supports_structured = False
            return None, result
        self.supports_structured = True
        return parsed, result


def _transport_failure(exc: Exception) -> str:
    """Say why a request got no reply (a timeout or a transport error)."""
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return f"no reply within the timeout ({type(exc).__name__})"
    return f"cannot reach the server ({type(exc).__name__}: {exc})"
