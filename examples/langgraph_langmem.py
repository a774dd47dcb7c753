"""A LangGraph agent whose LangMem memory tools store and recall through agentmem.

Run it with ``python examples/langgraph_langmem.py`` (needs ``agentmem[langgraph]`` and
``langmem``). It runs offline: the chat model is a stand-in whose replies (tool calls
included) are written below, and the memory uses the bundled embedder. Pass any LangChain
chat model that calls tools (``ChatOpenAI``, ``ChatOllama``, ...) to ``build_agent``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain.agents import create_agent
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langmem import create_manage_memory_tool, create_search_memory_tool

from agentmem import Memory
from agentmem.integrations.langgraph import AgentMemStore

NAMESPACE = ("memories", "{langgraph_user_id}")  # LangMem fills in the user at run time


def build_agent(chat_model: BaseChatModel, memory: Memory) -> Any:
    """A LangGraph agent with LangMem's tools, its store an agentmem Memory."""
    store = AgentMemStore(memory)  # ("memories", user_id) -> agentmem user user_id
    tools = [create_manage_memory_tool(NAMESPACE), create_search_memory_tool(NAMESPACE)]
    return create_agent(chat_model, tools=tools, store=store)


class ScriptedToolModel(BaseChatModel):
    """A stand-in chat model: gives the replies written for it, in order."""

    replies: list[AIMessage]

    @property
    def _llm_type(self) -> str:
        return "scripted-tools"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedToolModel:
        return self

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self.replies.pop(0))])


def tool_call(name: str, args: dict[str, Any], call_id: str) -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": call_id}])


SCRIPT = [
    tool_call("manage_memory", {"content": "Alice is allergic to peanuts"}, "1"),
    AIMessage(content="Got it, no peanuts."),
    tool_call("search_memory", {"query": "food allergies"}, "2"),
    AIMessage(content="You are allergic to peanuts."),
]


def main(chat_model: BaseChatModel | None = None, memory: Memory | None = None) -> list[str]:
    memory = memory if memory is not None else Memory.in_memory()
    agent = build_agent(chat_model or ScriptedToolModel(replies=list(SCRIPT)), memory)
    config = {"configurable": {"langgraph_user_id": "alice"}}
    answers = []
    for message in ["Remember that I'm allergic to peanuts.", "Any food allergies I have?"]:
        state = agent.invoke({"messages": [("user", message)]}, config)
        answers.append(state["messages"][-1].content)
        print(f"user: {message}\nagent: {answers[-1]}")
    # the memory lives in agentmem: searchable, scoped to alice, every change audited
    print([hit.item.text for hit in memory.search("peanuts", user_id="alice", k=1)])
    print([event.op.value for event in memory.events(user_id="alice")])
    return answers


if __name__ == "__main__":
    main()
