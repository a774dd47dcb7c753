from __future__ import annotations

import pytest

from agentmem.stores.postgres import PostgresStore
from agentmem.testing import HashEmbedder
from agentmem.testing.stores import MemoryStoreContract, StoreFactory
from tests.postgres_server import schema_for


class TestPostgresStore(MemoryStoreContract):
    @pytest.fixture
    def store_factory(self, postgres_url: str) -> StoreFactory:
        return lambda path: PostgresStore(postgres_url, HashEmbedder(256), schema=schema_for(path))


def test_lexical_only_fills_from_the_newest(postgres_url: str, pg_schema: str) -> None:
    from datetime import timedelta

    from agentmem import Scope
    from tests.stores.contract import T0, make

    with PostgresStore(
        postgres_url, HashEmbedder(32), schema=pg_schema, signals=("bm25",)
    ) as store:
        store.add([make(f"note {i}", at=T0 + timedelta(minutes=i)) for i in range(3)])
        store.add([make("Lisbon is sunny", at=T0 - timedelta(days=1))])
        hits = store.search("Lisbon", scope=Scope(user_id="alice"), k=4)
        assert [h.signal for h in hits] == ["bm25", "recent", "recent", "recent"]
        assert hits[0].item.text == "Lisbon is sunny"
        assert sorted(h.item.text for h in hits[1:]) == ["note 0", "note 1", "note 2"]


def test_reopening_with_another_embedder_is_refused(postgres_url: str, pg_schema: str) -> None:
    from agentmem import UserError

    PostgresStore(postgres_url, HashEmbedder(32), schema=pg_schema).close()
    with pytest.raises(UserError, match="same embedder"):
        PostgresStore(postgres_url, HashEmbedder(64), schema=pg_schema)
