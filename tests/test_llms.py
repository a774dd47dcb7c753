from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from agentmem import ChatMessage, InvalidInputError, ModelError
from agentmem.llms import LocalLLM, OpenAICompatibleLLM
from agentmem.testing import ScriptedLLM
from tests.chat_server import ChatServer, chat_server


@pytest.fixture
def server() -> Iterator[ChatServer]:
    with chat_server() as running:
        yield running


MESSAGES = [ChatMessage(role="system", content="be brief"), ChatMessage(role="user", content="hi")]


def test_openai_compatible_round_trip(server: ChatServer) -> None:
    server.replies.append(
        (
            200,
            {
                "model": "m1",
                "choices": [{"message": {"content": " Hello "}}],
                "usage": {"prompt_tokens": 7, "completion_tokens": 2},
            },
        )
    )
    llm = OpenAICompatibleLLM(server.url, "m1", api_key="k")
    result = llm.chat(MESSAGES, max_tokens=5)
    assert (result.text, result.prompt_tokens, result.completion_tokens, result.model) == (
        "Hello",
        7,
        2,
        "m1",
    )
    seen = server.seen[0]
    assert seen["path"] == "/v1/chat/completions" and seen["auth"] == "Bearer k"
    assert seen["body"]["messages"][1] == {"role": "user", "content": "hi"}
    assert seen["body"]["max_tokens"] == 5 and seen["body"]["temperature"] == 0.0


def test_openai_compatible_estimates_missing_usage(server: ChatServer) -> None:
    server.replies.append((200, {"choices": [{"message": {"content": "two words"}}]}))
    result = OpenAICompatibleLLM(server.url, "m").chat(MESSAGES)
    assert result.prompt_tokens > 0 and result.completion_tokens == 2


@pytest.mark.parametrize(
    ("status", "payload", "match"),
    [
        (500, {"error": "overloaded"}, "HTTP 500"),
        (200, "not json", "not JSON"),
        (200, {"choices": []}, "unexpected reply"),
    ],
)
def test_openai_compatible_errors(
    server: ChatServer, status: int, payload: Any, match: str
) -> None:
    server.replies.append((status, payload))
    with pytest.raises(ModelError, match=match):
        OpenAICompatibleLLM(server.url, "m", max_retries=0).chat(MESSAGES)


def test_openai_compatible_unreachable_and_bad_url() -> None:
    with pytest.raises(ModelError, match="cannot reach"):
        OpenAICompatibleLLM("http://127.0.0.1:9/v1", "m", timeout=2, max_retries=0).chat(MESSAGES)
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
