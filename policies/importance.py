"""ImportancePolicy (SirLLM): importance scores that fade every turn; the least important go.

Each memory carries an ``importance``. A scorer may set it when the memory is written
(:class:`HeuristicImportance`; :class:`EntropyImportance`, the text's mean token surprisal
under the local model; or :class:`LLMImportance` asking a chat model). Its
effective importance then fades by ``decay`` per ``turn`` of clock time since the
memory was last recalled (or since it happened), so a recall restores it:
``effective = importance * decay ** (t / turn)``. The memories kept are the ``top_k``
per user and/or those whose effective importance stays at or above ``floor``.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from agentmem._errors import ModelError, UserError
from agentmem._frame import Frame, read_frame
from agentmem._models import MemoryItem
from agentmem._prompts import render_prompt
from agentmem._protocols import Action, ChatMessage, ChatModel, Decision, PolicyContext
from agentmem.policies._decide import decision
from agentmem.policies.base import BasePolicy

__all__ = [
    "EntropyImportance",
    "HeuristicImportance",
    "ImportancePolicy",
    "ImportanceScorer",
    "LLMImportance",
    "SurprisalModel",
]

logger = logging.getLogger(__name__)


@runtime_checkable
class ImportanceScorer(Protocol):
    """Scores how important a memory is, from 0 (trivial) to 1 (vital)."""

    def score(self, item: MemoryItem) -> float:
        """The importance of ``item`` in [0, 1]."""
        ...


_WORDS = re.compile(r"\w+")
_SIGNALS = re.compile(
    r"\b(i|my|me|name|born|birthday|allergic|allergy|live|moved|work|job|married|wife|"
    r"husband|daughter|son|always|never|important|remember|favou?rite|prefer)\b",
    re.IGNORECASE,
)


class HeuristicImportance:
    """Importance from the text alone: facts, personal words, numbers and names score higher."""

    def score(self, item: MemoryItem) -> float:
        """0.1 for a bare chat turn, up to 1.0 for a personal fact with specifics."""
        text = item.text
        words = _WORDS.findall(text)
        score = 0.1
        if item.kind.value == "fact":
            score += 0.4
        score += min(0.3, 0.1 * len(_SIGNALS.findall(text)))
        if any(ch.isdigit() for ch in text):
            score += 0.1
        if any(w[:1].isupper() for w in words[1:]):
            score += 0.1
        return round(min(score, 1.0), 3)


_NUMBER = re.compile(r"\d+(?:\.\d+)?")


class LLMImportance:
    """Importance asked from a chat model (prompt ``importance.md``), on a 0-10 scale.

    Args:
        llm: the chat model.
        fallback: the score used when the model's answer holds no number.
    """

    def __init__(self, llm: ChatModel, *, fallback: float = 0.5) -> None:
        self.llm = llm
        self.fallback = fallback

    def score(self, item: MemoryItem) -> float:
        """Ask the model; its first number, divided by 10, clipped to [0, 1]."""
        prompt = render_prompt("importance", text=item.text, kind=item.kind.value)
        try:
            answer = self.llm.chat([ChatMessage(role="user", content=prompt)], max_tokens=8).text
        except ModelError:
            logger.warning("importance scoring failed; using %s", self.fallback, exc_info=True)
            return self.fallback
        match = _NUMBER.search(answer)
        if match is None:
            logger.info("no number in the importance answer %r; using the fallback", answer)
            return self.fallback
        return min(max(float(match.group()) / 10.0, 0.0), 1.0)


@runtime_checkable
class SurprisalModel(Protocol):
    """A language model that says how surprising each token of a text is (in bits)."""

    def token_surprisal(self, text: str) -> list[float]:
        """``-log2 p(token | the tokens before it)`` for each token of ``text``."""
        ...


class EntropyImportance:
    """Importance from the text's mean token surprisal under a local language model (SirLLM).

    Rare, specific information surprises a language model; small talk does not. The mean
    surprisal (bits per token) is mapped linearly from ``[low, high]`` onto ``[0, 1]``.

    Args:
        model: anything with ``token_surprisal(text)``; default the offline
            :class:`~agentmem.llms.LocalLLM` (its transformers backend, loaded on first use).
        low: the mean surprisal that scores 0 (and below).
        high: the mean surprisal that scores 1 (and above).
    """

    def __init__(
        self, model: SurprisalModel | None = None, *, low: float = 2.0, high: float = 10.0
    ) -> None:
        if not high > low:
            msg = f"high must be greater than low, got low={low!r}, high={high!r}"
            raise UserError(msg)
        self._model = model
        self.low = low
        self.high = high

    @property
    def model(self) -> SurprisalModel:
        """The surprisal model (the offline local model unless one was given)."""
        if self._model is None:
            from agentmem.llms import LocalLLM

            self._model = LocalLLM(backend="transformers")
        return self._model

    def mean_surprisal(self, text: str) -> float:
        """The mean surprisal of ``text``'s tokens, in bits (0.0 for an empty text)."""
        values = self.model.token_surprisal(text)
        return float(np.mean(values)) if values else 0.0

    def score(self, item: MemoryItem) -> float:
        """The mean surprisal mapped onto [0, 1]."""
        mean = self.mean_surprisal(item.text)
        return float(min(max((mean - self.low) / (self.high - self.low), 0.0), 1.0))


