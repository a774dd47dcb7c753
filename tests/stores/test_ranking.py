"""Ranking as pure functions: fusion, boosts, expansion and the whole pipeline."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from agentmem import Filters, MemoryItem, Scope, UserError
from agentmem._fusion import reciprocal_rank
from agentmem.stores._query import ParsedQuery, TimeWindow
from agentmem.stores._ranking import (
    RankingSettings,
    boost,
    fuse,
    hop_query,
    narrow_to_windows,
    parse_rewrites,
    rank,
)

T0 = datetime(2024, 5, 1, tzinfo=UTC)


def item(text: str, days: int = 0, speaker: str | None = None) -> MemoryItem:
    meta = {"speaker": speaker} if speaker else {}
    at = T0 + timedelta(days=days)
    return MemoryItem(
        text=text, scope=Scope(user_id="u"), created_at=at, recorded_at=at, metadata=meta
    )


def test_reciprocal_rank_sums_weight_over_k_plus_rank() -> None:
    scores = reciprocal_rank([(1.0, ["a", "b"]), (2.0, ["b"])], rrf_k=10)
    assert scores == pytest.approx({"a": 1 / 11, "b": 1 / 12 + 2 / 11})


def test_fuse_rrf_orders_by_agreement_and_records_signals() -> None:
    settings = RankingSettings()
    fused = fuse([("bm25", [(2, 9.0), (1, 3.0)]), ("dense", [(1, 0.9), (3, 0.8)])], settings)
    assert fused.ordered()[0] == 1
    assert fused.found_by[1] == ["dense", "bm25"]  # dense first, whatever the list order
    assert fused.found_by[3] == ["dense"]


def test_fuse_weighted_min_max_normalises_each_list() -> None:
    settings = RankingSettings(fusion="weighted", weights={"dense": 2.0})
    fused = fuse([("dense", [(1, 0.9), (2, 0.5)]), ("bm25", [(2, 7.0), (3, 1.0)])], settings)
    assert fused.scores == pytest.approx({1: 2.0, 2: 1.0, 3: 0.0})


def test_hop_lists_default_to_expand_times_their_signal() -> None:
    settings = RankingSettings(expand=0.5, weights={"bm25": 4.0})
    assert settings.weight("bm25-hop") == 2.0
    assert settings.weight("dense-hop") == 0.5


@pytest.mark.parametrize(
    "bad", [{"signals": ()}, {"signals": ("sparse",)}, {"fusion": "max"}, {"time_mode": "x"}]
)
def test_bad_settings_are_user_errors(bad: dict[str, object]) -> None:
    with pytest.raises(UserError):
        RankingSettings(**bad)  # type: ignore[arg-type]


def test_boost_prefers_recent_in_window_and_named() -> None:
    items = {1: item("old note"), 2: item("new note", days=10), 3: item("Ana called", days=5)}
    flat = dict.fromkeys(items, 1.0)
    settings = RankingSettings(recency_boost=0.1, time_boost=0.5, name_boost=0.3)
    recency = boost(flat, items, {}, ParsedQuery("note"), settings)
    assert recency[2] > recency[3] > recency[1]
    window = TimeWindow(T0 + timedelta(days=4), T0 + timedelta(days=6), "then")
    timed = boost(flat, items, {}, ParsedQuery("x", windows=[window]), settings)
    assert max(timed, key=lambda k: timed[k]) == 3
    named = boost(flat, items, {}, ParsedQuery("x", names=["Ana"]), settings)
    assert named[3] == pytest.approx(1.0 + 0.1 * 0.5 + 0.3)


def test_hop_query_names_what_the_query_lacks() -> None:
    parsed = ParsedQuery("Where does Ana live?", names=["Ana"])
    bodies = ["Ana moved in with Bruno in Porto", "Ana likes Carla"]
    assert hop_query(bodies, parsed, T0) == "Bruno Porto Carla"
    assert hop_query(["Ana again"], parsed, T0) is None


def test_narrow_to_windows_intersects_with_the_filters() -> None:
    window = TimeWindow(T0, T0 + timedelta(days=30), "May")
    narrowed = narrow_to_windows(Filters(created_after=T0 + timedelta(days=3)), [window])
    assert narrowed.created_after == T0 + timedelta(days=3)
    assert narrowed.created_before == T0 + timedelta(days=30)


def test_parse_rewrites_strips_bullets_and_the_query_itself() -> None:
    reply = "1. where is Ana\n- Ana city\n\n* where is ana\nAna city\n2) Bruno"
    assert parse_rewrites(reply, "Where is Ana") == ["Ana city", "Bruno"]


class ListRetriever:
    """A backend made of plain lists: what a database would answer, precomputed."""

    def __init__(self, items: dict[str, MemoryItem], dense: list[str], lexical: list[str]):
        self._items, self._dense, self._lexical = items, dense, lexical
        self.asked: list[tuple[str, str]] = []

    def dense(self, text: str, depth: int) -> list[tuple[str, float]]:
        self.asked.append(("dense", text))
        return [(k, 1.0 - i / 10) for i, k in enumerate(self._dense[:depth])]

    def lexical(self, text: str, depth: int) -> list[tuple[str, float]]:
        self.asked.append(("bm25", text))
        return [(k, 5.0 - i) for i, k in enumerate(self._lexical[:depth])]

    def recent(self, depth: int) -> list[tuple[str, float]]:
        newest = sorted(self._items, key=lambda k: self._items[k].created_at, reverse=True)
        return [(k, 0.0) for k in newest[:depth]]

    def items(self, keys: Sequence[str]) -> dict[str, MemoryItem]:
        return {k: self._items[k] for k in keys if k in self._items}

    def bodies(self, keys: Sequence[str]) -> dict[str, str]:
        return {k: self._items[k].text for k in keys if k in self._items}


def test_rank_runs_the_whole_pipeline_over_any_keys() -> None:
    items = {"a": item("Ana lives in Porto"), "b": item("Bruno cooks", 1), "c": item("tea", 2)}
    retriever = ListRetriever(items, dense=["a", "b"], lexical=["a"])
    ranked = rank("Ana", ParsedQuery("Ana", names=["Ana"]), retriever, RankingSettings(), 2, now=T0)
    assert [r.key for r in ranked] == ["a", "b"]
    assert ranked[0].signal == "dense+bm25" and ranked[1].signal == "dense"
    assert ("bm25", "Porto Bruno") in retriever.asked  # the second hop: names the query lacks


def test_rank_fills_from_recent_when_lexical_alone_finds_too_few() -> None:
    items = {"a": item("tea"), "b": item("coffee", 1)}
    retriever = ListRetriever(items, dense=[], lexical=["a"])
    settings = RankingSettings(signals=("bm25",), expand=0)
    ranked = rank("tea", ParsedQuery("tea"), retriever, settings, 5, now=T0)
    assert [(r.key, r.signal) for r in ranked] == [("a", "bm25"), ("b", "recent")]


def test_rank_lets_a_reranker_decide_the_head() -> None:
    items = {"a": item("alpha"), "b": item("beta")}
    retriever = ListRetriever(items, dense=["a", "b"], lexical=[])
    ranked = rank(
        "q",
        ParsedQuery("q"),
        retriever,
        RankingSettings(signals=("dense",), expand=0),
        2,
        now=T0,
        rerank=lambda query, texts: [-len(t) for t in texts],  # "beta" (-4) beats "alpha" (-5)
    )
    assert [r.key for r in ranked] == ["b", "a"] and ranked[0].score == -4
