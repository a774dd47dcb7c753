"""Thought memory (Think-in-Memory): an agent that keeps the conclusions it reached.

Before answering, the agent recalls thoughts; after answering, it post-thinks and
inserts, merges and forgets thoughts. Every change is in the audit log with its reason.

    python examples/thought_memory.py            # the bundled offline models
    python examples/thought_memory.py --offline-doubles   # no models: instant
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agentmem import Agent, ManualClock, Memory, PostThinker
from agentmem.stores import ThoughtStore, VectorStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--offline-doubles", action="store_true", help="no real models")
    args = parser.parse_args()
    if args.offline_doubles:
        from agentmem.testing import FunctionLLM, HashEmbedder

        embedder = HashEmbedder(256)
        llm = FunctionLLM(lambda messages: "Noted.")
    else:
        from agentmem.embedders import SentenceTransformerEmbedder
        from agentmem.llms import LocalLLM

        embedder, llm = SentenceTransformerEmbedder(), LocalLLM()

    folder = Path(tempfile.mkdtemp(prefix="agentmem-thoughts-"))
    clock = ManualClock(datetime(2024, 1, 10, 9, 0, tzinfo=UTC))
    memory = Memory(
        [VectorStore(folder / "turns", embedder), ThoughtStore(folder / "thoughts", embedder)],
        embedder=embedder,
        clock=clock,
    )
    # Post-thinking from fixed patterns; pass llm=... to let the model post-think as well.
    agent = Agent(llm, memory, extractors=[], thinker=PostThinker(), max_tokens=32)
    for message in ["I live in Lisbon.", "I work as a nurse.", "I moved to Porto last week."]:
        reply = agent.chat(message, user_id="alice")
        print(f"user: {message}\n  thoughts: {[t.text for t in reply.thoughts]}")
        clock.advance(timedelta(days=30))

    print("\nthoughts now held:")
    for item in memory.items(user_id="alice", filters={"kinds": ["thought"]}):
        print(f"  {item.text}  (from turns {item.source_ids})")
    print("\nwhat happened to them:")
    for event in memory.events(user_id="alice"):
        if event.op.value in {"merge", "forget"} or "post-thinking" in event.reason:
            print(f"  {event.op.value:<7} {event.reason}")
    reply = agent.chat("Where do I live now?", user_id="alice")
    print(f"\nrecalled: {[h.item.text for h in reply.recalled if h.store == 'thought']}")
    print(f"answer: {reply.text}")
    memory.close()


if __name__ == "__main__":
    main()
