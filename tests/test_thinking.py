from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from agentmem import (
    Agent,
    ChatMessage,
    EventOp,
    Kind,
    ManualClock,
    Memory,
    PostThinker,
    Thought,
    UserError,
)
from agentmem.policies import ThoughtPolicy
from agentmem.stores import ThoughtStore, VectorStore
from agentmem.testing import FunctionLLM, HashEmbedder, ScriptedLLM

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


def _memory(clock: ManualClock, **kwargs: object) -> Memory:
    embedder = HashEmbedder(128)
    return Memory(
        [VectorStore(None, embedder), ThoughtStore(None, embedder)],
        embedder=embedder,
        clock=clock,
        **kwargs,  # type: ignore[arg-type]
    )


def _thought_events(memory: Memory) -> list[tuple[EventOp, str]]:
    thoughts = {
        e.item_ids[0]
        for e in memory.events()
        if e.op is EventOp.ADD and e.after and e.after["kind"] == "thought"
    }
    return [
        (e.op, e.reason)
        for e in memory.events()
        if e.op is not EventOp.ACCESS and thoughts & set(e.item_ids)
    ]


def _answer_from_thoughts(messages: Sequence[ChatMessage]) -> str:
    """A reader that answers with the most recent thought it was shown, or gives up."""
    lines = re.findall(r'\(thought\) "(.*)"', messages[0].content)
    return lines[-1] if lines else "I do not know."


def test_changed_fact_inserts_then_merges_then_forgets_and_answers_from_the_merge() -> None:
    clock = ManualClock(T0)
    memory = _memory(clock)
    llm = ScriptedLLM(
        [
            "Nice, Lisbon is lovely.",  # respond, turn 1
            "user | lives_in | Lisbon | The user lives in Lisbon.",  # post-think, turn 1
            "Congratulations on the move!",  # respond, turn 2
            "user | lives_in | Porto | The user lives in Porto now.",  # post-think, turn 2
            "The user moved from Lisbon to Porto and lives in Porto now.",  # merge
        ]
    )
    agent = Agent(llm, memory, extractors=[], thinker=PostThinker(llm, patterns=False))
    first = agent.chat("I live in Lisbon.", user_id="alice", session_id="s1")
    assert [t.text for t in first.thoughts] == ["The user lives in Lisbon."]
    clock.advance(timedelta(days=30))
    second = agent.chat("I moved to Porto last month.", user_id="alice", session_id="s2")
    assert llm.remaining == 0

    ops = [op for op, _ in _thought_events(memory)]
    assert ops == [EventOp.ADD, EventOp.ADD, EventOp.MERGE, EventOp.FORGET]
    reasons = dict(_thought_events(memory)[2:])
    assert "same subject and relation (user lives_in)" in reasons[EventOp.MERGE]
    assert "contradicted" in reasons[EventOp.FORGET] and "'Lisbon'" in reasons[EventOp.FORGET]

    thoughts = memory.items(user_id="alice", filters={"kinds": [Kind.THOUGHT]})
    assert [t.text for t in thoughts] == [
        "The user moved from Lisbon to Porto and lives in Porto now."
    ]
    merged = thoughts[0]
    assert merged.metadata["object"] == "Porto"
    assert merged.metadata["earlier_objects"] == ["Lisbon"]
    turns = [i.id for i in memory.items(user_id="alice") if i.kind is Kind.MESSAGE]
    assert merged.source_ids == turns  # provenance: both turns
    assert [i.id for i in second.written if i.kind is Kind.THOUGHT][-1] == merged.id
    stale = [i for i in second.forgotten if i.kind is Kind.THOUGHT]
    assert [i.text for i in stale] == ["The user lives in Lisbon."]

    # A later question: the model sees the merged thought, never the stale one.
    clock.advance(timedelta(days=1))
    agent.llm = FunctionLLM(_answer_from_thoughts)
    agent.thinker = PostThinker(ScriptedLLM(["NONE"]), patterns=False)
    later = agent.chat("Where do I live these days?", user_id="alice", session_id="s3")
    assert [h.item.id for h in later.recalled if h.store == "thought"] == [merged.id]
    prompt = agent.llm.calls[0][0].content  # type: ignore[attr-defined]
    assert "The user lives in Lisbon." not in prompt
    assert later.text == merged.text


