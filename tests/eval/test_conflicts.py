from __future__ import annotations

import random
from pathlib import Path

import pytest
from agentmem.policies import UpdatePolicy

from agentmem.eval import (
    ConflictEvaluator,
    classify_choice,
    load_conflictqa,
    load_entities,
    load_entity_qa,
    memorization_ratio,
    staleness,
    substitute_all,
)
from agentmem.eval.conflicts import ConflictItem
from agentmem.eval.loaders import DatasetError
from agentmem.eval.shared_data import shared_data_dir
from agentmem.eval.substitution import EntityQA, substitute
from agentmem.testing import FunctionLLM, HashEmbedder, ScriptedLLM

FIXTURES = Path(__file__).parent / "fixtures"


def test_memorization_ratio_by_hand() -> None:
    assert memorization_ratio(0.25, 0.5) == pytest.approx(1 / 3, abs=1e-4)
    assert memorization_ratio(0.0, 0.0) is None


def test_classify_choice() -> None:
    options = {"A": "Water is wet.", "B": "Water is dry."}
    assert classify_choice("B. Water is dry.", options) == "B"
    assert classify_choice("Answer: A", options) == "A"
    assert classify_choice("I think water is dry.", options) == "B"
    assert classify_choice("No idea.", options) is None


def _order(seed: int, item_id: str) -> str:
    # the evaluator's option order: counter first when this draw is < 0.5
    return "counter-first" if random.Random(f"{seed}/{item_id}").random() < 0.5 else "prior-first"


def test_conflictqa_rates_by_hand() -> None:
    items = load_conflictqa(FIXTURES / "conflictqa_mini.json")
    assert [i.id for i in items] == ["cqa1", "cqa2", "cqa3", "cqa4"]
    # with memory: always letter A; without memory: nonsense
    llm = ScriptedLLM(["A", "A", "A", "A", "hmm", "hmm", "hmm", "hmm"])
    report = ConflictEvaluator(llm, progress=False).conflictqa(items, seed=3)
    counter_first = sum(_order(3, i.id) == "counter-first" for i in items)
    s = report.summary["memory"]
    assert s.counter_rate == counter_first / 4
    assert s.prior_rate == (4 - counter_first) / 4
    assert s.memorization_ratio == memorization_ratio((4 - counter_first) / 4, counter_first / 4)
    assert report.summary["no-memory"].other_rate == 1.0
    assert "Studies show the sky is green." in llm.calls[0][0].content
    assert "Studies show" not in llm.calls[4][0].content


def test_conflictqa_following_the_memory_gives_mr_zero() -> None:
    items = load_conflictqa(FIXTURES / "conflictqa_mini.json")
    counters = {i.question: i.counter_answer for i in items}

    def follow(messages: object) -> str:
        text = messages[0].content  # type: ignore[index]
        question = text.split("Question: ")[1].split("\n")[0]
        return counters[question]

    report = ConflictEvaluator(FunctionLLM(follow), progress=False).conflictqa(
        items, conditions=["memory"]
    )
    assert report.summary["memory"].counter_rate == 1.0
    assert report.summary["memory"].memorization_ratio == 0.0


def test_conflictqa_bad_record(tmp_path: Path) -> None:
    bad = tmp_path / "c.json"
    bad.write_text('{"question": "q"}\n')
    with pytest.raises(DatasetError, match="line 1"):
        load_conflictqa(bad)


def test_substitution_replaces_every_mention_with_the_same_type() -> None:
    item = EntityQA(
        id="x",
        question="Who?",
        context="Ada Lovelace wrote it; Ada Lovelace!",
        answer="Ada Lovelace",
        type="PERSON",
    )
    swapped = substitute(item, "Isaac Newton")
    assert swapped.context == "Isaac Newton wrote it; Isaac Newton!"
    items = load_entity_qa()
    entities = load_entities()
    out = substitute_all(items, entities, seed=1)
    assert out == substitute_all(items, entities, seed=1)
    for original, new in zip(items, out, strict=True):
        assert new.substituted in entities[original.type] and new.substituted != original.answer
        assert original.answer not in new.context and new.substituted in new.context


def test_substitution_rates_by_hand() -> None:
    items = load_entity_qa()[:4]
    swapped = substitute_all(items, load_entities(), seed=0)
    # originals: right, right, wrong, right; substituted: follows, prior, follows, other
    replies = [items[0].answer, items[1].answer, "nobody", items[3].answer]
    replies += [swapped[0].substituted, items[1].answer, swapped[2].substituted, "?"]
    report = ConflictEvaluator(ScriptedLLM(replies), progress=False).substitution(items, swapped)
    o, s = report.summary["original"], report.summary["substituted"]
    assert (o.prior_rate, o.counter_rate, o.other_rate) == (0.75, 0.0, 0.25)
    assert (s.counter_rate, s.prior_rate, s.other_rate) == (0.5, 0.25, 0.25)
    assert s.memorization_ratio == pytest.approx(1 / 3, abs=1e-4)


def test_staleness_update_policy_versus_none(tmp_path: Path) -> None:
    report = staleness(
        {"none": [], "update": [UpdatePolicy()]},
        embedder=HashEmbedder(128),
        seeds=[0],
        sessions=8,
    )
    assert report.summary["update"].probes == report.summary["none"].probes > 0
    assert report.summary["update"].staleness_rate == 0.0
    assert report.summary["none"].staleness_rate > 0.5
    # the hashing embedder sometimes ranks another fact first; never an outdated value
    assert report.summary["update"].update_accuracy > report.summary["none"].update_accuracy
    paths = report.save(tmp_path)
    assert "| update |" in paths["md"].read_text()


SHARED = shared_data_dir()


@pytest.mark.skipif(
    SHARED is None or not (SHARED / "conflictqa").is_dir(),
    reason="ConflictQA not found in ../shared/data (set AGENTMEM_SHARED_DATA)",
)
def test_shared_conflictqa_loads_and_samples_with_a_seed() -> None:
    assert SHARED is not None
    path = next(iter(sorted((SHARED / "conflictqa").glob("*.json"))))
    items = load_conflictqa(path, limit=10, seed=2)
    assert len(items) == 10 and items == load_conflictqa(path, limit=10, seed=2)
    assert all(isinstance(i, ConflictItem) and i.counter_memory for i in items)


def test_example_script_runs(tmp_path: Path) -> None:
    import runpy
    import sys

    script = Path(__file__).resolve().parents[2] / "examples" / "eval_conflicts.py"
    argv = sys.argv
    sys.argv = [str(script), str(tmp_path)]
    try:
        runpy.run_path(str(script), run_name="__main__")
    finally:
        sys.argv = argv
    assert (tmp_path / "interference.png").exists() and (tmp_path / "substitution.md").exists()
