"""Multi-hop search: a question split into sub-queries, and a second hop, fused.

"What do Jon and Gina both like?" needs Jon's turns and Gina's; "Where did Caroline move
from?" finds "I moved from my home country" first, and only a second search for *home
country* finds "my home country, Sweden". :class:`MultiHop` gives
:meth:`Memory.search <agentmem.Memory.search>` both:

- **sub-queries**: with a chat model configured, the model splits the question (prompt
  ``decompose_query``); without one, a question that names several people is asked once
  per person (the other names left out);
- **a second hop** seeded by the first hop's best hits: the names and the rarer words they
  add to the question's names (pseudo-relevance feedback), searched again.

Every list is fused with the first hop by reciprocal rank (the first hop weighs 1). Each
extra query is one more search, and one more query embedding on a store that embeds.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from datetime import datetime

from agentmem._errors import ModelError, UserError
from agentmem._fusion import fuse_hits
from agentmem._models import Hit
from agentmem._prompts import quote_memory, render_prompt
from agentmem._protocols import ChatMessage, ChatModel
from agentmem._structured import list_lines

__all__ = ["MultiHop"]

logger = logging.getLogger(__name__)

_WORD = re.compile(r"[A-Za-z\u00C0-\u024F][\w'-]*")
# Common English words a second hop should not search for (the question's own words are
# left out too).
_COMMON = frozenset(
    """about after again also always another anything around because been before being
    best better both came come could days does doing done down each even ever every
    feel feeling felt find first from getting going gonna good great have having here
    into just keep know last like little looking lots made make many maybe more most
    much need never next nice only other over really right said same should since some
    something still such sure take than thank thanks that their them then there these
    they thing things think this those though time today together totally very wanted
    well were what when where which while will with without would yeah years your
    you're that's it's i've i'm really awesome amazing glad love loved""".split()
)


class MultiHop:
    """Sub-queries and a second hop for :class:`~agentmem.Memory` searches.

    Give it to a memory (``Memory(stores, multihop=MultiHop())``, or set
    ``memory.multihop``); every search then also runs the sub-queries and the hop.

    Args:
        llm: a chat model that splits questions into sub-queries (prompt
            ``decompose_query``); ``None``: split by the people the question names.
        hop: run a second hop seeded by the first hop's best hits.
        seeds: how many of the first hop's best hits seed the second hop.
        hop_words: the most words the second hop adds to the question's names.
        weight: the weight of each sub-query's list in the fusion.
        hop_weight: the weight of the second hop's list.
        fusion_k: the reciprocal-rank constant.
        max_queries: the most sub-queries per question.
    """

    def __init__(
        self,
        llm: ChatModel | None = None,
        *,
        hop: bool = True,
        seeds: int = 1,
        hop_words: int = 6,
        weight: float = 0.5,
        hop_weight: float = 0.3,
        fusion_k: int = 10,
        max_queries: int = 3,
    ) -> None:
        if min(weight, hop_weight) <= 0 or seeds < 1 or max_queries < 1 or hop_words < 1:
            msg = "MultiHop needs weight, hop_weight > 0 and seeds, hop_words, max_queries >= 1"
            raise UserError(msg)
        self.llm = llm
        self.hop = hop
        self.seeds = seeds
        self.hop_words = hop_words
        self.weight = weight
        self.hop_weight = hop_weight
        self.fusion_k = fusion_k
        self.max_queries = max_queries

    # -- the queries -------------------------------------------------------------------
    def sub_queries(self, query: str, now: datetime) -> list[str]:
        """The sub-queries of ``query`` (none when it needs no split)."""
        if self.llm is not None:
            return self._ask(query, now)
        names = _names(query, now)
        if len(names) < 2:
            return []
        out = []
        for name in names[: self.max_queries]:
            text = _without(query, [n for n in names if n != name])
            if text and text.lower() != query.lower() and text not in out:
                out.append(text)
        return out

    def _ask(self, query: str, now: datetime) -> list[str]:
        assert self.llm is not None
        prompt = render_prompt(
            "decompose_query",
            query=quote_memory(query),
            today=f"{now.day} {now:%B %Y}",
            n=self.max_queries,
        )
        try:
            reply = self.llm.chat([ChatMessage(role="user", content=prompt)], max_tokens=120)
        except ModelError as exc:
            logger.warning("query decomposition failed, searching the question alone: %s", exc)
            return []
        out: list[str] = []
        for line in list_lines(reply.text):
            text = line.strip('"')
            if text and text.upper() != "NONE" and text.lower() != query.lower():
                if text not in out:
                    out.append(text[:500])
        return out[: self.max_queries]

    def hop_query(self, query: str, hits: Sequence[Hit], now: datetime) -> str | None:
        """The second hop: the question's names plus what its best hits add to it."""
        if not self.hop or not hits:
            return None
        asked = {w.lower() for w in _WORD.findall(query)}
        names = _names(query, now)
        added: list[str] = []
        for hit in hits[: self.seeds]:
            for name in _names(hit.item.text, now):
                if name.lower() not in asked and name not in added:
                    added.append(name)
            words = sorted(
                {
                    w.lower()
                    for w in _WORD.findall(hit.item.text)
                    if len(w) >= 4 and w.lower() not in asked and w.lower() not in _COMMON
                },
                key=lambda w: (-len(w), w),
            )
            added += [w for w in words if w not in {a.lower() for a in added}]
        added = added[: self.hop_words]
        if not added:
            return None
        return " ".join([*names, *added])

    # -- the search --------------------------------------------------------------------
    def search(
        self,
        query: str,
        first: list[Hit],
        run: Callable[[str], list[Hit]],
        k: int,
        now: datetime,
    ) -> list[Hit]:
        """``first`` (the question's own hits) fused with the sub-queries' and the hop's."""
        lists: list[tuple[float, list[Hit]]] = [(1.0, first)]
        for sub in self.sub_queries(query, now):
            lists.append((self.weight, run(sub)))
        hop = self.hop_query(query, first, now)
        if hop is not None:
            lists.append((self.hop_weight, run(hop)))
        if len(lists) == 1:
            return first
        return fuse_hits(lists, k, self.fusion_k)


def _names(text: str, now: datetime) -> list[str]:
    from agentmem.stores._query import parse_query  # pure functions, no heavy imports

    return parse_query(text, now).names


def _without(query: str, names: Sequence[str]) -> str:
    """``query`` with ``names`` cut out, with the "and" or comma that joined them."""
    text = query
    for name in names:
        text = re.sub(rf"\b{re.escape(name)}(?:['\u2019]s)?\b", "\0", text)
    text = re.sub(r"\s*(?:,|\band\b|\bor\b|&)?\s*\0\s*(?:,|\band\b|\bor\b|&)?\s*", " ", text)
    text = re.sub(r"\s+([?.!,])", r"\1", text)
    return re.sub(r"\s+", " ", text).strip()
