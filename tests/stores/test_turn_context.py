"""Conversation turns indexed twice: their own text and the turn in its context."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from agentmem import MemoryItem, MemoryStore, Scope
from agentmem.stores import ContextOptions, HybridStore
from agentmem.stores._context import (
    PREVIOUS_WEIGHT,
    SPEAKER_WEIGHT,
    context_vector,
    indexed_texts,
)
from agentmem.stores._query import ParsedQuery
from agentmem.stores._ranking import ContextRetriever, RankingSettings, rank
from agentmem.stores._retrieval import CONTEXT_KEY, SqliteRetriever
from agentmem.testing import HashEmbedder
from agentmem.testing.stores import make

ALICE = Scope(user_id="alice")
DAY = datetime(2023, 5, 7, 14, 0, tzinfo=UTC)


class CallCounter(HashEmbedder):
    """Counts embedding calls and texts."""

    def __init__(self, dim: int = 64) -> None:
        super().__init__(dim)
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.calls.append(list(texts))
        return super().embed(texts)


def turn(text: str, speaker: str, minute: int, session: str = "s1") -> MemoryItem:
    return make(
        text,
        session=session,
        at=DAY + timedelta(minutes=minute),
        metadata={"speaker": speaker},
    )


def dialogue() -> list[MemoryItem]:
    return [
        turn("I was thinking about getting a dog.", "Ana", 0),
        turn("Did you adopt the puppy Rex in the end?", "Bo", 1),
        turn("Yes! Last Tuesday, right after work.", "Ana", 2),
        turn("I am repainting the kitchen this weekend.", "Bo", 3),
        turn("Which colour are you going for?", "Ana", 4),
    ]


def test_a_turn_gets_an_in_context_text_and_a_note_does_not() -> None:
    items = [*dialogue()[1:3], make("a note without a speaker", session=None, at=DAY)]
    texts = indexed_texts(items, ContextOptions())
    assert texts.dense[1] == "[7 May 2023] Yes! Last Tuesday, right after work."
    # BM25 in context: the turn it answers, not the speaker's name (it would match every
    # turn of that speaker)
    lexical = texts.context_lexical[1]
    assert lexical is not None and "Rex" in lexical and "Ana:" not in lexical
    # the vector in context is mixed from the turn's, its previous turn's and its speaker's
    assert texts.speakers == ["Bo", "Ana", None] and texts.turns == [0, 1]
    assert texts.previous == [None, 0, None]
    assert texts.context_lexical[2] is None
    off = indexed_texts(items, ContextOptions(turn_context=False))
    assert off.speakers == [None] * 3 and off.context_lexical == [None] * 3
    assert off.dense == texts.dense and off.lexical == texts.lexical


def test_the_in_context_vector_is_a_unit_mix_of_turn_previous_and_speaker() -> None:
    own, before, speaker = np.eye(3, dtype=np.float32)
    mixed = context_vector(own, before, speaker)
    expected = own + PREVIOUS_WEIGHT * before + SPEAKER_WEIGHT * speaker
    assert np.allclose(mixed, expected / np.linalg.norm(expected))
    first = context_vector(own, None, speaker)  # the first turn of a session
    assert np.allclose(
        first, (own + SPEAKER_WEIGHT * speaker) / np.linalg.norm(own + speaker * SPEAKER_WEIGHT)
    )


def test_one_embedding_call_holds_every_text_of_a_batch() -> None:
    embedder = CallCounter()
    store = HybridStore(None, embedder)
    store.add([*dialogue(), make("a note without a speaker", session=None, at=DAY)])
    # one text per memory, and each speaker's name once: no second embedding per turn
    assert len(embedder.calls) == 1
    assert len(embedder.calls[0]) == 5 + 1 + 2 and embedder.calls[0][-2:] == ["Ana", "Bo"]
    assert store.index_size == store.count() == 6
    assert store.dense_index.size == 11  # six own vectors, five in context
    store.add([turn("And the kitchen is blue now.", "Bo", 5)])
    assert embedder.calls[1] == ["[7 May 2023] And the kitchen is blue now."]  # name cached
    stored = store._table.conn.execute(
        "SELECT embedding FROM context_vectors ORDER BY vid DESC LIMIT 1"
    ).fetchone()[0]
    own, before, bo = store.embedder.embed(
        [
            "[7 May 2023] And the kitchen is blue now.",
            "[7 May 2023] Which colour are you going for?",
            "Bo",
        ]
    )
    # the previous turn came from the database (an earlier batch)
    assert np.allclose(np.frombuffer(stored, dtype=np.float32), context_vector(own, before, bo))
    store.close()


def reply_found_by_what_it_answers(store: MemoryStore, found: bool) -> None:
    """A reply ("Yes! Last Tuesday...") is found by the question it answers when turns are
    indexed in context (``found``), and not otherwise."""
    store.add(dialogue())
    hits = store.search("When did Ana adopt the puppy Rex?", scope=ALICE, k=2)
    replies = [h for h in hits if h.item.text.startswith("Yes! Last Tuesday")]
    assert bool(replies) is found
    if replies:
        assert replies[0].signal == "bm25"


def test_a_reply_is_found_by_what_it_answers() -> None:
    for context, found in ((ContextOptions(), True), (ContextOptions(turn_context=False), False)):
        store = HybridStore(None, HashEmbedder(64), signals=("bm25",), context=context)
        reply_found_by_what_it_answers(store, found)
        store.close()


def context_bodies_after_an_update(bodies_with: Callable[[str], list[str]]) -> None:
    """After ``dialogue()[2]`` became "It was on Sunday morning.": the new text is in its
    own context (after the same turn) and in the next turn's (as its previous), the old
    text in none. ``bodies_with(words)``: the in-context texts holding ``words``, in order."""
    sunday = bodies_with("Sunday")
    assert len(sunday) == 2 and "Rex" in sunday[0] and "kitchen" in sunday[1]
    assert bodies_with("Last Tuesday") == []


def test_delete_and_update_keep_the_in_context_index_in_step(tmp_path: Path) -> None:
    store = HybridStore(tmp_path, HashEmbedder(64))
    items = dialogue()
    store.add(items)
    store.update([items[2].model_copy(update={"text": "It was on Sunday morning."})])
    conn = store._table.conn
    context_bodies_after_an_update(
        lambda words: [
            str(row[0])
            for row in conn.execute(
                "SELECT body FROM items_context_fts WHERE body LIKE ? ORDER BY rowid",
                (f"%{words}%",),
            )
        ]
    )
    assert store.delete([items[0].id, items[2].id]) == 2
    assert conn.execute("SELECT COUNT(*) FROM context_vectors").fetchone()[0] == 3
    assert conn.execute("SELECT COUNT(*) FROM items_context_fts").fetchone()[0] == 3
    assert store.index_size == store.count() == 3
    assert store.dense_index.size == 6
    hits = store.search("Sunday morning", scope=ALICE, k=5)
    assert all("Sunday" not in h.item.text for h in hits)
    store.close()
    reopened = HybridStore(tmp_path, HashEmbedder(64))
    assert reopened.index_size == reopened.count() == 3 and reopened.dense_index.size == 6
    reopened.close()


def test_a_store_indexed_without_turn_context_is_reindexed_on_open(tmp_path: Path) -> None:
    old = ContextOptions(turn_context=False)
    store = HybridStore(tmp_path, HashEmbedder(64), context=old)
    store.add(dialogue())
    assert store.dense_index.size == 5
    store.close()
    embedder = CallCounter()
    reopened = HybridStore(tmp_path, embedder)
    # the turns' own texts come from the embedding cache; only the two names are new
    assert sorted(t for call in embedder.calls for t in call) == ["Ana", "Bo"]
    assert reopened.dense_index.size == 10 and reopened.index_size == 5
    hits = reopened.search("When did Ana adopt the puppy Rex?", scope=ALICE, k=3)
    assert any(h.item.text.startswith("Yes! Last Tuesday") for h in hits)
    reopened.close()


class Lists:
    """A scripted retriever: fixed lists per signal; with or without context lists."""

    def __init__(self, items: dict[str, MemoryItem], lists: dict[str, list[str]]) -> None:
        self._items = items
        self._lists = lists

    def _hits(self, name: str) -> list[tuple[str, float]]:
        return [(key, 1.0) for key in self._lists.get(name, [])]

    def dense(self, text: str, depth: int) -> list[tuple[str, float]]:
        return self._hits("dense")

    def lexical(self, text: str, depth: int) -> list[tuple[str, float]]:
        return self._hits("bm25")

    def recent(self, depth: int) -> list[tuple[str, float]]:
        return []

    def items(self, keys: Sequence[str]) -> dict[str, MemoryItem]:
        return {key: self._items[key] for key in keys if key in self._items}

    def bodies(self, keys: Sequence[str]) -> dict[str, str]:
        return {key: self._items[key].text for key in keys if key in self._items}


class ContextLists(Lists):
    def dense_context(self, text: str, depth: int) -> list[tuple[str, float]]:
        return self._hits("dense-context")

    def lexical_context(self, text: str, depth: int) -> list[tuple[str, float]]:
        return self._hits("bm25-context")


def test_rank_fuses_context_lists_only_from_a_retriever_that_has_them() -> None:
    items = {key: make(key, at=DAY) for key in ("a", "b", "c")}
    lists = {"dense": ["a", "b"], "bm25": ["a", "b"], "bm25-context": ["b"], "dense-context": ["b"]}
    settings = RankingSettings(expand=0, recency_boost=0)
    now = DAY + timedelta(days=1)
    plain = Lists(items, lists)
    assert not isinstance(plain, ContextRetriever)
    ranked = rank("q", ParsedQuery("q"), plain, settings, 2, now=now)
    assert [r.key for r in ranked] == ["a", "b"]
    withcontext = ContextLists(items, lists)
    assert isinstance(withcontext, ContextRetriever)
    ranked = rank("q", ParsedQuery("q"), withcontext, settings, 2, now=now)
    assert [r.key for r in ranked] == ["b", "a"]  # two more lists found b
    assert ranked[0].signal == "dense+bm25"  # context lists count as their base signal
    off = RankingSettings(
        expand=0, recency_boost=0, weights={"dense-context": 0.0, "bm25-context": 0.0}
    )
    ranked = rank("q", ParsedQuery("q"), withcontext, off, 2, now=now)
    assert [r.key for r in ranked] == ["a", "b"]


def test_each_dense_list_keeps_its_full_depth() -> None:
    """Own and in-context vectors share a block; each search keeps only its kind."""
    store = HybridStore(None, HashEmbedder(64))
    turns = [turn(f"Ana says line {i}", "Ana", i) for i in range(8)]
    notes = [make(f"a note {i}", session=None, at=DAY) for i in range(4)]
    store.add([*turns, *notes])
    retriever = SqliteRetriever(
        store._table, store.dense_index, store._embed, ALICE, None, None, queries=["Ana line"]
    )
    own = retriever.dense("Ana line", 10)
    context = retriever.dense_context("Ana line", 10)
    assert len(own) == 10 and len({vid for vid, _ in own}) == 10
    assert all(vid < CONTEXT_KEY for vid, _ in own)
    vid_of = dict(store._table.conn.execute("SELECT vid, text FROM items").fetchall())
    assert len(context) == 8  # every turn, and no note, has an in-context vector
    assert all(vid_of[vid].startswith("Ana says") for vid, _ in context)
    store.close()


def test_a_store_without_turns_searches_its_dense_block_once() -> None:
    """Notes have no in-context vector: no second, filtered pass that would scan the block."""
    store = HybridStore(None, HashEmbedder(64))
    store.add([make(f"a note {i}", session=None, at=DAY) for i in range(6)])
    index = store.dense_index
    assert not index.holds_keys("alice", at_least=CONTEXT_KEY)
    searches: list[str] = []
    search = index.search

    def counted(user: str, *args: object, **kwargs: object) -> list[tuple[int, float]]:
        searches.append(user)
        return search(user, *args, **kwargs)  # type: ignore[arg-type]

    index.search = counted  # type: ignore[method-assign]
    retriever = SqliteRetriever(
        store._table, index, store._embed, ALICE, None, None, queries=["a note"]
    )
    assert len(retriever.dense("a note", 10)) == 6
    assert retriever.dense_context("a note", 10) == []
    assert searches == ["alice"]
    store.add([turn("Now a turn.", "Ana", 1)])
    assert index.holds_keys("alice", at_least=CONTEXT_KEY)
    store.close()


def neighbours_forget(store: MemoryStore) -> None:
    """A deleted or changed turn leaves no word in the context of the turn after it."""
    items = [
        turn("My bank code is ZQX42 and nobody may know it.", "Ana", 0),
        turn("Safe with me, I will keep it quiet.", "Bo", 1),
        turn("We fly to Lisbon on Friday.", "Ana", 2),
        turn("Pack light, it will be hot.", "Bo", 3),
        turn("Nice weather for a walk.", "Ana", 4),
    ]
    store.add(items)

    def found_by_words(query: str) -> list[str]:
        hits = store.search(query, scope=ALICE, k=5)
        return [h.item.text for h in hits if "bm25" in h.signal]

    # before: the reply is found by the code it answers (its context holds it)
    assert "Safe with me, I will keep it quiet." in found_by_words("ZQX42")
    assert store.delete([items[0].id]) == 1
    assert found_by_words("ZQX42") == []
    store.update([items[2].model_copy(update={"text": "We take the train to Porto."})])
    assert found_by_words("Lisbon") == []
    assert "Pack light, it will be hot." in found_by_words("Porto train")
    # a turn moved later: the turn that now follows the changed one takes its words
    store.update([items[3].model_copy(update={"created_at": DAY + timedelta(minutes=9)})])
    found = found_by_words("Porto train")
    assert "Nice weather for a walk." in found and "Pack light, it will be hot." not in found


def late_turn_joins_its_neighbour(store: MemoryStore) -> None:
    """A turn written between two stored ones becomes the next one's previous turn."""
    store.add([turn("Any plans for the weekend?", "Ana", 0), turn("Not yet, why?", "Bo", 5)])

    def found_by_words(query: str) -> list[str]:
        return [h.item.text for h in store.search(query, scope=ALICE, k=5) if "bm25" in h.signal]

    assert found_by_words("Porto") == []
    store.add([turn("Maybe a trip to Porto, says Ana.", "Cy", 2)])  # arrives late
    # the reply now stands after the late turn: it is found by its words too
    assert found_by_words("Porto") == ["Maybe a trip to Porto, says Ana.", "Not yet, why?"]


