"""A forget a user asks for erases: after close, no file of the memory holds the text."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentmem import EventOp, ManualClock, Memory, UserError
from agentmem.stores import HybridStore, SymbolicStore, ThoughtStore
from agentmem.testing import HashEmbedder
from tests.helpers import T0


def open_memory(folder: Path) -> Memory:
    embedder = HashEmbedder(64)
    clock = ManualClock(T0)
    return Memory(
        [
            HybridStore(folder, embedder, name="vector", clock=clock),
            ThoughtStore(folder, embedder, name="thoughts"),
            SymbolicStore(folder, name="symbolic", clock=clock),
        ],
        embedder=embedder,
        clock=clock,
        policies=[],
    )


def leaks(folder: Path, secrets: list[str]) -> dict[str, list[str]]:
    """Which secrets each file of the folder (recursively) still holds, as bytes."""
    found: dict[str, list[str]] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes().lower()  # full-text indexes keep folded tokens
        hits = [
            s
            for s in secrets
            if s.lower().encode() in data or s.lower().encode("utf-16-le") in data
        ]
        if hits:
            found[str(path.relative_to(folder))] = hits
    return found


def write_secrets(memory: Memory, user: str, tag: str) -> list[str]:
    """Secrets of ``user`` through every store and write path; returns them."""
    secrets = [f"{tag}{kind}Zq" for kind in ("Text", "Old", "Meta", "Thought", "Row", "Fact")]
    text, old, meta, thought, row, fact = secrets
    item = memory.add(f"{old} is the first version", user_id=user)
    memory.update(item.id, text=f"{text} replaced the first version", metadata={"m": meta})
    memory.search(f"{text} version", user_id=user)  # an access event
    memory.write(
        [memory.make_item(f"{thought} came to mind", user_id=user, kind="thought")],
        store="thoughts",
    )
    symbolic = memory.stores[2]
    assert isinstance(symbolic, SymbolicStore)
    if "notes" not in symbolic.tables():
        symbolic.create_table("notes", {"body": str})
    symbolic.execute("INSERT INTO notes (body) VALUES (?)", [row], user_id=user)
    symbolic.facts(user).upsert("user", "secret", fact)
    return secrets


@pytest.mark.parametrize("how", ["by user", "by id"])
def test_forgotten_secrets_leave_no_byte_in_any_file(tmp_path: Path, how: str) -> None:
    folder = tmp_path / "memory"
    memory = open_memory(folder)
    gone = write_secrets(memory, "alice", "AliceSecret")
    kept = write_secrets(memory, "bob", "BobKeeps")
    memory.close()  # the secrets reached every file, saved index included
    memory = open_memory(folder)
    assert set(leaks(folder, gone + kept)), "the test writes where it then searches"
    if how == "by user":
        assert memory.forget(user_id="alice") >= 3
    else:
        ids = [item.id for item in memory.items(user_id="alice", include_closed=True)]
        assert memory.forget(user_id="alice", ids=ids) == len(ids)
        symbolic = memory.stores[2]
        assert isinstance(symbolic, SymbolicStore)
        symbolic.erase_user("alice")  # rows and facts are not items: erased by user
    assert memory.search("AliceSecretText version", user_id="alice") == []
    memory.close()
    assert leaks(folder, gone) == {}
    assert leaks(folder, kept), "another user's memories are kept"
    if how == "by user":
        saved = [p for p in (folder / "dense").rglob("*") if p.is_file()]
        assert saved and not [p.name for p in saved if b"alice" in p.read_bytes()]
    reopened = open_memory(folder)
    assert [i.text for i in reopened.items(user_id="bob")], "bob's memories survive"
    forgets = [e for e in reopened.events() if e.op is EventOp.FORGET]
    assert forgets and forgets[-1].policy == "user"
    with pytest.raises(UserError, match="cannot be undone"):
        reopened.undo(forgets[-1].id or 0)
    reopened.close()


def test_an_erasure_waits_for_background_compaction_and_leaves_no_tombstone(
    tmp_path: Path,
) -> None:
    import threading

    from agentmem.stores import IndexSettings

    embedder = HashEmbedder(64)
    settings = IndexSettings(exact_limit=40, tombstone_ratio=0.1, background_compaction=True)
    store = HybridStore(tmp_path, embedder, name="vector", index=settings)
    memory = Memory([store], embedder=embedder, policies=[])
    items = memory.add_many([f"alice note {i} zq" for i in range(120)], user_id="alice")
    memory.add_many([f"bob note {i}" for i in range(30)], user_id="bob")
    assert store.dense_index.uses_hnsw("alice")
    done = threading.Event()

    def erase() -> None:
        memory.forget(user_id="alice", ids=[item.id for item in items[:40]])
        done.set()

    worker = threading.Thread(target=erase, daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert done.is_set(), "the erasure hung"
    assert store.dense_index.tombstones == 0
    assert store.index_size == store.count() == 110
    memory.close()
    reopened = HybridStore(tmp_path, embedder, name="vector", index=settings)
    assert reopened.index_size == reopened.count() == 110
    reopened.close()
