"""Scores: evidence recall@k, answer F1 and EM, abstention, picking one of several answers."""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Collection, Sequence

__all__ = [
    "exact_match",
    "is_abstention",
    "mentions",
    "normalize_answer",
    "percentile",
    "picks_answer",
    "recall_at_k",
    "token_f1",
]

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)
_ABSTAIN = re.compile(
    r"not (been )?mentioned|no (information|mention|record)|(do not|don't|does not|doesn't|"
    r"cannot|can't|did not|didn't) (know|say|mention|remember|recall)|not (stated|specified|"
    r"known)|unanswerable|no answer|never (mentioned|said|told)|unknown",
)


def normalize_answer(text: str) -> str:
    """Lower-case, strip punctuation and articles, collapse whitespace."""
    text = text.lower().translate(_PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, answer: str) -> float:
    """1.0 if the normalised prediction equals the normalised answer, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(answer))


def token_f1(prediction: str, answer: str) -> float:
    """Harmonic mean of token precision and recall after normalisation."""
    pred = normalize_answer(prediction).split()
    gold = normalize_answer(answer).split()
    if not pred or not gold:
        return float(pred == gold)
    common = sum((Counter(pred) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def is_abstention(prediction: str) -> bool:
    """Whether a reply says the answer was not mentioned / is not known."""
    return bool(_ABSTAIN.search(prediction.lower().replace("’", "'")))


def recall_at_k(retrieved: Sequence[str], evidence: Collection[str], k: int | None) -> float:
    """Fraction of ``evidence`` ids among the first ``k`` retrieved ids (all if ``k=None``)."""
    if not evidence:
        msg = "recall_at_k needs at least one evidence id"
        raise ValueError(msg)
    top = set(retrieved if k is None else retrieved[:k])
    return sum(1 for e in set(evidence) if e in top) / len(set(evidence))


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def mentions(text: str, phrase: str) -> bool:
    """Whether the normalised ``phrase`` occurs in the normalised ``text`` as whole words."""
    needle = normalize_answer(phrase)
    return bool(needle) and f" {needle} " in f" {normalize_answer(text)} "


def picks_answer(prediction: str, answer: str, alternatives: Collection[str] = ()) -> float:
    """1.0 if ``prediction`` mentions ``answer`` and none of the ``alternatives``, else 0.0.

    Alternatives are the other candidate values (e.g. a key's outdated values), so a reply
    that repeats every value it saw does not count as right.
    """
    if not mentions(prediction, answer):
        return 0.0
    others = {a for a in alternatives if normalize_answer(a) != normalize_answer(answer)}
    return float(not any(mentions(prediction, other) for other in others))
