"""HybridStore's dense index at scale: bulk load, the saved index, background compaction."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agentmem import ManualClock, Memory, MemoryItem, Scope
from agentmem.stores import HybridStore, IndexSettings
from agentmem.stores import _block as block_module
from agentmem.testing import HashEmbedder
from agentmem.testing.stores import T0, make

ALICE = Scope(user_id="alice")
SETTINGS = IndexSettings(exact_limit=50, tombstone_ratio=0.5, ef_search=128)


def open_store(path: Path | None, settings: IndexSettings = SETTINGS) -> HybridStore:
    return HybridStore(
        path, HashEmbedder(64), index=settings, signals=("dense",), recency_boost=0.0
    )


def notes(count: int, start: int = 0) -> list[MemoryItem]:
    return [make(f"note {i}", at=T0 + timedelta(seconds=i)) for i in range(start, start + count)]


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts HNSW graph builds (each entry: the rows the graph was built over)."""
    calls: list[int] = []
    original = block_module.Block.build_hnsw

    def counted(block: Any, settings: IndexSettings) -> None:
        calls.append(block.n)
        original(block, settings)

    monkeypatch.setattr(block_module.Block, "build_hnsw", counted)
    return calls


# -- bulk load --------------------------------------------------------------------------
def test_a_bulk_load_through_memory_builds_each_graph_once(
    tmp_path: Path, builds: list[int]
) -> None:
    store = open_store(tmp_path)
    memory = Memory([store], clock=ManualClock(T0), policies=[])
    records = ({"text": f"note {i}", "created_at": T0 + timedelta(seconds=i)} for i in range(300))
    assert len(memory.add_many(records, user_id="alice", batch=40)) == 300
    assert store.count() == 300 and store.index_size == 300
    assert builds == [300]  # the index catches up after the load: each graph built once
    assert store.dense_index.uses_hnsw("alice")
    assert store.search("note 123", scope=ALICE, k=1)[0].item.text == "note 123"
    memory.close()


