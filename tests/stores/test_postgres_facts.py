"""Structured facts in PostgreSQL: kept in step with fact memories, in their transaction.

The timeline itself (upsert, as_of, history) is tested on both backends in
``test_facts.py``; here: a fact memory sets, closes and erases its fact in the same
transaction as the memory change and its audit event, an old schema gets its facts on
upgrade, and ``agentmem migrate`` brings facts along.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agentmem import Kind, ManualClock, Memory, copy_memory
from agentmem.stores import SymbolicStore
from agentmem.stores.postgres import PostgresStore
from agentmem.testing import HashEmbedder

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def _url(postgres_url: str, schema: str) -> str:
    return f"{postgres_url}{'&' if '?' in postgres_url else '?'}schema={schema}"


def _fact(value: str) -> dict[str, object]:
    return {"subject": "user", "attribute": "lives_in", "value": value}


def _memory(url: str, clock: ManualClock) -> Memory:
    return Memory.from_url(url, embedder=HashEmbedder(64), clock=clock)


def test_fact_memories_set_and_close_the_structured_fact(postgres_url: str, pg_schema: str) -> None:
    clock = ManualClock(T0)
    with _memory(_url(postgres_url, pg_schema), clock) as memory:
        store = memory.stores[0]
        assert isinstance(store, PostgresStore)
        memory.add(
            "The user lives in Lisbon.", user_id="al", kind=Kind.FACT, metadata=_fact("Lisbon")
        )
        memory.add("Just chatting", user_id="al")  # not a fact: no row
        clock.advance(timedelta(days=10))
        porto = memory.add(
            "The user lives in Porto.", user_id="al", kind=Kind.FACT, metadata=_fact("Porto")
        )
        facts = store.facts("al")
        old, new = facts.history("user", "lives_in")
        assert (old.value, old.valid_from, old.valid_to) == ("Lisbon", T0, T0 + timedelta(days=10))
        assert (new.value, new.valid_to) == ("Porto", None)
        assert facts.current("user") == {"lives_in": "Porto"}
        assert facts.as_of("user", T0 + timedelta(days=3)) == {"lives_in": "Lisbon"}
        assert store.facts("bob").current("user") == {}
        # Closing the memory closes its value; erasing it deletes its row.
        clock.advance(timedelta(days=1))
        memory.update(porto.id, valid_to=clock.now())
        assert facts.current("user") == {}
        assert memory.forget(user_id="al", ids=[porto.id]) == 1
        assert [r.value for r in facts.history("user", "lives_in")] == ["Lisbon"]
        # Erasing the user erases the facts set directly too.
        facts.upsert("user", "job", "baker")
        assert memory.forget(user_id="al") >= 1
        assert facts.subjects() == []


def test_a_fact_commits_or_rolls_back_with_its_memory_and_audit_event(
    postgres_url: str, pg_schema: str
) -> None:
    clock = ManualClock(T0)
    with _memory(_url(postgres_url, pg_schema), clock) as memory:
        store = memory.stores[0]
        assert isinstance(store, PostgresStore)
        with pytest.raises(RuntimeError), store.transaction():
            memory.add(
                "The user lives in Oslo.", user_id="al", kind=Kind.FACT, metadata=_fact("Oslo")
            )
            store.facts("al").upsert("user", "job", "pilot")
            assert store.facts("al").current("user") == {"job": "pilot", "lives_in": "Oslo"}
            raise RuntimeError("crash before commit")
        assert store.facts("al").subjects() == []
        assert memory.count(user_id="al") == 0
        assert memory.audit.events(user_id="al") == []
        with store.transaction():
            item = memory.add(
                "The user lives in Oslo.", user_id="al", kind=Kind.FACT, metadata=_fact("Oslo")
            )
        assert store.facts("al").current("user") == {"lives_in": "Oslo"}
        assert [e.op.value for e in memory.history(item.id)] == ["add"]


def test_a_version_2_schema_gets_the_facts_of_its_fact_memories(
    postgres_url: str, pg_schema: str
) -> None:
    import psycopg
    from pgvector.psycopg import register_vector

    from agentmem.stores import ContextOptions
    from agentmem.stores._pg_schema import migrate

    embedder = HashEmbedder(64)
    text = "The user lives in Rome."
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        register_vector(conn)
        with conn.transaction():
            assert migrate(conn, pg_schema, 64, target=2) == 0
            conn.execute(
                "INSERT INTO items (id, user_id, kind, text, created_at, recorded_at, valid_from, "
                "importance, strength, access_count, source_ids, metadata, body, embedding, "
                "embedding_hash) VALUES ('f1', 'al', 'fact', %s, %s, %s, %s, 0.5, 1.0, 0, '[]', "
                "%s, %s, %s, 'h')",
                (
                    text,
                    T0,
                    T0,
                    T0,
                    psycopg.types.json.Jsonb(_fact("Rome")),
                    text,
                    embedder.embed([text])[0],
                ),
            )
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('embedder', %s), ('dim', '64'), "
                "('context', %s)",
                (embedder.name, ContextOptions().key),
            )
    with PostgresStore(postgres_url, embedder, schema=pg_schema) as store:
        [record] = store.facts("al").history("user", "lives_in")
        assert (record.value, record.valid_from, record.valid_to) == ("Rome", T0, None)


def test_migrate_brings_fact_memories_and_directly_set_facts(
    postgres_url: str, pg_schema: str, tmp_path: Path
) -> None:
    clock = ManualClock(T0)
    source = Memory.default(tmp_path / "mem", embedder=HashEmbedder(64), clock=clock)
    source.add("The user lives in Lisbon.", user_id="al", kind=Kind.FACT, metadata=_fact("Lisbon"))
    clock.advance(timedelta(days=5))
    source.add("The user lives in Porto.", user_id="al", kind=Kind.FACT, metadata=_fact("Porto"))
    symbolic = SymbolicStore(tmp_path / "sym", name="records", clock=clock)
    symbolic.facts("bo").upsert("shop", "open", True, at=T0)
    symbolic.facts("bo").upsert("shop", "open", False, at=T0 + timedelta(days=2))
    both = Memory([source.stores[0], symbolic], embedder=HashEmbedder(64), clock=clock)
    with _memory(_url(postgres_url, pg_schema), clock) as target:
        report = copy_memory(both, target)
        assert report.complete and report.facts_copied == 2
        store = target.stores[0]
        assert isinstance(store, PostgresStore)
        lived = store.facts("al").history("user", "lives_in")
        assert [(r.value, r.valid_to) for r in lived] == [
            ("Lisbon", T0 + timedelta(days=5)),
            ("Porto", None),
        ]
        shop = store.facts("bo").history("shop", "open")
        assert [(r.value, r.valid_from) for r in shop] == [
            (True, T0),
            (False, T0 + timedelta(days=2)),
        ]
        again = copy_memory(both, target)  # resumable: nothing twice
        assert again.facts_copied == 0 and len(store.facts("bo").history("shop", "open")) == 2
    symbolic.close()
    source.close()
