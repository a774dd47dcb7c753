"""Several worker processes on one memory folder, then a user's erasure.

Run: python examples/many_workers.py [FOLDER]

Three processes write memories for their users into the same folder at once; each then
finds the others' writes (dense and full-text search catch up on every committed
change); one user asks to be forgotten, and no file of the folder keeps their words.
Uses the hashing test embedder so it runs anywhere in seconds; drop ``embedder=`` for
the bundled model.
"""

from __future__ import annotations

import multiprocessing
import sys
import tempfile
from pathlib import Path

from agentmem import Memory
from agentmem.testing import HashEmbedder


def open_memory(folder: Path) -> Memory:
    return Memory.default(folder, embedder=HashEmbedder(64), policies=[])


def worker(folder: Path, n: int) -> None:
    with open_memory(folder) as memory:
        for i in range(20):
            memory.add(f"worker {n} wrote note {i}", user_id=f"user{n}")


def main(folder: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=worker, args=(folder, n)) for n in range(3)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    with open_memory(folder) as memory:
        hits = memory.search("worker 2 wrote note 5", user_id="user2", k=1)
        print(f"{memory.count()} memories; user2's best hit: {hits[0].item.text!r}")
        owners = {hit.item.scope.user_id for hit in memory.search("worker 2", user_id="user1")}
        print(f"user1's search finds only user1's memories: {owners == {'user1'}}")
        erased = memory.forget(user_id="user0")
        print(f"erased {erased} memories of user0 (an erasure cannot be undone)")
    leftovers = [p.name for p in folder.rglob("*") if p.is_file() and b"worker 0" in p.read_bytes()]
    print(f"files still holding user0's words: {leftovers}")


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "memory"
    main(target)
