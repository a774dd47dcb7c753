"""OpenAICompatibleLLM against a real scripted server: retries, timeouts, streaming, schemas."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from agentmem import ChatMessage, ManualClock, Memory, ModelError
from agentmem._structured import ExtractedFacts, UpdateChoice, ask_lines
from agentmem.llms import OpenAICompatibleLLM
from tests.chat_server import ChatServer, chat_server

MESSAGES = [ChatMessage(role="user", content="hi")]


@pytest.fixture
def server() -> Iterator[ChatServer]:
    with chat_server() as running:
        yield running


def make(server: ChatServer, **kwargs) -> tuple[OpenAICompatibleLLM, list[float]]:
    waits: list[float] = []
    options = {"sleep": waits.append, "seed": 7, **kwargs}
    return OpenAICompatibleLLM(server.url, "m", **options), waits


def test_retries_429_respecting_retry_after(server: ChatServer) -> None:
    server.fail(429, retry_after="3")
    server.fail(429, retry_after="0.25")
    server.say("finally")
    llm, waits = make(server)
    assert llm.chat(MESSAGES).text == "finally"
    assert waits == [3.0, 0.25]
    assert len(server.seen) == 3


def test_retry_after_as_http_date(server: ChatServer) -> None:
    now = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    server.fail(429, retry_after=format_datetime(now + timedelta(seconds=5), usegmt=True))
    server.say("ok")
    llm, waits = make(server, clock=ManualClock(now))
    assert llm.chat(MESSAGES).text == "ok"
    assert waits == [5.0]


def test_retries_503_with_exponential_backoff_and_jitter(server: ChatServer) -> None:
    for _ in range(3):
        server.fail(503)
    server.say("up again")
    llm, waits = make(server, backoff=1.0, max_backoff=30.0)
    assert llm.chat(MESSAGES).text == "up again"
    assert len(waits) == 3
    for attempt, wait in enumerate(waits):  # jitter keeps each wait in [50%, 100%] of 2^n
        assert 0.5 * 2**attempt <= wait <= 2**attempt
    assert len(set(waits)) == 3


def test_retries_a_dropped_connection_on_the_same_client(server: ChatServer) -> None:
    server.say("first")
    server.drop()
    server.say("after the drop")
    llm, waits = make(server)
    assert llm.chat(MESSAGES).text == "first"
    client = llm.client
    assert llm.chat(MESSAGES).text == "after the drop"
    assert llm.client is client  # one persistent client
    assert len(waits) == 1 and len(server.seen) == 3


def test_timeout_then_success_and_timeout_exhausted(server: ChatServer) -> None:
    server.stall(1.0, "too late")
    server.say("in time")
    llm, waits = make(server, timeout=0.2)
    assert llm.chat(MESSAGES).text == "in time"
    assert len(waits) == 1
    server.stall(1.0, "late")
    server.stall(1.0, "late")
    llm, waits = make(server, timeout=0.2, max_retries=1)
    with pytest.raises(ModelError, match="timeout"):
        llm.chat(MESSAGES)
    assert len(waits) == 1


def test_model_error_when_retries_are_exhausted(server: ChatServer) -> None:
    for _ in range(3):
        server.fail(503)
    llm, waits = make(server, max_retries=2)
    with pytest.raises(ModelError, match=r"failed 3 time\(s\).*HTTP 503.*gave up after 2"):
        llm.chat(MESSAGES)
    assert len(waits) == 2


def test_client_errors_are_not_retried(server: ChatServer) -> None:
    server.fail(401, body="bad key")
    llm, waits = make(server)
    with pytest.raises(ModelError, match="HTTP 401.*bad key"):
        llm.chat(MESSAGES)
    assert waits == []


def test_streaming_yields_chunks(server: ChatServer) -> None:
    server.fail(503)
    server.stream("Hel", "lo", ", wor", "ld")
    llm, waits = make(server)
    chunks = list(llm.stream(MESSAGES, max_tokens=9))
    assert chunks == ["Hel", "lo", ", wor", "ld"]
    assert server.seen[-1]["body"]["stream"] is True
    assert len(waits) == 1


def test_a_stream_cut_off_midway_is_a_model_error(server: ChatServer) -> None:
    server.stream("partial ", "answer", cut=True)
    llm, waits = make(server)
    got: list[str] = []
    with pytest.raises(ModelError, match="broke off"):
        for chunk in llm.stream(MESSAGES):
            got.append(chunk)
    assert got == ["partial ", "answer"]
    assert waits == [] and len(server.seen) == 1  # text had arrived: not retried


def test_async_chat_retries_without_blocking(server: ChatServer) -> None:
    server.fail(429, retry_after="2")
    server.say("async hello")
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    async def main() -> str:
        llm = OpenAICompatibleLLM(server.url, "m", async_sleep=fake_sleep)
        try:
            return (await llm.achat(MESSAGES)).text
        finally:
            await llm.aclose()

    assert asyncio.run(main()) == "async hello"
    assert waits == [2.0]


def structured_reply(payload: dict) -> tuple[int, dict]:
    return 200, {"choices": [{"message": {"content": json.dumps(payload)}}]}


def test_structured_output_round_trip(server: ChatServer) -> None:
    facts = {"facts": [{"subject": "user", "attribute": "lives_in", "value": "Lisbon"}]}
    server.replies.append(structured_reply(facts))
    llm, _ = make(server)
    parsed, result = llm.chat_structured(MESSAGES, ExtractedFacts, max_tokens=50)
    assert parsed == ExtractedFacts.model_validate(facts)
    sent = server.seen[-1]["body"]["response_format"]
    assert sent["type"] == "json_schema"
    assert sent["json_schema"]["schema"] == ExtractedFacts.model_json_schema()
    assert llm.supports_structured is True
    # rendered as the line format the parser already reads
    server.replies.append(structured_reply({"operation": "REPLACE"}))
    assert ask_lines(llm, MESSAGES, UpdateChoice, max_tokens=8) == "REPLACE"


def test_structured_output_falls_back_and_remembers(server: ChatServer) -> None:
    server.fail(400, body="response_format is not supported")
    server.say("user | lives_in | Porto")
    llm, _ = make(server)
    assert ask_lines(llm, MESSAGES, ExtractedFacts, max_tokens=40) == "user | lives_in | Porto"
    assert llm.supports_structured is False
    assert "response_format" in server.seen[0]["body"]
    assert "response_format" not in server.seen[1]["body"]
    server.say("user | likes | tea")  # remembered: no second try with a schema
    assert ask_lines(llm, MESSAGES, ExtractedFacts, max_tokens=40) == "user | likes | tea"
    assert "response_format" not in server.seen[2]["body"]


def test_server_that_ignores_the_schema_answers_in_lines(server: ChatServer) -> None:
    server.say("user | lives_in | Oslo")  # a server that ignores response_format
    llm, _ = make(server)
    assert ask_lines(llm, MESSAGES, ExtractedFacts, max_tokens=40) == "user | lives_in | Oslo"
    assert llm.supports_structured is False and len(server.seen) == 1


def test_fact_extraction_uses_structured_output(server: ChatServer, tmp_path) -> None:
    from agentmem import Agent, LLMFactExtractor
    from agentmem.testing import HashEmbedder

    facts = {"facts": [{"subject": "user", "attribute": "lives_in", "value": "Lisbon"}]}
    server.say("Nice!")  # the answer
    server.replies.append(structured_reply(facts))  # the extraction, as JSON
    llm = OpenAICompatibleLLM(server.url, "m", sleep=lambda s: None)
    with Memory.default(tmp_path / "m", embedder=HashEmbedder()) as memory:
        agent = Agent(llm, memory, extractors=[LLMFactExtractor(llm)])
        reply = agent.chat("I live in Lisbon now", user_id="u")
        assert [f.text for f in reply.facts] == ["The user lives in: Lisbon"]
    assert "response_format" in server.seen[1]["body"]


def test_symbolic_steps_use_structured_output(server: ChatServer, tmp_path) -> None:
    from pydantic import BaseModel

    from agentmem.stores import SymbolicStore

    class Pet(BaseModel):
        name: str
        kind: str

    step = {
        "kind": "sql",
        "sql": "INSERT INTO pet (name, kind) VALUES (?, ?)",
        "params": ["Rex", "dog"],
        "note": "",
    }
    done = {"kind": "done", "sql": "", "params": [], "note": "stored Rex"}
    server.replies += [structured_reply(step), structured_reply(done)]
    llm = OpenAICompatibleLLM(server.url, "m", sleep=lambda s: None)
    with SymbolicStore(tmp_path / "s") as store:
        store.define(Pet, table="pet")
        result = store.record("I have a dog called Rex", llm=llm, user_id="u")
        assert result.note == "stored Rex"
        assert result.steps[0].params == ["Rex", "dog"]
    assert all("response_format" in seen["body"] for seen in server.seen)
    # the chain's conversation keeps the line format
    assert server.seen[1]["body"]["messages"][-2]["content"].startswith("SQL: INSERT")
