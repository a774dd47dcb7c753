"""Memory on PostgreSQL: from_url, the audit log in the database, the CLI's --db URL, migrate."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from agentmem import (
    EventOp,
    InvalidInputError,
    ManualClock,
    Memory,
    MemoryEvent,
    copy_memory,
)
from agentmem.cli import main
from agentmem.stores.postgres import PostgresStore
from agentmem.testing import HashEmbedder

T0 = datetime(2024, 3, 1, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


def schema_url(postgres_url: str, schema: str) -> str:
    """The server's URL naming one schema (``?schema=``, read by agentmem, not libpq)."""
    return f"{postgres_url}{'&' if '?' in postgres_url else '?'}schema={schema}"


def _memory(url: str, clock: ManualClock | None = None) -> Memory:
    return Memory.from_url(url, embedder=HashEmbedder(64), clock=clock or ManualClock(T0))


def test_from_url_gives_a_postgres_memory_with_its_audit_log(
    postgres_url: str, pg_schema: str
) -> None:
    url = schema_url(postgres_url, pg_schema)
    with _memory(url) as memory:
        store = memory.stores[0]
        assert isinstance(store, PostgresStore) and store.database.schema == pg_schema
        item = memory.add("Alice moved to Lisbon", user_id="alice", session_id="s1")
        memory.add("Bob likes green tea", user_id="bob")
        hits = memory.search("Lisbon", user_id="alice", k=3)
        assert [h.item.id for h in hits] == [item.id]
        memory.update(item.id, text="Alice moved to Porto")
        ops = [event.op.value for event in memory.history(item.id)]
        assert ops[0] == "add" and "update" in ops
    # Another Memory on the same URL: the memories and their history are in the database.
    with _memory(url) as again:
        assert again.get(item.id).text == "Alice moved to Porto"
        assert [e.op.value for e in again.history(item.id)] == ops
        assert again.count() == 2
        assert again.forget(user_id="alice") == 1
        assert again.count(user_id="alice") == 0
        assert again.search("Lisbon Porto", user_id="alice") == []
        assert again.search("green tea", user_id="bob")


def test_from_url_sqlite_and_folder_give_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentmem.stores import HybridStore

    monkeypatch.chdir(tmp_path)
    for target in (str(tmp_path / "a"), "sqlite:///b", f"sqlite:///{tmp_path / 'c'}"):
        with Memory.from_url(target, embedder=HashEmbedder(32)) as memory:
            assert isinstance(memory.stores[0], HybridStore)
            memory.add("hello there", user_id="u")
    for name in "abc":
        assert (tmp_path / name / "vector.sqlite").exists()


def test_from_url_rejects_unknown_schemes_and_misplaced_options(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="unknown memory URL"):
        Memory.from_url("mysql://x/y", embedder=HashEmbedder(32))
    with pytest.raises(InvalidInputError, match="PostgreSQL URLs only"):
        Memory.from_url(str(tmp_path), embedder=HashEmbedder(32), tenant="x")


def test_a_change_and_its_event_commit_together_or_not_at_all(
    postgres_url: str, pg_schema: str
) -> None:
    with _memory(schema_url(postgres_url, pg_schema)) as memory:
        store = memory.stores[0]
        assert isinstance(store, PostgresStore)
        item = memory.make_item("kept only if all of it commits", user_id="alice")
        event = MemoryEvent(op=EventOp.ADD, item_ids=[item.id], user_id="alice", at=T0)
        with pytest.raises(RuntimeError), store.transaction():
            store.add([item])
            memory.audit.record([event])
            assert store.get(item.id) is not None  # visible inside the transaction
            raise RuntimeError("a crash between the change and the commit")
        assert store.get(item.id) is None
        assert memory.history(item.id) == []
        with store.transaction():
            store.add([item])
            memory.audit.record([event])
        assert store.get(item.id) is not None
        assert [e.op for e in memory.history(item.id)] == [EventOp.ADD]


