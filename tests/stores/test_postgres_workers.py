"""Four worker processes share one PostgreSQL memory: isolation, durability, visibility.

Each worker adds, updates, forgets and searches at random for several users (shared by
all workers). Checked: no search ever returns another user's memory; every write a
worker saw acknowledged is in the database at the end as it was last written (nothing
lost, nothing resurrected); every memory another worker announced as stored is found by
this worker's next search.
"""

from __future__ import annotations

import multiprocessing
import random
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from agentmem import ManualClock, Memory
from agentmem.testing import HashEmbedder

USERS = [f"user{i}" for i in range(5)]
WORDS = "tea coffee lisbon porto garden piano river winter train paper".split()
WORKERS = 4
OPS = 60


def _open(url: str) -> Memory:
    return Memory.from_url(
        url,
        embedder=HashEmbedder(64),
        clock=ManualClock(datetime(2024, 1, 1, tzinfo=UTC)),
        policies=[],
    )


def worker(url: str, number: int, announced: Any, results: Any) -> None:
    rng = random.Random(number)
    memory = _open(url)
    final: dict[str, str | None] = {}  # id -> last acknowledged text, None once forgotten
    mutable: list[tuple[str, str]] = []  # (id, user) this worker may change
    seen = 0  # announcements already checked
    cross, missed, checks, lag = 0, [], 0, 0.0
    try:
        for _ in range(OPS):
            op = rng.choices(["add", "update", "forget", "search"], [4, 2, 1, 4])[0]
            if op == "add" or (op in ("update", "forget") and not mutable):
                user = rng.choice(USERS)
                token = f"tok{uuid.uuid4().hex[:10]}"
                text = f"{token} from worker {number} about {rng.choice(WORDS)}"
                item = memory.add(text, user_id=user)
                final[item.id] = text
                if rng.random() < 0.5:
                    announced.append((item.id, user, token, time.time()))
                else:
                    mutable.append((item.id, user))
            elif op == "update":
                item_id, user = rng.choice(mutable)
                text = f"tok{uuid.uuid4().hex[:10]} rewritten by {number} about {rng.choice(WORDS)}"
                memory.update(item_id, text=text)
                final[item_id] = text
            elif op == "forget":
                item_id, user = mutable.pop(rng.randrange(len(mutable)))
                assert memory.forget(user_id=user, ids=[item_id]) == 1
                final[item_id] = None
            else:
                user = rng.choice(USERS)
                hits = memory.search(rng.choice(WORDS), user_id=user, k=10)
                cross += sum(1 for h in hits if h.item.scope.user_id != user)
                # Every memory announced before this search must be found now.
                fresh = list(announced[seen:])
                seen += len(fresh)
                for item_id, owner, token, when in fresh:
                    found = memory.search(token, user_id=owner, k=5, record_access=False)
                    checks += 1
                    lag = max(lag, time.time() - when)
                    cross += sum(1 for h in found if h.item.scope.user_id != owner)
                    if item_id not in [h.item.id for h in found]:
                        missed.append(item_id)
        results.put(
            {"final": final, "cross": cross, "missed": missed, "checks": checks, "lag": lag}
        )
    except BaseException as exc:  # report, so the parent fails with the reason
        results.put({"error": repr(exc)})
        raise
    finally:
        memory.close()


def test_four_workers_share_one_memory(postgres_url: str, pg_schema: str) -> None:
    url = f"{postgres_url}{'&' if '?' in postgres_url else '?'}schema={pg_schema}"
    _open(url).close()  # create the schema once, before the workers race
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        announced = manager.list()
        results = context.Queue()
        procs = [
            context.Process(target=worker, args=(url, n, announced, results))
            for n in range(WORKERS)
        ]
        for proc in procs:
            proc.start()
        reports = [results.get(timeout=600) for _ in procs]
        for proc in procs:
            proc.join(60)
        errors = [r["error"] for r in reports if "error" in r]
        assert not errors, errors
        total_announced = len(announced)
    assert sum(r["cross"] for r in reports) == 0
    assert [m for r in reports for m in r["missed"]] == []
    assert sum(r["checks"] for r in reports) >= total_announced  # each worker checked some
    assert max(r["lag"] for r in reports) < 60
    with _open(url) as memory:
        for report in reports:
            for item_id, text in report["final"].items():
                if text is None:
                    assert memory.stores[0].get(item_id) is None, item_id
                else:
                    assert memory.get(item_id).text == text
        expected = sum(1 for r in reports for t in r["final"].values() if t is not None)
        assert memory.count() == expected


def test_purge_waits_for_open_writes_so_vacuum_never_races_an_insert(
    postgres_url: str, pg_schema: str
) -> None:
    """pgvector's HNSW VACUUM zeroes deleted graph elements while an insert may still read
    them ('different vector dimensions 64 and 0' in a worker above, seen under load):
    ``purge()`` must wait until no transaction is writing items, and writers wait for it.
    """
    import threading

    from agentmem import MemoryItem, Scope
    from agentmem.stores.postgres import PostgresStore

    when = datetime(2024, 1, 1, tzinfo=UTC)

    def item(text: str) -> MemoryItem:
        return MemoryItem(text=text, scope=Scope(user_id="u"), created_at=when, recorded_at=when)

    url = f"{postgres_url}{'&' if '?' in postgres_url else '?'}schema={pg_schema}"
    writer = PostgresStore(url, HashEmbedder(64))
    eraser = PostgresStore(url, HashEmbedder(64))
    try:
        old = item("to be erased")
        writer.add([old])
        eraser.delete([old.id])
        done = threading.Event()
        with writer.transaction():
            writer.add([item("written while a purge is asked for")])
            purging = threading.Thread(target=lambda: (eraser.purge(), done.set()))
            purging.start()
            assert not done.wait(1.5), "VACUUM ran while an insert was in flight"
        assert done.wait(30), "purge did not run after the write committed"
        purging.join(5)
        assert writer.count() == 1
    finally:
        writer.close()
        eraser.close()
