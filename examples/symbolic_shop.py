"""A fruit shop kept as SQL records: the facts API, then ``ask`` with SQL steps.

Runs offline in a second. The "model" here is a function that plays the SQL steps;
pass ``llm=LocalLLM()`` (from ``agentmem.llms``) or any ChatModel for a real one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from agentmem import AuditLog, ChatMessage, ManualClock
from agentmem.stores import SymbolicStore
from agentmem.testing import FunctionLLM

clock = ManualClock(datetime(2024, 5, 1, tzinfo=UTC))
store = SymbolicStore(None, clock=clock, audit=AuditLog())  # or SymbolicStore("~/shop")

# 1. Structured facts, no LLM: an update closes the old value instead of overwriting it.
facts = store.facts("shop")
facts.upsert("apple", "price", 2.0, at=datetime(2024, 5, 1, tzinfo=UTC))
facts.upsert("apple", "price", 2.5, at=datetime(2024, 5, 10, tzinfo=UTC))
print("apple now:", facts.current("apple"))
print("apple on May 5:", facts.as_of("apple", datetime(2024, 5, 5, tzinfo=UTC)))
print("history:", [(f.value, f"{f.valid_from:%m-%d}") for f in facts.history("apple", "price")])

# 2. Records the model reads and writes through SQL, inside a sandbox.
store.create_table("sales", {"day": int, "fruit": str, "kg": float, "customer": str})
for day, fruit, kg, who in [(1, "apple", 3, "Bob"), (2, "pear", 2, "Ann"), (3, "apple", 4, "Ann")]:
    store.execute("INSERT INTO sales VALUES (?, ?, ?, ?)", [day, fruit, kg, who], user_id="shop")


def plays_sql(messages: Sequence[ChatMessage]) -> str:
    steps_done = sum(m.content.startswith("RESULT") for m in messages if m.role == "user")
    if steps_done == 0:
        return "SQL: SELECT customer FROM sales GROUP BY customer ORDER BY sum(kg) DESC LIMIT 1"
    if steps_done == 1:
        who = messages[-1].content.splitlines()[-1]
        return f'SQL: SELECT sum(kg) FROM sales WHERE customer = ?\nPARAMS: ["{who}"]'
    return "ANSWER: Ann bought the most: 6 kg (steps 1 and 2)."


result = store.ask(
    "Who bought the most fruit, and how much?", llm=FunctionLLM(plays_sql), user_id="shop"
)
print(result.cited())

# 3. The sandbox refuses anything but plain reads and writes on the user's own tables.
try:
    store.execute("ATTACH 'other.sqlite' AS other", user_id="shop")
except Exception as exc:  # SandboxError, a UserError
    print("refused:", exc)
store.close()
