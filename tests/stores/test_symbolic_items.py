"""Items that mirror record rows stay consistent with the rows through the MemoryStore API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agentmem import InvalidInputError, ManualClock, MemoryItem, Scope
from agentmem.stores import SymbolicStore

NOW = datetime(2024, 6, 1, tzinfo=UTC)


@pytest.fixture
def store() -> SymbolicStore:
    store = SymbolicStore(clock=ManualClock(NOW))
    store.create_table("sales", {"fruit": str, "kg": int})
    for fruit, kg in [("apple", 3), ("pear", 2)]:
        store.execute("INSERT INTO sales VALUES (?, ?)", [fruit, kg], user_id="shop")
    return store


def mirror(store: SymbolicStore, fruit: str) -> MemoryItem:
    (item,) = [
        i
        for i in store.scan(scope=Scope(user_id="shop"), include_closed=False)
        if f"fruit={fruit}" in i.text
    ]
    return item


def test_deleting_a_rows_item_deletes_the_row(store: SymbolicStore) -> None:
    assert store.delete([mirror(store, "apple").id]) == 1
    assert store.rows("sales", user_id="shop") == [{"fruit": "pear", "kg": 2}]
    result, _ = store.execute("SELECT count(*) FROM sales", user_id="shop")
    assert result.rows == [[1]]


def test_deleting_a_superseded_item_keeps_the_row(store: SymbolicStore) -> None:
    old = mirror(store, "apple")
    store.execute("UPDATE sales SET kg = 4 WHERE fruit = 'apple'", user_id="shop")
    assert store.delete([old.id]) == 1
    assert {"fruit": "apple", "kg": 4} in store.rows("sales", user_id="shop")


def test_changing_a_rows_text_is_refused_and_nothing_changes(store: SymbolicStore) -> None:
    item = mirror(store, "apple")
    plain = MemoryItem(
        text="a plain note", scope=Scope(user_id="shop"), created_at=NOW, recorded_at=NOW
    )
    store.add([plain])
    edited = item.model_copy(update={"text": "sales: fruit=apple, kg=30"})
    with pytest.raises(InvalidInputError, match=r"UPDATE sales SET .* WHERE rowid = 1"):
        store.update([plain.model_copy(update={"importance": 0.9}), edited])
    assert store.get(item.id) == item
    stored_plain = store.get(plain.id)
    assert stored_plain is not None and stored_plain.importance == plain.importance
    assert {"fruit": "apple", "kg": 3} in store.rows("sales", user_id="shop")


def test_other_fields_of_a_rows_item_can_change(store: SymbolicStore) -> None:
    item = mirror(store, "apple")
    store.update([item.model_copy(update={"importance": 0.9, "access_count": 2})])
    stored = store.get(item.id)
    assert stored is not None and stored.importance == 0.9
    assert len(store.rows("sales", user_id="shop")) == 2


def test_closing_a_rows_item_deletes_the_row_and_reopening_restores_it(
    store: SymbolicStore,
) -> None:
    item = mirror(store, "apple")
    store.update([item.model_copy(update={"valid_to": NOW + timedelta(hours=1)})])
    assert store.rows("sales", user_id="shop") == [{"fruit": "pear", "kg": 2}]
    store.update([item])  # e.g. an undo
    assert store.rows("sales", user_id="shop") == [
        {"fruit": "apple", "kg": 3},
        {"fruit": "pear", "kg": 2},
    ]
    # The restored row is the same row, still mirrored by the same item.
    store.execute("UPDATE sales SET kg = 5 WHERE fruit = 'apple'", user_id="shop")
    closed = store.get(item.id)
    assert closed is not None and closed.valid_to is not None
    assert mirror(store, "apple").text == "sales: fruit=apple, kg=5"
