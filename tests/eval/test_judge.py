"""A reader and a judge from an OpenAI-compatible server (the scripted one on 127.0.0.1)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from agentmem.cli import eval as eval_cli
from agentmem.eval import Evaluator, Report, load
from agentmem.eval.harness import parse_verdict
from agentmem.eval.tabular import parse_columns
from agentmem.llms import OpenAICompatibleLLM
from tests.chat_server import chat_server

FIXTURES = Path(__file__).parent / "fixtures"
COLUMNS = "id=qid,context=dialogue,question=q,answer=gold,evidence=support,date=when,category=kind"


def _data():  # type: ignore[no-untyped-def]
    return load(FIXTURES / "own_recall.csv", "csv", columns=parse_columns(COLUMNS))


def test_parse_verdict() -> None:
    assert parse_verdict("CORRECT") == 1.0
    assert parse_verdict("**Correct.**") == 1.0
    assert parse_verdict("INCORRECT") == 0.0
    assert parse_verdict("The answer is wrong") == 0.0
    assert parse_verdict("maybe") is None
    assert parse_verdict("CORRECT or WRONG.") is None  # an echo of the choices decides nothing


def test_reader_and_judge_from_a_server_verdicts_cached(tmp_path: Path) -> None:
    with chat_server() as server:
        reader = OpenAICompatibleLLM(server.url, "reader-model", api_key="")
        judge = OpenAICompatibleLLM(server.url, "judge-model", api_key="")
        # first the judge's check (a right answer, two wrong ones), then per question the
        # reader's answer and (answerable questions only) the verdict
        server.say("CORRECT", "WRONG", "WRONG")
        server.say("Ann lives in Porto.", "CORRECT", "Her mother.", "WRONG", "not mentioned")
        evaluator = Evaluator(out_dir=tmp_path, progress=False)
        report = evaluator.run(["bm25"], _data(), llm=reader, judge=judge)
        bodies = [r["body"] for r in server.seen]
        assert [b["model"] for b in bodies[:3]] == ["judge-model"] * 3
        assert report.judge_check == {"right": True, "wrong": True, "wrong-date": True}
        bodies = bodies[3:]
        assert [b["model"] for b in bodies] == [
            "reader-model",
            "judge-model",
            "reader-model",
            "judge-model",
            "reader-model",
        ]
        judged = bodies[1]["messages"][0]["content"]
        assert (
            "Correct answer: Porto" in judged and "Answer to grade: Ann lives in Porto." in judged
        )
        rows = report.results["bm25"]
        assert [r.judge for r in rows] == [1.0, 0.0, None]
        assert rows[2].abstained == 1.0
        head = report.summary["bm25"]["headline"]
        assert head.judge == 0.5 and head.rates["judge"].n == 2
        assert report.judge == "judge-model" and report.llm == "reader-model"
        md = report.to_markdown()
        assert "J (judge)" in md and "| F1 |" in md
        # the verdicts are on disk; a new evaluator over a fresh cache of answers asks the
        # reader again but never the judge
        assert len((tmp_path / "cache" / "judge.jsonl").read_text().splitlines()) == 5
        for path in (tmp_path / "cache" / "bm25").glob("*.json"):
            path.unlink()
        server.say("Ann lives in Porto.", "Her mother.", "not mentioned")
        again = Evaluator(out_dir=tmp_path, progress=False).run(
            ["bm25"], _data(), llm=reader, judge=judge
        )
        assert [r.judge for r in again.results["bm25"]] == [1.0, 0.0, None]
        assert [r["body"]["model"] for r in server.seen[8:]] == ["reader-model"] * 3


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    eval_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_cli_reader_and_judge_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEY", "sk-test")
    with chat_server() as server:
        server.say("CORRECT", "WRONG", "WRONG", "Porto", "CORRECT", "Eva", "CORRECT", "no")
        argv = ["eval", "recall", "--data", str(FIXTURES / "own_recall.csv"), "--format", "csv"]
        argv += ["--columns", COLUMNS, "--systems", "bm25", "--embedder", "hash"]
        argv += ["--llm", "openai", "--base-url", server.url, "--model", "m1"]
        argv += ["--judge", "openai", "--judge-model", "m2", "--api-key-env", "MY_KEY"]
        assert _cli([*argv, "--out", str(tmp_path)]) == 0
        models = [r["body"]["model"] for r in server.seen]
        assert models == ["m2", "m2", "m2", "m1", "m2", "m1", "m2", "m1"]
        assert server.seen[0]["auth"] == "Bearer sk-test"
    report = Report.model_validate_json((tmp_path / "report.json").read_text())
    assert report.summary["bm25"]["headline"].judge == 1.0
    with pytest.raises(Exception, match="--base-url URL and --model NAME"):
        _cli(["eval", "recall", "--generate", "1", "--llm", "openai", "--out", str(tmp_path)])


def test_a_judge_that_passes_everything_is_flagged() -> None:
    from agentmem.testing import FunctionLLM

    always = FunctionLLM(lambda messages: "CORRECT")
    report = Evaluator(progress=False).run(
        ["bm25"], _data(), llm=FunctionLLM(lambda m: "Porto"), judge=always
    )
    assert report.judge_check == {"right": True, "wrong": False, "wrong-date": False}
    assert "**The judge failed its check** (wrong, wrong-date" in report.to_markdown()
