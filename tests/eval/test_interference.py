from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from agentmem._protocols import ChatMessage
from agentmem.eval import (
    InterferenceEvaluator,
    babi_episodes,
    load_babi,
    load_vocabulary,
    mentions,
    parse_fact,
    picks_answer,
    update_stream_episodes,
)
from agentmem.eval.loaders import DatasetError
from agentmem.eval.shared_data import shared_data_dir
from agentmem.testing import FunctionLLM, HashEmbedder

FIXTURES = Path(__file__).parent / "fixtures"
VOCAB = {"color": ["red", "blue", "green"], "fruit": ["apple", "pear", "plum"]}


def test_picks_answer_needs_the_answer_and_no_alternative() -> None:
    assert mentions("The latest color is Blue.", "blue")
    assert not mentions("blueberry", "blue")
    assert picks_answer("blue", "blue", ["red", "blue"]) == 1.0
    assert picks_answer("red, then blue", "blue", ["red"]) == 0.0
    assert picks_answer("green", "blue", ["red"]) == 0.0


def test_parse_fact_reads_updates_and_babi_moves() -> None:
    assert parse_fact("color: blue") == ("color", "value", "blue")
    assert parse_fact("Mary went back to the kitchen.") == ("Mary", "location", "kitchen")
    assert parse_fact("John picked up the apple there.") is None


def test_update_streams_are_seeded_and_end_on_the_probed_value() -> None:
    first = update_stream_episodes(VOCAB, n_keys=2, updates=[1, 3], seed=4)
    again = update_stream_episodes(VOCAB, n_keys=2, updates=[1, 3], seed=4)
    assert [e.model_dump() for e in first] == [e.model_dump() for e in again]
    u3 = first[1]
    lines = [t.text for _, t in u3.conversation.turns()]
    assert len(lines) == 6 and u3.x == 3
    for q in u3.conversation.questions:
        key = "color" if "color" in q.question else "fruit"
        last = [line for line in lines if line.startswith(key)][-1]
        assert last == f"{key}: {q.answer}"
        assert u3.alternatives[q.id][-1] == q.answer and len(u3.alternatives[q.id]) == 3


def test_bundled_vocabulary_loads() -> None:
    vocab = load_vocabulary()
    assert len(vocab) >= 6 and all(len(set(v)) >= 16 for v in vocab.values())


def _last_line_llm(messages: Sequence[ChatMessage]) -> str:
    # answers with the value of the first context line: right only when memory hands
    # back the current value alone (or the stream has one update per key)
    context = messages[0].content.split("\n")[1]
    return context.split(":")[-1].strip()


def test_memory_stays_right_while_the_first_line_reader_falls() -> None:
    episodes = update_stream_episodes(VOCAB, n_keys=1, updates=[1, 2], seed=0)
    evaluator = InterferenceEvaluator(embedder=HashEmbedder(64), progress=False)
    report = evaluator.run(["full-context", "facts"], episodes, llm=FunctionLLM(_last_line_llm))
    assert report.curve("facts") == [(1, 1.0), (2, 1.0)]
    assert report.curve("facts", "memory") == [(1, 1.0), (2, 1.0)]
    # full context: the first line is the first of two different values, so wrong at u=2
    assert report.curve("full-context") == [(1, 1.0), (2, 0.0)]
    assert report.summary["full-context"]["2"].memory == 1.0  # the evidence is in context