def test_a_failed_bulk_load_keeps_whole_batches_only(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    memory = Memory([store], clock=ManualClock(T0), policies=[])
    memory.add_many([f"note {i}" for i in range(5)], user_id="alice")

    def broken() -> Iterator[str]:
        yield from (f"note {i}" for i in range(5, 105))
        msg = "source failed"
        raise RuntimeError(msg)

    with pytest.raises(RuntimeError, match="source failed"):
        memory.add_many(broken(), user_id="alice", batch=30)
    assert store.count() == 95 and store.index_size == 95  # 3 whole batches, not the 4th
    found = {h.item.text for h in store.search("note", scope=ALICE, k=200)}
    assert found == {f"note {i}" for i in range(95)}
    assert len(memory.events(user_id="alice")) == 95  # one add event per stored memory
    memory.close()


# -- the saved index --------------------------------------------------------------------
def test_reopen_uses_the_saved_index_without_rebuilding(
    tmp_path: Path, builds: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    store = open_store(tmp_path)
    items = notes(200)
    store.add(items)
    store.delete([items[7].id])
    before = [h.item.id for h in store.search("note 42", scope=ALICE, k=10)]
    store.close()
    assert builds, "the store should have built a graph before closing"
    builds.clear()
    with caplog.at_level(logging.INFO, logger="agentmem.stores"):
        reopened = open_store(tmp_path)
    assert builds == []
    assert "loaded the saved dense index" in caplog.text
    assert reopened.dense_index.uses_hnsw("alice")
    assert reopened.index_size == reopened.count() == 199
    assert [h.item.id for h in reopened.search("note 42", scope=ALICE, k=10)] == before
    assert items[7].id not in {h.item.id for h in reopened.search("note 7", scope=ALICE, k=199)}
    reopened.close()


def test_a_saved_index_that_lags_catches_up_on_the_change_log(
    tmp_path: Path, builds: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    store = open_store(tmp_path)
    store.add(notes(200))
    store.close()
    store = open_store(tmp_path)
    store.add([make("zebra crossing at dawn", at=T0 + timedelta(days=1))])
    store.delete([store.search("note 3", scope=ALICE, k=1)[0].item.id])
    store._table.close()  # a crash: the saved index lags the database
    builds.clear()
    with caplog.at_level(logging.INFO, logger="agentmem.stores"):
        reopened = open_store(tmp_path)
    assert "lags 2 changes" in caplog.text
    assert builds == [], "the saved graph is reused, only the changes are applied"
    assert reopened.index_size == reopened.count() == 200
    hits = reopened.search("zebra crossing at dawn", scope=ALICE, k=1)
    assert hits[0].item.text == "zebra crossing at dawn"
    reopened.close()


def test_an_unreadable_saved_index_is_rebuilt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = open_store(tmp_path)
    store.add(notes(200))
    before = [h.item.id for h in store.search("note 9", scope=ALICE, k=10)]
    store.close()
    for graph in (tmp_path / "dense").glob("*.hnsw"):
        graph.write_bytes(b"not a graph")
    with caplog.at_level(logging.WARNING, logger="agentmem.stores"):
        reopened = open_store(tmp_path)
    assert "unreadable" in caplog.text
    assert reopened.index_size == 200
    assert [h.item.id for h in reopened.search("note 9", scope=ALICE, k=10)] == before
    reopened.close()


# -- background compaction --------------------------------------------------------------
@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Once armed (``gate.clear()``), graph builds wait until ``gate.set()``."""
    release = threading.Event()
    release.set()
    original = block_module.Block.build_hnsw

    def gated(block: Any, settings: IndexSettings) -> None:
        assert release.wait(10), "the test never released the build"
        original(block, settings)

    monkeypatch.setattr(block_module.Block, "build_hnsw", gated)
    return release


def test_compaction_runs_in_the_background_while_searches_go_on(
    tmp_path: Path, gate: threading.Event
) -> None:
    store = open_store(tmp_path)
    items = notes(200)
    store.add(items)
    gate.clear()
    store.delete([i.id for i in items[:120]])  # past the ratio: compaction starts
    index = store.dense_index
    assert index.compacting
    deleted = {i.id for i in items[:120]}
    errors: list[BaseException] = []
    seen: list[set[str]] = []
    stop = threading.Event()

    def search_loop() -> None:
        try:
            while not stop.is_set():
                seen.append({h.item.id for h in store.search("note", scope=ALICE, k=100)})
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    searcher = threading.Thread(target=search_loop)
    searcher.start()
    # While the graph is rebuilt: tombstones still filtered, new writes land.
    assert index.tombstones == 120
    store.delete([items[150].id])
    store.add([make("a late zebra", at=T0 + timedelta(days=1))])
    assert deleted.isdisjoint({h.item.id for h in store.search("note", scope=ALICE, k=100)})
    gate.set()
    index.wait()
    stop.set()
    searcher.join()
    assert not errors
    assert seen and all(deleted.isdisjoint(ids) for ids in seen)
    assert not index.compacting
    assert index.tombstones == 1  # the delete made during the rebuild
    assert store.index_size == store.count() == 80
    assert store.search("a late zebra", scope=ALICE, k=1)[0].item.text == "a late zebra"
    assert items[150].id not in {h.item.id for h in store.search("note", scope=ALICE, k=100)}
    assert index.uses_hnsw("alice")
    store.close()


def test_close_waits_for_a_background_compaction_and_saves_its_result(
    tmp_path: Path, gate: threading.Event
) -> None:
    store = open_store(tmp_path)
    items = notes(200)
    store.add(items)
    gate.clear()
    store.delete([i.id for i in items[:120]])
    assert store.dense_index.compacting
    threading.Timer(0.2, gate.set).start()
    store.close()
    reopened = open_store(tmp_path)
    assert reopened.dense_index.tombstones == 0
    assert reopened.index_size == 80
    reopened.close()


def test_synchronous_compaction_stays_available(tmp_path: Path) -> None:
    settings = IndexSettings(exact_limit=50, tombstone_ratio=0.5, background_compaction=False)
    store = open_store(tmp_path, settings)
    items = notes(200)
    store.add(items)
    store.delete([i.id for i in items[:120]])
    assert not store.dense_index.compacting
    assert store.dense_index.tombstones == 0
    store.close()


def test_save_as_and_load_current_check_the_key(tmp_path: Path) -> None:
    from agentmem.stores._index import DenseIndex, item_attrs

    index = DenseIndex(4)
    vectors = np.eye(4, dtype=np.float32)[:2]
    index.add("u", [1, 2], vectors, [item_attrs(n) for n in notes(2)])
    key = {"version": "7", "dim": 4}
    index.save_as(tmp_path / "dense", key)
    index.save_as(tmp_path / "dense", key)  # replacing a saved index is atomic too
    loaded = DenseIndex.load_current(tmp_path / "dense", key)
    assert loaded is not None and loaded.size == 2
    assert DenseIndex.load_current(tmp_path / "dense", {"version": "8", "dim": 4}) is None
    assert DenseIndex.load_current(tmp_path / "missing", key) is None
    (tmp_path / "dense" / "manifest.json").write_text("{broken")
    assert DenseIndex.load_current(tmp_path / "dense", key) is None


def test_stores_change_no_faiss_threads_outside_their_searches(tmp_path: Path) -> None:
    import faiss

    from agentmem.stores import HybridStore, VectorStore

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(2)
    try:
        for store in (HybridStore(None, HashEmbedder(16)), VectorStore(None, HashEmbedder(16))):
            assert store.faiss_threads == 1
            store.add(notes(3))
            assert faiss.omp_get_max_threads() == 2  # construction and writes leave it alone
            store.search("note", scope=Scope(user_id="alice"))
            assert faiss.omp_get_max_threads() == 2  # a search sets it for itself only
            store.close()
    finally:
        faiss.omp_set_num_threads(before)
