from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda

from agentmem import Kind, ManualClock, Memory, UserError
from agentmem.integrations.langchain import (
    AgentMemChatMessageHistory,
    AgentMemChatModel,
    AgentMemRetriever,
    with_memory,
)
from agentmem.stores import VectorStore
from agentmem.testing import HashEmbedder, ScriptedLLM

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def memory(clock: ManualClock) -> Iterator[Memory]:
    with Memory([VectorStore(None, HashEmbedder(128))], policies=[], clock=clock) as opened:
        yield opened


# -- retriever -------------------------------------------------------------------------------
def test_retriever_is_scoped_and_filtered(memory: Memory) -> None:
    memory.add("alice moved to Lisbon", user_id="alice", kind="fact", created_at=T0)
    memory.add("alice said Lisbon is sunny", user_id="alice", created_at=T0 + timedelta(days=5))
    memory.add("bob moved to Lisbon", user_id="bob", kind="fact")
    retriever = AgentMemRetriever(memory=memory, user_id="alice", k=5)
    docs = retriever.invoke("Lisbon")
    assert sorted(d.page_content for d in docs) == [
        "alice moved to Lisbon",
        "alice said Lisbon is sunny",
    ]
    assert docs[0].metadata["agentmem"]["score"] >= docs[1].metadata["agentmem"]["score"]
    facts = AgentMemRetriever(memory=memory, user_id="alice", kinds=(Kind.FACT,)).invoke("Lisbon")
    assert [d.page_content for d in facts] == ["alice moved to Lisbon"]
    assert facts[0].metadata["agentmem"]["kind"] == "fact"
    later = AgentMemRetriever(
        memory=memory, user_id="alice", created_after=T0 + timedelta(days=1)
    ).invoke("Lisbon")
    assert [d.page_content for d in later] == ["alice said Lisbon is sunny"]
    earlier = AgentMemRetriever(
        memory=memory, user_id="alice", created_before=T0 + timedelta(days=1)
    ).invoke("Lisbon")
    assert [d.page_content for d in earlier] == ["alice moved to Lisbon"]


async def test_retriever_async_and_records_access(memory: Memory) -> None:
    item = memory.add("alice likes green tea", user_id="alice")
    docs = await AgentMemRetriever(memory=memory, user_id="alice").ainvoke("tea")
    assert [d.id for d in docs] == [item.id]
    assert memory.get(item.id).access_count == 1


# -- chat history ----------------------------------------------------------------------------
def test_chat_history_persists_messages_as_memories(memory: Memory) -> None:
    history = AgentMemChatMessageHistory(memory, user_id="alice", session_id="s1")
    history.add_messages(
        [SystemMessage("be brief"), HumanMessage("I live in Porto"), AIMessage("Noted!")]
    )
    AgentMemChatMessageHistory(memory, user_id="alice", session_id="s2").add_user_message("hi")
    AgentMemChatMessageHistory(memory, user_id="bob", session_id="s1").add_user_message("yo")
    again = AgentMemChatMessageHistory(memory, user_id="alice", session_id="s1")
    assert [(type(m).__name__, m.content) for m in again.messages] == [
        ("SystemMessage", "be brief"),
        ("HumanMessage", "I live in Porto"),
        ("AIMessage", "Noted!"),
    ]
    hits = memory.search("Porto", user_id="alice", k=1)
    assert hits[0].item.text == "I live in Porto"
    assert hits[0].item.metadata == {"role": "user"}
    again.clear()
    assert again.messages == []
    assert [i.text for i in memory.items(user_id="alice")] == ["hi"]
    assert memory.count(user_id="bob") == 1


