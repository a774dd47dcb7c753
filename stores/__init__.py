"""Memory stores: where memories live. Each store is one module and passes the contract suite."""

from agentmem.stores._context import ContextOptions
from agentmem.stores._index import IndexSettings
from agentmem.stores._query import ParsedQuery, TimeWindow, parse_query, resolved_dates
from agentmem.stores._rerank import CrossEncoderReranker, Reranker
from agentmem.stores._sql_sandbox import SandboxError, SandboxLimits, StepResult, split_statements
from agentmem.stores.facts import FactRecord, FactTable
from agentmem.stores.hybrid import HybridStore, conversation_options
from agentmem.stores.langchain_store import LangChainStore, ScopeFilter
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
    "conversation_options",
    "parse_query",
    "resolved_dates",
    "split_statements",
]
