from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from agentmem import ChatMessage, InvalidInputError, ModelError
from agentmem.llms import LocalLLM, OpenAICompatibleLLM
from agentmem.testing import ScriptedLLM


class _Handler(BaseHTTPRequestHandler):
    replies: list[tuple[int, Any]] = []
    seen: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append(
            {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
        )
        status, payload = type(self).replies.pop(0)
        data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.replies, _Handler.seen = [], []
    httpd = HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


MESSAGES = [ChatMessage(role="system", content="be brief"), ChatMessage(role="user", content="hi")]


def test_openai_compatible_round_trip(server: str) -> None:
    _Handler.replies.append(
        (
            200,
            {
                "model": "m1",
                "choices": [{"message": {"content": " Hello "}}],
                "usage": {"prompt_tokens": 7, "completion_tokens": 2},
            },
        )
    )
    llm = OpenAICompatibleLLM(server, "m1", api_key="k")
    result = llm.chat(MESSAGES, max_tokens=5)
    assert (result.text, result.prompt_tokens, result.completion_tokens, result.model) == (
        "Hello",
        7,
        2,
        "m1",
    )
    seen = _Handler.seen[0]
    assert seen["path"] == "/v1/chat/completions" and seen["auth"] == "Bearer k"
    assert seen["body"]["messages"][1] == {"role": "user", "content": "hi"}
    assert seen["body"]["max_tokens"] == 5 and seen["body"]["temperature"] == 0.0


def test_openai_compatible_estimates_missing_usage(server: str) -> None:
    _Handler.replies.append((200, {"choices": [{"message": {"content": "two words"}}]}))
    result = OpenAICompatibleLLM(server, "m").chat(MESSAGES)
    assert result.prompt_tokens > 0 and result.completion_tokens == 2


@pytest.mark.parametrize(
    ("status", "payload", "match"),
    [
        (500, {"error": "overloaded"}, "HTTP 500"),
        (200, "not json", "not JSON"),
        (200, {"choices": []}, "unexpected reply"),
    ],
)
def test_openai_compatible_errors(server: str, status: int, payload: Any, match: str) -> None:
    _Handler.replies.append((status, payload))
    with pytest.raises(ModelError, match=match):
        OpenAICompatibleLLM(server, "m").chat(MESSAGES)


def test_openai_compatible_unreachable_and_bad_url() -> None:
    with pytest.raises(ModelError, match="cannot reach"):
        OpenAICompatibleLLM("http://127.0.0.1:9/v1", "m", timeout=2).chat(MESSAGES)
    with pytest.raises(InvalidInputError):
        OpenAICompatibleLLM("localhost:8000", "m")


def test_scripted_llm_runs_out_clearly() -> None:
    llm = ScriptedLLM(["one"])
    assert llm.chat(MESSAGES).text == "one"
    with pytest.raises(ModelError, match="ran out"):
        llm.chat(MESSAGES)
    assert ScriptedLLM([], default="d").chat(MESSAGES).text == "d"


def test_real_model_loads_are_forbidden_in_plain_tests() -> None:
    from agentmem import ModelLoadBlockedError
    from agentmem.embedders import SentenceTransformerEmbedder

    with pytest.raises(ModelLoadBlockedError, match="real_models"):
        LocalLLM().chat(MESSAGES)
    with pytest.raises(ModelLoadBlockedError):
        SentenceTransformerEmbedder().embed(["x"])


def test_local_llm_explains_a_bad_path(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from agentmem import UserError

    monkeypatch.setenv("AGENTMEM_LOCAL_GGUF", str(tmp_path / "missing.gguf"))
    with pytest.raises(UserError, match="not a file"):
        _ = LocalLLM().path
