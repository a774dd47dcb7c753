"""``agentmem policies preview`` and ``undo``, end to end through ``agentmem.cli.main``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from agentmem import ManualClock, Memory
from agentmem.cli import main
from agentmem.testing import HashEmbedder

PAST = datetime(2020, 3, 1, tzinfo=UTC)  # years before the system clock the CLI runs on


def _folder(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    with Memory.default(tmp_path, embedder=HashEmbedder(32), clock=ManualClock(PAST)) as memory:
        ids = {
            "hello": memory.add("hello there", user_id="ana").id,
            "weather": memory.add("nice weather today", user_id="ana").id,
            "fact": memory.add("Ana is allergic to nuts", user_id="ana", kind="fact").id,
        }
    return tmp_path, ids


def _open(folder: Path) -> Memory:
    return Memory.default(folder, embedder=HashEmbedder(32))


def test_preview_shows_without_changing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder, _ = _folder(tmp_path)
    spec = "ttl:ttl=30d,kinds=message"
    assert (
        main(["policies", "preview", "--db", str(folder), "--policy", spec, "--embedder", "hash"])
        == 0
    )
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].startswith("forget 2 by ttl: TTL: older than 30 days")
    assert sorted(line.split(None, 1)[1] for line in lines[1:3]) == [
        "'hello there'",
        "'nice weather today'",
    ]  # each memory the tick would forget, by id and text
    assert "1 decisions, 2 memories" in err
    with _open(folder) as memory:
        assert memory.count() == 3


def test_preview_apply_then_undo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder, ids = _folder(tmp_path)
    argv = ["policies", "preview", "--db", str(folder), "--embedder", "hash", "--apply"]
    assert main([*argv, "--policy", "ttl:ttl=30d,kinds=message"]) == 2  # no terminal: refuse
    assert "without --yes" in capsys.readouterr().err
    assert main([*argv, "--yes", "--policy", "ttl:ttl=30d,kinds=message"]) == 0
    err = capsys.readouterr().out
    assert "applied: 0 updated, 2 forgotten" in err
    with _open(folder) as memory:
        assert [item.id for item in memory.items()] == [ids["fact"]]
        forget = [e for e in memory.history(ids["weather"]) if e.op.value == "forget"][0]
    assert forget.id is not None and f"events {forget.id - 1}-{forget.id}" in err

    undo = ["policies", "undo", "--db", str(folder), "--embedder", "hash", "--yes"]
    assert main([*undo, str(forget.id)]) == 0
    assert "1 restored" in capsys.readouterr().out
    with _open(folder) as memory:
        restored = memory.get(ids["weather"])
        assert restored.text == "nice weather today" and restored.created_at == PAST
        assert {item.id for item in memory.items()} == {ids["weather"], ids["fact"]}
        assert memory.history(ids["weather"])[-1].policy == "undo"

    # Undoing the same forget again: the memory exists, nothing to restore.
    assert main([*undo, str(forget.id)]) == 2
    assert "nothing to restore" in capsys.readouterr().err


def test_errors_say_how_to_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["policies", "undo", "--db", str(tmp_path / "none"), "--embedder", "hash", "1"]) == 2
    )
    assert "no memory at" in capsys.readouterr().err
    folder, _ = _folder(tmp_path)
    assert main(["policies", "undo", "--db", str(folder), "--embedder", "hash", "999"]) == 2
    assert "no audit event 999" in capsys.readouterr().err
    argv = ["policies", "preview", "--db", str(folder), "--embedder", "hash"]
    assert main([*argv, "--policy", "forever"]) == 2
    assert "unknown policy 'forever'" in capsys.readouterr().err