class ImportancePolicy(BasePolicy):
    """Forget the least important memories as their importance fades.

    Args:
        scorer: scores new memories on write (``None``: keep the importance they came with).
        decay: the factor importance is multiplied by per turn (0 < decay <= 1).
        turn: how much clock time one turn is (default: one day).
        top_k: keep at most this many memories per user (highest effective importance).
        floor: forget memories whose effective importance falls below this.
    """

    name = "importance"

    def __init__(
        self,
        *,
        scorer: ImportanceScorer | None = None,
        decay: float = 0.9,
        turn: timedelta = timedelta(days=1),
        top_k: int | None = None,
        floor: float | None = None,
    ) -> None:
        if not 0.0 < decay <= 1.0:
            msg = f"decay is a per-turn factor in (0, 1], got {decay!r}"
            raise UserError(msg)
        if top_k is None and floor is None:
            msg = "ImportancePolicy needs top_k=N, floor=X, or both"
            raise UserError(msg)
        if top_k is not None and top_k < 1:
            msg = f"top_k must be a positive int, got {top_k!r}"
            raise UserError(msg)
        if turn <= timedelta(0):
            msg = f"turn must be a positive timedelta, got {turn!r}"
            raise UserError(msg)
        self.scorer = scorer
        self.decay = decay
        self.turn = turn
        self.top_k = top_k
        self.floor = floor

    def __repr__(self) -> str:
        return f"ImportancePolicy(decay={self.decay}, top_k={self.top_k}, floor={self.floor})"

    def effective(self, items: Sequence[MemoryItem], now: datetime) -> NDArray[np.float64]:
        """Effective (faded) importance of each item at ``now``."""
        return self._effective(Frame.from_items(items), now)

    def _effective(self, frame: Frame, now: datetime) -> NDArray[np.float64]:
        turns = np.maximum(frame.ages(frame.last_used(), now), 0.0) / self.turn.total_seconds()
        return np.asarray(frame.importance * np.power(self.decay, turns), dtype=np.float64)

    def on_write(self, items: Sequence[MemoryItem], ctx: PolicyContext) -> list[Decision]:
        """Score the new memories, if a scorer is set."""
        if self.scorer is None:
            return []
        out = []
        for item in items:
            value = float(self.scorer.score(item))
            if value != item.importance:
                out.append(
                    Decision(
                        action=Action.UPDATE,
                        item_ids=[item.id],
                        reason=f"importance scored {value:.2f} by {type(self.scorer).__name__}",
                        policy=self.name,
                        changes={"importance": value},
                    )
                )
        return out

    def on_tick(self, ctx: PolicyContext) -> list[Decision]:
        """Forget what fell under the floor, then all but the top-k of each user."""
        frame = read_frame(ctx)
        if not len(frame):
            return []
        value = self._effective(frame, ctx.now)
        doomed: dict[int, str] = {}
        if self.floor is not None:
            for low in np.flatnonzero(value < self.floor):
                doomed[int(low)] = f"effective importance {value[low]:.2g} < floor {self.floor:g}"
        if self.top_k is not None:
            users: dict[str, list[int]] = defaultdict(list)
            for i, user_id in enumerate(frame.user_id):
                if i not in doomed:
                    users[user_id].append(i)
            for members in users.values():
                if len(members) <= self.top_k:
                    continue
                index = np.asarray(members)
                order = index[np.argsort(-value[index], kind="stable")]
                cut = value[order[self.top_k - 1]]
                for out in order[self.top_k :]:
                    doomed[int(out)] = (
                        f"effective importance {value[out]:.2g} is outside the top {self.top_k} "
                        f"(cut-off {cut:.3g})"
                    )
        return [
            decision(Action.FORGET, [frame.ids[i]], why, self.name)
            for i, why in sorted(doomed.items())
        ]
