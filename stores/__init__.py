"""Memory stores: where memories live. Each store is one module and passes the contract suite."""

from agentmem.stores.thought import ThoughtStore
from agentmem.stores.vector import VectorStore

__all__ = ["ThoughtStore", "VectorStore"]
