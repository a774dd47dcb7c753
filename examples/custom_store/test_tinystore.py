"""Run agentmem's store contract suite against TinyStore, as any third party would."""

import pytest
from tinystore import TinyStore

from agentmem.testing.stores import MemoryStoreContract


class TestTinyStore(MemoryStoreContract):
    @pytest.fixture
    def store_factory(self):
        return lambda path: TinyStore(path)
