"""Memory stores: where memories live. Each store is one module and passes the contract suite."""

from agentmem.stores._sql_sandbox import SandboxError, SandboxLimits, StepResult, split_statements
from agentmem.stores.facts import FactRecord, FactTable
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
    "FactRecord",
    "FactTable",
    "LangChainStore",
    "RecordResult",
    "SandboxError",
    "SandboxLimits",
    "SchemaMode",
    "SchemaProposal",
    "ScopeFilter",
    "SqlStep",
    "StepResult",
    "SymbolicStore",
    "ThoughtStore",
    "VectorStore",
    "split_statements",
]
