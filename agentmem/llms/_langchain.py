"""Any LangChain ``BaseChatModel`` as an agentmem chat model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from agentmem._errors import ModelError
from agentmem._protocols import ChatMessage, ChatResult
from agentmem._tokens import estimate_tokens

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

__all__ = ["LangChainLLM"]


class LangChainLLM:
    """Wraps a LangChain chat model (OpenAI, Anthropic, Ollama, a fake model in tests, ...)."""

    def __init__(self, chat_model: BaseChatModel) -> None:
        self.chat_model = chat_model

    @property
    def name(self) -> str:
        """The wrapped model's type."""
        return type(self.chat_model).__name__

    def chat(self, messages: Sequence[ChatMessage], *, max_tokens: int | None = None) -> ChatResult:
        """Invoke the LangChain model."""
        from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

        converted: list[BaseMessage] = []
        for message in messages:
            if message.role == "system":
                converted.append(SystemMessage(content=message.content))
            elif message.role == "assistant":
                converted.append(AIMessage(content=message.content))
            else:
                converted.append(HumanMessage(content=message.content))
        try:
            result = self.chat_model.invoke(converted)
        except Exception as exc:  # the wrapped library's errors are not ours to know
            msg = f"the LangChain chat model {self.name} failed: {exc}"
            raise ModelError(msg) from exc
        text = message_text(result)
        usage = getattr(result, "usage_metadata", None) or {}
        return ChatResult(
            text=str(text).strip(),
            prompt_tokens=int(
                usage.get("input_tokens") or sum(estimate_tokens(m.content) for m in messages)
            ),
            completion_tokens=int(usage.get("output_tokens") or estimate_tokens(str(text))),
            model=self.name,
        )


def message_text(message: Any) -> str:
    """The plain text of a LangChain message across langchain-core versions.

    Text blocks of multi-part content are joined (the message's own ``text``).
    """
    if isinstance(message.content, str):
        return message.content
    text = getattr(message, "text", None)
    if isinstance(text, str):  # langchain-core 1.x: a property (a callable str, deprecated)
        return str(text)
    if callable(text):  # langchain-core 0.3: a method
        return str(text())
    return str(message.content)
