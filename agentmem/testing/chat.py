"""The ChatModel contract: what every chat model passed to agentmem must do.

Subclass :class:`ChatModelContract` and define the ``chat_model`` fixture::

    import pytest
    from agentmem.testing.chat import ChatModelContract

    class TestMyModel(ChatModelContract):
        @pytest.fixture
        def chat_model(self):
            return MyModel()

Needs pytest (``agentmem[testing]``).
"""

from __future__ import annotations

import pytest

from agentmem._protocols import ChatMessage, ChatModel, ChatResult

__all__ = ["ChatModelContract"]


class ChatModelContract:
    """Behaviour every :class:`~agentmem.ChatModel` must have."""

    @pytest.fixture
    def chat_model(self) -> ChatModel:
        """Override: return the chat model under test."""
        raise NotImplementedError("define a chat_model fixture")

    def test_it_is_a_chat_model(self, chat_model: ChatModel) -> None:
        assert isinstance(chat_model, ChatModel)

    def test_a_chat_answers_with_text_and_token_counts(self, chat_model: ChatModel) -> None:
        messages = [
            ChatMessage(role="system", content="Answer in one word."),
            ChatMessage(role="user", content="What colour is the sky on a clear day?"),
        ]
        result = chat_model.chat(messages, max_tokens=16)
        assert isinstance(result, ChatResult)
        assert isinstance(result.text, str)
        assert result.prompt_tokens >= 0 and result.completion_tokens >= 0

    def test_max_tokens_is_optional(self, chat_model: ChatModel) -> None:
        result = chat_model.chat([ChatMessage(role="user", content="Say hi.")])
        assert isinstance(result, ChatResult)

    def test_the_messages_are_not_changed(self, chat_model: ChatModel) -> None:
        messages = [ChatMessage(role="user", content="Repeat: ok")]
        before = [m.model_dump() for m in messages]
        chat_model.chat(messages, max_tokens=8)
        assert [m.model_dump() for m in messages] == before