def test_biased_thoughts_two_wordings_recall_the_same_thought() -> None:
    """TiM's consistency check: differently-worded questions rely on one stored thought."""
    clock = ManualClock(T0)
    memory = _memory(clock)
    llm = ScriptedLLM(
        [
            "How nice.",
            "Anna | lives_in | Lisbon | The user's sister Anna lives in Lisbon.",
            "Tea is great.",
            "user | likes | green tea | The user likes green tea.",
            "Sounds tiring.",
            "NONE",
            "Anna lives in Lisbon.",
            "NONE",
            "Your sister is in Lisbon.",
            "NONE",
        ]
    )
    agent = Agent(llm, memory, extractors=[], thinker=PostThinker(llm, patterns=False))
    for text in ["My sister Anna lives in Lisbon.", "I like green tea.", "Work was busy."]:
        agent.chat(text, user_id="bob")
        clock.advance(timedelta(hours=1))
    first = agent.chat("Where does Anna live?", user_id="bob")
    second = agent.chat("Which city is my sister based in?", user_id="bob")

    def top_thought(reply_recalled: list) -> str:  # type: ignore[type-arg]
        return next(h.item.text for h in reply_recalled if h.store == "thought")

    assert top_thought(first.recalled) == top_thought(second.recalled)
    assert top_thought(first.recalled) == "The user's sister Anna lives in Lisbon."
    for call in (llm.calls[6], llm.calls[8]):  # the two answering prompts
        assert "The user's sister Anna lives in Lisbon." in call[0].content


def test_same_thought_reached_again_is_merged_and_nothing_forgotten() -> None:
    clock = ManualClock(T0)
    memory = _memory(clock)
    thinker = PostThinker()  # patterns only, deterministic merge rule
    for turn in ["I work as a nurse.", "Yes. I work as a nurse, and I love it."]:
        thoughts = thinker.think(turn, "ok")
        thinker.remember(memory, thoughts, user_id="carol", source_ids=[turn])
        clock.advance(timedelta(days=1))
    ops = [op for op, _ in _thought_events(memory)]
    assert ops == [EventOp.ADD, EventOp.ADD, EventOp.MERGE]
    open_thoughts = memory.items(user_id="carol")
    assert [t.text for t in open_thoughts] == ["The user works as a nurse."]
    assert open_thoughts[0].source_ids == [
        "I work as a nurse.",
        "Yes. I work as a nurse, and I love it.",
    ]
    closed = memory.items(user_id="carol", include_closed=True)
    assert len(closed) == 3  # the two originals stay as closed history
    # merged like any near-duplicates: the two reinforcements add up
    originals = [t for t in closed if t.id != open_thoughts[0].id]
    assert open_thoughts[0].strength == sum(t.strength for t in originals) == 2.0


def test_multi_valued_relation_merges_without_forgetting() -> None:
    clock = ManualClock(T0)
    memory = _memory(clock, policies=[ThoughtPolicy()])
    thinker = PostThinker()
    thinker.remember(
        memory,
        [Thought(text="The user likes tea.", subject="user", relation="likes", object="tea")],
        user_id="dan",
    )
    clock.advance(timedelta(hours=1))
    changes = thinker.remember(
        memory,
        [Thought(text="The user likes chess.", subject="user", relation="likes", object="chess")],
        user_id="dan",
    )
    assert not changes.forgotten
    [merged] = memory.items(user_id="dan")
    assert merged.text == "The user likes tea. The user likes chess."
    assert merged.metadata["object"] == "tea, chess"


def test_llm_merge_that_drops_the_current_fact_falls_back_to_the_rule() -> None:
    clock = ManualClock(T0)
    memory = _memory(clock)
    merger = ScriptedLLM(["The user lives somewhere nice."])
    thinker = PostThinker(policy=ThoughtPolicy(merger))  # patterns post-think; the LLM merges
    for turn in ["I live in Oslo.", "I moved to Bergen."]:
        thinker.remember(memory, thinker.think(turn, ""), user_id="eve")
        clock.advance(timedelta(days=1))
    assert merger.remaining == 0  # the LLM was asked, and its text was refused
    assert [t.text for t in memory.items(user_id="eve")] == ["The user lives in Bergen."]


def test_parse_keeps_grounded_well_formed_lines() -> None:
    reply = (
        "user | lives_in | Lisbon | The user lives in Lisbon.\n"
        "user | job | astronaut | The user is an astronaut.\n"
        "garbage line\n"
        "Anna | sister of | user\n"
    )
    thoughts = PostThinker.parse(reply, "My sister Anna moved; I live in Lisbon, says the user")
    assert [(t.subject, t.relation, t.object) for t in thoughts] == [
        ("user", "lives_in", "Lisbon"),
        ("Anna", "sister_of", "user"),
    ]
    assert thoughts[1].text == "Anna sister of: user."


def test_remember_without_a_thought_store_is_a_clear_error() -> None:
    memory = Memory([VectorStore(None, HashEmbedder(32))], clock=ManualClock(T0))
    with pytest.raises(UserError, match="ThoughtStore"):
        PostThinker().remember(memory, [Thought(text="x")], user_id="u")


def test_agent_without_thinker_keeps_no_thoughts() -> None:
    clock = ManualClock(T0)
    memory = _memory(clock)
    agent = Agent(ScriptedLLM(["Hi."]), memory, extractors=[])
    reply = agent.chat("I live in Rome.", user_id="f")
    assert reply.thoughts == []
    assert memory.items(user_id="f", filters={"kinds": [Kind.THOUGHT]}) == []
