"""agentmem's own components pass the contract suites it ships for third parties."""

from __future__ import annotations

from datetime import timedelta

import pytest

from agentmem import ChatModel, Embedder, RetentionPolicy
from agentmem.policies import (
    CapacityPolicy,
    DecayPolicy,
    HeuristicImportance,
    ImportancePolicy,
    MergePolicy,
    Policies,
    TTLPolicy,
    UpdatePolicy,
)
from agentmem.testing import HashEmbedder, ScriptedLLM
from agentmem.testing.chat import ChatModelContract
from agentmem.testing.embedders import EmbedderContract
from agentmem.testing.policies import RetentionPolicyContract


class TestHashEmbedder(EmbedderContract):
    @pytest.fixture
    def embedder(self) -> Embedder:
        return HashEmbedder(64)


class TestScriptedLLM(ChatModelContract):
    @pytest.fixture
    def chat_model(self) -> ChatModel:
        return ScriptedLLM([], default="blue")


POLICIES = {
    "ttl": lambda: TTLPolicy(timedelta(days=10)),
    "capacity": lambda: CapacityPolicy(3, evict="least_important"),
    "decay": lambda: DecayPolicy(threshold=0.5),
    "merge": lambda: MergePolicy(threshold=0.9),
    "update": UpdatePolicy,
    "importance": lambda: ImportancePolicy(scorer=HeuristicImportance(), top_k=3),
    "composed": lambda: Policies([TTLPolicy(timedelta(days=20)), CapacityPolicy(2)]),
}


class TestBundledPolicies(RetentionPolicyContract):
    @pytest.fixture(params=sorted(POLICIES))
    def policy(self, request: pytest.FixtureRequest) -> RetentionPolicy:
        return POLICIES[request.param]()  # type: ignore[no-any-return]


def test_a_broken_embedder_fails_the_contract() -> None:
    """The suite can fail: an embedder that does not normalise is caught."""

    class Unnormalised(HashEmbedder):
        def embed(self, texts):  # type: ignore[no-untyped-def]
            return super().embed(texts) * 3

    with pytest.raises(AssertionError):
        EmbedderContract().test_one_normalised_row_per_text(Unnormalised(8))
