from __future__ import annotations

import pytest

from agentmem.stores import SymbolicStore
from agentmem.testing.stores import MemoryStoreContract, StoreFactory


class TestSymbolicStore(MemoryStoreContract):
    @pytest.fixture
    def store_factory(self) -> StoreFactory:
        return lambda path: SymbolicStore(path, synchronous="NORMAL")
