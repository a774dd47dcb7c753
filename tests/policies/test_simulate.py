from __future__ import annotations

import argparse
from datetime import timedelta
from pathlib import Path

import pytest

from agentmem import InvalidInputError, UserError
from agentmem.cli import policies as policies_cli
from agentmem.eval.simulate import LoggedTurn, Probe, generate_log, read_log, replay, write_log
from agentmem.policies import CapacityPolicy, UpdatePolicy, parse_spec

from .conftest import START


def test_generated_log_has_30_dated_sessions_and_known_answers() -> None:
    log = generate_log(7, sessions=30)
    turns = [e for e in log if isinstance(e, LoggedTurn)]
    probes = [e for e in log if isinstance(e, Probe)]
    assert len({t.session for t in turns}) == 30
    assert [e.at for e in log] == sorted(e.at for e in log)
    # Every probe's answer is the value last stated for its attribute before it.
    for probe in probes:
        attribute = probe.question.removeprefix("What is my ").removesuffix("?")
        said = [t for t in turns if t.metadata.get("attribute") == attribute and t.at < probe.at]
        assert said[-1].metadata["value"] == probe.answer
    assert any(  # some facts change over the log
        len({t.metadata["value"] for t in turns if t.metadata.get("attribute") == a}) > 1
        for a in ("city", "job", "car")
    )
    assert generate_log(7) == log


def test_replay_measures_size_and_accuracy_per_step() -> None:
    log: list[LoggedTurn | Probe] = [
        LoggedTurn(
            at=START,
            session="s1",
            text="My city is Lisbon.",
            kind="fact",
            metadata={"subject": "u", "attribute": "city", "value": "Lisbon"},
        ),
        LoggedTurn(at=START + timedelta(minutes=1), session="s1", text="Nice weather."),
        Probe(at=START + timedelta(minutes=2), question="What is my city?", answer="Lisbon"),
        LoggedTurn(
            at=START + timedelta(days=1),
            session="s2",
            text="My city is Porto.",
            kind="fact",
            metadata={"subject": "u", "attribute": "city", "value": "Porto"},
        ),
    ]
    late = Probe(
        at=START + timedelta(days=1, minutes=5), question="What is my city?", answer="Porto"
    )
    result = replay(
        log,
        policies={
            "update": [UpdatePolicy()],
            "none": [],
            "cap1": CapacityPolicy(1, evict="oldest"),
        },
        probes=[late],
    )
    assert [(s.size, s.correct, s.total) for s in result.runs["update"]] == [(2, 1, 1), (2, 1, 1)]
    assert [s.size for s in result.runs["none"]] == [2, 3]
    assert [s.size for s in result.runs["cap1"]] == [1, 1]
    table = result.table()
    assert "| update | `update` | 2 | 2 | 1.000 | 1.000 |" in table
    with pytest.raises(InvalidInputError, match="empty"):
        replay([], policies={"none": []})


def test_log_round_trip_and_bad_lines(tmp_path: Path) -> None:
    log = generate_log(1, sessions=2)
    write_log(log, tmp_path / "log.jsonl")
    assert read_log(tmp_path / "log.jsonl") == log
    (tmp_path / "bad.jsonl").write_text('{"type": "turn"}\n')
    with pytest.raises(InvalidInputError, match="bad.jsonl:1"):
        read_log(tmp_path / "bad.jsonl")


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    policies_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["policies", *argv])
    return int(args.func(args))


def test_cli_compare_writes_table_and_plots(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    assert _cli("generate-log", "--out", str(log), "--sessions", "30", "--seed", "2") == 0
    sets = {
        "keep-all": "update",
        "ttl": "update+ttl:ttl=10d",
        "decay": "update+decay:threshold=0.3",
        "capacity": "update+capacity:max_items=25",
    }
    argv = ["compare", "--log", str(log), "--out", str(tmp_path / "out")]
    for name, spec in sets.items():
        argv += ["--policy", f"{name}={spec}"]
    assert _cli(*argv) == 0
    table = (tmp_path / "out" / "results.md").read_text()
    for name, spec in sets.items():
        assert f"| {name} | `{spec}` |" in table
    for png in ("size.png", "accuracy.png"):
        assert (tmp_path / "out" / png).read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(UserError, match="NAME=SPEC"):
        _cli("compare", "--log", str(log), "--out", str(tmp_path), "--policy", "decay")


def test_spec_sets_replay_like_objects() -> None:
    log = generate_log(3, sessions=5)
    by_spec = replay(log, policies={"x": parse_spec("update+capacity:max_items=12")})
    by_object = replay(log, policies={"x": [UpdatePolicy(), CapacityPolicy(12)]})
    assert by_spec.runs == by_object.runs
