"""agentmem: long-term memory for LLM agents that you can trust.

Stores (vector, symbolic, thought), retention policies written in code, and evaluators,
offline by default with real models that ship on PyPI.
"""

from agentmem._agent import Agent, Reply
from agentmem._async_memory import AsyncMemory
from agentmem._audit import AuditLog
from agentmem._clock import Clock, ManualClock, SystemClock
from agentmem._errors import (
    AgentMemError,
    ClosedError,
    InvalidInputError,
    MissingDependencyError,
    ModelError,
    ModelLoadBlockedError,
    NotFoundError,
    StoreError,
    UserError,
)
from agentmem._facts import Fact, FactExtractor, LLMFactExtractor, PatternFactExtractor
from agentmem._memory import Changes, Memory
from agentmem._migrate import CopyReport, copy_memory
from agentmem._models import EventOp, Filters, Hit, Kind, MemoryEvent, MemoryItem, Scope
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
from agentmem._thinking import PostThinker, Thought
from agentmem._tracing import Tracer, TraceRecord

__version__ = "0.1.0"

__all__ = [
    "Action",
    "Agent",
    "AgentMemError",
    "AsyncMemory",
    "AuditLog",
    "Changes",
    "CopyReport",
    "ChatMessage",
    "ChatModel",
    "ChatResult",
    "Clock",
    "ClosedError",
    "Decision",
    "Embedder",
    "EventOp",
    "Fact",
    "FactExtractor",
    "Filters",
    "Hit",
    "InvalidInputError",
    "Kind",
    "LLMFactExtractor",
    "ManualClock",
    "Memory",
    "MemoryEvent",
    "MemoryItem",
    "MemoryStore",
    "MissingDependencyError",
    "ModelError",
    "ModelLoadBlockedError",
    "NotFoundError",
    "PatternFactExtractor",
    "PolicyContext",
    "PostThinker",
    "Reply",
    "RetentionPolicy",
    "Scope",
    "StoreError",
    "SystemClock",
    "Thought",
    "TraceRecord",
    "Tracer",
    "UserError",
    "copy_memory",
    "__version__",
]
