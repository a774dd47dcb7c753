import math

import pytest

from agentmem.eval import (
    exact_match,
    is_abstention,
    normalize_answer,
    percentile,
    recall_at_k,
    token_f1,
)


def test_normalize_strips_case_punctuation_and_articles() -> None:
    assert normalize_answer("The  Cat, sat on a mat!") == "cat sat on mat"


def test_token_f1_hand_computed() -> None:
    # pred tokens: went camping beach (3); gold: camping at beach (3); common 2
    # precision 2/3, recall 2/3 -> F1 2/3
    assert token_f1("went camping, the beach", "camping at beach") == pytest.approx(2 / 3)
    # pred 1 token, gold 4 tokens, 1 common: p=1, r=1/4 -> 2*(1/4)/(5/4) = 0.4
    assert token_f1("Lisbon", "she lives in Lisbon") == pytest.approx(0.4)
    assert token_f1("Porto", "Lisbon") == 0.0
    assert token_f1("", "") == 1.0
    assert token_f1("the", "Lisbon") == 0.0


def test_exact_match() -> None:
    assert exact_match("The Lisbon.", "lisbon") == 1.0
    assert exact_match("Lisbon, Portugal", "Lisbon") == 0.0


def test_abstention() -> None:
    assert is_abstention("That was not mentioned in the conversation.")
    assert is_abstention("I don't know.")
    assert is_abstention("I don’t know")
    assert not is_abstention("Her dog is called Rex.")


def test_recall_at_k_hand_computed() -> None:
    retrieved = ["D1:1", "D2:4", "D3:1", "D1:2"]
    assert recall_at_k(retrieved, ["D3:1", "D1:2"], 1) == 0.0
    assert recall_at_k(retrieved, ["D3:1", "D1:2"], 3) == 0.5
    assert recall_at_k(retrieved, ["D3:1", "D1:2"], 4) == 1.0
    assert recall_at_k(retrieved, ["D3:1", "D3:1", "D9:9"], None) == 0.5
    with pytest.raises(ValueError, match="at least one evidence"):
        recall_at_k(retrieved, [], 3)


def test_percentile_interpolates() -> None:
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 95) == pytest.approx(4.8)
    assert math.isnan(percentile([], 50))