# langchain-core 1.x deprecates RunnableWithMessageHistory (for LangGraph) but still ships it
@pytest.mark.filterwarnings("ignore:RunnableWithMessageHistory is deprecated")
def test_chat_history_with_runnable_with_message_history(memory: Memory) -> None:
    from langchain_core.prompts import MessagesPlaceholder
    from langchain_core.runnables.history import RunnableWithMessageHistory

    llm = ScriptedLLM(["Hello Alice", "You said your name is Alice"])
    prompt = ChatPromptTemplate.from_messages(
        [MessagesPlaceholder("history"), ("human", "{input}")]
    )
    chain = RunnableWithMessageHistory(
        prompt | AgentMemChatModel(llm=llm),
        lambda session_id: AgentMemChatMessageHistory(
            memory, user_id="alice", session_id=session_id
        ),
        input_messages_key="input",
        history_messages_key="history",
    )
    config = {"configurable": {"session_id": "s1"}}
    chain.invoke({"input": "I am Alice"}, config=config)  # type: ignore[arg-type]
    reply = chain.invoke({"input": "what is my name?"}, config=config)  # type: ignore[arg-type]
    assert reply.content == "You said your name is Alice"
    assert [m.content for m in llm.calls[1]] == ["I am Alice", "Hello Alice", "what is my name?"]
    assert memory.count(user_id="alice") == 4


# -- with_memory ---------------------------------------------------------------------------
def test_with_memory_recalls_into_a_chat_model_and_writes_after(
    memory: Memory, clock: ManualClock
) -> None:
    memory.add("my sister Anna lives in Lisbon", user_id="alice", kind="fact")
    memory.add("bob's sister lives in Rome", user_id="bob", kind="fact")
    llm = ScriptedLLM(["She lives in Lisbon."])
    chat = with_memory(AgentMemChatModel(llm=llm), memory, user_id="alice", session_id="s2")
    clock.advance(timedelta(days=1))
    reply = chat.invoke("where does my sister live?")
    assert reply.content == "She lives in Lisbon."
    system, human = llm.calls[0]
    assert system.role == "system" and "my sister Anna lives in Lisbon" in system.content
    assert "Rome" not in system.content
    assert human.content == "where does my sister live?"
    stored = memory.items(user_id="alice")
    assert [(i.text, i.metadata.get("role")) for i in stored[1:]] == [
        ("where does my sister live?", "user"),
        ("She lives in Lisbon.", "assistant"),
    ]


def test_with_memory_fills_the_memories_slot_of_a_prompt(memory: Memory) -> None:
    memory.add("alice is vegetarian", user_id="alice")
    fake = GenericFakeChatModel(messages=iter(["Try the mushroom risotto."]))
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Memories:\n{memories}"), ("human", "{input}")]
    )
    seen: list[str] = []

    def spy(value: object) -> object:
        seen.append(str(value))
        return value

    chain = with_memory(prompt | RunnableLambda(spy) | fake, memory, user_id="alice", write=False)
    out = chain.invoke({"input": "what should I cook, given I am vegetarian?"})
    assert out.content == "Try the mushroom risotto."
    assert "alice is vegetarian" in seen[0]
    assert memory.count(user_id="alice") == 1  # write=False


async def test_with_memory_async_and_per_call_user(memory: Memory) -> None:
    memory.add("carol plays the cello", user_id="carol")
    llm = ScriptedLLM(["The cello."])
    chat = with_memory(AgentMemChatModel(llm=llm), memory, user_id="alice")
    config = {"configurable": {"user_id": "carol"}}
    reply = await chat.ainvoke([HumanMessage("which instrument do I play?")], config=config)  # type: ignore[arg-type]
    assert reply.content == "The cello."
    assert "carol plays the cello" in llm.calls[0][0].content
    assert memory.count(user_id="carol") == 3
    assert memory.count(user_id="alice") == 0


def test_with_memory_dict_without_the_input_key_is_a_clear_error(memory: Memory) -> None:
    chain = with_memory(RunnableLambda(lambda x: x), memory, user_id="alice")
    with pytest.raises(UserError, match="input_key"):
        chain.invoke({"question": "hi"})


# -- agentmem chat model inside LangChain --------------------------------------------------
def test_agentmem_chat_model_passes_roles_and_usage() -> None:
    llm = ScriptedLLM(["fine STOP ignored"])
    model = AgentMemChatModel(llm=llm)
    out = model.invoke(
        [SystemMessage("sys"), HumanMessage("hi"), AIMessage("hello")], stop=["STOP"]
    )
    assert out.content == "fine "
    assert [m.role for m in llm.calls[0]] == ["system", "user", "assistant"]
    assert out.usage_metadata is not None and out.usage_metadata["output_tokens"] > 0
