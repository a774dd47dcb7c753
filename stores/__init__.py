"""Memory stores: where memories live. Each store is one module and passes the contract suite."""

from agentmem.stores._context import ContextOptions
from agentmem.stores._index import IndexSettings
from agentmem.stores._query import ParsedQuery, TimeWindow, parse_query
from agentmem.stores._rerank import CrossEncoderReranker, Reranker
from agentmem.stores._sql_sandbox import SandboxError, SandboxLimits, StepResult, split_statements
from agentmem.stores.facts import FactRecord, FactTable
from agentmem.stores.hybrid import HybridStore
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
    "TimeWindow",
    "SymbolicStore",
    "ThoughtStore",
    "VectorStore",
    "parse_query",
    "split_statements",
]
