from __future__ import annotations

import math

import pytest

from agentmem import UserError
from agentmem.policies import EntropyImportance, ImportancePolicy, SurprisalModel, parse_spec

from .conftest import MakeMemory


class FakeSurprisal:
    """Surprisal per token written by the test: one word = one token."""

    def __init__(self, bits: dict[str, float]) -> None:
        self.bits = bits
        self.texts: list[str] = []

    def token_surprisal(self, text: str) -> list[float]:
        self.texts.append(text)
        return [self.bits.get(word, 4.0) for word in text.split()]


def test_mean_surprisal_maps_linearly_onto_0_1() -> None:
    model = FakeSurprisal({"the": 1.0, "cat": 3.0, "zygote": 14.0, "axolotl": 12.0})
    assert isinstance(model, SurprisalModel)
    scorer = EntropyImportance(model, low=2.0, high=10.0)
    assert scorer.mean_surprisal("the cat") == pytest.approx(2.0)  # (1 + 3) / 2
    assert scorer.mean_surprisal("the cat sat") == pytest.approx(8.0 / 3)  # sat: 4.0
    assert scorer.mean_surprisal("") == 0.0
    memory_item = _item("the cat sat")
    assert scorer.score(memory_item) == pytest.approx((8.0 / 3 - 2.0) / 8.0)
    assert scorer.score(_item("the the")) == 0.0  # 1.0 bits: clipped at low
    assert scorer.score(_item("zygote axolotl")) == 1.0  # 13.0 bits: clipped at high
    assert scorer.score(_item("cat sat zygote")) == pytest.approx((21.0 / 3 - 2.0) / 8.0)


def test_scores_memories_on_write(make_memory: MakeMemory) -> None:
    model = FakeSurprisal({"ok": 2.0, "thanks": 2.0, "allergic": 9.0, "penicillin": 11.0})
    policy = ImportancePolicy(scorer=EntropyImportance(model), floor=0.01)
    memory = make_memory([policy])
    small_talk = memory.add("ok thanks", user_id="alice")
    vital = memory.add("allergic penicillin", user_id="alice")
    assert memory.get(small_talk.id).importance == 0.0
    assert memory.get(vital.id).importance == pytest.approx((10.0 - 2.0) / 8.0)
    assert model.texts == ["ok thanks", "allergic penicillin"]
    assert "EntropyImportance" in memory.history(vital.id)[-1].reason


def test_bad_range_and_spec() -> None:
    with pytest.raises(UserError, match="greater than low"):
        EntropyImportance(FakeSurprisal({}), low=5.0, high=5.0)
    policy = parse_spec("importance:score=entropy,top_k=5").policies[0]
    assert isinstance(policy, ImportancePolicy)
    assert isinstance(policy.scorer, EntropyImportance)
    with pytest.raises(UserError, match="score= takes"):
        parse_spec("importance:score=magic,top_k=5")


@pytest.mark.real_models
def test_entropy_on_the_local_model() -> None:
    from agentmem.llms import LocalLLM

    scorer = EntropyImportance(LocalLLM(backend="transformers"))
    texts = [
        "Thank you very much.",
        "My blood type is AB negative and I am allergic to penicillin.",
        "Qorvex plinth 7Z9 glimmers under the vermillion xylograph.",
    ]
    means = [scorer.mean_surprisal(text) for text in texts]
    assert all(math.isfinite(m) and m > 0 for m in means), means
    per_token = scorer.model.token_surprisal(texts[0])
    assert 2 <= len(per_token) <= 8 and all(math.isfinite(v) and v >= 0 for v in per_token)
    # Sanity only: a run of rare words surprises the model more than a stock phrase.
    assert means[2] > max(means[0], means[1]) + 2.0, means


def _item(text: str):  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from agentmem import MemoryItem, Scope

    now = datetime(2024, 1, 1, tzinfo=UTC)
    return MemoryItem(text=text, scope=Scope(user_id="u"), created_at=now, recorded_at=now)
