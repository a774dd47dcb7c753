"""The README's two server lines and its MCP snippet work as written (port and db aside)."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from agentmem.cli import build_parser
from tests.server.live import serve_cli

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
SECTION = README[README.index("## Memory as a service") :]


def test_the_readme_serve_and_curl_lines(tmp_path: Path) -> None:
    block = re.search(r"```sh\n(.*?)```", SECTION, flags=re.DOTALL)
    assert block is not None
    serve, curl = block.group(1).strip().splitlines()
    key = re.search(r'"(\S+)": \["alice"\]', SECTION)
    assert key is not None and key.group(1) in curl
    args = shlex.split(serve)
    assert args[:2] == ["agentmem", "serve"] and "--keys" in args
    parsed = build_parser().parse_args(args[1:])
    assert (parsed.host, parsed.port) == ("127.0.0.1", 8765)
    if shutil.which("curl") is None:
        pytest.fail("curl is missing; install it with: apt-get install -y curl")
    with serve_cli(tmp_path / "service", keys={key.group(1): ["alice"]}) as url:
        command = shlex.split(curl.replace("http://127.0.0.1:8765", url))
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=True)
        assert json.loads(done.stdout) == []  # a search in an empty memory
        bad = subprocess.run(
            [*command[:2], "Authorization: Bearer wrong", command[-1].replace("alice", "bob")],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        assert json.loads(bad.stdout) == {"detail": "invalid API key"}


def test_the_readme_mcp_snippet_parses() -> None:
    block = re.search(r"```json\n(.*?)```", SECTION, flags=re.DOTALL)
    assert block is not None
    server = json.loads(block.group(1))["mcpServers"]["agentmem"]
    assert server["command"] == "agentmem"
    parsed = build_parser().parse_args(server["args"])
    assert parsed.command == "mcp" and parsed.user == "alice" and parsed.transport == "stdio"
