"""`agentmem mcp` driven by the official SDK's client: over stdio, and over streamable HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from agentmem import Memory
from agentmem.testing import HashEmbedder
from tests.server.live import free_port

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def payload(result: Any) -> Any:
    assert not result.is_error, result
    if result.structured_content is not None:
        content = result.structured_content
        return content.get("result", content) if isinstance(content, dict) else content
    return json.loads(result.content[0].text)


async def exercise(client: Client) -> dict[str, Any]:
    tools = await client.list_tools()
    names = {tool.name for tool in tools.tools}
    assert {"remember", "recall", "forget", "list_memories"} <= names
    recall_tool = next(tool for tool in tools.tools if tool.name == "recall")
    assert "query" in recall_tool.input_schema["properties"]
    first = payload(await client.call_tool("remember", {"text": "Alice's sister is called Maria"}))
    second = payload(await client.call_tool("remember", {"text": "Alice runs on Tuesday mornings"}))
    hits = payload(await client.call_tool("recall", {"query": "sister called Maria", "k": 1}))
    assert [hit["id"] for hit in hits] == [first["id"]]
    assert hits[0]["score"] > 0 and hits[0]["signal"]
    listed = payload(await client.call_tool("list_memories", {}))
    assert {item["id"] for item in listed} == {first["id"], second["id"]}
    assert payload(await client.call_tool("forget", {"memory_id": first["id"]})) == {"forgotten": 1}
    refused = await client.call_tool("forget", {"memory_id": first["id"]})
    assert refused.is_error
    left = payload(await client.call_tool("list_memories", {}))
    return {"left": [item["id"] for item in left], "second": second["id"]}


def check_folder(folder: Path, expected: list[str]) -> None:
    with Memory.default(folder, embedder=HashEmbedder(64)) as memory:
        assert [item.id for item in memory.items(user_id="alice")] == expected
        assert memory.items(user_id="bob")[0].text == "Bob's own memory"


def seed_bob(folder: Path) -> None:
    with Memory.default(folder, embedder=HashEmbedder(64)) as memory:
        memory.add("Bob's own memory", user_id="bob")


def test_mcp_over_stdio(tmp_path: Path) -> None:
    folder = tmp_path / "memory"
    seed_bob(folder)
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "agentmem.cli", "mcp", "--db", str(folder), "--user", "alice",
              "--embedder", "hash"],
        env=ENV,
    )  # fmt: skip

    async def main() -> dict[str, Any]:
        async with Client(params, read_timeout_seconds=60) as client:
            return await exercise(client)

    result = asyncio.run(main())
    assert result["left"] == [result["second"]]
    check_folder(folder, [result["second"]])


def test_mcp_over_streamable_http(tmp_path: Path) -> None:
    folder = tmp_path / "memory"
    seed_bob(folder)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "agentmem.cli", "mcp", "--db", str(folder), "--user", "alice",
         "--embedder", "hash", "--transport", "http", "--port", str(port)],
        env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stderr.read()  # type: ignore[union-attr]
            try:
                httpx.get(f"http://127.0.0.1:{port}/mcp", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "agentmem mcp --transport http did not start"
                time.sleep(0.1)

        async def main() -> dict[str, Any]:
            async with Client(f"http://127.0.0.1:{port}/mcp", read_timeout_seconds=60) as client:
                return await exercise(client)

        result = asyncio.run(main())
    finally:
        process.terminate()
        process.wait(20)
        process.stderr.close()  # type: ignore[union-attr]
    assert result["left"] == [result["second"]]
    check_folder(folder, [result["second"]])
