"""Generate LoCoMo-format long conversations with dated sessions and annotated questions.

Facts change over time (people move and change jobs), small talk fills the gaps, and
questions of every LoCoMo category cite the turns that answer them. The same seed always
gives the same conversation.
"""

from __future__ import annotations

import json
import os
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agentmem._errors import InvalidInputError

__all__ = ["conversation", "write_locomo"]

_NAMES = ["Alice", "Bruno", "Chen", "Dara", "Elif", "Farid", "Greta", "Hugo", "Ines", "Jonas"]
_CITIES = ["Lisbon", "Porto", "Berlin", "Osaka", "Denver", "Nairobi", "Oslo", "Lima", "Dublin"]
_JOBS = ["nurse", "architect", "baker", "pilot", "teacher", "chemist", "lawyer", "carpenter"]
_PETS = [
    ("dog", ["Rex", "Biscuit", "Luna"]),
    ("cat", ["Miso", "Pepper", "Tofu"]),
    ("parrot", ["Kiwi", "Mango", "Rio"]),
    ("rabbit", ["Clover", "Hazel", "Nibbles"]),
]
_MUSIC = ["jazz", "reggae", "opera", "techno", "bluegrass", "flamenco"]
_SIBLINGS = [("sister", ["Maria", "Sofia", "Nadia"]), ("brother", ["Tomas", "Omar", "Felix"])]
_SMALL_TALK = [
    "Did you catch the game last night? What a finish.",
    "The weather has been so strange this week.",
    "I finally finished that book everyone keeps talking about.",
    "Work has been busy, but nothing worth telling.",
    "I tried a new recipe for dinner and it was a disaster.",
    "Have you seen any good movies lately?",
    "I went for a long walk by the river this morning.",
    "My phone screen cracked again, can you believe it?",
    "I'm thinking about taking a weekend trip somewhere quiet.",
    "Traffic was terrible on the way home today.",
    "I started learning to juggle, it is harder than it looks.",
    "Coffee tastes better on a rainy day, doesn't it?",
    "We should play board games again soon.",
    "I spent the whole afternoon cleaning the house.",
    "A friend of mine just got back from a long holiday.",
    "Honestly I just need a good night of sleep.",
    "That sounds great, tell me more next time.",
    "Ha, that's so typical. Anyway, how are you?",
]


def _when(date: datetime) -> str:
    hour = date.hour % 12 or 12
    noon = "am" if date.hour < 12 else "pm"
    return f"{hour}:{date.minute:02d} {noon} on {date.day} {date:%B}, {date.year}"


def _day(date: datetime) -> str:
    return f"{date.day} {date:%B} {date.year}"


class _Builder:
    def __init__(self, rng: random.Random, sessions: int) -> None:
        self.rng = rng
        self.events: dict[int, list[tuple[str, str, str]]] = {i: [] for i in range(sessions)}

    def say(self, session: int, speaker: str, text: str, key: str) -> None:
        self.events[session].append((speaker, text, key))


def _plan(
    rng: random.Random, person: str, sessions: int, b: _Builder, pools: dict[str, Any]
) -> list[dict[str, Any]]:
    """Schedule one person's facts; return question stubs referring to event keys."""
    qs: list[dict[str, Any]] = []
    cities = rng.sample(_CITIES, 3)
    moves = sorted(rng.sample(range(sessions), 3))
    for n, (city, at) in enumerate(zip(cities, moves, strict=True)):
        text = (
            f"I live in {city}, I have been here for years."
            if n == 0
            else f"Big news: I just moved to {city}! The boxes are everywhere."
        )
        b.say(at, person, text, f"{person}/city{n}")
        if n:
            qs.append(
                {
                    "q": f"When did {person} move to {city}?",
                    "a": f"@date:{person}/city{n}",
                    "ev": [f"{person}/city{n}"],
                    "cat": 2,
                }
            )
    qs.append(
        {
            "q": f"Where does {person} live now?",
            "a": cities[-1],
            "ev": [f"{person}/city2"],
            "cat": 4,
        }
    )
    jobs = rng.sample(_JOBS, 2)
    starts = sorted(rng.sample(range(sessions), 2))
    b.say(starts[0], person, f"I work as a {jobs[0]}, it keeps me on my toes.", f"{person}/job0")
    b.say(starts[1], person, f"I quit my old job, I am a {jobs[1]} now!", f"{person}/job1")
    qs.append(
        {"q": f"What is {person}'s job now?", "a": jobs[1], "ev": [f"{person}/job1"], "cat": 4}
    )
    qs.append(
        {
            "q": f"When did {person} start working as a {jobs[1]}?",
            "a": f"@date:{person}/job1",
            "ev": [f"{person}/job1"],
            "cat": 2,
        }
    )
    species, names = pools["pets"].pop(rng.randrange(len(pools["pets"])))
    pet = rng.choice(names)
    b.say(
        rng.randrange(sessions),
        person,
        f"My {species} {pet} chewed my shoes again today.",
        f"{person}/pet",
    )
    qs.append(
        {
            "q": f"What is the name of {person}'s {species}?",
            "a": pet,
            "ev": [f"{person}/pet"],
            "cat": 4,
            "species": species,
        }
    )
    music = pools["music"].pop(rng.randrange(len(pools["music"])))
    b.say(
        rng.randrange(sessions),
        person,
        f"Lately I listen to {music} all day, it relaxes me.",
        f"{person}/music",
    )
    qs.append(
        {
            "q": f"What kind of music does {person} enjoy?",
            "a": music,
            "ev": [f"{person}/music"],
            "cat": 3,
        }
    )
    relation, sibling_names = pools["siblings"][rng.randrange(len(pools["siblings"]))]
    sibling = sibling_names.pop(rng.randrange(len(sibling_names)))
    home = rng.choice([c for c in _CITIES if c not in cities])
    first, second = sorted(rng.sample(range(sessions), 2))
    b.say(first, person, f"My {relation} {sibling} called me last night.", f"{person}/sibling")
    b.say(
        second, person, f"{sibling} has settled down in {home} for good.", f"{person}/sibling_city"
    )
    qs.append(
        {
            "q": f"In which city does {person}'s {relation} live?",
            "a": home,
            "ev": [f"{person}/sibling", f"{person}/sibling_city"],
            "cat": 1,
        }
    )
    return qs


