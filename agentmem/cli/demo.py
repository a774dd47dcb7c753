"""``agentmem demo``: a scripted multi-session conversation on the offline default stack.

A user's facts change over seven weeks (moves city, changes job, adopts a dog, renames it).
Each turn shows the reply and what memory recalled, wrote, updated and forgot; the end
shows what remains, and the history of a fact that changed.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agentmem.cli._common import DB_HELP, add_db_argument

__all__ = ["EXPECTED", "INTRO", "SESSIONS", "register", "run_demo"]

USER = "maya"

# (session date, [user messages])
SESSIONS: list[tuple[datetime, list[str]]] = [
    (
        datetime(2024, 3, 4, 18, 0, tzinfo=UTC),
        [
            "Hi! My name is Maya.",
            "I live in Lisbon and I work as a nurse.",
        ],
    ),
    (
        datetime(2024, 3, 18, 19, 30, tzinfo=UTC),
        [
            "Big news: I adopted a dog named Rex!",
            "What is my dog's name?",
        ],
    ),
    (
        datetime(2024, 4, 8, 9, 15, tzinfo=UTC),
        [
            "I moved to Porto last weekend.",
            "I also got a new job as a data analyst.",
            "Where do I live now?",
        ],
    ),
    (
        datetime(2024, 4, 22, 20, 0, tzinfo=UTC),
        [
            "We renamed our dog to Max, Rex never suited him.",
            "What is my dog's name?",
            "What is my job?",
        ],
    ),
]

# What each question must be answered with, from memory (the demo checks its own answers).
EXPECTED = {
    (2, "What is my dog's name?"): "Rex",
    (3, "Where do I live now?"): "Porto",
    (4, "What is my dog's name?"): "Max",
    (4, "What is my job?"): "data analyst",
}

INTRO = """\
agentmem demo: Maya talks to an assistant in four sessions over seven weeks. It will show
  - recall: the memories each answer draws on, best first, and which search found them
    (meaning: dense embeddings; words: BM25)
  - updates: when Maya moves, changes job or renames her dog, the old fact is closed, not lost
  - the end state: the facts that hold now, the superseded ones, and one fact's history
Models: SmolLM2-135M (chat) and all-MiniLM-L6-v2 (embeddings), both offline."""


def register(sub: Any) -> None:
    """Add the ``demo`` command."""
    parser = sub.add_parser(
        "demo", help="run a scripted multi-session conversation on the offline models"
    )
    add_db_argument(
        parser, required=False, help=f"{DB_HELP} for the memory (default: a temporary folder)"
    )
    parser.add_argument("--max-tokens", type=int, default=40, help="reply length cap")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    if args.db:
        return run_demo(args.db, max_tokens=args.max_tokens)
    with tempfile.TemporaryDirectory(prefix="agentmem-demo-") as tmp:
        return run_demo(Path(tmp), max_tokens=args.max_tokens)


def _line(label: str, values: list[str]) -> None:
    if values:
        print(f"    {label:<10}" + ("\n" + " " * 14).join(values))


def run_demo(
    folder: Path | str,
    *,
    max_tokens: int = 40,
    llm: Any = None,
    embedder: Any = None,
    prompt_style: Any = "auto",
) -> int:
    """Run the scripted conversation with memory in ``folder`` (or a URL); print it.

    Returns 0 when every question was answered with the remembered fact, 1 otherwise.
    """
    from agentmem import Agent, ManualClock, Memory
    from agentmem.cli._status import status
    from agentmem.llms import LocalLLM

    started = time.perf_counter()
    clock = ManualClock(SESSIONS[0][0])
    print(INTRO)
    print(f"memory: {folder}", flush=True)
    with status(
        "loading the offline models (the first run prepares the chat model: ~20 s)",
        done="models ready",
    ):
        memory = Memory.from_url(folder, clock=clock, embedder=embedder)
        if llm is None:
            llm = LocalLLM(max_tokens=max_tokens)
            llm.load()
        memory.search("warm up", user_id=USER, k=1)  # loads the embedding model now
    agent = Agent(llm=llm, memory=memory, max_tokens=max_tokens, prompt_style=prompt_style)
    logging.getLogger(__name__).info("models ready after %.1f s", time.perf_counter() - started)
    updated_ids: list[str] = []
    wrong: list[str] = []
    with memory:
        for number, (when, messages) in enumerate(SESSIONS, start=1):
            clock.set(when)
            print(f"\n=== session {number}: {when:%A %d %B %Y} ===")
            for message in messages:
                print(f"\n  user:  {message}")
                print("  agent: ", end="", flush=True)
                reply = agent.chat(
                    message,
                    user_id=USER,
                    session_id=f"s{number}",
                    on_text=lambda piece: print(piece, end="", flush=True),
                )
                print()
                expected = EXPECTED.get((number, message))
                if expected is not None and expected.lower() not in reply.text.lower():
                    wrong.append(f"{message} (expected {expected})")
                _line(
                    "recalled", [f"{_found_by(h.signal)} {h.item.text}" for h in reply.recalled[:3]]
                )
                _line("wrote", [f"[{i.kind.value}] {i.text}" for i in reply.written])
                closed = [i for i in reply.updated if i.valid_to is not None]
                _line("updated", [f"closed: {i.text}" for i in closed])
                _line("forgot", [i.text for i in reply.forgotten])
                updated_ids += [i.id for i in closed]
                clock.set(clock.now().replace(minute=(clock.now().minute + 2) % 60))
        _summary(memory, updated_ids)
    right = len(EXPECTED) - len(wrong)
    print(
        f"\ndone in {time.perf_counter() - started:.0f} s; {len(updated_ids)} memories updated "
        f"because a fact changed; {right} of {len(EXPECTED)} questions answered from memory"
    )
    for miss in wrong:
        print(f"  missed: {miss}")
    return 0 if not wrong else 1


def _found_by(signal: str) -> str:
    names = {"dense": "meaning", "bm25": "words"}
    return "(" + "+".join(names.get(part, part) for part in signal.split("+")) + ")"


def _summary(memory: Any, updated_ids: list[str]) -> None:
    from agentmem import Kind

    print("\n=== what memory holds now: facts ===")
    print(f"  {'fact':<44} {'since':<11} {'until':<11} status")
    facts = memory.items(user_id=USER, include_closed=True, filters={"kinds": [Kind.FACT]})
    for item in facts:
        until = "" if item.valid_to is None else f"{item.valid_to:%Y-%m-%d}"
        status = "current" if item.valid_to is None else "superseded"
        print(f"  {item.text:<44} {item.valid_from:%Y-%m-%d}  {until:<11} {status}")
    messages = memory.items(user_id=USER, filters={"kinds": [Kind.MESSAGE]})
    print(f"  (+ {len(messages)} raw turns kept verbatim)")
    if updated_ids:
        item = memory.get(updated_ids[0])
        print(f'\n=== history of "{item.text}" ===')
        for event in memory.history(item.id):
            by = f" ({event.policy})" if event.policy else ""
            print(f"  {event.at:%Y-%m-%d %H:%M}  {event.op.value:<7}{by} {event.reason}")