def batch_around_a_stored_turn(store: MemoryStore) -> None:
    """A batch whose two turns have a stored turn between them: the later one is indexed
    after the stored turn, not after the batch's."""
    store.add([turn("I booked a table at the Lisbon oyster bar.", "Bo", 2)])
    store.add([turn("Dinner plans tonight?", "Ana", 0), turn("Great, I love it.", "Ana", 4)])

    def found_by_words(query: str) -> list[str]:
        return [h.item.text for h in store.search(query, scope=ALICE, k=5) if "bm25" in h.signal]

    assert "Great, I love it." in found_by_words("oyster bar")  # it answers the booking
    assert "Great, I love it." not in found_by_words("Dinner plans")


def two_updates_apart(store: MemoryStore) -> None:
    """Two turns of a session changed at once, with a turn between them that is not: the
    later one is indexed after that turn, not after the other changed one."""
    items = [
        turn("Where should we eat?", "Ana", 0),
        turn("Somewhere quiet.", "Bo", 1),
        turn("Fine by me.", "Ana", 2),
    ]
    store.add(items)
    store.update(
        [
            items[0].model_copy(update={"text": "Where should we eat zebra steaks?"}),
            items[2].model_copy(update={"text": "Fine by me, let us go."}),
        ]
    )
    found = [h.item.text for h in store.search("zebra", scope=ALICE, k=5) if "bm25" in h.signal]
    assert "Somewhere quiet." in found  # it follows the changed question
    assert "Fine by me, let us go." not in found  # it follows "Somewhere quiet."
    # the last turn moved later is still indexed after "Somewhere quiet.", not itself
    later = DAY + timedelta(minutes=7)
    store.update(
        [items[2].model_copy(update={"text": "Fine by me, let us go.", "created_at": later})]
    )
    found = [h.item.text for h in store.search("quiet", scope=ALICE, k=5) if "bm25" in h.signal]
    assert "Fine by me, let us go." in found
    # a change of metadata only (what policies write) leaves every turn where it was
    current = store.get_many([items[0].id, items[2].id])
    store.update([item.model_copy(update={"importance": 0.9}) for item in current.values()])
    found = [h.item.text for h in store.search("quiet", scope=ALICE, k=5) if "bm25" in h.signal]
    assert "Fine by me, let us go." in found


