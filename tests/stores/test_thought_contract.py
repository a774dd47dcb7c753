from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agentmem import InvalidInputError, Kind, Scope, UserError
from agentmem.stores import ThoughtStore
from agentmem.stores._lsh import LSHIndex
from agentmem.testing import HashEmbedder
from agentmem.testing.stores import MemoryStoreContract, StoreFactory, make


class TestThoughtStore(MemoryStoreContract):
    @pytest.fixture
    def store_factory(self) -> StoreFactory:
        return lambda path: ThoughtStore(path, HashEmbedder(256))


class TestThoughtStoreAlwaysHashing(MemoryStoreContract):
    """The same contract with LSH used for every search, however small the scope."""

    @pytest.fixture
    def store_factory(self) -> StoreFactory:
        return lambda path: ThoughtStore(
            path, HashEmbedder(256), bits=8, tables=8, probes=64, exact_below=0
        )


def _unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_lsh_finds_near_neighbours_while_scoring_few() -> None:
    rng = np.random.default_rng(1)
    centres = _unit(rng, 50, 32)
    labels = rng.integers(0, 50, 5000)
    data = centres[labels] + 0.3 * _unit(rng, 5000, 32)
    data = (data / np.linalg.norm(data, axis=1, keepdims=True)).astype(np.float32)
    index = LSHIndex(32, bits=10, tables=8, probes=16, seed=3)
    index.add(list(range(5000)), data)
    hits = scored = 0
    for row in range(0, 5000, 100):
        query = data[row]
        truth = set(np.argsort(-(data @ query))[:10].tolist())
        result = index.search(query, 10)
        hits += len(truth & set(result.vids))
        scored += result.scored
        assert result.vids[0] == row  # the vector itself is its own nearest neighbour
    assert hits / 500 >= 0.9
    assert scored / 50 < 5000 / 3


def test_lsh_probes_neighbouring_buckets_when_thin() -> None:
    rng = np.random.default_rng(2)
    data = _unit(rng, 200, 16)
    index = LSHIndex(16, bits=16, tables=1, probes=0, seed=0)
    index.add(list(range(200)), data)
    home_only = index.search(data[0], 1, probes=0)
    widened = index.search(data[0], 5, probes=0, min_candidates=20)
    assert (home_only.buckets, home_only.vids) == (1, [0])
    assert widened.buckets > 1 and widened.scored >= 20
    assert len(widened.vids) == 5


def test_lsh_is_seeded_and_forgets_removed_ids() -> None:
    rng = np.random.default_rng(3)
    data = _unit(rng, 300, 24)
    first, second = LSHIndex(24, seed=7), LSHIndex(24, seed=7)
    first.add(list(range(300)), data)
    second.add(list(range(300)), data)
    assert first.search(data[5], 5).vids == second.search(data[5], 5).vids
    assert first.remove([5, 999]) == 1
    assert 5 not in first.search(data[5], 5).vids
    assert len(first) == 299


def test_lsh_rejects_bad_settings() -> None:
    with pytest.raises(InvalidInputError):
        LSHIndex(16, bits=0)


def test_large_scope_is_searched_through_lsh_with_fewer_similarities(tmp_path: Path) -> None:
    store = ThoughtStore(tmp_path, HashEmbedder(128), bits=10, tables=6, probes=8, exact_below=500)
    store.add([make(f"thought {i} about topic {i % 37}", kind=Kind.THOUGHT) for i in range(3000)])
    hits = store.search("thought 1234 about topic 13", scope=Scope(user_id="alice"), k=5)
    assert hits[0].item.text == "thought 1234 about topic 13"
    assert hits[0].signal == "lsh"
    assert 0 < store.last_scored < 3000
    store.close()


def test_other_embedder_on_reopen_is_a_clear_error(tmp_path: Path) -> None:
    ThoughtStore(tmp_path, HashEmbedder(64)).close()
    with pytest.raises(UserError, match="same embedder"):
        ThoughtStore(tmp_path, HashEmbedder(32))
