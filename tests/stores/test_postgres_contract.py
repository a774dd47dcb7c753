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
