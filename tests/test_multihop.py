"""Multi-hop search: sub-queries per person, a second hop seeded by the first, fused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agentmem import Hit, ManualClock, Memory, MemoryItem, MultiHop, Scope
from agentmem.stores import HybridStore
from agentmem.testing import HashEmbedder, ScriptedLLM

NOW = datetime(2023, 8, 1, tzinfo=UTC)


def test_a_question_naming_several_people_is_asked_once_per_person() -> None:
    hop = MultiHop()
    assert hop.sub_queries("What do Jon and Gina both like?", NOW) == [
        "What do Jon both like?",
        "What do Gina both like?",
    ]
    assert hop.sub_queries("Which cities have Jon, Gina and Ann visited?", NOW) == [
        "Which cities have Jon visited?",
        "Which cities have Gina visited?",
        "Which cities have Ann visited?",
    ]
    assert hop.sub_queries("What is Caroline's and Melanie's favorite food?", NOW) == [
        "What is Caroline's favorite food?",
        "What is Melanie's favorite food?",
    ]
    assert hop.sub_queries("What did Caroline research in May?", NOW) == []  # one person


def test_with_a_model_the_model_splits_the_question() -> None:
    llm = ScriptedLLM(["- Where does Jon live?\n2. Where does Gina live?\n", "NONE"])
    hop = MultiHop(llm)
    assert hop.sub_queries("Do Jon and Gina live in the same city?", NOW) == [
        "Where does Jon live?",
        "Where does Gina live?",
    ]
    prompt = llm.calls[0][0].content
    assert '"Do Jon and Gina live in the same city?"' in prompt and "1 August 2023" in prompt
    assert hop.sub_queries("Where does Jon live?", NOW) == []
    assert MultiHop(ScriptedLLM([])).sub_queries("anything?", NOW) == []  # model error


def hit(text: str, speaker: str = "Caroline") -> Hit:
    item = MemoryItem(
        text=text,
        scope=Scope(user_id="u"),
        created_at=NOW,
        recorded_at=NOW,
        metadata={"speaker": speaker},
    )
    return Hit(item=item, score=1.0, store="s")


def test_the_second_hop_adds_what_the_best_hit_says_beyond_the_question() -> None:
    hop = MultiHop(hop_words=4)
    first = [hit("I moved here from my home country four years ago, Melanie.")]
    query = hop.hop_query("Where did Caroline live before she moved here?", first, NOW)
    assert query is not None
    words = query.split()
    assert words[:2] == ["Caroline", "Melanie"]  # the question's names, then new names
    assert "country" in words and "moved" not in words and "here" not in words
    assert len(words) == 1 + 4
    assert MultiHop(hop=False).hop_query("Where?", first, NOW) is None
    assert hop.hop_query("Where?", [], NOW) is None


def test_memory_search_fuses_the_second_hop() -> None:
    embedder = HashEmbedder(64)
    clock = ManualClock(NOW)
    store = HybridStore(None, embedder, name="words", signals=("bm25",), clock=clock)
    memory = Memory([store], embedder=embedder, clock=clock)
    memory.add(
        "I moved here from my home country four years ago",
        user_id="u",
        metadata={"speaker": "Caroline"},
        created_at=NOW - timedelta(days=30),
    )
    bridge = memory.add(
        "This necklace is from my grandma back in Sweden, my home country",
        user_id="u",
        metadata={"speaker": "Caroline"},
        created_at=NOW - timedelta(days=29),
    )
    memory.add_many(
        [{"text": f"filler note {i} about cooking pasta"} for i in range(60)],
        user_id="u",
        created_at=NOW - timedelta(days=1),
    )
    question = "Where did Caroline live before she moved here?"
    plain = [h.item.id for h in memory.search(question, user_id="u", k=10)]
    assert bridge.id not in plain
    memory.multihop = MultiHop()
    hops = [h.item.id for h in memory.search(question, user_id="u", k=10)]
    assert bridge.id in hops


def test_fusion_gives_no_vote_to_fill_ins() -> None:
    from agentmem._fusion import fuse_hits

    a, b, c = hit("a"), hit("b"), hit("c")
    filler = c.model_copy(update={"signal": "recent"})
    fused = fuse_hits([(1.0, [a, filler]), (0.3, [b])], k=3, rrf_k=10)
    assert [h.item.text for h in fused] == ["a", "b", "c"]
    assert fused[2].score == 0.0
    assert [h.item.text for h in fuse_hits([(1.0, [a, filler]), (0.3, [b])], k=2)] == ["a", "b"]
