"""PostgreSQL indexes conversation turns twice, as the SQLite default does: their own text
and the turn in its context, each with its own BM25 statistics and vector index."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from agentmem import MemoryStore
from agentmem.stores import ContextOptions
from agentmem.stores.postgres import PostgresStore
from agentmem.testing import HashEmbedder
from agentmem.testing.stores import make
from tests.stores.test_turn_context import (
    ALICE,
    DAY,
    NEIGHBOUR_CASES,
    NEIGHBOUR_CHECKS,
    CallCounter,
    context_bodies_after_an_update,
    dialogue,
    reply_found_by_what_it_answers,
)


def _url(postgres_url: str, schema: str) -> str:
    return f"{postgres_url}{'&' if '?' in postgres_url else '?'}schema={schema}"


def test_one_embedding_call_holds_every_text_of_a_batch(postgres_url: str, pg_schema: str) -> None:
    embedder = CallCounter()
    with PostgresStore(_url(postgres_url, pg_schema), embedder) as store:
        store.add([*dialogue(), make("a note without a speaker", at=DAY)])
        # one text per memory and each speaker's name: a turn's in-context vector is mixed
        # from vectors already there (agentmem.stores._context.context_vector)
        assert len(embedder.calls) == 1
        assert len(embedder.calls[0]) == 5 + 1 + 2
        with store.transaction() as conn:
            counts = conn.execute(
                "SELECT count(context_embedding), count(context_body), count(*) FROM items"
            ).fetchone()
        assert counts == (5, 5, 6)


def test_a_reply_is_found_by_what_it_answers(postgres_url: str, pg_schema: str) -> None:
    for n, (context, found) in enumerate(
        ((ContextOptions(), True), (ContextOptions(turn_context=False), False))
    ):
        url = _url(postgres_url, f"{pg_schema}_{n}")
        with PostgresStore(url, HashEmbedder(64), signals=("bm25",), context=context) as store:
            reply_found_by_what_it_answers(store, found)


def test_delete_and_update_keep_the_in_context_index_in_step(
    postgres_url: str, pg_schema: str
) -> None:
    with PostgresStore(_url(postgres_url, pg_schema), HashEmbedder(64)) as store:
        items = dialogue()
        store.add(items)
        store.update([items[2].model_copy(update={"text": "It was on Sunday morning."})])

        def bodies_with(words: str) -> list[str]:
            with store.transaction() as conn:
                rows = conn.execute(
                    "SELECT context_body FROM items WHERE context_body LIKE %s ORDER BY vid",
                    (f"%{words}%",),
                ).fetchall()
            return [str(row[0]) for row in rows]

        context_bodies_after_an_update(bodies_with)
        with store.transaction() as conn:
            assert conn.execute(
                "SELECT count(*) FROM context_terms WHERE lexeme = 'sunday'"
            ).fetchone() == (2,)
        assert store.delete([items[0].id, items[2].id]) == 2
        with store.transaction() as conn:
            assert conn.execute("SELECT count(DISTINCT vid) FROM context_terms").fetchone() == (3,)
        hits = store.search("Sunday morning", scope=ALICE, k=5)
        assert all("Sunday" not in h.item.text for h in hits)


def test_a_store_indexed_without_turn_context_is_reindexed_on_open(
    postgres_url: str, pg_schema: str
) -> None:
    url = _url(postgres_url, pg_schema)
    with PostgresStore(url, HashEmbedder(64), context=ContextOptions(turn_context=False)) as old:
        old.add(dialogue())
    embedder = CallCounter()
    with PostgresStore(url, embedder) as store:
        # the turns' own texts come from the embedding cache; only the names are new
        assert sorted(t for call in embedder.calls for t in call) == ["Ana", "Bo"]
        with store.transaction() as conn:
            assert conn.execute("SELECT count(context_embedding) FROM items").fetchone() == (5,)
        hits = store.search("When did Ana adopt the puppy Rex?", scope=ALICE, k=3)
        assert any(h.item.text.startswith("Yes! Last Tuesday") for h in hits)


@pytest.mark.parametrize("check", NEIGHBOUR_CHECKS, ids=NEIGHBOUR_CASES)
def test_a_turns_neighbours_are_indexed_again_when_it_changes(
    postgres_url: str, pg_schema: str, check: Callable[[MemoryStore], None]
) -> None:
    url = _url(postgres_url, pg_schema)
    with PostgresStore(url, HashEmbedder(64), signals=("bm25",), expand=0) as store:
        check(store)
