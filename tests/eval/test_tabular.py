"""Bring-your-own-data loader: CSV and JSON lines by a column mapping, with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentmem.eval import ConflictEvaluator, Evaluator, load
from agentmem.eval.loaders import DatasetError
from agentmem.eval.tabular import load_conflict_table, load_recall_table, parse_columns
from agentmem.testing import ScriptedLLM

FIXTURES = Path(__file__).parent / "fixtures"
CSV_COLUMNS = (
    "id=qid,context=dialogue,question=q,answer=gold,evidence=support,date=when,category=kind"
)


def test_csv_rows_by_column_mapping() -> None:
    data = load(FIXTURES / "own_recall.csv", "csv", columns=parse_columns(CSV_COLUMNS))
    # no conversation column: each row is its own conversation
    assert [c.id for c in data.conversations] == ["row1", "row2", "row3"]
    first = data.conversations[0]
    assert [(t.id, t.speaker) for t in first.sessions[0].turns] == [
        ("row1:L1", "Ann"),
        ("row1:L2", "Ben"),
        ("row1:L3", "Ann"),
    ]
    q1, q2, q3 = (c.questions[0] for c in data.conversations)
    assert (q1.id, q1.answer, q1.evidence, q1.category) == (
        "a1",
        "Porto",
        ["row1:L1"],
        "single-hop",
    )
    assert q2.evidence == ["row2:L3"]  # evidence given as a text the turn contains
    assert q2.date is not None and q2.date.hour == 10
    assert q3.answer is None and q3.abstain and q3.evidence == []
    report = Evaluator(progress=False).run(["bm25"], data)
    assert report.summary["bm25"]["headline"].with_evidence == 2


def test_jsonl_rows_share_a_conversation_and_take_lists() -> None:
    data = load_recall_table(
        FIXTURES / "own_recall.jsonl",
        {
            "conversation": "thread",
            "question": "prompt",
            "answer": "reply",
            "context": "turns",
            "evidence": "lines",
        },
    )
    (convo,) = data.conversations
    assert [t.speaker for t in convo.sessions[0].turns] == ["Ann", "Ben"]
    assert [q.evidence for q in convo.questions] == [["t1:L2"], ["t1:L1"]]
    assert [q.answer for q in convo.questions] == ["Leeds", "Porto"]


def test_missing_and_wrong_columns_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(
        DatasetError,
        match=r"no column 'question' \(needed for 'question'\).*"
        r"columns are \['qid', 'dialogue'.*--columns question=COLUMN",
    ):
        load_recall_table(FIXTURES / "own_recall.csv", {"context": "dialogue"})
    with pytest.raises(DatasetError, match=r"no column 'answer_text' \(mapped to 'answer'\)"):
        load_recall_table(
            FIXTURES / "own_recall.csv", parse_columns(CSV_COLUMNS + ",answer=answer_text")
        )
    with pytest.raises(DatasetError, match=r"unknown field\(s\) \['questoin'\]"):
        load_recall_table(FIXTURES / "own_recall.csv", {"questoin": "q"})
    with pytest.raises(DatasetError, match="FIELD=COLUMN"):
        parse_columns("question")
    bad = tmp_path / "bad.csv"
    bad.write_text("q,c,e\nWho?,Ann: hi,7\n")
    with pytest.raises(DatasetError, match="row 1: evidence line 7 is outside"):
        load_recall_table(bad, {"question": "q", "context": "c", "evidence": "e"})
    bad.write_text("q,c,d\nWho?,Ann: hi,June 2nd\n")
    with pytest.raises(DatasetError, match="row 1: date 'June 2nd' is not ISO 8601"):
        load_recall_table(bad, {"question": "q", "context": "c", "date": "d"})
    (tmp_path / "x.jsonl").write_text('{"q": 1}\n[1]\n')
    with pytest.raises(DatasetError, match="line 2 must be a JSON object"):
        load_recall_table(tmp_path / "x.jsonl", {"question": "q"})


def test_conflict_rows_by_column_mapping() -> None:
    columns = parse_columns("question=q,answer=truth,counter_answer=other,context=passage")
    items = load_conflict_table(FIXTURES / "own_conflicts.csv", columns)
    assert [(i.id, i.prior_answer, i.counter_answer) for i in items] == [
        ("row1", "Yes", "No"),
        ("row2", "No", "Yes"),
    ]
    assert items[0].counter_memory.startswith("The Eiffel Tower was moved")
    report = ConflictEvaluator(ScriptedLLM([], default="A"), progress=False).conflictqa(items)
    assert report.summary["memory"].position_biased is False  # n=2: a sign test gives p=0.5
    assert report.summary["memory"].inconsistent_rate == 1.0
    with pytest.raises(DatasetError, match=r"no column 'counter_answer' \(needed for"):
        load_conflict_table(
            FIXTURES / "own_conflicts.csv",
            {"question": "q", "answer": "truth", "context": "passage"},
        )


def test_example_script_runs(tmp_path: Path) -> None:
    import runpy
    import sys

    script = Path(__file__).resolve().parents[2] / "examples" / "eval_own_data.py"
    argv = sys.argv
    sys.argv = [str(script), str(tmp_path)]
    try:
        runpy.run_path(str(script), run_name="__main__")
    finally:
        sys.argv = argv
    assert (tmp_path / "recall" / "report.png").exists()
    assert (tmp_path / "msc" / "report.md").exists()
    assert "**yes**" in (tmp_path / "conflicts" / "conflicts.md").read_text()


def test_cli_conflicts_from_a_table(tmp_path: Path) -> None:
    import argparse

    from agentmem.cli import eval as eval_cli

    parser = argparse.ArgumentParser()
    eval_cli.register(parser.add_subparsers(dest="command", required=True))
    argv = ["eval", "conflicts", "--source", "table", "--data", str(FIXTURES / "own_conflicts.csv")]
    argv += ["--columns", "question=q,answer=truth,counter_answer=other,context=passage"]
    argv += ["--llm", "scripted-prior", "--out", str(tmp_path)]
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    text = (tmp_path / "conflicts.md").read_text()
    assert "# Knowledge conflicts: table:own_conflicts.csv" in text
    assert "| memory | 2 |" in text
    args = parser.parse_args([*argv[:6], "--llm", "scripted-prior", "--out", str(tmp_path)])
    with pytest.raises(DatasetError, match="no column 'question'"):
        args.func(args)


def test_a_category_named_all_does_not_hide_the_totals(tmp_path: Path) -> None:
    rows = tmp_path / "r.csv"
    rows.write_text("q,c,a,e,k\nWhere?,Ann: in Porto,Porto,1,all\nWho?,Ben: me,Ben,1,other\n")
    data = load_recall_table(
        rows, {"question": "q", "context": "c", "answer": "a", "evidence": "e", "category": "k"}
    )
    report = Evaluator(progress=False).run(["bm25"], data)
    assert report.summary["bm25"]["all"].questions == 2
    assert report.summary["bm25"]["all (category)"].questions == 1
    assert report.categories == ["all (category)", "other"]