NEIGHBOUR_CHECKS = [
    neighbours_forget,
    late_turn_joins_its_neighbour,
    batch_around_a_stored_turn,
    two_updates_apart,
]
NEIGHBOUR_CASES = [
    "deleted or changed",
    "written late",
    "batch around a stored turn",
    "two updates",
]


@pytest.mark.parametrize("check", NEIGHBOUR_CHECKS, ids=NEIGHBOUR_CASES)
def test_a_turns_neighbours_are_indexed_again_when_it_changes(
    check: Callable[[MemoryStore], None],
) -> None:
    store = HybridStore(None, HashEmbedder(64), signals=("bm25",), expand=0)
    check(store)
    store.close()


def test_erasing_a_turn_leaves_no_byte_of_it_in_the_next_turns_index(tmp_path: Path) -> None:
    from agentmem import ManualClock, Memory
    from tests.test_erase import leaks

    memory = Memory.default(tmp_path / "mem", embedder=HashEmbedder(64), clock=ManualClock(DAY))
    rows = [
        {"text": "My password is ZqSecretQx for the bank", "metadata": {"speaker": "Ann"}},
        {"text": "Oh nice, I will remember that", "metadata": {"speaker": "Bob"}},
        {"text": "Anyway, apples are cheap this week", "metadata": {"speaker": "Ann"}},
    ]
    for n, row in enumerate(rows):
        row["created_at"] = DAY + timedelta(seconds=n)
    secret, *_ = memory.add_many(rows, user_id="u", session_id="s1")
    assert memory.forget(user_id="u", ids=[secret.id]) == 1
    assert all("ZqSecretQx" not in h.item.text for h in memory.search("ZqSecretQx", user_id="u"))
    memory.close()
    assert leaks(tmp_path, ["ZqSecretQx"]) == {}
