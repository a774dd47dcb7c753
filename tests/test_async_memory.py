"""AsyncMemory: the Memory API awaited, safe from many tasks, never blocking the loop."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from agentmem import Agent, AsyncMemory, Memory
from agentmem.testing import FunctionLLM, HashEmbedder

SLOW_S = 0.6  # what one "slow" embedding costs: far above the heartbeat bound


class SlowEmbedder(HashEmbedder):
    """HashEmbedder that takes time like a real model (sleeping releases the GIL as
    torch does): 10 ms per call, SLOW_S for a text containing 'SLOW'."""

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        time.sleep(SLOW_S if any("SLOW" in t for t in texts) else 0.01)
        return super().embed(texts)


async def heartbeat(stop: asyncio.Event, worst: list[float], period: float = 0.005) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        before = loop.time()
        await asyncio.sleep(period)
        worst[0] = max(worst[0], loop.time() - before - period)


def test_fifty_tasks_correct_no_lost_writes_loop_responsive(tmp_path) -> None:
    users = [f"user{i}" for i in range(5)]

    async def main() -> tuple[float, float, AsyncMemory]:
        memory = AsyncMemory(
            Memory.default(tmp_path / "mem", embedder=SlowEmbedder()), max_workers=4
        )
        stop, worst = asyncio.Event(), [0.0]
        beat = asyncio.create_task(heartbeat(stop, worst))

        async def task(n: int) -> None:
            user = users[n % len(users)]
            slow = " SLOW" if n % 17 == 0 else ""
            item = await memory.add(f"{user} note {n}: likes colour{n}{slow}", user_id=user)
            hits = await memory.search(f"colour{n}", user_id=user, k=50)
            assert all(hit.item.scope.user_id == user for hit in hits)
            assert item.id in {hit.item.id for hit in hits}

        start = time.perf_counter()
        await asyncio.gather(*(task(n) for n in range(50)))
        elapsed = time.perf_counter() - start
        stop.set()
        await beat
        return worst[0], elapsed, memory

    worst, elapsed, memory = asyncio.run(main())
    print(f"\n50 tasks in {elapsed:.2f} s; worst heartbeat delay {worst * 1000:.1f} ms")
    try:
        for user in users:  # every write landed, once, in its owner's scope
            texts = [item.text for item in memory.memory.items(user_id=user)]
            assert len(texts) == 10 and len(set(texts)) == 10
            adds = [e for e in memory.memory.events(user_id=user) if e.op.value == "add"]
            assert len(adds) == 10
        assert memory.memory.count() == 50
    finally:
        memory.memory.close()
    # A blocked loop would wait out a whole slow embedding (SLOW_S); bound generously below.
    assert worst < SLOW_S / 2, f"event loop blocked for {worst:.3f} s"


def test_async_api_mirrors_memory(tmp_path) -> None:
    async def main() -> None:
        async with AsyncMemory.default(tmp_path / "m", embedder=HashEmbedder()) as memory:
            item = await memory.add("Alice moved to Lisbon", user_id="alice")
            assert (await memory.get(item.id)).text == "Alice moved to Lisbon"
            await memory.update(item.id, text="Alice moved to Porto")
            hits = await memory.search("where does Alice live", user_id="alice", k=3)
            assert hits[0].item.text == "Alice moved to Porto"
            assert await memory.count(user_id="alice") == 1
            ops = [e.op.value for e in await memory.history(item.id)]
            assert ops == ["add", "update", "access"]
            update_event = (await memory.history(item.id))[1]
            await memory.undo(update_event.id)
            assert (await memory.get(item.id)).text == "Alice moved to Lisbon"
            assert [i.text for i in await memory.items(user_id="alice")] == [
                "Alice moved to Lisbon"
            ]
            assert (await memory.tick()).forgotten == []
            made = memory.make_item("Alice has a cat", user_id="alice")
            assert (await memory.write([made])).written[0].id == made.id
            assert await memory.forget(user_id="alice", ids=[made.id]) == 1
            many = await memory.add_many(["one", {"text": "two", "kind": "fact"}], user_id="zed")
            assert [item.text for item in many] == ["one", "two"]
            assert await memory.count(user_id="zed") == 2
            assert len(await memory.events(user_id="alice")) >= 5
        assert memory.memory._closed

    asyncio.run(main())


def test_agent_achat_many_conversations_at_once(tmp_path) -> None:
    def answer(messages) -> str:
        time.sleep(0.05)  # a model call: must not hold the loop or the memory lock
        return "ok: " + messages[-1].content[:20]

    async def main() -> tuple[list, float]:
        memory = Memory.default(tmp_path / "a", embedder=HashEmbedder())
        agent = Agent(FunctionLLM(answer), memory, extractors=[])
        stop, worst = asyncio.Event(), [0.0]
        beat = asyncio.create_task(heartbeat(stop, worst))
        replies = await asyncio.gather(
            *(agent.achat(f"my number is {n}", user_id=f"u{n % 3}") for n in range(12))
        )
        stop.set()
        await beat
        counts = [memory.count(user_id=f"u{i}") for i in range(3)]
        memory.close()
        return [replies, counts], worst[0]

    (replies, counts), worst = asyncio.run(main())
    assert [r.text for r in replies] == [f"ok: my number is {n}" for n in range(12)]
    assert all(len(r.written) == 1 for r in replies)
    assert counts == [4, 4, 4]
    assert worst < 0.3


def test_langchain_async_paths_run_off_the_loop(tmp_path) -> None:
    from langchain_core.messages import AIMessage, HumanMessage
    from langchain_core.runnables import RunnableLambda

    from agentmem.integrations.langchain import (
        AgentMemChatMessageHistory,
        AgentMemRetriever,
        AgentMemVectorStore,
        with_memory,
    )

    memory = Memory.default(tmp_path / "lc", embedder=SlowEmbedder())
    store = AgentMemVectorStore(memory, user_id="ann")
    retriever = AgentMemRetriever(memory=memory, user_id="ann", k=2)
    history = AgentMemChatMessageHistory(memory, user_id="ann", session_id="s1")
    chain = with_memory(RunnableLambda(lambda messages: "Noted."), memory, user_id="ann")

    async def main() -> tuple[list, float]:
        stop, worst = asyncio.Event(), [0.0]
        beat = asyncio.create_task(heartbeat(stop, worst))
        ids = await store.aadd_texts(["Ann grows tomatoes SLOW", "Ann owns a red bike"])
        found = await store.asimilarity_search("tomatoes", k=1)
        docs = await retriever.ainvoke("red bike")
        await history.aadd_messages([HumanMessage("hi SLOW"), AIMessage("hello")])
        messages = await history.aget_messages()
        reply = await chain.ainvoke("I like SLOW jazz")
        got = await store.aget_by_ids(ids)
        await store.adelete([ids[0]])
        stop.set()
        await beat
        return [ids, found, docs, messages, reply, got], worst[0]

    (ids, found, docs, messages, reply, got), worst = asyncio.run(main())
    try:
        assert found[0].page_content == "Ann grows tomatoes SLOW"
        assert docs[0].page_content == "Ann owns a red bike"
        assert [m.content for m in messages] == ["hi SLOW", "hello"]
        assert reply == "Noted."
        assert {d.id for d in got} == set(ids)
        assert "I like SLOW jazz" in [item.text for item in memory.items(user_id="ann")]
        assert ids[0] not in {item.id for item in memory.items(user_id="ann")}
    finally:
        memory.close()
    assert worst < SLOW_S / 2, f"event loop blocked for {worst:.3f} s"


def test_shared_async_memory_does_not_keep_the_memory_alive() -> None:
    import gc
    import weakref

    memory = Memory.in_memory(embedder=HashEmbedder())
    shared = AsyncMemory.shared(memory)
    assert AsyncMemory.shared(memory) is shared
    assert shared._lock is AsyncMemory(memory)._lock  # one change lock per memory
    memory.close()
    ref = weakref.ref(memory)
    del memory, shared
    gc.collect()
    assert ref() is None


def test_every_memory_method_is_awaitable_with_the_same_signature() -> None:
    skip = {"close", "make_item"}
    public = [
        name
        for name, member in vars(Memory).items()
        if not name.startswith("_")
        and (inspect.isfunction(member) or isinstance(member, classmethod))
        and name not in skip
    ]
    assert {"add", "add_many", "search", "write", "apply", "default", "from_url"} <= set(public)
    for name in public:
        mirrored, original = getattr(AsyncMemory, name), getattr(Memory, name)
        opens = isinstance(vars(Memory)[name], classmethod)
        assert inspect.iscoroutinefunction(mirrored) is not opens, name
        assert inspect.signature(mirrored) == inspect.signature(original), name
        assert mirrored.__doc__ == original.__doc__, name


def test_a_search_that_records_no_access_runs_beside_changes(tmp_path) -> None:
    async def main() -> None:
        async with AsyncMemory.default(tmp_path / "m", embedder=HashEmbedder()) as memory:
            await memory.add("Alice moved to Lisbon", user_id="alice")
            with memory._lock:  # a change in progress elsewhere holds the lock
                hits = await asyncio.wait_for(
                    memory.search("Lisbon", user_id="alice", record_access=False), 5
                )
            assert hits[0].item.text == "Alice moved to Lisbon"

    asyncio.run(main())