def test_recent_window_loses_the_fact_after_k_interfering_statements(tmp_path: Path) -> None:
    stories = load_babi(FIXTURES / "babi_mini.txt")
    assert [len(s.questions) for s in stories] == [2, 1]
    assert stories[0].questions[1].after == 3 and stories[0].statements[2][0] == 4
    episodes = babi_episodes(stories, ks=[0, 1, 3], questions=3, seed=0)
    evaluator = InterferenceEvaluator(embedder=HashEmbedder(64), progress=False)
    report = evaluator.run(["recent-window:n=2", "facts"], episodes)
    # Mary's story: 2 / 3 statements; Sandra's 1; the supporting line leaves a window of 2
    # once k >= 2 - (statements after it) ... hand-computed per question:
    # q "bathroom" (supp 1 of 2 lines): in window at k=0 only
    # q "kitchen" (supp 3 of 3 lines): in window at k=0 and k=1
    # q "garden" (supp 1 of 1 line): in window at k=0 and k=1
    assert report.curve("recent-window:n=2", "memory") == [(0, 1.0), (1, 0.6667), (3, 0.0)]
    assert report.curve("facts", "memory") == [(0, 1.0), (1, 1.0), (3, 1.0)]
    paths = report.save(tmp_path)
    assert paths["png"].stat().st_size > 0 and "recent-window:n=2" in paths["md"].read_text()


def test_bad_babi_line_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "qa1_x_test.txt"
    bad.write_text("one Mary moved.\n")
    with pytest.raises(DatasetError, match="qa1_x_test.txt line 1"):
        load_babi(bad)


SHARED = shared_data_dir()


@pytest.mark.skipif(
    SHARED is None or not (SHARED / "babi" / "en").is_dir(),
    reason="bAbI not found in ../shared/data (set AGENTMEM_SHARED_DATA)",
)
def test_shared_babi_task1_facts_memory_is_flat() -> None:
    assert SHARED is not None
    from agentmem.eval import babi_files

    stories = load_babi(babi_files(SHARED / "babi" / "en", (1,))[0], limit=30)
    episodes = babi_episodes(stories, ks=[0, 8], questions=8, seed=1)
    evaluator = InterferenceEvaluator(embedder=HashEmbedder(128), progress=False)
    report = evaluator.run(["facts", "recent-window:n=4"], episodes)
    assert report.curve("facts", "memory") == [(0, 1.0), (8, 1.0)]
    assert report.curve("recent-window:n=4", "memory")[-1] == (8, 0.0)


def test_cli_interference_and_conflicts_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from agentmem.cli import main

    assert (
        main(
            [
                "eval",
                "interference",
                "--out",
                str(tmp_path / "i"),
                "--updates",
                "1,2",
                "--systems",
                "full-context,facts",
            ]
        )
        == 0
    )
    assert (tmp_path / "i" / "interference.png").exists()
    assert (
        main(
            [
                "eval",
                "conflicts",
                "--source",
                "staleness",
                "--seeds",
                "0",
                "--sessions",
                "5",
                "--policies",
                "none;update",
                "--out",
                str(tmp_path / "c"),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "eval",
                "conflicts",
                "--source",
                "substitution",
                "--llm",
                "scripted-prior",
                "--out",
                str(tmp_path / "s"),
            ]
        )
        == 0
    )
    assert "| update |" in capsys.readouterr().out


def _ask_counting(calls: list[str]) -> FunctionLLM:
    def reply(messages: Sequence[ChatMessage]) -> str:
        calls.append(messages[0].content)
        return "nothing"

    return FunctionLLM(reply)


def test_answer_from_memory_gives_the_stored_value_and_its_source_without_a_model() -> None:
    episodes = update_stream_episodes(VOCAB, n_keys=2, updates=[1, 3], seed=1)
    calls: list[str] = []
    evaluator = InterferenceEvaluator(embedder=HashEmbedder(64), progress=False)
    report = evaluator.run(
        ["facts", "facts:answer=memory", "facts:policy=none,answer=memory"],
        episodes,
        llm=_ask_counting(calls),
    )
    assert report.from_memory == ["facts:answer=memory", "facts:policy=none,answer=memory"]
    # only the LLM-answered system asked the model: 2 keys x 2 levels
    assert len(calls) == 4
    assert report.curve("facts") == [(1, 0.0), (3, 0.0)]
    assert report.curve("facts:answer=memory") == [(1, 1.0), (3, 1.0)]
    rows = [r for r in report.results if r.system == "facts:answer=memory"]
    for row in rows:
        episode = next(e for e in episodes if e.conversation.id == row.episode)
        question = next(q for q in episode.conversation.questions if q.question == row.question)
        assert row.prediction == row.answer and [row.source] == question.evidence
        assert row.prompt_tokens == 0
    # with every value open, the top fact is not always the latest one
    assert report.summary["facts:policy=none,answer=memory"]["3"].accuracy == pytest.approx(
        report.summary["facts:policy=none,answer=memory"]["3"].memory
    )
    # answered from memory without any chat model at all
    alone = evaluator.run(["facts:answer=memory"], episodes)
    assert alone.llm is None and alone.curve("facts:answer=memory") == [(1, 1.0), (3, 1.0)]
    assert "Answered from memory" in alone.to_markdown()


