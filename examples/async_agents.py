"""Many conversations at once over one memory, from asyncio code.

Run it with ``python examples/async_agents.py``. It serves twelve users' turns
concurrently through ``Agent.achat`` and ``AsyncMemory`` while a heartbeat task checks
that the event loop never stalls. The reply model here is a stand-in that answers
after 50 ms (like a model server); pass any agentmem chat model to ``main``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from agentmem import Agent, AsyncMemory, ChatMessage, ChatModel, Memory
from agentmem.testing import FunctionLLM


def slow_echo(messages: Sequence[ChatMessage]) -> str:
    time.sleep(0.05)  # a model call: runs in a worker thread, not on the loop
    return f"Noted: {messages[-1].content}"


async def heartbeat(stop: asyncio.Event, worst: list[float]) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        before = loop.time()
        await asyncio.sleep(0.005)
        worst[0] = max(worst[0], loop.time() - before - 0.005)


async def serve(agent: Agent, memory: AsyncMemory, users: list[str]) -> float:
    stop, worst = asyncio.Event(), [0.0]
    beat = asyncio.create_task(heartbeat(stop, worst))
    turns = [
        agent.achat(f"I am {user} and I like colour {n}", user_id=user)
        for n, user in enumerate(users)
    ]
    await asyncio.gather(*turns)
    # recall for every user at once, each only ever sees their own memories
    found = await asyncio.gather(*(memory.search("colour", user_id=user, k=3) for user in users))
    for user, hits in zip(users, found, strict=True):
        assert all(hit.item.scope.user_id == user for hit in hits)
    stop.set()
    await beat
    return worst[0]


def main(llm: ChatModel | None = None, memory: Memory | None = None) -> float:
    memory = memory if memory is not None else Memory.in_memory()
    agent = Agent(llm or FunctionLLM(slow_echo), memory, extractors=[])
    users = [f"user{i}" for i in range(12)]
    start = time.perf_counter()
    worst = asyncio.run(serve(agent, AsyncMemory.shared(memory), users))
    print(f"{len(users)} turns in {time.perf_counter() - start:.2f} s")
    print(f"longest event-loop stall: {worst * 1000:.1f} ms")
    print(f"memories stored: {memory.count()}")
    return worst


if __name__ == "__main__":
    main()
