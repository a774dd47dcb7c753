"""Row-level security: with it on, the database itself keeps users apart.

The tables belong to an ordinary role (superusers are never subject to row-level
security, by PostgreSQL's design), as a deployment would have it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest

from agentmem import MemoryItem, Scope
from agentmem.stores.postgres import PostgresStore
from agentmem.testing import HashEmbedder

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _item(text: str, user: str) -> MemoryItem:
    return MemoryItem(text=text, scope=Scope(user_id=user), created_at=T0, recorded_at=T0)


@pytest.fixture
def app_url(postgres_url: str) -> str:
    """The server's URL for an ordinary login role that may create schemas."""
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'agentmem_app'").fetchone() is None:
            conn.execute("CREATE ROLE agentmem_app LOGIN NOSUPERUSER NOBYPASSRLS")
        conn.execute("GRANT CREATE ON DATABASE postgres TO agentmem_app")
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    return postgres_url.replace("postgresql://postgres:@", "postgresql://agentmem_app@", 1)


def test_a_tenant_store_sees_its_user_alone(app_url: str, pg_schema: str) -> None:
    embedder = HashEmbedder(32)
    with PostgresStore(app_url, embedder, schema=pg_schema, row_security=True) as admin:
        mine, theirs = (
            _item("alice's note about Lisbon", "alice"),
            _item("bob's note about Lisbon", "bob"),
        )
        admin.add([mine, theirs])
        assert admin.count() == 2
        admin.facts("bob").upsert("bob", "city", "Porto", at=T0)
    with PostgresStore(app_url, embedder, schema=pg_schema, tenant="alice") as alice:
        # Structured facts too: another user's table reads empty, and a write for them fails.
        assert alice.facts("bob").current("bob") == {}
        with alice.transaction() as conn:
            assert conn.execute("SELECT count(*) FROM facts").fetchone() == (0,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            alice.facts("bob").upsert("bob", "city", "Faro")
        # Every call, however it is scoped, sees alice's rows only.
        assert alice.count() == 1
        assert [i.id for i in alice.scan()] == [mine.id]
        assert alice.get(theirs.id) is None
        assert alice.search("note Lisbon", scope=Scope(user_id="bob")) == []
        assert [h.item.id for h in alice.search("note", scope=Scope(user_id="alice"))] == [mine.id]
        assert alice.delete([theirs.id]) == 0
        # A query that forgets its WHERE clause (a bug) still cannot cross users.
        with alice.transaction() as conn:
            rows = conn.execute("SELECT user_id FROM items").fetchall()
            assert rows == [("alice",)]
        # Nor can a write on another user's behalf.
        with pytest.raises(psycopg.errors.InsufficientPrivilege), alice.transaction() as conn:
            conn.execute("UPDATE items SET user_id = 'bob' WHERE id = %s", (mine.id,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            alice.add([_item("slipped in for bob", "bob")])
    with PostgresStore(app_url, embedder, schema=pg_schema) as admin:
        assert admin.count() == 2
        assert admin.get(theirs.id) is not None


def test_each_search_acts_for_its_user_in_the_database(app_url: str, pg_schema: str) -> None:
    embedder = HashEmbedder(32)
    with PostgresStore(app_url, embedder, schema=pg_schema, row_security=True) as store:
        store.add([_item("alice's secret", "alice"), _item("bob's secret", "bob")])
        with store.transaction("bob") as conn:
            assert conn.execute("SELECT user_id FROM items").fetchall() == [("bob",)]
            assert conn.execute("SELECT count(*) FROM events").fetchone() == (0,)
        hits = store.search("secret", scope=Scope(user_id="bob"), k=10)
        assert [h.item.scope.user_id for h in hits] == ["bob"]
        # The audit log is guarded the same way.
        log = store.audit_sink()
        from agentmem import EventOp, MemoryEvent

        log.record([MemoryEvent(op=EventOp.ADD, item_ids=["x"], user_id="alice", at=T0)])
        with store.transaction("bob") as conn:
            assert conn.execute("SELECT count(*) FROM events").fetchone() == (0,)
        with store.transaction("alice") as conn:
            assert conn.execute("SELECT count(*) FROM events").fetchone() == (1,)


def test_without_row_security_the_tables_are_open_to_the_owner(
    app_url: str, pg_schema: str
) -> None:
    # The opposite case, so the tests above are known to be able to fail.
    with PostgresStore(app_url, HashEmbedder(32), schema=pg_schema) as store:
        store.add([_item("alice's", "alice"), _item("bob's", "bob")])
        with store.transaction("bob") as conn:
            assert conn.execute("SELECT count(*) FROM items").fetchone() == (2,)