def test_cli_takes_a_postgres_url(
    postgres_url: str, pg_schema: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = schema_url(postgres_url, pg_schema)
    with _memory(url) as memory:
        memory.add("Alice moved to Lisbon", user_id="alice")
        old = memory.add("Alice likes tea", user_id="alice", importance=0.9)
        memory.update(old.id, importance=0.1)
        event = memory.history(old.id)[-1].id
    undo = ["policies", "undo", "--db", url, "--embedder", "hash", "--yes", str(event)]
    assert main(undo) == 0
    assert "undid event" in capsys.readouterr().out
    with _memory(url) as memory:
        assert memory.get(old.id).importance == 0.9
    code = main(
        ["policies", "preview", "--db", url, "--embedder", "hash", "--policy", "ttl:ttl=1d"]
    )
    assert code == 0


@pytest.mark.real_models
def test_memories_cli_lists_a_postgres_memory(
    postgres_url: str, pg_schema: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = schema_url(postgres_url, pg_schema)
    with Memory.from_url(url) as memory:
        item = memory.add("Alice moved to Lisbon", user_id="alice")
    assert main(["memories", "list", "--db", url]) == 0
    assert item.id in capsys.readouterr().out
    assert main(["memories", "history", "--db", url, item.id]) == 0
    assert "add" in capsys.readouterr().out


def _source(folder: Path, n: int) -> list[str]:
    """A folder memory of ``n`` memories of 3 users, with updates in its audit log."""
    clock = ManualClock(T0)
    with Memory.default(folder, embedder=HashEmbedder(64), clock=clock, policies=[]) as memory:
        ids = []
        for i in range(n):
            clock.set(T0 + timedelta(minutes=i))
            item = memory.add(
                f"memory {i} of user {i % 3} about topic {i % 17}",
                user_id=f"user{i % 3}",
                session_id=f"s{i // 50}",
                metadata={"i": i},
            )
            ids.append(item.id)
        for item_id in ids[:: max(1, n // 20)]:
            memory.update(item_id, importance=0.8)
    return ids


def _count(url: str) -> int:
    try:
        with _memory(url) as memory:
            return memory.count()
    except Exception:  # the schema may not exist yet
        return 0


def test_migrate_copies_everything_and_resumes_after_a_kill(
    postgres_url: str, pg_schema: str, tmp_path: Path
) -> None:
    folder = tmp_path / "mem"
    ids = _source(folder, 1500)
    url = schema_url(postgres_url, pg_schema)
    command = [
        sys.executable,
        "-m",
        "agentmem.cli",
        "migrate",
        "--from",
        str(folder),
        "--to",
        url,
        "--embedder",
        "hash",
        "--batch",
        "25",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = tmp_path / "first.log"
    with log.open("wb") as err:
        first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and first.poll() is None:
            if _count(url) >= 100:
                first.send_signal(signal.SIGKILL)
                break
            time.sleep(0.05)
        first.wait(60)
    assert first.returncode == -signal.SIGKILL, log.read_text()
    partial = _count(url)
    assert 0 < partial < len(ids), partial  # killed part way: some batches committed
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr
    assert "count check: 1500 memories" in second.stderr
    assert f"({partial} were already there" in second.stdout
    # Everything is there, with the stored embeddings and the whole audit history.
    with (
        Memory.default(folder, embedder=HashEmbedder(64), policies=[]) as source,
        _memory(url) as target,
    ):
        assert target.count() == source.count() == 1500
        for user in ("user0", "user1", "user2"):
            assert [i.model_dump() for i in target.items(user_id=user)] == [
                i.model_dump() for i in source.items(user_id=user)
            ]
        assert [e.model_dump() for e in target.events()] == [
            e.model_dump() for e in source.events()
        ]
        store = target.stores[0]
        assert isinstance(store, PostgresStore)
        with store.transaction() as conn:
            vector = conn.execute(
                "SELECT embedding FROM items WHERE id = %s", (ids[7],)
            ).fetchone()[0]
        columns = source.stores[0].columns(extra=("embedding",))  # type: ignore[attr-defined]
        stored = dict(zip(columns["id"], columns["embedding"], strict=True))[ids[7]]
        assert np.array_equal(vector.to_numpy(), np.frombuffer(stored, dtype=np.float32))
        # Running it again copies nothing and still passes the count check.
        report = copy_memory(source, target)
        assert (report.memories_copied, report.events_copied) == (0, 0)
        assert report.complete


def test_forget_erases_the_text_from_items_and_audit(postgres_url: str, pg_schema: str) -> None:
    url = schema_url(postgres_url, pg_schema)
    with _memory(url) as memory:
        secret = memory.add("my passport number is X1234567", user_id="alice")
        kept = memory.add("I like tea", user_id="alice")
        assert memory.forget(user_id="alice", ids=[secret.id]) == 1
        store = memory.stores[0]
        assert isinstance(store, PostgresStore)
        with store.transaction() as conn:
            rows = conn.execute(
                "SELECT count(*) FROM items WHERE text LIKE '%X1234567%'"
            ).fetchone()
            events = conn.execute(
                "SELECT count(*) FROM events WHERE reason LIKE '%X1234567%' "
                "OR before::text LIKE '%X1234567%' OR after::text LIKE '%X1234567%'"
            ).fetchone()
            terms = conn.execute("SELECT count(*) FROM terms WHERE lexeme = 'x1234567'").fetchone()
        assert (rows, events, terms) == ((0,), (0,), (0,))
        assert [e.op for e in memory.history(secret.id)][0] == EventOp.ADD  # ids and ops stay
        assert memory.get(kept.id).text == "I like tea"


async def test_async_memory_on_postgres(postgres_url: str, pg_schema: str) -> None:
    import asyncio

    from agentmem import AsyncMemory

    url = schema_url(postgres_url, pg_schema)
    async with AsyncMemory.from_url(url, embedder=HashEmbedder(64), policies=[]) as memory:
        users = [f"user{i}" for i in range(4)]
        await asyncio.gather(
            *(memory.add(f"note {n} of {u} about tea", user_id=u) for u in users for n in range(5))
        )
        results = await asyncio.gather(*(memory.search("tea", user_id=u, k=10) for u in users))
        for user, hits in zip(users, results, strict=True):
            assert len(hits) == 5 and {h.item.scope.user_id for h in hits} == {user}


def test_derived_memories_live_in_postgresql_too(
    postgres_url: str, pg_schema: str, tmp_path: Path
) -> None:
    """As the default keeps them: in a store of their own (here schema <name>_derived)."""
    url = schema_url(postgres_url, pg_schema)
    text = "Wow! I just signed up for a pottery class yesterday with my sister."
    with _memory(url) as memory:
        assert memory.derived is not None
        side = memory.derived.store
        assert isinstance(side, PostgresStore) and side.database.schema == f"{pg_schema}_derived"
        item = memory.add(text, user_id="mel", metadata={"speaker": "Melanie"})
        [derived] = list(side.scan())
        assert derived.source_ids == [item.id] and derived.text.startswith("Melanie just signed")
        hits = memory.search("When did Melanie sign up for pottery?", user_id="mel", k=3)
        assert hits[0].item.id == item.id
        assert memory.forget(user_id="mel") == 1
        assert side.count() == 0
    # migrate: the target draws the derived memories again
    folder = tmp_path / "mem"
    source = Memory.default(folder, embedder=HashEmbedder(64), clock=ManualClock(T0))
    source.add(text, user_id="mel", metadata={"speaker": "Melanie"})
    with _memory(schema_url(postgres_url, f"{pg_schema}_m")) as target:
        copy_memory(source, target)
        assert target.derived is not None and target.derived.store.count() == 1
    source.close()
