"""Memory stores: where memories live. Each store is one module and passes the contract suite."""

from agentmem.stores.langchain_store import LangChainStore, ScopeFilter
from agentmem.stores.vector import VectorStore

__all__ = ["LangChainStore", "ScopeFilter", "VectorStore"]
