import argparse
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from agentmem import ChatMessage, UserError
from agentmem.cli import eval as eval_cli
from agentmem.eval import Evaluator, Report, generate, load_locomo
from agentmem.testing import FunctionLLM, HashEmbedder

SYSTEMS = ["full-context", "no-memory", "recent-window", "vector", "bm25"]
_WORDS = re.compile(r"\w+")


def answer_from_prompt(messages: Sequence[ChatMessage]) -> str:
    """Deterministic reader: the words of the best-matching context line not in the question."""
    prompt = messages[-1].content
    question = set(_WORDS.findall(prompt.rsplit("Question:", 1)[1].lower()))
    context = prompt.split("<conversation>")[1].split("</conversation>")[0]
    lines = [line for line in context.strip().splitlines() if line.startswith("[")]
    if not lines:
        return "not mentioned"
    best = max(lines, key=lambda line: len(question & set(_WORDS.findall(line.lower()))))
    said = best.split("] ", 1)[1].split(": ", 1)[-1]
    return " ".join(w for w in _WORDS.findall(said) if w.lower() not in question)


@pytest.fixture(scope="module")
def data_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("gen")
    return generate.write_locomo(folder / "c.json", [generate.conversation(11, sessions=30)])


def _strip_latency(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _strip_latency(v) for k, v in data.items() if "latency" not in k}
    if isinstance(data, list):
        return [_strip_latency(v) for v in data]
    return data


def test_generated_conversation_is_valid_and_seeded(data_path: Path) -> None:
    record = generate.conversation(11, sessions=30)
    assert record == json.loads(data_path.read_text())[0]
    assert record != generate.conversation(12, sessions=30)
    (convo,) = load_locomo(data_path).conversations
    assert len(convo.sessions) == 30
    dates = [s.date for s in convo.sessions]
    assert dates == sorted(dates) and len(set(dates)) == 30
    categories = {q.category for q in convo.questions}
    assert categories == {"multi-hop", "temporal", "open-domain", "single-hop", "adversarial"}
    turns = {t.id: t.text for _, t in convo.turns()}
    for q in convo.questions:
        assert q.evidence and all(e in turns for e in q.evidence)
        if q.category in {"single-hop", "open-domain"}:
            assert q.answer is not None and q.answer in turns[q.evidence[-1]]
    with pytest.raises(UserError, match="at least 3 sessions"):
        generate.conversation(1, sessions=2)


def test_end_to_end_retrieval_and_answers_reproducible(data_path: Path, tmp_path: Path) -> None:
    data = load_locomo(data_path)
    reports = []
    for run in ("a", "b"):
        evaluator = Evaluator(embedder=HashEmbedder(256), out_dir=tmp_path / run, progress=False)
        report = evaluator.run(SYSTEMS, data, llm=FunctionLLM(answer_from_prompt), seed=3)
        paths = report.save(tmp_path / run)
        assert all(p.exists() and p.stat().st_size > 0 for p in paths.values())
        assert paths["png"].read_bytes().startswith(b"\x89PNG")
        reports.append(report)
    first, second = (json.loads((tmp_path / r / "report.json").read_text()) for r in "ab")
    assert _strip_latency(first) == _strip_latency(second)
    md = [(tmp_path / r / "report.md").read_text().split("## Latency")[0] for r in "ab"]
    assert md[0] == md[1]

    summary = {name: reports[0].summary[name]["all"] for name in SYSTEMS}
    n = data.question_count
    assert all(s.questions == n for s in summary.values())
    assert summary["full-context"].recall["recall@10"] == 1.0
    assert summary["no-memory"].recall["recall@10"] == 0.0
    assert summary["bm25"].recall["recall@10"] > summary["recent-window"].recall["recall@10"]
    full = summary["full-context"].prompt_tokens
    assert all(s.full_context_tokens == full for s in summary.values())
    for name in ("vector", "bm25", "recent-window", "no-memory"):
        assert summary[name].prompt_tokens < full / 3
    assert summary["full-context"].f1 is not None and summary["full-context"].f1 > 0.0
    assert summary["bm25"].f1 is not None and summary["bm25"].f1 > summary["no-memory"].f1
    assert summary["no-memory"].f1 == 0.0
    assert summary["no-memory"].abstention == 1.0
    text = (tmp_path / "a" / "report.md").read_text()
    assert "| full-context | " in text and "100.0%" in text and "## Per category" in text


def test_retrieval_only_run_and_resume_from_cache(data_path: Path, tmp_path: Path) -> None:
    data = load_locomo(data_path)
    evaluator = Evaluator(embedder=HashEmbedder(64), out_dir=tmp_path, progress=False)
    report = evaluator.run(["bm25", "full-context"], data)
    assert report.llm is None and report.summary["bm25"]["all"].f1 is None
    cache = tmp_path / "cache" / "bm25" / "gen-11.json"
    assert cache.exists()
    payload = json.loads(cache.read_text())
    payload["results"][0]["prompt_tokens"] = 123456  # a marker only a reused cache reports
    cache.write_text(json.dumps(payload))
    again = evaluator.run(["bm25", "full-context"], data)
    assert again.results["bm25"][0].prompt_tokens == 123456
    other_seed = evaluator.run(["bm25"], data, seed=1)  # a different run ignores the cache
    assert other_seed.results["bm25"][0].prompt_tokens != 123456