def conversation(
    seed: int,
    *,
    sessions: int = 30,
    small_talk: int = 6,
    sample_id: str | None = None,
    start: datetime | None = None,
) -> dict[str, Any]:
    """One LoCoMo record: ``sessions`` dated sessions and questions of all five categories.

    Args:
        seed: the random seed; the same seed gives the same record.
        sessions: how many sessions (at least 3).
        small_talk: distractor turns per session.
        sample_id: the record's id (default ``gen-<seed>``).
        start: the first session's date (default: early 2023, drawn from the seed).
    """
    if sessions < 3:
        msg = f"a generated conversation needs at least 3 sessions, got {sessions}"
        raise InvalidInputError(msg)
    rng = random.Random(seed)
    pools: dict[str, Any] = {
        "pets": list(_PETS),
        "music": list(_MUSIC),
        "siblings": [(relation, list(names)) for relation, names in _SIBLINGS],
    }
    a, b_name = rng.sample(_NAMES, 2)
    builder = _Builder(rng, sessions)
    stubs = _plan(rng, a, sessions, builder, pools) + _plan(rng, b_name, sessions, builder, pools)
    date = start or datetime(2023, 1, 2, tzinfo=UTC) + timedelta(days=rng.randrange(60))
    convo: dict[str, Any] = {"speaker_a": a, "speaker_b": b_name}
    where: dict[str, tuple[str, datetime]] = {}
    for s in range(sessions):
        date = date + timedelta(days=rng.randint(3, 21))
        moment = date.replace(hour=rng.randint(8, 21), minute=rng.randrange(60))
        lines = [(rng.choice([a, b_name]), rng.choice(_SMALL_TALK), "") for _ in range(small_talk)]
        for event in builder.events[s]:
            lines.insert(rng.randrange(len(lines) + 1), event)
        turns = []
        for k, (speaker, text, key) in enumerate(lines, start=1):
            turns.append({"speaker": speaker, "dia_id": f"D{s + 1}:{k}", "text": text})
            if key:
                where[key] = (f"D{s + 1}:{k}", moment)
        convo[f"session_{s + 1}_date_time"] = _when(moment)
        convo[f"session_{s + 1}"] = turns
    qa = []
    for stub in stubs:
        answer = stub["a"]
        if answer.startswith("@date:"):
            answer = _day(where[answer[6:]][1])
        qa.append(
            {
                "question": stub["q"],
                "answer": answer,
                "evidence": [where[e][0] for e in stub["ev"]],
                "category": stub["cat"],
            }
        )
    for owner, other in ((a, b_name), (b_name, a)):
        pet_q = next(
            s for s in stubs if s.get("species") and s["q"].endswith(f"{owner}'s {s['species']}?")
        )
        qa.append(
            {
                "question": f"What is the name of {other}'s {pet_q['species']}?",
                "adversarial_answer": pet_q["a"],
                "evidence": [where[e][0] for e in pet_q["ev"]],
                "category": 5,
            }
        )
    return {"sample_id": sample_id or f"gen-{seed}", "conversation": convo, "qa": qa}


def write_locomo(path: str | os.PathLike[str], records: list[dict[str, Any]]) -> Path:
    """Write LoCoMo records (e.g. from :func:`conversation`) to a JSON file."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(records, indent=1) + "\n", "utf-8")
    return out
