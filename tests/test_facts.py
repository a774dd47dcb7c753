from __future__ import annotations

import pytest

from agentmem import LLMFactExtractor, PatternFactExtractor


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("I just moved to Lisbon.", [("user", "lives_in", "Lisbon")]),
        ("I moved to Porto last weekend.", [("user", "lives_in", "Porto")]),
        (
            "I live in New York and I work as a nurse.",
            [("user", "lives_in", "New York"), ("user", "job", "nurse")],
        ),
        ("I also got a new job as a data analyst.", [("user", "job", "data analyst")]),
        ("I now work at Acme Corp.", [("user", "employer", "Acme Corp")]),
        ("My name is Maya.", [("user", "name", "Maya")]),
        ("I'm 42 years old", [("user", "age", "42")]),
        ("My favorite color is green", [("user", "favorite_color", "green")]),
        (
            "Big news: I adopted a dog named Rex!",
            [("user", "pet", "dog"), ("user's dog", "name", "Rex")],
        ),
        ("We renamed our dog to Max, Rex never suited him.", [("user's dog", "name", "Max")]),
        ("My cat is now called Luna.", [("user's cat", "name", "Luna")]),
        ("The weather is nice.", []),
        ("Where do I live?", []),
    ],
)
def test_patterns(message: str, expected: list[tuple[str, str, str]]) -> None:
    facts = PatternFactExtractor().extract(message)
    assert [(f.subject, f.attribute, f.value) for f in facts] == expected


def test_llm_parse_keeps_only_well_formed_grounded_lines() -> None:
    reply = "\n".join(
        [
            "user | lives_in | Lisbon",
            "- user | Job Title | nurse",
            "user | age | 99",  # not in the message
            "Anna | lives_in | Porto",  # a named subject from the message
            "Bob | likes | tea",  # subject not in the message
            "NONE",
            "a | b",
        ]
    )
    facts = LLMFactExtractor.parse(
        reply, "I live in Lisbon, I'm a nurse; my sister Anna is in Porto"
    )
    assert [(f.subject, f.attribute, f.value) for f in facts] == [
        ("user", "lives_in", "Lisbon"),
        ("user", "job_title", "nurse"),
        ("Anna", "lives_in", "Porto"),
    ]
