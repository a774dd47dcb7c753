"""Structured replies: JSON schemas for the answers agentmem parses, rendered as lines.

Where agentmem reads a model's answer in a line format (facts as ``subject | attribute |
value``, an update decision, a SQL step), a model that supports structured output
(:meth:`OpenAICompatibleLLM.chat_structured <agentmem.llms.OpenAICompatibleLLM.chat_structured>`)
is asked for JSON following one of these schemas instead, and the parsed answer is
rendered back into the line format, so one parser serves both. Any other model, or a
server that refuses the schema, gets the line prompt as before.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from typing import Literal, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict

from agentmem._protocols import ChatMessage, ChatModel

__all__ = [
    "list_lines",
    "ExtractedFact",
    "ExtractedFacts",
    "SqlStepReply",
    "StructuredChatModel",
    "StructuredReply",
    "UpdateChoice",
    "ask_lines",
]


class StructuredReply(BaseModel):
    """A schema whose parsed value renders as the line format its parser reads."""

    model_config = ConfigDict(extra="forbid")

    def to_lines(self) -> str:
        """The reply in the line format."""
        raise NotImplementedError


R = TypeVar("R", bound=StructuredReply)


@runtime_checkable
class StructuredChatModel(Protocol):
    """A chat model that can be asked for JSON following a pydantic schema."""

    def chat_structured(
        self, messages: Sequence[ChatMessage], schema: type[R], *, max_tokens: int | None = None
    ) -> tuple[R | None, object] | None:
        """``None`` if unsupported; else the parsed reply (or ``None``) and the raw result."""
        ...


class ExtractedFact(StructuredReply):
    """One fact: who it is about, which attribute, its value."""

    subject: str
    attribute: str
    value: str


class ExtractedFacts(StructuredReply):
    """The facts found in a message (prompt ``extract_facts``)."""

    facts: list[ExtractedFact]

    def to_lines(self) -> str:
        """``subject | attribute | value`` per line."""
        return "\n".join(f"{f.subject} | {f.attribute} | {f.value}" for f in self.facts)


class UpdateChoice(StructuredReply):
    """The update decision (prompt ``update_decider``)."""

    operation: Literal["PASS", "REPLACE", "APPEND", "DELETE"]

    def to_lines(self) -> str:
        """The operation's name."""
        return self.operation


class SqlStepReply(StructuredReply):
    """One step of the SQL chain: a statement with its parameters, or the final note."""

    kind: Literal["sql", "done"]
    sql: str
    params: list[str | int | float | bool | None]
    note: str

    def to_lines(self) -> str:
        """``SQL: ...`` and ``PARAMS: [...]``, or ``DONE: ...``."""
        if self.kind == "done":
            return f"DONE: {self.note}"
        return f"SQL: {self.sql}\nPARAMS: {json.dumps(self.params)}"


def ask_lines(
    llm: ChatModel,
    messages: Sequence[ChatMessage],
    schema: type[StructuredReply],
    *,
    max_tokens: int | None,
    structured_max_tokens: int | None = None,
) -> str:
    """The model's answer in the line format: structured output where supported.

    ``structured_max_tokens`` caps the JSON reply (JSON takes more tokens than lines).
    """
    if isinstance(llm, StructuredChatModel):
        reply = llm.chat_structured(
            messages,
            schema,
            max_tokens=structured_max_tokens if structured_max_tokens is not None else max_tokens,
        )
        if reply is not None:
            parsed, result = reply
            if parsed is not None:
                return parsed.to_lines()
            text = getattr(result, "text", None)
            if isinstance(text, str):
                return text  # the server ignored the schema: its text is the line reply
    return llm.chat(messages, max_tokens=max_tokens).text


_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s*")


def list_lines(reply: str) -> Iterator[str]:
    """The lines of a model's list reply, bullets and numbers stripped, blank ones skipped."""
    for line in reply.splitlines():
        text = _BULLET.sub("", line).strip()
        if text:
            yield text
