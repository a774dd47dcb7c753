"""Memory stores: where memories live. Each store is one module and passes the contract suite.

The names below load lazily (PEP 562): ``import agentmem.stores`` costs nothing until a
store is used, so ``import agentmem`` never pulls in faiss, sqlite-utils or LangChain.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from agentmem._layout import check_same_checkout

if TYPE_CHECKING:
    from agentmem.stores._context import ContextOptions
    from agentmem.stores._index import IndexSettings
    from agentmem.stores._query import ParsedQuery, TimeWindow, parse_query, resolved_dates
    from agentmem.stores._rerank import CrossEncoderReranker, Reranker
    from agentmem.stores._sql_sandbox import (
        SandboxError,
        SandboxLimits,
        StepResult,
        split_statements,
    )
    from agentmem.stores.facts import FactRecord, FactTable
    from agentmem.stores.hybrid import HybridStore, conversation_options
    from agentmem.stores.langchain_store import LangChainStore, ScopeFilter
    from agentmem.stores.postgres import PostgresStore
    from agentmem.stores.symbolic import (
        AskResult,
        CitedRow,
        RecordResult,
        SchemaMode,
        SchemaProposal,
        SqlStep,
        SymbolicStore,
    )
    from agentmem.stores.thought import ThoughtStore
    from agentmem.stores.vector import VectorStore

check_same_checkout(__file__, "stores")

# public name -> the module (under agentmem.stores) that defines it
_WHERE = {
    "AskResult": "symbolic",
    "CitedRow": "symbolic",
    "ContextOptions": "_context",
    "CrossEncoderReranker": "_rerank",
    "FactRecord": "facts",
    "FactTable": "facts",
    "HybridStore": "hybrid",
    "IndexSettings": "_index",
    "LangChainStore": "langchain_store",
    "ParsedQuery": "_query",
    "PostgresStore": "postgres",
    "RecordResult": "symbolic",
    "Reranker": "_rerank",
    "SandboxError": "_sql_sandbox",
    "SandboxLimits": "_sql_sandbox",
    "SchemaMode": "symbolic",
    "SchemaProposal": "symbolic",
    "ScopeFilter": "langchain_store",
    "SqlStep": "symbolic",
    "StepResult": "_sql_sandbox",
    "SymbolicStore": "symbolic",
    "ThoughtStore": "thought",
    "TimeWindow": "_query",
    "VectorStore": "vector",
    "conversation_options": "hybrid",
    "parse_query": "_query",
    "resolved_dates": "_query",
    "split_statements": "_sql_sandbox",
}

__all__ = [
    "AskResult",
    "CitedRow",
    "ContextOptions",
    "CrossEncoderReranker",
    "FactRecord",
    "FactTable",
    "HybridStore",
    "IndexSettings",
    "LangChainStore",
    "ParsedQuery",
    "PostgresStore",
    "RecordResult",
    "Reranker",
    "SandboxError",
    "SandboxLimits",
    "SchemaMode",
    "SchemaProposal",
    "ScopeFilter",
    "SqlStep",
    "StepResult",
    "SymbolicStore",
    "ThoughtStore",
    "TimeWindow",
    "VectorStore",
    "conversation_options",
    "parse_query",
    "resolved_dates",
    "split_statements",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})
