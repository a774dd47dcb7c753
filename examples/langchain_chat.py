"""A LangChain chat chain with agentmem long-term memory.

Run it with ``python examples/langchain_chat.py``: it chats through the offline local
model and the bundled embedder. Pass any LangChain chat model to ``build_chat`` instead.
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable

from agentmem import Memory
from agentmem.integrations.langchain import with_memory


# -- the chain: a prompt with a {memories} slot, any chat model, and with_memory ----------------
def build_chat(chat_model: BaseChatModel, memory: Memory, user_id: str) -> Runnable[Any, str]:
    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "You are a friendly assistant. What you remember:\n{memories}"),
            ("human", "{input}"),
        ]
    )
    return with_memory(prompt | chat_model | StrOutputParser(), memory, user_id=user_id)


def main(chat_model: BaseChatModel | None = None, memory: Memory | None = None) -> list[str]:
    if chat_model is None:
        from agentmem.integrations.langchain import AgentMemChatModel
        from agentmem.llms import LocalLLM

        chat_model = AgentMemChatModel(llm=LocalLLM())
    memory = memory if memory is not None else Memory.in_memory()
    chat = build_chat(chat_model, memory, user_id="alice")
    answers = []
    for message in ["Hi! My sister Anna lives in Lisbon.", "Where does my sister live?"]:
        answers.append(chat.invoke({"input": message}))
        print(f"user: {message}\nbot:  {answers[-1]}")
    return answers


if __name__ == "__main__":
    main()
