"""The command line finishes the job: event ids in history, undo that asks and lists,
destructive commands that confirm, clear one-line errors. All through ``main([...])``."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agentmem import ManualClock, Memory
from agentmem.cli import main
from agentmem.testing import HashEmbedder, ScriptedLLM

PAST = datetime(2020, 3, 1, tzinfo=UTC)


class Terminal(io.StringIO):
    """Stands for stdin on a terminal: ``input()`` reads the answers given."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    with Memory.default(tmp_path, embedder=HashEmbedder(32), clock=ManualClock(PAST)) as memory:
        memory.add("nice weather today", user_id="ana")
        memory.add(
            "The user lives in Lisbon.", user_id="ana", kind="fact", metadata=_city("Lisbon")
        )
        memory.add("The user lives in Porto.", user_id="ana", kind="fact", metadata=_city("Porto"))
    yield tmp_path


def _city(value: str) -> dict[str, str]:
    return {"subject": "user", "attribute": "lives_in", "value": value}


def _memory(folder: Path) -> Memory:
    return Memory.default(folder, embedder=HashEmbedder(32))


def _ids(folder: Path) -> dict[str, str]:
    with _memory(folder) as memory:
        return {item.text: item.id for item in memory.items(include_closed=True)}


def test_history_shows_event_ids_ops_policies_reasons_and_times(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lisbon = _ids(folder)["The user lives in Lisbon."]
    assert main(["memories", "history", "--db", str(folder), lisbon]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["event", "time", "(UTC)", "op", "by", "reason"]
    add, update = lines[1], next(line for line in lines if " update " in line)
    assert add.split()[:4] == ["2", "2020-03-01", "00:00", "add"]  # the second memory added
    event, _, _, op, policy = update.split()[:5]
    assert event.isdigit() and op == "update" and policy == "update"
    assert "Porto" in update  # the reason names what replaced it


def test_history_of_a_forgotten_memory_still_shows(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    weather = _ids(folder)["nice weather today"]
    assert main(["memories", "forget", "--db", str(folder), "--user", "ana", weather, "--yes"]) == 0
    capsys.readouterr()
    assert main(["memories", "history", "--db", str(folder), weather]) == 0
    out = capsys.readouterr().out
    assert " forget " in out and "no longer exists" in out


def test_undo_lists_asks_and_can_be_declined(
    folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    undo = ["policies", "undo", "--db", str(folder), "--embedder", "hash"]
    assert main([*undo, "--list"]) == 0
    out, err = capsys.readouterr()
    assert "3 changes can be undone" not in err  # adds and the update: four
    assert "4 changes can be undone" in err
    update = next(line for line in out.splitlines() if ", update by update)" in line)
    event = update.split()[1]
    assert "put back the old values" in out

    monkeypatch.setattr("sys.stdin", Terminal("n\n"))
    assert main([*undo, event]) == 1
    assert "nothing undone" in capsys.readouterr().out
    with _memory(folder) as memory:
        assert [i.text for i in memory.items(filters={"kinds": ["fact"]})] == [
            "The user lives in Porto."
        ]

    monkeypatch.setattr("sys.stdin", Terminal("y\n"))
    assert main([*undo, event]) == 0
    assert f"undid event {event}" in capsys.readouterr().out
    with _memory(folder) as memory:
        facts = {i.text for i in memory.items(filters={"kinds": ["fact"]})}
        assert facts == {"The user lives in Lisbon.", "The user lives in Porto."}


def test_destructive_commands_refuse_without_a_terminal_or_yes(
    folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))  # piped: not a terminal
    assert main(["memories", "forget", "--db", str(folder), "--user", "ana"]) == 2
    assert "without --yes" in capsys.readouterr().err
    assert main(["policies", "undo", "--db", str(folder), "--embedder", "hash", "1"]) == 2
    assert "without --yes" in capsys.readouterr().err
    with _memory(folder) as memory:
        assert memory.count(user_id="ana") == 3
    assert main(["policies", "undo", "--db", str(folder), "--embedder", "hash"]) == 2
    assert "--list" in capsys.readouterr().err


def test_a_file_where_a_folder_is_expected_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "notes.txt"
    file.write_text("hello")
    for argv in (
        ["chat", "--db", str(file), "--user", "ana"],
        ["memories", "list", "--db", str(file)],
        ["policies", "preview", "--db", str(file), "--policy", "ttl:ttl=7d"],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "is a file" in err and "Traceback" not in err


def test_a_bad_policy_spec_says_which_option_and_what_it_takes(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    preview = ["policies", "preview", "--db", str(folder), "--embedder", "hash", "--policy"]
    cases = {
        "decay:threshold=abc": "decay:threshold takes a number; got 'abc'",
        "ttl:days=7": "ttl has no option 'days'",
        "ttl:ttl=7": "ttl:ttl takes a duration such as 30m, 12h, 7d or 2w",
        "decay:archive=maybe": "decay:archive takes true or false",
    }
    for spec, message in cases.items():
        assert main([*preview, spec]) == 2
        assert message in capsys.readouterr().err


def test_chat_forget_asks_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    default = Memory.default

    def hashed(path: Any, **kwargs: Any) -> Memory:
        return default(path, embedder=HashEmbedder(32))

    monkeypatch.setattr(Memory, "default", staticmethod(hashed))

    class Scripted(ScriptedLLM):  # stands for the local model (a class: Agent checks it)
        def __init__(self) -> None:
            super().__init__([], default="Noted.")

    monkeypatch.setattr("agentmem.llms.LocalLLM", Scripted)
    script = "I live in Lisbon.\n/forget\nn\n/memories\n/forget\nyes\n/memories\n/quit\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(script))
    assert main(["chat", "--db", str(tmp_path / "m"), "--user", "ana"]) == 0
    out = capsys.readouterr().out
    assert "agent> Noted." in out  # the reply, streamed after the prompt
    first, second = out.split("Forget all")[1:3]
    assert "nothing forgotten" in first and "The user lives in Lisbon." in first
    assert "forgot 2 memories" in second
