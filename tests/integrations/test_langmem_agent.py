"""A LangGraph agent with LangMem's memory tools, storing and recalling through agentmem."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langmem import create_manage_memory_tool, create_search_memory_tool

from agentmem import Memory
from agentmem.integrations.langgraph import AgentMemStore
from agentmem.testing import HashEmbedder


class ScriptedToolModel(BaseChatModel):
    """A chat model whose replies (tool calls included) the test writes, in order."""

    replies: list[AIMessage]
    prompts: list[list[BaseMessage]] = []

    @property
    def _llm_type(self) -> str:
        return "scripted-tools"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedToolModel:
        return self

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        self.prompts.append(list(messages))
        return ChatResult(generations=[ChatGeneration(message=self.replies.pop(0))])


def call(name: str, args: dict[str, Any], call_id: str) -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": call_id}])


@pytest.fixture
def memory(tmp_path):
    with Memory.default(tmp_path / "mem", embedder=HashEmbedder()) as memory:
        yield memory


def test_langmem_agent_writes_and_recalls_through_agentmem(memory: Memory) -> None:
    store = AgentMemStore(memory)
    namespace = ("memories", "{langgraph_user_id}")
    model = ScriptedToolModel(
        replies=[
            call(
                "manage_memory",
                {"content": "Alice prefers window seats on trains", "action": "create"},
                "c1",
            ),
            AIMessage(content="Noted: window seats."),
            call("manage_memory", {"content": "Alice is vegetarian", "action": "create"}, "c2"),
            AIMessage(content="Noted: vegetarian."),
            call("search_memory", {"query": "which seat does Alice like on trains"}, "c3"),
            AIMessage(content="You like window seats."),
        ],
        prompts=[],
    )
    agent = create_agent(
        model,
        tools=[create_manage_memory_tool(namespace), create_search_memory_tool(namespace)],
        store=store,
    )
    config = {"configurable": {"langgraph_user_id": "alice"}}
    agent.invoke({"messages": [("user", "I always take a window seat on trains")]}, config)
    asyncio.run(agent.ainvoke({"messages": [("user", "I am vegetarian")]}, config))
    out = agent.invoke({"messages": [("user", "Where do I like to sit?")]}, config)

    # stored in agentmem, in alice's scope, with LangGraph's key and value kept
    items = memory.items(user_id="alice")
    assert sorted(item.text for item in items) == [
        "Alice is vegetarian",
        "Alice prefers window seats on trains",
    ]
    assert all(item.metadata["langgraph_namespace"] == "memories.alice" for item in items)
    hits = memory.search("window seat", user_id="alice", k=1)
    assert hits[0].item.text == "Alice prefers window seats on trains"
    assert memory.search("window seat", user_id="bob") == []
    # the agent's search tool got the memory back from agentmem
    tool_results = [m for m in out["messages"] if isinstance(m, ToolMessage)]
    assert tool_results and "window seats" in str(tool_results[-1].content)
    assert out["messages"][-1].content == "You like window seats."
    # the audit log saw the tool's writes and the recall
    ops = [event.op.value for event in memory.events(user_id="alice")]
    assert ops.count("add") == 2 and "access" in ops
    assert not model.replies


def test_langmem_update_and_delete_go_through_agentmem(memory: Memory) -> None:
    store = AgentMemStore(memory)
    manage = create_manage_memory_tool(("memories", "bob"), store=store)
    created = manage.invoke({"content": "Bob lives in Oslo", "action": "create"})
    key = str(created).split()[-1]
    manage.invoke({"content": "Bob lives in Bergen", "action": "update", "id": key})
    (item,) = memory.items(user_id="bob")
    assert item.text == "Bob lives in Bergen"
    assert [e.op.value for e in memory.history(item.id)] == ["add", "update"]
    manage.invoke({"action": "delete", "id": key})
    assert memory.items(user_id="bob") == []