def test_max_questions_sampled_by_seed(data_path: Path) -> None:
    data = load_locomo(data_path)
    evaluator = Evaluator(max_questions=4, progress=False)
    a = evaluator.run(["no-memory"], data, seed=5).results["no-memory"]
    b = evaluator.run(["no-memory"], data, seed=5).results["no-memory"]
    assert len(a) == 4 and [r.question for r in a] == [r.question for r in b]


def test_evaluator_rejects_misuse(data_path: Path) -> None:
    data = load_locomo(data_path)
    with pytest.raises(UserError, match="distinct names"):
        Evaluator(progress=False).run(["bm25", "bm25"], data)
    with pytest.raises(UserError, match="needs llm"):
        Evaluator(progress=False).run(["bm25"], data, judge=FunctionLLM(lambda m: "CORRECT"))
    with pytest.raises(UserError, match="positive"):
        Evaluator(k=0)


def test_llm_judge_is_named_and_scored(data_path: Path) -> None:
    data = load_locomo(data_path)
    judge = FunctionLLM(lambda m: "CORRECT")
    report = Evaluator(progress=False, max_questions=5).run(
        ["full-context"], data, llm=FunctionLLM(answer_from_prompt), judge=judge
    )
    assert report.judge == "FunctionLLM"
    assert report.summary["full-context"]["all"].judge == 1.0
    assert "Correct answer:" in judge.calls[0][0].content


def test_headline_leaves_out_adversarial_and_counts_questions_with_evidence(
    data_path: Path,
) -> None:
    data = load_locomo(data_path)
    (convo,) = data.conversations
    # a question without evidence counts among the questions, not in recall
    bare = convo.questions[0].model_copy(update={"id": "bare", "evidence": []})
    convo = convo.model_copy(update={"questions": [*convo.questions, bare]})
    data = data.model_copy(update={"conversations": [convo]})
    report = Evaluator(progress=False, ks=(1, 5, 10, 25)).run(["bm25", "no-memory"], data, seed=2)
    adversarial = [q for q in convo.questions if q.category == "adversarial"]
    assert adversarial
    head = report.summary["bm25"]["headline"]
    assert head.questions == len(convo.questions) - len(adversarial)
    assert head.with_evidence == head.questions - 1
    rows = [r for r in report.results["bm25"] if r.category != "adversarial" and r.recall]
    mean = sum(r.recall["recall@25"] for r in rows) / len(rows)  # type: ignore[index]
    assert head.recall["recall@25"] == pytest.approx(mean, abs=1e-4)
    rate = head.rates["recall@25"]
    assert rate.n == len(rows) and rate.low <= rate.value <= rate.high
    assert report.summary["bm25"]["all"].questions == len(convo.questions)
    md = report.to_markdown()
    assert "## adversarial" in md and "with evidence" in md
    assert md.index("## adversarial") < md.index("## Per category")
    assert report.categories[-1] == "adversarial"


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    eval_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_cli_recall_on_generated_and_file(
    data_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = ["eval", "recall", "--generate", "4", "--sessions", "5", "--out", str(out)]
    assert (
        _cli([*argv, "--embedder", "hash", "--systems", "full-context,recent-window:n=4,vector"])
        == 0
    )
    report = Report.model_validate_json((out / "report.json").read_text())
    assert report.systems == ["full-context", "recent-window:n=4", "vector"]
    assert (out / "report.png").exists() and (out / "generated-4.json").exists()
    assert "wrote" in capsys.readouterr().out
    # the generated conversation's seed is the report's seed; every cut-off is in the title
    assert report.seed == 4 and report.ks == [1, 5, 10, 25]
    assert "seed 4;" in report.title() and "k = 1, 5, 10, 25" in report.title()
    out2 = tmp_path / "out2"
    code = _cli(
        [
            "eval",
            "recall",
            "--data",
            str(data_path),
            "--format",
            "locomo",
            "--systems",
            "bm25;no-memory",
            "--out",
            str(out2),
            "--embedder",
            "hash",
        ]
    )
    assert code == 0 and (out2 / "report.md").exists()


def test_cli_scores_msc_persona_probes(tmp_path: Path) -> None:
    msc = Path(__file__).parent / "fixtures" / "msc_dialogue_session3.jsonl"
    argv = ["eval", "recall", "--data", str(msc), "--format", "msc", "--out", str(tmp_path)]
    assert _cli([*argv, "--embedder", "hash", "--systems", "bm25,no-memory,full-context"]) == 0
    report = Report.model_validate_json((tmp_path / "report.json").read_text())
    head = report.summary["bm25"]["headline"]
    assert head.questions == head.with_evidence == 5
    assert report.summary["full-context"]["headline"].recall["recall@25"] == 1.0
    assert report.summary["no-memory"]["headline"].recall["recall@25"] == 0.0
    assert head.recall["recall@5"] > 0.5
    assert set(report.categories) == {"persona from S1", "persona from S2"}


def test_cli_rejects_msc_without_questions(tmp_path: Path) -> None:
    msc = tmp_path / "m.jsonl"
    msc.write_text(
        '{"personas": [[], []], "dialog": [{"text": "hi"}], "metadata": {}, '
        '"previous_dialogs": []}\n'
    )
    with pytest.raises(UserError, match="asks no questions"):
        _cli(
            [
                "eval",
                "recall",
                "--data",
                str(msc),
                "--format",
                "msc",
                "--out",
                str(tmp_path),
                "--embedder",
                "hash",
            ]
        )
