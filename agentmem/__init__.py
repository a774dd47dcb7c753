"""agentmem: long-term memory for LLM agents that you can trust.

Stores (vector, symbolic, thought), retention policies written in code, and evaluators,
offline by default with real models that ship on PyPI.

The agent loop (``Agent``, ``PostThinker``, fact extractors) loads on first use (PEP 562),
so ``import agentmem`` costs about what importing numpy and pydantic does.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from agentmem._audit import AuditLog
from agentmem._capabilities import (
    AuditedStore,
    BatchGetStore,
    ColumnarStore,
    EmbeddingStore,
    ErasingStore,
    FactStore,
    LazyCommitStore,
    PurgingStore,
    TouchingStore,
    TransactionalStore,
)
from agentmem._clock import Clock, ManualClock, SystemClock
from agentmem._derived import DerivedMemories, Deriver, LLMDeriver, PatternDeriver
from agentmem._errors import (
    AgentMemError,
    ClosedError,
    InvalidInputError,
    MissingDependencyError,
    ModelError,
    ModelLoadBlockedError,
    NotFoundError,
    NotKeptError,
    StoreError,
    UserError,
)
from agentmem._memory import Changes, Memory
from agentmem._models import EventOp, Filters, Hit, Kind, MemoryEvent, MemoryItem, Scope
from agentmem._multihop import MultiHop
from agentmem._protocols import (
    Action,
    ChatMessage,
    ChatModel,
    ChatResult,
    Decision,
    Embedder,
    MemoryStore,
    PolicyContext,
    RetentionPolicy,
)
from agentmem._tracing import Tracer, TraceRecord

if _TYPE_CHECKING:
    from agentmem._agent import Agent, Reply
    from agentmem._async_memory import AsyncMemory
    from agentmem._facts import Fact, FactExtractor, LLMFactExtractor, PatternFactExtractor
    from agentmem._migrate import CopyReport, copy_memory
    from agentmem._thinking import PostThinker, Thought

__version__ = "0.1.0"

# public name -> the module that defines it, imported on first use
_LAZY = {
    "Agent": "agentmem._agent",
    "AsyncMemory": "agentmem._async_memory",
    "CopyReport": "agentmem._migrate",
    "copy_memory": "agentmem._migrate",
    "Reply": "agentmem._agent",
    "Fact": "agentmem._facts",
    "FactExtractor": "agentmem._facts",
    "LLMFactExtractor": "agentmem._facts",
    "PatternFactExtractor": "agentmem._facts",
    "PostThinker": "agentmem._thinking",
    "Thought": "agentmem._thinking",
}


def __getattr__(name: str) -> _Any:
    module = _LAZY.get(name)
    if module is None:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "Action",
    "Agent",
    "AgentMemError",
    "AsyncMemory",
    "AuditLog",
    "AuditedStore",
    "BatchGetStore",
    "Changes",
    "CopyReport",
    "ChatMessage",
    "ChatModel",
    "ChatResult",
    "Clock",
    "ClosedError",
    "ColumnarStore",
    "Decision",
    "DerivedMemories",
    "Deriver",
    "Embedder",
    "EmbeddingStore",
    "ErasingStore",
    "FactStore",
    "EventOp",
    "Fact",
    "FactExtractor",
    "Filters",
    "Hit",
    "InvalidInputError",
    "Kind",
    "LLMDeriver",
    "LLMFactExtractor",
    "LazyCommitStore",
    "ManualClock",
    "Memory",
    "MemoryEvent",
    "MemoryItem",
    "MemoryStore",
    "MissingDependencyError",
    "MultiHop",
    "ModelError",
    "ModelLoadBlockedError",
    "NotFoundError",
    "NotKeptError",
    "PatternDeriver",
    "PatternFactExtractor",
    "PolicyContext",
    "PostThinker",
    "PurgingStore",
    "Reply",
    "RetentionPolicy",
    "Scope",
    "StoreError",
    "SystemClock",
    "Thought",
    "TouchingStore",
    "TraceRecord",
    "Tracer",
    "TransactionalStore",
    "UserError",
    "copy_memory",
    "__version__",
]
