"""Worker processes for the deployment tests: several processes on one memory folder.

Each worker appends what it did to a shared journal (one JSON line per acknowledged
operation, written with ``O_APPEND`` and fsynced after the call returned; an update or a
forget is announced before it starts), so the test and the other workers know which
writes were acknowledged, and which items may be changing.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
import traceback
from datetime import timedelta
from pathlib import Path
from typing import Any

from agentmem import Decision, ManualClock, Memory, MemoryItem, PolicyContext
from agentmem._protocols import Action
from agentmem.testing import HashEmbedder
from tests.helpers import T0

USERS = ["ann", "bob", "cid", "dee"]


def open_memory(folder: Path, *, policies: list[Any] | None = None) -> Memory:
    """The default stack on ``folder``, with the hash embedder (as every worker opens it)."""
    return Memory.default(
        folder, embedder=HashEmbedder(1024), clock=ManualClock(T0), policies=policies or []
    )


def journal(path: Path, record: dict[str, Any]) -> None:
    """Append one acknowledged operation (atomic line append, fsynced)."""
    line = (json.dumps(record) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_journal(path: Path) -> list[dict[str, Any]]:
    """Every complete line of the journal."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut by a kill
    return out


def live_items(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The acknowledged items still alive after ``records``: id -> {user, token}."""
    live: dict[str, dict[str, Any]] = {}
    for rec in records:
        if rec["op"] in ("add", "update"):
            for item_id, token in zip(rec["ids"], rec["tokens"], strict=True):
                live[item_id] = {"user": rec["user"], "token": token}
        elif rec["op"] in ("forget", "changing"):  # "changing": an update or forget began
            for item_id in rec["ids"]:
                live.pop(item_id, None)
    return live


def property_worker(folder: str, journal_path: str, worker: int, seconds: float) -> None:
    """Random add / update / forget / search for several users; checks every search."""
    rng = random.Random(worker)
    jpath = Path(journal_path)
    memory = open_memory(Path(folder))
    mine: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    counter = 0
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            counter += 1
            roll = rng.random()
            user = rng.choice(USERS)
            token = f"w{worker}n{counter}z"
            if roll < 0.4 or not mine:
                item = memory.add(f"note {token} for {user}", user_id=user)
                mine[item.id] = {"user": user, "token": token}
                journal(jpath, {"op": "add", "user": user, "ids": [item.id], "tokens": [token]})
            elif roll < 0.5:
                item_id = rng.choice(sorted(mine))
                owner = mine[item_id]["user"]
                journal(jpath, {"op": "changing", "user": owner, "ids": [item_id], "tokens": []})
                memory.update(item_id, text=f"note {token} for {owner} (changed)")
                mine[item_id] = {"user": owner, "token": token}
                journal(jpath, {"op": "update", "user": owner, "ids": [item_id], "tokens": [token]})
            elif roll < 0.6:
                item_id = rng.choice(sorted(mine))
                owner = mine.pop(item_id)["user"]
                journal(jpath, {"op": "changing", "user": owner, "ids": [item_id], "tokens": []})
                memory.forget(user_id=owner, ids=[item_id])
                journal(jpath, {"op": "forget", "user": owner, "ids": [item_id], "tokens": []})
            else:
                before = live_items(read_journal(jpath))
                if not before:
                    continue
                target = rng.choice(sorted(before))
                want = before[target]
                hits = memory.search(
                    f"note {want['token']} for {want['user']}", user_id=want["user"], k=5
                )
                after = live_items(read_journal(jpath))
                for hit in hits:
                    if hit.item.scope.user_id != want["user"]:
                        problems.append(f"cross-user hit: {hit.item.id} for {want['user']}")
                if after.get(target) != want:
                    continue  # changed by its owner meanwhile: nothing to expect
                found = [h for h in hits if h.item.id == target]
                if not found:
                    problems.append(f"acknowledged {target} ({want['token']}) not found")
                elif not ("dense" in found[0].signal and "bm25" in found[0].signal):
                    problems.append(f"{target} found only by {found[0].signal}")
        memory.close()
    except BaseException:  # every exception is a finding, raw or not
        problems.append(traceback.format_exc())
    if problems:
        sys.stderr.write("\n".join(problems[:20]) + "\n")
        sys.exit(1)


class ForgetOldest:
    """A policy that, each tick, decays the oldest memories and forgets a few (archives)."""

    name = "forget-oldest"

    def on_write(self, items: Any, ctx: PolicyContext) -> list[Decision]:
        return []

    def on_access(self, items: Any, ctx: PolicyContext) -> list[Decision]:
        return []

    def on_tick(self, ctx: PolicyContext) -> list[Decision]:
        items: list[MemoryItem] = list(ctx.scan())
        if len(items) < 40:
            return []
        oldest = [item.id for item in items[:20]]
        return [
            Decision(
                action=Action.DECAY,
                item_ids=oldest[10:],
                reason="old",
                policy=self.name,
                changes={"importance": 0.1},
            ),
            Decision(action=Action.FORGET, item_ids=oldest[:10], reason="old", policy=self.name),
        ]


def crash_worker(folder: str, journal_path: str, seed: int) -> None:
    """Adds, bulk adds, forget batches, policy ticks and closes, until killed."""
    rng = random.Random(seed)
    jpath = Path(journal_path)
    counter = 0
    while True:
        memory = open_memory(Path(folder), policies=[ForgetOldest()])
        clock = memory.clock
        assert isinstance(clock, ManualClock)
        for _ in range(rng.randint(3, 12)):
            counter += 1
            roll = rng.random()
            user = rng.choice(USERS)
            if roll < 0.35:
                token = f"s{seed}n{counter}z"
                item = memory.add(f"crash note {token}", user_id=user)
                journal(jpath, {"op": "add", "user": user, "ids": [item.id], "tokens": [token]})
            elif roll < 0.55:
                tokens = [f"s{seed}n{counter}b{i}z" for i in range(rng.randint(50, 400))]
                texts = [f"bulk note {t}" for t in tokens]
                if rng.random() < 0.5:
                    items = memory.add_many(texts, user_id=user, batch=64)  # policies applied
                else:
                    items = memory.add_many(
                        texts, user_id=user, batch=64, skip_policies="bulk load in a crash test"
                    )
                ids = [item.id for item in items]
                journal(jpath, {"op": "add", "user": user, "ids": ids, "tokens": tokens})
            elif roll < 0.75:
                ids = [item.id for item in memory.items(user_id=user)][: rng.randint(1, 300)]
                memory.forget(user_id=user, ids=ids)
                journal(jpath, {"op": "forget", "user": user, "ids": ids, "tokens": []})
            else:
                clock.advance(timedelta(days=1))
                memory.tick()
        memory.close()
