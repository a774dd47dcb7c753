"""Any OpenAI-compatible chat-completions server (vLLM, llama.cpp server, Ollama, ...)."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence

from agentmem._errors import InvalidInputError, ModelError
from agentmem._protocols import ChatMessage, ChatResult
from agentmem._tokens import estimate_tokens

__all__ = ["OpenAICompatibleLLM"]


class OpenAICompatibleLLM:
    """Talks to ``{base_url}/chat/completions`` with the standard JSON body.

    Args:
        base_url: e.g. ``http://localhost:8000/v1`` (vLLM), ``http://localhost:11434/v1``
            (Ollama), ``http://localhost:8080/v1`` (llama.cpp server).
        model: the model name the server expects.
        api_key: sent as a bearer token; default ``$OPENAI_API_KEY`` if set.
        temperature: sampling temperature (0 for reproducible answers).
        timeout: seconds to wait for a reply.
        headers: extra HTTP headers.
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
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            msg = f"base_url must start with http:// or https://, got {base_url!r}"
            raise InvalidInputError(msg)
        self.base_url = base_url.rstrip("/")
        self.model = model
        self._api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.temperature = temperature
        self.timeout = timeout
        self._headers = dict(headers or {})

    @property
    def name(self) -> str:
        """The model name."""
        return self.model

    def chat(self, messages: Sequence[ChatMessage], *, max_tokens: int | None = None) -> ChatResult:
        """Send the conversation and return the first choice."""
        body: dict[str, object] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "temperature": self.temperature,
        }
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        headers = {"Content-Type": "application/json", **self._headers}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        request = urllib.request.Request(
            f"{self.base_url}/chat/completions",
            data=json.dumps(body).encode(),
            headers=headers,
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:500]
            msg = f"{self.base_url} answered HTTP {exc.code}: {detail}"
            raise ModelError(msg) from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            msg = f"cannot reach the chat server at {self.base_url}: {exc}"
            raise ModelError(msg) from exc
        except json.JSONDecodeError as exc:
            msg = f"{self.base_url} sent a reply that is not JSON: {exc}"
            raise ModelError(msg) from exc
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
