from __future__ import annotations

from pathlib import Path

import pytest

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
from agentmem.policies import UpdatePolicy
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


def test_always_first_option_is_no_preference_and_position_biased() -> None:
    items = load_conflictqa(FIXTURES / "conflictqa_mini.json")
    many = [i.model_copy(update={"id": f"{i.id}-{n}"}) for n in range(5) for i in items]
    llm = ScriptedLLM([], default="A")
    report = ConflictEvaluator(llm, progress=False).conflictqa(many, seed=3)
    assert len(llm.calls) == 2 * 2 * len(many)  # two conditions, both orders
    for s in report.summary.values():
        assert s.items == 20
        assert (s.counter_rate, s.prior_rate, s.inconsistent_rate) == (0.0, 0.0, 1.0)
        assert s.memorization_ratio is None
        assert s.preference == "none"
        assert s.rates["first_option"].value == 1.0 and s.rates["first_option"].n == 20
        assert s.rates["same_letter"].value == 1.0
        assert s.position_biased
    md = report.to_markdown()
    assert "## Position bias" in md and "**yes**" in md


def test_a_model_that_follows_the_memory_is_not_position_biased() -> None:
    items = load_conflictqa(FIXTURES / "conflictqa_mini.json")
    many = [i.model_copy(update={"id": f"{i.id}-{n}"}) for n in range(5) for i in items]
    counters = {i.question: i.counter_answer for i in items}

    def follow(messages: object) -> str:
        text = messages[0].content  # type: ignore[index]
        question = text.split("Question: ")[1].split("\n")[0]
        a = text.split("\nA. ")[1].split("\n")[0]
        return "A" if a == counters[question] else "B"

    report = ConflictEvaluator(FunctionLLM(follow), progress=False).conflictqa(
        many, conditions=["memory"]
    )
    s = report.summary["memory"]
    assert s.counter_rate == 1.0 and s.memorization_ratio == 0.0
    assert s.preference == "memory"
    assert s.rates["first_option"].value == 0.5 and not s.position_biased
    assert s.rates["counter"].low == 1.0 and s.rates["counter"].n == 20


def test_conflictqa_per_item_outcomes_by_hand() -> None:
    items = load_conflictqa(FIXTURES / "conflictqa_mini.json")
    # memory condition, per item (counter-first reply, prior-first reply):
    # cqa1: A, B -> counter both times; cqa2: B, A -> prior both times;
    # cqa3: A, A -> inconsistent (same letter); cqa4: hmm, hmm -> other
    replies = ["A", "B", "B", "A", "A", "A", "hmm", "hmm"]
    llm = ScriptedLLM(replies)
    report = ConflictEvaluator(llm, progress=False).conflictqa(items, conditions=["memory"])
    s = report.summary["memory"]
    assert (s.counter_rate, s.prior_rate, s.inconsistent_rate, s.other_rate) == (
        0.25,
        0.25,
        0.25,
        0.25,
    )
    assert s.memorization_ratio == 0.5 and s.preference == "none"
    assert s.rates["first_option"].value == pytest.approx((0.5 + 0.5 + 1) / 3, abs=1e-4)
    assert s.rates["first_option"].n == 3
    assert "Studies show the sky is green." in llm.calls[0][0].content
    # option A is the counter answer in the first ask, the prior answer in the second
    assert f"A. {items[0].counter_answer}" in llm.calls[0][0].content
    assert f"A. {items[0].prior_answer}" in llm.calls[1][0].content


def test_conflictqa_balanced_order_asks_once_half_each_way() -> None:
    items = load_conflictqa(FIXTURES / "conflictqa_mini.json")
    llm = ScriptedLLM([], default="A")
    report = ConflictEvaluator(llm, progress=False).conflictqa(
        items, conditions=["no-memory"], orders="balanced", seed=1
    )
    orders = [r.order for r in report.results]
    assert len(orders) == 4 and orders.count("counter-first") == 2
    s = report.summary["no-memory"]
    assert (s.counter_rate, s.prior_rate) == (0.5, 0.5) and s.preference == "none"
    assert "Studies show" not in llm.calls[0][0].content


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
