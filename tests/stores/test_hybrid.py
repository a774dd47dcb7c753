"""HybridStore beyond the contract: fusion signals, filters, HNSW tombstones, crash
recovery, the embedding cache, contextual indexing, query dates, rewriting, reranking."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from agentmem import Filters, Kind, ManualClock, Memory, Scope, UserError
from agentmem.stores import ContextOptions, HybridStore, IndexSettings
from agentmem.testing import HashEmbedder, ScriptedLLM
from agentmem.testing.stores import T0, make

ALICE = Scope(user_id="alice")


class CountingEmbedder(HashEmbedder):
    """A HashEmbedder that counts the texts it embeds."""

    def __init__(self, dim: int = 64) -> None:
        super().__init__(dim)
        self.texts: list[str] = []

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.texts += list(texts)
        return super().embed(texts)


class ConstantEmbedder(HashEmbedder):
    """Every text gets the same vector: dense search cannot tell texts apart."""

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        out[:, 0] = 1.0
        return out


def texts(hits: Sequence[object]) -> list[str]:
    return [h.item.text for h in hits]  # type: ignore[attr-defined]


@pytest.fixture
def store(tmp_path: Path) -> HybridStore:
    opened = HybridStore(tmp_path / "h", HashEmbedder(128))
    yield opened  # type: ignore[misc]
    opened.close()


# -- fusion -----------------------------------------------------------------------------
def test_signal_names_the_retrievers_that_found_each_hit(store: HybridStore) -> None:
    store.add([make("Alice moved to Lisbon"), make("The zebra sleeps")])
    hits = store.search("Lisbon", scope=ALICE, k=2)
    assert hits[0].item.text == "Alice moved to Lisbon"
    assert hits[0].signal == "dense+bm25"
    assert hits[1].signal == "dense"  # shares no word: only dense search returns it


def test_unknown_signal_or_fusion_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="signals"):
        HybridStore(None, HashEmbedder(8), signals=("sparse",))  # type: ignore[arg-type]
    with pytest.raises(UserError, match="fusion"):
        HybridStore(None, HashEmbedder(8), fusion="max")  # type: ignore[arg-type]


def test_bm25_finds_a_rare_word_the_dense_side_ranks_low(tmp_path: Path) -> None:
    class Misleading(HashEmbedder):
        """Puts the passport note as far from every query as it can."""

        def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
            out = np.zeros((len(texts), self.dim), dtype=np.float32)
            for row, text in enumerate(texts):
                out[row, 1 if "drawer" in text else 0] = 1.0
            return out

    items = [make(f"note about ordinary thing {i}") for i in range(40)]
    items.append(make("the passport is in the blue drawer"))
    dense = HybridStore(None, Misleading(4), signals=("dense",))
    hybrid = HybridStore(None, Misleading(4))
    for s in (dense, hybrid):
        s.add(items)
    assert texts(hybrid.search("where is my passport", scope=ALICE, k=1)) == [
        "the passport is in the blue drawer"
    ]
    assert "the passport is in the blue drawer" not in texts(
        dense.search("where is my passport", scope=ALICE, k=1)
    )


# -- filters with hybrid ------------------------------------------------------------------
@pytest.fixture
def filled(store: HybridStore) -> HybridStore:
    store.add(
        [
            make("tea fact", kind=Kind.FACT, metadata={"topic": "tea"}, session="s1", agent="a1"),
            make("tea chat", metadata={"topic": "tea"}, at=T0 + timedelta(days=2), session="s2"),
            make("tea other", metadata={"topic": "coffee"}, at=T0 + timedelta(days=4)),
            make(
                "tea closed",
                at=T0 - timedelta(days=5),
                valid_to=T0 - timedelta(days=1),
                session="s3",
            ),
            make("tea of bob", "bob"),
        ]
    )
    return store


def found(store: HybridStore, **kwargs: object) -> list[str]:
    scope = kwargs.pop("scope", ALICE)
    return sorted(texts(store.search("tea", scope=scope, k=10, **kwargs)))  # type: ignore[arg-type]


def test_scope_filters(filled: HybridStore) -> None:
    assert found(filled, scope=Scope(user_id="bob")) == ["tea of bob"]
    assert found(filled, scope=Scope(user_id="alice", session_id="s2")) == ["tea chat"]
    assert found(filled, scope=Scope(user_id="alice", agent_id="a1")) == ["tea fact"]
    assert found(filled, scope=Scope(user_id="carol")) == []


def test_kind_filter(filled: HybridStore) -> None:
    assert found(filled, filters=Filters(kinds=(Kind.FACT,))) == ["tea fact"]
    assert found(filled, filters=Filters(kinds=())) == []


def test_time_range_filter(filled: HybridStore) -> None:
    window = Filters(created_after=T0 + timedelta(days=1), created_before=T0 + timedelta(days=3))
    assert found(filled, filters=window) == ["tea chat"]


def test_as_of_filter(filled: HybridStore) -> None:
    assert "tea closed" not in found(filled)
    assert found(filled, as_of=T0 - timedelta(days=2)) == ["tea closed"]


def test_metadata_filter(filled: HybridStore) -> None:
    assert found(filled, filters=Filters(metadata={"topic": "coffee"})) == ["tea other"]


# -- HNSW, tombstones, compaction ----------------------------------------------------------
def hnsw_store(path: Path | None, embedder: HashEmbedder | None = None) -> HybridStore:
    settings = IndexSettings(exact_limit=50, tombstone_ratio=0.5, ef_search=128)
    return HybridStore(
        path, embedder or HashEmbedder(64), index=settings, signals=("dense",), recency_boost=0.0
    )


def test_a_deleted_item_is_never_returned_from_hnsw(tmp_path: Path) -> None:
    store = hnsw_store(tmp_path)
    items = [
        make(f"memory number {i} about lisbon", at=T0 + timedelta(seconds=i)) for i in range(200)
    ]
    store.add(items)
    assert store.dense_index.uses_hnsw("alice")
    deleted = {item.id for item in items[:60]}
    store.delete(list(deleted))
    assert store.dense_index.tombstones == 60  # below the ratio: tombstoned, not compacted
    assert store.dense_index.uses_hnsw("alice")
    for i in range(0, 200, 7):
        hits = store.search(f"memory number {i} about lisbon", scope=ALICE, k=20)
        assert len(hits) == 20
        assert not deleted & {h.item.id for h in hits}
    store.close()


def test_tombstones_past_the_ratio_compact_the_block(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = IndexSettings(exact_limit=50, tombstone_ratio=0.5, background_compaction=False)
    store = HybridStore(
        tmp_path, HashEmbedder(64), index=settings, signals=("dense",), recency_boost=0.0
    )
    items = [make(f"note {i}", at=T0 + timedelta(seconds=i)) for i in range(200)]
    store.add(items)
    with caplog.at_level(logging.INFO, logger="agentmem.stores._index"):
        store.delete([item.id for item in items[:120]])
    assert "compacting the index" in caplog.text
    assert store.dense_index.tombstones == 0
    assert store.index_size == 80
    assert store.dense_index.uses_hnsw("alice")
    hits = store.search("note 150", scope=ALICE, k=5)
    assert hits[0].item.text == "note 150"
    store.close()


def test_a_rewritten_text_leaves_no_stale_vector_in_hnsw(tmp_path: Path) -> None:
    store = hnsw_store(tmp_path)
    items = [make(f"entry {i} plain", at=T0 + timedelta(seconds=i)) for i in range(100)]
    store.add(items)
    store.update([items[3].model_copy(update={"text": "zebra giraffe okapi"})])
    hits = store.search("entry 3 plain", scope=ALICE, k=100)
    assert [h.item.text for h in hits].count("zebra giraffe okapi") <= 1
    assert store.search("zebra giraffe okapi", scope=ALICE, k=1)[0].item.id == items[3].id
    store.close()


def test_filtered_hnsw_search_falls_back_to_exact(tmp_path: Path) -> None:
    store = hnsw_store(tmp_path)
    store.add([make(f"common note {i}", at=T0 + timedelta(seconds=i)) for i in range(300)])
    rare = make("common note rare fact", kind=Kind.FACT)
    store.add([rare])
    hits = store.search("common note", scope=ALICE, k=5, filters=Filters(kinds=(Kind.FACT,)))
    assert [h.item.id for h in hits] == [rare.id]
    store.close()


def test_hnsw_recall_against_exact_search(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((20, 64))
    points = centers[rng.integers(0, 20, 3000)] + 0.3 * rng.standard_normal((3000, 64))
    vectors = (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)

    class Lookup(HashEmbedder):
        def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
            return vectors[[int(t.split()[-1]) for t in texts]]

    context = ContextOptions(speaker="none", date="none")
    exact = HybridStore(None, Lookup(64), signals=("dense",), context=context)
    approx = HybridStore(
        None,
        Lookup(64),
        signals=("dense",),
        context=context,
        index=IndexSettings(exact_limit=500),
    )
    items = [make(f"v {i}") for i in range(2900)]
    for s in (exact, approx):
        s.add(items)
    assert approx.dense_index.uses_hnsw("alice") and not exact.dense_index.uses_hnsw("alice")
    overlap = []
    for q in range(2900, 3000, 5):
        a = {h.item.id for h in exact.search(f"q {q}", scope=ALICE, k=10)}
        b = {h.item.id for h in approx.search(f"q {q}", scope=ALICE, k=10)}
        overlap.append(len(a & b) / 10)
    assert float(np.mean(overlap)) >= 0.95


# -- crash recovery -------------------------------------------------------------------------
def test_reopen_after_a_crash_rebuilds_from_sqlite(tmp_path: Path) -> None:
    store = hnsw_store(tmp_path)
    items = [make(f"fact {i} about porto", at=T0 + timedelta(seconds=i)) for i in range(120)]
    store.add(items)
    store.delete([items[0].id])
    store._table.close()  # a crash: nothing but SQLite survives
    (tmp_path / "vector.faiss").unlink(missing_ok=True)
    reopened = hnsw_store(tmp_path)
    assert reopened.index_size == 119
    assert reopened.dense_index.uses_hnsw("alice")
    hits = reopened.search("fact 7 about porto", scope=ALICE, k=10)
    assert hits[0].item.text == "fact 7 about porto"
    assert items[0].id not in {h.item.id for h in hits}
    reopened.close()


def test_a_full_text_index_left_behind_is_rebuilt(tmp_path: Path) -> None:
    store = HybridStore(tmp_path, HashEmbedder(64))
    store.add([make("kept in both indexes")])
    store._table.set_meta("fts_version", "stale")  # as if written by an older store
    store._table.conn.execute("DELETE FROM items_fts")
    store.close()
    reopened = HybridStore(tmp_path, HashEmbedder(64), signals=("bm25",))
    assert reopened.search("kept indexes", scope=ALICE)[0].signal == "bm25"
    reopened.close()


def test_a_plain_vector_store_folder_opens_as_hybrid(tmp_path: Path) -> None:
    from agentmem.stores import VectorStore

    old = VectorStore(tmp_path, HashEmbedder(64))
    old.add([make("Big news: I moved to Oslo", metadata={"speaker": "Dara"})])
    old.close()
    store = HybridStore(tmp_path, HashEmbedder(64), signals=("bm25",))
    assert store.search("Oslo", scope=ALICE)[0].signal == "bm25"  # in the full-text index now
    store.close()


# -- embedding cache --------------------------------------------------------------------------
def test_re_adding_the_same_text_costs_no_embedding_call(tmp_path: Path) -> None:
    embedder = CountingEmbedder()
    store = HybridStore(tmp_path, embedder)
    store.add([make("Alice likes green tea"), make("Alice likes green tea")])
    assert len(embedder.texts) == 1  # duplicates in one batch are embedded once
    store.add([make("Alice likes green tea")])
    assert len(embedder.texts) == 1
    store.close()
    reopened = HybridStore(tmp_path, embedder)
    reopened.add([make("Alice likes green tea"), make("Bob likes coffee")])
    assert len(embedder.texts) == 2  # only the new text; the cache survives a reopen
    assert reopened.count() == 5
    reopened.close()


def test_the_cache_forgets_with_the_last_memory_that_used_it(tmp_path: Path) -> None:
    embedder = CountingEmbedder()
    store = HybridStore(tmp_path, embedder)
    first, twin, other = (
        make("Alice likes green tea"),
        make("Alice likes green tea"),
        make("Bob likes coffee"),
    )
    store.add([first, twin, other])

    def cached() -> int:
        return int(store._table.conn.execute("SELECT COUNT(*) FROM embedding_cache").fetchone()[0])

    assert cached() == 2
    store.delete([first.id])
    assert cached() == 2  # the twin still uses that embedding
    store.delete([twin.id])
    assert cached() == 1  # gone with the last memory that used it
    store.update([other.model_copy(update={"text": "Bob likes strong coffee"})])
    assert cached() == 1  # the old text's embedding left with the edit
    store.delete([other.id])
    assert cached() == 0
    embedder.texts.clear()
    store.add([make("Alice likes green tea")])
    assert len(embedder.texts) == 1  # forgotten for good: embedded afresh
    store.close()


def test_batched_add_embeds_in_batches(tmp_path: Path) -> None:
    embedder = CountingEmbedder()
    calls: list[int] = []
    original = embedder.embed

    def spy(texts: Sequence[str]) -> NDArray[np.float32]:
        calls.append(len(texts))
        return original(texts)

    embedder.embed = spy  # type: ignore[method-assign]
    store = HybridStore(None, embedder)
    store.add([make(f"item {i}") for i in range(600)])
    assert calls == [256, 256, 88]
    store.close()


# -- contextual indexing ----------------------------------------------------------------------
def test_the_speaker_and_day_are_indexed_but_the_text_stays_exact(store: HybridStore) -> None:
    turn = make(
        "I just moved to Porto!", metadata={"speaker": "Dara"}, at=datetime(2023, 5, 7, tzinfo=UTC)
    )
    store.add([turn, make("The weather is fine", metadata={"speaker": "Hugo"})])
    hits = store.search("Dara May 2023", scope=ALICE, k=1)
    assert hits[0].item.text == "I just moved to Porto!"
    assert store.get(turn.id).text == "I just moved to Porto!"  # type: ignore[union-attr]


def test_previous_turn_context_links_an_answer_to_its_question(tmp_path: Path) -> None:
    context = ContextOptions(previous_turn="lexical")
    store = HybridStore(None, HashEmbedder(64), context=context, signals=("bm25",))
    store.add(
        [
            make("Which city did you pick?", metadata={"speaker": "Bob"}, at=T0),
            make("Porto, finally.", metadata={"speaker": "Ana"}, at=T0 + timedelta(seconds=1)),
        ]
    )
    store.add([make("Anything else?", metadata={"speaker": "Bob"}, at=T0 + timedelta(seconds=2))])
    hits = store.search("pick city", scope=ALICE, k=3)
    assert "Porto, finally." in texts(hits[:2])
    assert "(after: Ana: Porto, finally.)" in store._bodies([3])[3]
    store.close()


def test_context_options_are_checked() -> None:
    with pytest.raises(UserError, match="speaker"):
        ContextOptions(speaker="everywhere")  # type: ignore[arg-type]


def test_the_default_indexes_the_day_and_boosts_the_speaker_by_name(tmp_path: Path) -> None:
    embedder = CountingEmbedder()
    # every vector equal: the dense ranks are arbitrary, within a flat RRF (rrf_k=60);
    # no recency boost, so the name boost alone decides
    store = HybridStore(None, ConstantEmbedder(4), signals=("dense",), rrf_k=60, recency_boost=0.0)
    store.add([make("hi", metadata={"speaker": "Ana"}, at=datetime(2023, 5, 7, tzinfo=UTC))])
    assert store._bodies([1]) == {1: "[7 May 2023] hi"}
    store.add([make(f"hello {i}", metadata={"speaker": "Bo"}) for i in range(5)])
    assert texts(store.search("what did Ana say?", scope=ALICE, k=1)) == ["hi"]
    store.close()
    lexical = HybridStore(None, embedder, context=ContextOptions(speaker="lexical"))
    lexical.add([make("hi", metadata={"speaker": "Ana"}, at=datetime(2023, 5, 7, tzinfo=UTC))])
    # its own text, then its speaker's name (for the turn's in-context vector)
    assert embedder.texts == ["[7 May 2023] hi", "Ana"]
    assert lexical._bodies([1]) == {1: "[7 May 2023] Ana: hi"}
    lexical.close()


def test_changing_the_context_option_re_embeds_on_open(tmp_path: Path) -> None:
    embedder = CountingEmbedder()
    HybridStore(tmp_path, embedder).close()
    store = HybridStore(tmp_path, embedder)
    store.add([make("hello there", metadata={"speaker": "Ana"})])
    store.close()
    before = len(embedder.texts)
    plain = HybridStore(tmp_path, embedder, context=ContextOptions(speaker="none", date="none"))
    assert embedder.texts[before:] == ["hello there"]
    plain.close()


# -- query understanding ----------------------------------------------------------------------
def dated_store(**options: object) -> HybridStore:
    clock = ManualClock(datetime(2024, 3, 15, 12, tzinfo=UTC))
    store = HybridStore(None, HashEmbedder(64), clock=clock, **options)  # type: ignore[arg-type]
    store.add(
        [
            make("went hiking in the mountains", at=datetime(2023, 5, 20, tzinfo=UTC)),
            make("went hiking in the hills", at=datetime(2024, 1, 10, tzinfo=UTC)),
            make("went hiking with friends", at=datetime(2024, 3, 14, 9, tzinfo=UTC)),
        ]
    )
    return store


def test_last_may_boosts_memories_from_may_of_last_year() -> None:
    store = dated_store(context=ContextOptions(date="none"))
    assert texts(store.search("where did I go hiking last May?", scope=ALICE, k=1)) == [
        "went hiking in the mountains"
    ]
    assert texts(store.search("where did I go hiking yesterday?", scope=ALICE, k=1)) == [
        "went hiking with friends"
    ]


def test_time_filter_mode_keeps_only_the_window() -> None:
    store = dated_store(time_mode="filter")
    assert texts(store.search("hiking in 2023", scope=ALICE, k=10)) == [
        "went hiking in the mountains"
    ]
    assert len(store.search("hiking", scope=ALICE, k=10)) == 3


def test_names_in_the_query_boost_memories_that_mention_them() -> None:
    store = HybridStore(None, ConstantEmbedder(4), signals=("dense",), name_boost=5.0)
    store.add([make(f"someone said thing {i}") for i in range(10)] + [make("Greta said thing")])
    assert texts(store.search("What did Greta say?", scope=ALICE, k=1)) == ["Greta said thing"]


# -- rewriting and reranking ------------------------------------------------------------------
def test_an_llm_rewrites_a_multi_hop_question_into_fused_sub_queries() -> None:
    llm = ScriptedLLM(["1. Hugo sister name\n2. - Nadia lives in which city"])
    store = HybridStore(None, HashEmbedder(64), signals=("bm25",), rewriter=llm)
    store.add(
        [
            make("My sister Nadia called", metadata={"speaker": "Hugo"}),
            make("Nadia settled in Lima for good", metadata={"speaker": "Hugo"}),
            make("Coffee tastes better on a rainy day"),
        ]
    )
    hits = store.search("In which city does Hugo's sibling live?", scope=ALICE, k=2)
    assert sorted(texts(hits)) == ["My sister Nadia called", "Nadia settled in Lima for good"]
    assert "Hugo's sibling" in llm.calls[0][0].content


def test_a_reranker_reorders_the_candidates() -> None:
    class Longest:
        def score(self, query: str, texts: Sequence[str]) -> list[float]:
            return [float(len(t)) for t in texts]

    store = HybridStore(
        None,
        HashEmbedder(64),
        reranker=Longest(),
        context=ContextOptions(speaker="none", date="none"),
    )
    store.add([make("tea"), make("tea with a very long description")])
    hits = store.search("tea", scope=ALICE, k=2)
    assert texts(hits) == ["tea with a very long description", "tea"]


# -- Memory.default ------------------------------------------------------------------------
def test_memory_default_is_hybrid(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    with Memory.default(tmp_path, embedder=HashEmbedder(64), clock=clock) as memory:
        store = memory.stores[0]
        assert isinstance(store, HybridStore) and store.name == "vector"
        assert store.clock is clock
        memory.add("Alice moved to Lisbon", user_id="alice")
        assert memory.search("Lisbon", user_id="alice")[0].signal == "dense+bm25"


def test_a_second_hop_finds_the_fact_that_names_only_the_bridge() -> None:
    items = [
        make("John picked up the football", at=T0),
        make("Mary went to the garden", at=T0 + timedelta(minutes=1)),
        make("John went to the kitchen", at=T0 + timedelta(minutes=2)),
        make("Sandra went to the office", at=T0 + timedelta(minutes=3)),
    ]
    one_hop = HybridStore(None, HashEmbedder(64), signals=("bm25",), expand=0.0)
    two_hop = HybridStore(None, HashEmbedder(64), signals=("bm25",), expand=0.25)
    for s in (one_hop, two_hop):
        s.add(items)
    assert "John went to the kitchen" not in texts(
        one_hop.search("where is the football", scope=ALICE, k=2)
    )
    assert sorted(texts(two_hop.search("where is the football", scope=ALICE, k=2))) == [
        "John picked up the football",
        "John went to the kitchen",
    ]
