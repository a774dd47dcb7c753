from datetime import UTC, datetime

import pytest

from agentmem import ManualClock, UserError
from agentmem.eval import (
    Conversation,
    Question,
    Session,
    System,
    Turn,
    build_system,
    parse_system_spec,
    register_system,
    registered_systems,
)
from agentmem.testing import HashEmbedder

CONVO = Conversation(
    id="c1",
    sessions=[
        Session(
            id="s1",
            date=datetime(2023, 1, 1, tzinfo=UTC),
            turns=[
                Turn(id="D1:1", speaker="Ana", text="My dog Rex loves the beach."),
                Turn(id="D1:2", speaker="Ben", text="The weather is strange lately."),
            ],
        ),
        Session(
            id="s2",
            date=datetime(2023, 2, 1, tzinfo=UTC),
            turns=[Turn(id="D2:1", speaker="Ana", text="I moved to Porto last week.")],
        ),
    ],
)
QUESTION = Question(
    id="q", question="Ana moved to which city last week?", answer="Porto", category="x"
)


def _run(spec: str, k: int = 2) -> list[tuple[str, str]]:
    system = build_system(spec, embedder=HashEmbedder(128))
    clock = ManualClock(CONVO.sessions[0].date)
    system.begin(CONVO, clock)
    for session in CONVO.sessions:
        clock.set(session.date)
        system.observe(session, session.turns)
    try:
        return system.recall(QUESTION, k)
    finally:
        system.end()


def test_fixed_context_systems() -> None:
    assert [i for i, _ in _run("full-context")] == ["D1:1", "D1:2", "D2:1"]
    assert _run("no-memory") == []
    assert [i for i, _ in _run("recent-window:n=2")] == ["D1:2", "D2:1"]
    assert _run("full-context")[2][1] == "[01 February 2023] Ana: I moved to Porto last week."


@pytest.mark.parametrize(
    "spec",
    [
        "vector",
        "bm25",
        "hybrid",
        "hybrid:signals=bm25",
        "hybrid:options=conversation",
        "hybrid:derived=pattern",
    ],
)
def test_search_systems_find_the_evidence_with_session_dates(spec: str) -> None:
    recalled = _run(spec, k=1)
    assert recalled[0][0] == "D2:1"
    assert recalled[0][1].startswith("[01 February 2023]")
    if spec != "bm25":
        assert recalled[0][1] == "[01 February 2023] Ana: I moved to Porto last week."


def test_memory_systems_store_turns_as_memory_does() -> None:
    """The turn's text, with its speaker and id in metadata (so turn context applies)."""
    system = build_system("hybrid", embedder=HashEmbedder(128))
    clock = ManualClock(CONVO.sessions[0].date)
    system.begin(CONVO, clock)
    try:
        session = CONVO.sessions[0]
        system.observe(session, session.turns)
        memory = system._require()  # type: ignore[attr-defined]
        items = sorted(memory.items(user_id="c1"), key=lambda i: i.created_at)
        assert [i.text for i in items] == [t.text for t in session.turns]
        assert items[0].metadata == {"speaker": "Ana", "turn": "D1:1"}
    finally:
        system.end()


def test_hybrid_options_are_checked() -> None:
    with pytest.raises(UserError, match="options must be one of"):
        build_system("hybrid:options=fast", embedder=HashEmbedder(8))
    with pytest.raises(UserError, match="takes only the options"):
        build_system("hybrid:rrf_k=3", embedder=HashEmbedder(8))
    with pytest.raises(UserError, match="derived must be"):
        build_system("hybrid:derived=llm", embedder=HashEmbedder(8))


def test_hybrid_with_derived_memories_derives_and_recalls_turns() -> None:
    system = build_system("hybrid:derived=pattern", embedder=HashEmbedder(128))
    clock = ManualClock(CONVO.sessions[0].date)
    system.begin(CONVO, clock)
    try:
        for session in CONVO.sessions:
            clock.set(session.date)
            system.observe(session, session.turns)
        memory = system._require()  # type: ignore[attr-defined]
        assert memory.derived is not None
        derived = list(memory.derived.store.scan())
        assert derived and all(d.source_ids for d in derived)
        assert memory.count() == sum(len(s.turns) for s in CONVO.sessions)
    finally:
        system.end()


def test_spec_parsing_and_errors() -> None:
    assert parse_system_spec("recent-window:n=40") == ("recent-window", {"n": "40"})
    assert build_system("recent-window:n=40").name == "recent-window:n=40"
    with pytest.raises(UserError, match="unknown system 'hybrd'; registered:"):
        build_system("hybrd")
    with pytest.raises(UserError, match="must look like key=value"):
        build_system("recent-window:40")
    with pytest.raises(UserError, match="positive integer"):
        build_system("recent-window:n=zero")
    with pytest.raises(UserError, match="unexpected keyword"):
        build_system("bm25:x=1")
    with pytest.raises(UserError, match="needs an embedder"):
        build_system("vector")


def test_register_system_extends_the_registry() -> None:
    class Echo(System):
        def begin(self, conversation: Conversation, clock: ManualClock) -> None:
            self.turns: list[tuple[str, str]] = []

        def observe(self, session: Session, turns: object) -> None:
            self.turns += [(t.id, t.text) for t in session.turns]

        def recall(self, question: Question, k: int) -> list[tuple[str, str]]:
            return self.turns[-k:]

    register_system("echo-test", lambda *, embedder=None: Echo())
    try:
        assert "echo-test" in registered_systems()
        assert [i for i, _ in _run("echo-test", k=1)] == ["D2:1"]
    finally:
        from agentmem.eval import systems

        systems._REGISTRY.pop("echo-test")
    with pytest.raises(UserError, match="lower-case"):
        register_system("Bad Name", lambda *, embedder=None: Echo())
