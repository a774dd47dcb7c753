"""Persona probes: turn Multi-Session Chat's persona facts into recall questions.

MSC asks no questions, but it says what each speaker revealed about themselves: a
dialogue record of session N carries ``personas`` (for each speaker, the facts
crowdworkers summarised from sessions 1 to N-1), and a persona-summary record marks the
very turn that stated a fact (``persona_text``). Both are what a memory should keep
across sessions, so each fact becomes a probe:

- question: ``What do you remember about <speaker> regarding: <fact>?``
- reference answer: the persona sentence;
- evidence: the speaker's turns in earlier sessions that state it. Summary records name
  the turn; for dialogue records the library finds it with :func:`match_turns` (content
  words shared with the fact, after light stemming, at or above ``threshold``). Facts no
  turn matches are dropped and counted, never guessed.

Limits: the question quotes the fact, so a lexical retriever (BM25) has an edge over a
semantic one, and matched evidence can miss a turn that states the fact in other words
(or take a turn that only mentions the same words). Use these probes to compare systems
on one footing and to see whether facts survive across sessions, not as a human-written
benchmark.
"""

from __future__ import annotations

from collections.abc import Sequence

from agentmem.eval.dataset import Question, Session
from agentmem.eval.metrics import normalize_answer

__all__ = ["content_words", "match_turns", "persona_question", "persona_questions"]

_STOP = frozenset(
    """
    a about all also am an and any are as at be been but by can could did do does doing
    for from had has have having he her hers him his how i if in into is it its just like
    me more most my myself no not now of on once only or other our ours out over own really
    she so some such than that the their them then there these they this those to too
    very was we were what when where which who why will with would you your yours yes
    yeah oh well lot much im ive dont get got go going one thing things think know
    """.split()
)
_ES = ("ches", "shes", "xes", "zes", "sses", "oes")


def _stem(word: str) -> str:
    """Plural and -ing/-ed endings off: beagles/beagle, tomatoes/tomato, working/work."""
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(_ES):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        return word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> set[str]:
    """Lower-cased, stemmed words of ``text`` without stop words (``I'm`` -> ``im`` dropped)."""
    words = normalize_answer(text.replace("'", "")).split()
    return {_stem(w) for w in words if w not in _STOP and len(w) > 1}


def match_turns(
    fact: str, turns: Sequence[tuple[str, str]], *, threshold: float = 0.5
) -> list[str]:
    """Ids of the ``(id, text)`` turns that state ``fact``.

    A turn states the fact when it holds at least ``threshold`` of the fact's content
    words, and at least two of them when the fact has three or more.
    """
    wanted = content_words(fact)
    if not wanted:
        return []
    need = max(threshold * len(wanted), 2 if len(wanted) >= 3 else 1)
    return [tid for tid, text in turns if len(wanted & content_words(text)) >= need]


def persona_question(
    conversation: str, number: int, speaker: str, fact: str, evidence: list[str], session: str
) -> Question:
    """One probe: what the memory recalls about ``speaker``'s ``fact``."""
    return Question(
        id=f"{conversation}/p{number}",
        question=f"What do you remember about {speaker} regarding: {fact.strip().rstrip('.!')}?",
        answer=fact.strip(),
        category=f"persona from {session}",
        evidence=evidence,
    )


def persona_questions(
    conversation: str,
    earlier: Sequence[Session],
    personas: Sequence[Sequence[str]],
    speakers: Sequence[str],
    *,
    threshold: float = 0.5,
) -> tuple[list[Question], int]:
    """Probes for each speaker's ``personas`` facts, evidence matched in ``earlier`` sessions.

    ``personas[i]`` holds the facts of ``speakers[i]``. Returns the probes and how many
    facts were dropped because no turn of that speaker matched.
    """
    questions: list[Question] = []
    dropped = 0
    for speaker, facts in zip(speakers, personas, strict=False):
        turns = [(t.id, t.text) for s in earlier for t in s.turns if t.speaker == speaker]
        sessions = {t.id: s.id for s in earlier for t in s.turns}
        for fact in dict.fromkeys(f for f in facts if isinstance(f, str) and f.strip()):
            evidence = match_turns(fact, turns, threshold=threshold)
            if not evidence:
                dropped += 1
                continue
            first = min(evidence, key=lambda e: [s.id for s in earlier].index(sessions[e]))
            questions.append(
                persona_question(
                    conversation, len(questions), speaker, fact, evidence, sessions[first]
                )
            )
    return questions, dropped
