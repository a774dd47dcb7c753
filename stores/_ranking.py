"""Ranking for hybrid search: fusion, boosts, multi-hop expansion and reranking.

Everything here is backend-neutral and pure over candidate lists: a retriever (SQLite
with faiss and FTS5 in :class:`~agentmem.stores.HybridStore`, or any other database)
returns ranked ``(key, score)`` lists per signal, and :func:`rank` fuses them, adds a
second hop, fills from the newest memories when lexical search alone finds too few,
boosts by recency, by the query's time windows and names, and reranks. Keys are opaque
(row ids, item ids): only the retriever knows what they mean. The knobs live in one
frozen :class:`RankingSettings`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Literal, Protocol, TypedDict, TypeVar, runtime_checkable

from agentmem._errors import UserError
from agentmem._fusion import reciprocal_rank
from agentmem._models import Filters, MemoryItem
from agentmem._prompts import render_prompt
from agentmem._protocols import ChatMessage, ChatModel
from agentmem.stores._query import (
    ParsedQuery,
    TimeWindow,
    name_share,
    parse_query,
    speaks_of,
)

__all__ = [
    "ContextRetriever",
    "Fused",
    "Ranked",
    "RankingOptions",
    "RankingSettings",
    "Retriever",
    "boost",
    "fuse",
    "hop_query",
    "narrow_to_windows",
    "parse_rewrites",
    "plan_query",
    "rank",
    "ranking_settings",
    "reciprocal_rank",
]

K = TypeVar("K", bound=Hashable)

Signal = Literal["dense", "bm25"]
Fusion = Literal["rrf", "weighted"]
TimeMode = Literal["boost", "filter", "off"]

_SIGNAL_ORDER = ("dense", "bm25")

CONTEXT_WEIGHTS = {"dense-context": 2.0, "bm25-context": 1.5}
"""Default weights of the in-context lists, beside 1.0 for each own list (fitted on the
LoCoMo dev conversations, one left out in turn: ``benchmarks/fit_locomo_fusion.py``)."""
_WORD = re.compile(r"\w+", re.UNICODE)
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s*")


@dataclass(frozen=True)
class RankingSettings:
    """How a hybrid search ranks.

    Args:
        signals: which retrievers run: ``("dense", "bm25")``, ``("dense",)`` or ``("bm25",)``.
        fusion: ``"rrf"`` (reciprocal-rank fusion) or ``"weighted"`` (min-max normalised
            scores, weighted).
        weights: per-list weights: ``dense`` and ``bm25`` (each memory's own text),
            ``dense-context`` and ``bm25-context`` (conversation turns in their context,
            when the retriever offers them; default 2.0 and 1.5), and the second hop's
            ``bm25-hop``; missing ones default to 1.0 for a first-round signal and
            ``expand`` times its signal's weight for a hop.
        rrf_k: the RRF constant (score = weight / (rrf_k + rank)).
        candidates: how deep each retriever looks before fusion (at least ``k``).
        time_mode: what a date in the query does: ``"boost"``, ``"filter"`` or ``"off"``.
        time_boost: the boost factor for memories in a query's time window.
        name_boost: the boost factor for memories that mention a name in the query.
        recency_boost: the boost of the newest candidate over the oldest (linear between).
        expand: the weight of the second, multi-hop round (0 turns it off).
        rerank_depth: how many fused candidates a reranker sees.
    """

    signals: tuple[Signal, ...] = ("dense", "bm25")
    fusion: Fusion = "rrf"
    weights: Mapping[str, float] = field(default_factory=dict)
    rrf_k: int = 30
    candidates: int = 50
    time_mode: TimeMode = "boost"
    time_boost: float = 0.5
    name_boost: float = 0.3
    recency_boost: float = 0.4
    expand: float = 0.25
    rerank_depth: int = 30

    def __post_init__(self) -> None:
        signals = tuple(self.signals)
        object.__setattr__(self, "signals", signals)
        if not signals or any(s not in _SIGNAL_ORDER for s in signals):
            msg = f"signals must be a non-empty subset of ('dense', 'bm25'), got {signals!r}"
            raise UserError(msg)
        if self.fusion not in ("rrf", "weighted"):
            msg = f"fusion must be 'rrf' or 'weighted', got {self.fusion!r}"
            raise UserError(msg)
        if self.time_mode not in ("boost", "filter", "off"):
            msg = f"time_mode must be 'boost', 'filter' or 'off', got {self.time_mode!r}"
            raise UserError(msg)
        weights = {"dense": 1.0, "bm25": 1.0, **CONTEXT_WEIGHTS, **self.weights}
        weights.setdefault("dense-hop", self.expand * weights["dense"])
        weights.setdefault("bm25-hop", self.expand * weights["bm25"])
        object.__setattr__(self, "weights", weights)

    def weight(self, signal: str) -> float:
        """The weight of a signal's list in fusion (1.0 for an unknown one)."""
        return self.weights.get(signal, 1.0)


class RankingOptions(TypedDict, total=False):
    """The ranking keywords a hybrid store takes, each as in :class:`RankingSettings`.

    ``HybridStore`` and ``PostgresStore`` take them as ``**ranking``; a keyword left out
    takes :class:`RankingSettings`' default, so both stores rank alike by default.
    """

    signals: Sequence[Signal]
    fusion: Fusion
    weights: Mapping[str, float] | None
    rrf_k: int
    candidates: int
    time_mode: TimeMode
    time_boost: float
    name_boost: float
    recency_boost: float
    expand: float
    rerank_depth: int


def ranking_settings(options: RankingOptions) -> RankingSettings:
    """The settings a store's ranking keywords ask for (the one place that builds them)."""
    unknown = sorted(set(options) - RankingOptions.__optional_keys__)
    if unknown:
        known = ", ".join(sorted(RankingOptions.__optional_keys__))
        msg = f"unknown ranking option(s) {unknown}; the options are {known}"
        raise UserError(msg)
    values: dict[str, Any] = dict(options)
    if values.get("weights") is None:
        values.pop("weights", None)
    return RankingSettings(**values)


@dataclass
class Fused(Generic[K]):
    """Fused scores and, per key, which base signals found it (dense before bm25)."""

    scores: dict[K, float]
    found_by: dict[K, list[str]]

    def ordered(self) -> list[K]:
        """The keys best first (ties: the smaller key first)."""
        return sorted(self.scores, key=lambda key: (-self.scores[key], key))


@dataclass(frozen=True)
class Ranked(Generic[K]):
    """One result of :func:`rank`."""

    key: K
    item: MemoryItem
    score: float
    signal: str
    """The signals that found it, joined by ``+`` (``"dense+bm25"``, ``"recent"``)."""


class Retriever(Protocol[K]):
    """What :func:`rank` asks of a backend, already bound to a scope, filters and time."""

    def dense(self, text: str, depth: int) -> list[tuple[K, float]]:
        """The ``depth`` nearest keys by embedding, best first."""
        ...

    def lexical(self, text: str, depth: int) -> list[tuple[K, float]]:
        """The ``depth`` best keys by BM25, best first."""
        ...

    def recent(self, depth: int) -> list[tuple[K, float]]:
        """The ``depth`` newest keys (any score)."""
        ...

    def items(self, keys: Sequence[K]) -> dict[K, MemoryItem]:
        """The items of ``keys`` that still exist."""
        ...

    def bodies(self, keys: Sequence[K]) -> dict[K, str]:
        """The indexed (lexical) text of ``keys``; may omit some."""
        ...


@runtime_checkable
class ContextRetriever(Protocol[K]):
    """A :class:`Retriever` that also indexes conversation turns in their context.

    Optional: :func:`rank` fuses these lists (``dense-context``, ``bm25-context``) beside
    the memories' own when the retriever has them. Keys are the same as the own lists'.
    """

    def dense_context(self, text: str, depth: int) -> list[tuple[K, float]]:
        """The ``depth`` nearest turns by their in-context embedding, best first."""
        ...

    def lexical_context(self, text: str, depth: int) -> list[tuple[K, float]]:
        """The ``depth`` best turns by BM25 over their in-context text, best first."""
        ...


def fuse(
    lists: Sequence[tuple[str, Sequence[tuple[K, float]]]], settings: RankingSettings
) -> Fused[K]:
    """Fuse per-signal ranked lists (``signal``, ``[(key, score)]``) into one score per key."""
    scores: dict[K, float] = {}
    found_by: dict[K, list[str]] = {}
    for signal, hits in lists:
        weight = settings.weight(signal)
        if settings.fusion == "rrf":
            gains = reciprocal_rank([(weight, [key for key, _ in hits])], settings.rrf_k)
        else:
            gains = _weighted(hits, weight)
        for key, gain in gains.items():
            scores[key] = scores.get(key, 0.0) + gain
        base = signal.split("-")[0]
        for key, _ in hits:
            signals = found_by.setdefault(key, [])
            if base not in signals:
                signals.append(base)
    for signals in found_by.values():
        signals.sort(key=lambda s: _SIGNAL_ORDER.index(s) if s in _SIGNAL_ORDER else 99)
    return Fused(scores, found_by)


def _weighted(hits: Sequence[tuple[K, float]], weight: float) -> dict[K, float]:
    if not hits:
        return {}
    values = [s for _, s in hits]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    out: dict[K, float] = {}
    for key, score in hits:
        out[key] = out.get(key, 0.0) + weight * ((score - low) / span if high > low else 1.0)
    return out


def boost(
    scores: Mapping[K, float],
    items: Mapping[K, MemoryItem],
    bodies: Mapping[K, str],
    parsed: ParsedQuery,
    settings: RankingSettings,
) -> dict[K, float]:
    """Scores of the keys in ``items`` times their boosts (recency, time window, names).

    Recency is linear between the oldest and the newest candidate; a candidate that
    happened in one of the query's time windows, or whose text speaks of a time in one
    ("yesterday", read against its own date), gains ``time_boost`` (in ``"boost"`` mode);
    one said by or naming the query's names (its speaker and own words, not its indexed
    context) gains ``name_boost`` times the share found. ``bodies`` is not read for
    boosts (kept for callers).
    """
    times = [item.created_at.timestamp() for item in items.values()]
    oldest, span = (min(times), (max(times) - min(times)) or 1.0) if times else (0.0, 1.0)
    out: dict[K, float] = {}
    for key, item in items.items():
        factor = 1.0 + settings.recency_boost * (item.created_at.timestamp() - oldest) / span
        if settings.time_mode == "boost" and speaks_of(item, parsed.windows):
            factor += settings.time_boost
        if parsed.names:
            factor += settings.name_boost * name_share(item, parsed.names)
        out[key] = scores[key] * factor
    return out


def hop_query(top_bodies: Sequence[str], parsed: ParsedQuery, now: datetime) -> str | None:
    """The second-hop query: up to three names the best hits mention and the query lacks."""
    asked = {n.lower() for n in parsed.names} | {w.lower() for w in _WORD.findall(parsed.text)}
    names: list[str] = []
    for body in top_bodies:
        for name in parse_query(body, now).names:
            if name.lower() not in asked and name not in names:
                names.append(name)
    return " ".join(names[:3]) if names else None


def narrow_to_windows(filters: Filters | None, windows: Sequence[TimeWindow]) -> Filters:
    """``filters`` narrowed to the span covering the query's time windows."""
    start = min(w.start for w in windows)
    end = max(w.end for w in windows)
    base = filters or Filters()
    after = start if base.created_after is None else max(start, base.created_after)
    before = end if base.created_before is None else min(end, base.created_before)
    return base.model_copy(update={"created_after": after, "created_before": before})


def plan_query(
    query: str, now: datetime, filters: Filters | None, settings: RankingSettings
) -> tuple[ParsedQuery, Filters | None]:
    """Parse ``query`` (unless time is off) and narrow ``filters`` in ``"filter"`` mode."""
    parsed = parse_query(query, now) if settings.time_mode != "off" else ParsedQuery(query)
    if settings.time_mode == "filter" and parsed.windows:
        filters = narrow_to_windows(filters, parsed.windows)
    return parsed, filters


def parse_rewrites(reply: str, query: str, limit: int = 4) -> list[str]:
    """The sub-queries in an LLM's reply: one a line, bullets and numbers stripped.

    Blank lines, repeats and the query itself are dropped; each is cut to 500 characters.
    """
    out: list[str] = []
    for line in reply.splitlines():
        cleaned = _BULLET.sub("", line).strip()
        if cleaned and cleaned.lower() != query.lower() and cleaned not in out:
            out.append(cleaned[:500])
    return out[:limit]


def rewrite_query(rewriter: ChatModel | None, query: str, now: datetime) -> list[str]:
    """Sub-queries for ``query`` from the configured rewriter (none without one)."""
    if rewriter is None:
        return []
    prompt = render_prompt("query_rewrite", query=query, today=f"{now:%d %B %Y}", n=4)
    reply = rewriter.chat([ChatMessage(role="user", content=prompt)], max_tokens=120)
    return parse_rewrites(reply.text, query)


def rank(
    query: str,
    parsed: ParsedQuery,
    retriever: Retriever[K],
    settings: RankingSettings,
    k: int,
    *,
    now: datetime,
    sub_queries: Sequence[str] = (),
    rerank: Callable[[str, list[str]], Sequence[float]] | None = None,
) -> list[Ranked[K]]:
    """The ``k`` best candidates for ``query``: retrieve, fuse, expand, boost, rerank.

    Args:
        query: the user's query.
        parsed: what :func:`plan_query` made of it.
        retriever: the backend, bound to the search's scope and filters.
        settings: the ranking knobs.
        k: how many results.
        now: the moment relative dates in the hits' bodies are read against.
        sub_queries: more queries to retrieve for (an LLM's rewrites), fused in.
        rerank: a cross-encoder's ``score(query, texts)``; ``None`` skips reranking.
    """
    depth = max(k, settings.candidates)
    lists: list[tuple[str, list[tuple[K, float]]]] = []
    context = retriever if isinstance(retriever, ContextRetriever) else None
    for text in (query, *sub_queries):
        if "dense" in settings.signals:
            lists.append(("dense", retriever.dense(text, depth)))
            if context is not None and settings.weight("dense-context") > 0:
                lists.append(("dense-context", context.dense_context(text, depth)))
        if "bm25" in settings.signals:
            lists.append(("bm25", retriever.lexical(text, depth)))
            if context is not None and settings.weight("bm25-context") > 0:
                lists.append(("bm25-context", context.lexical_context(text, depth)))
    fused = fuse(lists, settings)
    if settings.expand > 0 and fused.scores:
        top = fused.ordered()[:2]
        hop = hop_query(list(retriever.bodies(top).values()), parsed, now)
        if hop is not None:
            # By words only: the hop is a few names, and a search embeds once.
            if "bm25" in settings.signals:
                lists.append(("bm25-hop", retriever.lexical(hop, depth)))
                fused = fuse(lists, settings)
    scores, found_by = fused.scores, fused.found_by
    if "dense" not in settings.signals and len(scores) < depth:
        # Lexical search alone misses texts that share no word with the query; the
        # newest memories in scope fill the remaining places, ranked last.
        for key, _ in retriever.recent(depth):
            if key not in scores and len(scores) < depth:
                scores[key] = 0.0
                found_by[key] = ["recent"]
    if not scores:
        return []
    pool = fused.ordered()[: max(depth, settings.rerank_depth)]
    items = retriever.items(pool)
    bodies = retriever.bodies(pool) if rerank is not None else {}
    boosted = boost(
        scores, {key: items[key] for key in pool if key in items}, bodies, parsed, settings
    )
    pool = sorted(boosted, key=lambda key: (-boosted[key], key))
    if rerank is not None:
        head = pool[: settings.rerank_depth]
        reranked = rerank(query, [bodies.get(key, items[key].text) for key in head])
        order = sorted(range(len(head)), key=lambda i: -reranked[i])
        for i in order:
            boosted[head[i]] = reranked[i]
        pool = [head[i] for i in order] + pool[settings.rerank_depth :]
    return [Ranked(key, items[key], boosted[key], "+".join(found_by[key])) for key in pool[:k]]
