from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path

import pytest

from agentmem import Kind, UserError
from agentmem.cli import thoughts
from agentmem.stores import ThoughtStore
from agentmem.testing import HashEmbedder
from agentmem.testing.stores import make

ROOT = Path(__file__).resolve().parent.parent


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    thoughts.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    import agentmem.embedders

    monkeypatch.setattr(agentmem.embedders, "SentenceTransformerEmbedder", lambda: HashEmbedder(64))
    store = ThoughtStore(tmp_path, HashEmbedder(64))
    meta = {"subject": "user", "relation": "lives_in", "object": "Porto"}
    store.add(
        [
            make("The user lives in Porto.", kind=Kind.THOUGHT, metadata=meta),
            make("The user likes tea.", kind=Kind.THOUGHT),
            make("hello there", kind=Kind.MESSAGE),
            make("Bob's thought about Porto.", "bob", kind=Kind.THOUGHT),
        ]
    )
    store.close()
    return tmp_path


def test_thoughts_list_shows_thoughts_and_triples(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(["thoughts", "list", "--db", str(folder), "--user", "alice"]) == 0
    out = capsys.readouterr()
    assert "The user lives in Porto.  [user | lives_in | Porto]" in out.out
    assert "hello there" not in out.out and "Bob" not in out.out
    assert "2 thoughts" in out.err


def test_thoughts_search_is_scoped(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["thoughts", "search", "Porto", "--db", str(folder), "--user", "alice"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "The user lives in Porto." in lines[0]
    assert not any("Bob" in line for line in lines)
    with pytest.raises(UserError, match="--user"):
        _run(["thoughts", "search", "Porto", "--db", str(folder)])


def test_thoughts_on_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no thought store"):
        _run(["thoughts", "list", "--db", str(tmp_path / "nothing")])


def test_example_runs_with_offline_doubles(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["thought_memory.py", "--offline-doubles"])
    runpy.run_path(str(ROOT / "examples" / "thought_memory.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "forget  contradicted by the newer thought" in out
    held = out.split("thoughts now held:")[1].split("what happened")[0]
    assert "Lisbon" not in held and "Porto" in held
