"""The store contract suite now ships as :mod:`agentmem.testing.stores`; this keeps the old path."""

from agentmem.testing.stores import T0, MemoryStoreContract, StoreFactory, make

__all__ = ["T0", "MemoryStoreContract", "StoreFactory", "make"]
