"""The PostgreSQL schema is versioned: an old one is upgraded on open, a newer one refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg
import pytest
from pgvector.psycopg import register_vector

from agentmem import Scope, StoreError
from agentmem.stores import ContextOptions
from agentmem.stores._pg_items import index_terms
from agentmem.stores._pg_schema import VERSION, migrate
from agentmem.stores.postgres import PostgresStore
from agentmem.testing import HashEmbedder

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_a_version_1_schema_is_upgraded_on_open(postgres_url: str, pg_schema: str) -> None:
    embedder = HashEmbedder(32)
    text = "Alice went to the kitchen with the cat"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        register_vector(conn)
        with conn.transaction():
            assert migrate(conn, pg_schema, 32, target=1) == 0
            conn.execute(
                "INSERT INTO items (id, user_id, kind, text, created_at, recorded_at, valid_from, "
                "importance, strength, access_count, source_ids, metadata, body, embedding, "
                "embedding_hash) VALUES ('a1', 'alice', 'message', %s, %s, %s, %s, 0.5, 1.0, 0, "
                "'[]', '{}', %s, %s, 'h')",
                (text, T0, T0, T0, text, np.asarray(embedder.embed([text])[0])),
            )
            index_terms(conn, ["a1"], context=False)
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('embedder', %s), ('dim', '32'), "
                "('context', %s)",
                (embedder.name, ContextOptions().key),
            )
            # version 1 counted only the lexemes English keeps: alice, went, kitchen, cat
            assert conn.execute("SELECT tokens FROM items").fetchone() == (4,)
    with PostgresStore(postgres_url, embedder, schema=pg_schema) as store:
        with store.transaction() as conn:
            version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'")
            assert version.fetchone() == (str(VERSION),)
            assert conn.execute("SELECT tokens FROM items").fetchone() == (8,)
            assert conn.execute("SELECT DISTINCT tokens FROM terms").fetchall() == [(8,)]
        hits = store.search("kitchen", scope=Scope(user_id="alice"))
        assert [h.item.id for h in hits] == ["a1"] and hits[0].signal == "dense+bm25"


def test_a_schema_newer_than_the_library_is_refused(postgres_url: str, pg_schema: str) -> None:
    PostgresStore(postgres_url, HashEmbedder(32), schema=pg_schema).close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"UPDATE {pg_schema}.meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="newer than this agentmem"):
        PostgresStore(postgres_url, HashEmbedder(32), schema=pg_schema)


def test_lexical_search_ranks_first_then_filters_and_falls_back_when_filters_reject_many(
    postgres_url: str, pg_schema: str
) -> None:
    """The best 4 * depth are checked against the filters first; when too few of them
    pass (here the strong matches are all too new), every match is checked."""
    from agentmem import Filters, MemoryItem
    from agentmem.stores._pg_items import lexical_search, where_clause

    def item(i: int, text: str) -> MemoryItem:
        when = T0 + timedelta(minutes=i)
        return MemoryItem(text=text, scope=Scope(user_id="u"), created_at=when, recorded_at=when)

    weak = [item(i, f"tea and a long story number {i} about nothing at all") for i in range(30)]
    strong = [item(100 + i, f"tea tea tea {i}") for i in range(120)]
    with PostgresStore(postgres_url, HashEmbedder(16), schema=pg_schema) as store:
        store.add([*weak, *strong])
        ids = {s.id for s in strong}
        vids = {}
        with store.transaction("u") as conn:
            for vid, item_id in conn.execute("SELECT vid, id FROM items").fetchall():
                vids[int(vid)] = str(item_id)
            where, params = where_clause(Scope(user_id="u"), None, open_only=True)
            best = lexical_search(conn, ["tea"], "u", where, params, 10)
            assert all(vids[v] in ids for v, _ in best)  # unfiltered: the strong ones
            old = Filters(created_before=T0 + timedelta(minutes=50))
            where, params = where_clause(Scope(user_id="u"), old, open_only=True)
            found = lexical_search(conn, ["tea"], "u", where, params, 10)
        assert len(found) == 10 and not any(vids[v] in ids for v, _ in found)
        scores = [s for _, s in found]
        assert scores == sorted(scores, reverse=True)
