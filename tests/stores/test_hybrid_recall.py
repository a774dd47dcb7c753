"""What the hybrid store does for real conversations: one embedding per search, turns indexed
with their speaker and previous turn (the conversation options), relative dates resolved
against the turn's date."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from numpy.typing import NDArray

from agentmem import ManualClock, Memory, Scope
from agentmem.stores import ContextOptions, HybridStore, conversation_options
from agentmem.stores._query import (
    mentioned_times,
    name_share,
    resolved_dates,
    speaks_of,
    without_addressees,
)
from agentmem.testing import HashEmbedder, ScriptedLLM
from tests.stores.contract import make

ALICE = Scope(user_id="alice")
SAID = datetime(2023, 5, 8, 13, 56, tzinfo=UTC)  # a session's date


class CallCounter(HashEmbedder):
    """A HashEmbedder that records each call's texts."""

    def __init__(self) -> None:
        super().__init__(64)
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.calls.append(list(texts))
        return super().embed(texts)


def turn(text: str, speaker: str, at: datetime, session: str = "s1") -> object:
    return make(text, metadata={"speaker": speaker}, at=at, session=session)


def test_a_search_embeds_once_with_the_second_hop_and_a_rewriter() -> None:
    embedder = CallCounter()
    rewriter = ScriptedLLM([], default="football location\nJohn's whereabouts")
    store = HybridStore(None, embedder, expand=0.25, rewriter=rewriter)
    store.add(
        [
            make("John picked up the football", at=SAID),
            make("John went to the kitchen", at=SAID + timedelta(minutes=1)),
        ]
    )
    memory = Memory([store], embedder=embedder)
    embedder.calls.clear()
    hits = memory.search("where is the football?", user_id="alice", k=2)
    assert {h.item.text for h in hits} == {
        "John picked up the football",
        "John went to the kitchen",
    }
    # one call: the query and its two rewrites together; the second hop embeds nothing
    assert embedder.calls == [["where is the football?", "football location", "John's whereabouts"]]
    memory.close()


def test_a_turn_is_indexed_with_its_speaker_and_previous_turn() -> None:
    embedder = CallCounter()
    store = HybridStore(None, embedder, **conversation_options())
    store.add(
        [
            turn("I'm off to a pottery class.", "Mel", SAID),
            turn("That's great! When?", "Cara", SAID + timedelta(seconds=1)),
        ]
    )
    assert embedder.calls[-1] == [
        "Mel: I'm off to a pottery class.",
        "Cara: That's great! When?\n(after: Mel: I'm off to a pottery class.)",
    ]
    hits = store.search("what did Cara say about pottery?", scope=ALICE, k=1)
    assert hits[0].item.text == "That's great! When?"  # her words name no pottery
    # a memory with no speaker is not a turn: no previous-turn context
    store.add([make("note: buy clay", at=SAID + timedelta(seconds=2))])
    assert embedder.calls[-1] == ["note: buy clay"]
    store.close()


def test_relative_dates_resolve_against_the_date_the_turn_was_said() -> None:
    assert resolved_dates("I went to a support group yesterday.", SAID) == (
        "yesterday = 7 May 2023"
    )
    assert resolved_dates("Last week I joined a mentorship program", SAID) == (
        "Last week = 1 May 2023 - 7 May 2023"
    )
    assert resolved_dates("We met last month, and again three days ago", SAID) == (
        "three days ago = 4 May 2023 - 6 May 2023; last month = April 2023"
    )
    assert resolved_dates("See you on 12 May 2023, or in 2024", SAID) == ""
    (window,) = mentioned_times("it was yesterday", SAID)
    assert window.start == datetime(2023, 5, 7, tzinfo=UTC)


def test_a_turn_about_yesterday_is_found_by_that_date() -> None:
    later = SAID + timedelta(days=30)
    store = HybridStore(None, HashEmbedder(64), clock=ManualClock(later), recency_boost=0.0)
    store.add(
        [
            turn("I went to a support group yesterday.", "Cara", SAID),
            turn("I went to a support group meeting, so moving.", "Cara", SAID - timedelta(days=9)),
        ]
    )
    assert "yesterday = 7 May 2023" in store._bodies([1])[1]
    hits = store.search("Cara's support group on 7 May 2023", scope=ALICE, k=2)
    assert hits[0].item.text == "I went to a support group yesterday."
    assert speaks_of(hits[0].item, [w for w in mentioned_times("on 7 May 2023", later)])
    off = HybridStore(None, HashEmbedder(64), context=ContextOptions(relative_dates="none"))
    off.add([turn("I went to a support group yesterday.", "Cara", SAID)])
    assert "7 May" not in off._bodies([1])[1]
    store.close()
    off.close()


def test_a_name_counts_for_its_speaker_and_own_words_not_the_context() -> None:
    said = turn("That's great! When?", "Cara", SAID)
    about = turn("Cara loves pottery", "Mel", SAID)
    other = turn("Mel: hello", "Mel", SAID)
    assert name_share(said, ["Cara"]) == 1.0  # type: ignore[arg-type]
    assert name_share(about, ["Cara's"]) == 1.0  # type: ignore[arg-type]
    assert name_share(other, ["Cara"]) == 0.0  # type: ignore[arg-type]
    assert name_share(said, ["Cara", "Mel"]) == 0.5  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("Thanks, Mel! I loved the pottery class.", "Thanks, ! I loved the pottery class."),
        ("Hey Cara! How's it going?", "Hey ! How's it going?"),
        ("Glad you've got people to lean on, Mel.", "Glad you've got people to lean on, ."),
        ("Mel, look at this!", ", look at this!"),
        ("I went camping with Mel last week.", "I went camping with Mel last week."),
        ("Mel loves pottery.", "Mel loves pottery."),
    ],
)
def test_names_a_turn_addresses_are_told_apart_from_names_it_speaks_of(
    text: str, kept: str
) -> None:
    assert without_addressees(text) == kept


def test_a_name_a_turn_only_addresses_does_not_count_for_that_name() -> None:
    thanks = turn("Thanks, Mel! Running sounds great.", "Cara", SAID)
    about = turn("Mel went running with me, Jon.", "Cara", SAID)
    note = make("Lunch with Bob, Mel.", at=SAID)
    assert name_share(thanks, ["Mel"]) == 0.0  # type: ignore[arg-type]
    assert name_share(thanks, ["Cara"]) == 1.0  # type: ignore[arg-type]  # she said it
    assert name_share(about, ["Mel"]) == 1.0  # type: ignore[arg-type]
    assert name_share(about, ["Jon"]) == 0.0  # type: ignore[arg-type]
    assert name_share(note, ["Mel"]) == 1.0  # type: ignore[arg-type]  # not a turn: as written


def test_a_question_about_someone_ranks_their_turn_above_turns_thanking_them() -> None:
    store = HybridStore(None, HashEmbedder(64))
    store.add(
        [
            turn("Thanks, Mel! Running is a great way to relax.", "Cara", SAID),
            turn("I have been running farther lately, it clears my head.", "Mel", SAID),
            turn("Cool, Mel! Running can really boost your mood.", "Cara", SAID),
        ]
    )
    hits = store.search("How does Mel relax? Running?", scope=ALICE, k=3)
    assert hits[0].item.metadata["speaker"] == "Mel"
    store.close()