def test_k_caps_the_recalled_lines_in_the_prompt() -> None:
    episodes = update_stream_episodes(VOCAB, n_keys=2, updates=[4], seed=0)
    for k in (1, 3):
        calls: list[str] = []
        evaluator = InterferenceEvaluator(embedder=HashEmbedder(64), k=k, progress=False)
        report = evaluator.run(
            ["vector", "facts:policy=none", "full-context"], episodes, llm=_ask_counting(calls)
        )
        for row in report.results:
            expected = 8 if row.system == "full-context" else k
            assert row.context_lines == expected, (row.system, k)
        context = calls[0].split("\n\n")[0].splitlines()[1:]
        assert len(context) == k  # the first call is the vector system's


def test_bad_facts_answer_option_says_what_is_allowed() -> None:
    from agentmem._errors import UserError
    from agentmem.eval import build_system

    with pytest.raises(UserError, match="llm or memory"):
        build_system("facts:answer=model", embedder=HashEmbedder(64))


def test_memory_panel_leaves_out_fixed_context_systems(tmp_path: Path) -> None:
    episodes = update_stream_episodes(VOCAB, n_keys=1, updates=[1, 2], seed=0)
    evaluator = InterferenceEvaluator(embedder=HashEmbedder(64), progress=False)
    report = evaluator.run(["full-context", "facts", "facts:answer=memory"], episodes)
    assert report.fixed_context == ["full-context"]
    drawn: dict[str, object] = {}

    def capture(panels: dict[str, object], path: Path, **kwargs: object) -> Path:
        drawn.update(panels)
        return path

    monkey = pytest.MonkeyPatch()
    monkey.setattr("agentmem.eval.plots.draw_curves", capture)
    try:
        report.plot(tmp_path / "x.png")
    finally:
        monkey.undo()
    memory_panel = next(v for k, v in drawn.items() if k.startswith("memory level"))
    answer_panel = next(v for k, v in drawn.items() if k.startswith("answer accuracy"))
    assert isinstance(memory_panel, dict) and "full-context" not in memory_panel
    assert set(memory_panel) == {"facts", "facts:answer=memory"}
    assert isinstance(answer_panel, dict) and set(answer_panel) == {"facts:answer=memory"}
    assert report.plot(tmp_path / "y.png").stat().st_size > 0


def test_prompts_over_the_cap_are_not_sent_to_the_model() -> None:
    episodes = update_stream_episodes(VOCAB, n_keys=2, updates=[1, 8], seed=0)
    calls: list[str] = []
    evaluator = InterferenceEvaluator(
        embedder=HashEmbedder(64), max_prompt_tokens=40, progress=False
    )
    report = evaluator.run(["full-context", "facts"], episodes, llm=_ask_counting(calls))
    assert report.summary["full-context"]["8"].accuracy is None
    assert report.summary["full-context"]["1"].accuracy == 0.0
    assert report.curve("full-context") == [(1, 0.0)]
    assert len(calls) == 6  # full-context at u=1 and facts at both levels, 2 keys each
    assert "not sent to the model" in report.to_markdown()
