"""ChatDB-style: a generated fruit-shop ledger, recorded and queried through SQL steps."""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from agentmem import AuditLog, ChatMessage, EventOp, ManualClock, TraceRecord
from agentmem.stores import SymbolicStore
from agentmem.testing import FunctionLLM

FRUITS = ["apple", "banana", "pear", "orange", "kiwi"]
CUSTOMERS = ["Ann", "Bob", "Cid", "Dee", "Eve"]
SUPPLIERS = ["Farm A", "Farm B", "Farm C"]


@dataclass
class Ledger:
    purchases: list[tuple[int, str, int, float, str]] = field(default_factory=list)
    sales: list[tuple[int, int, str, int, float, str]] = field(default_factory=list)
    returns: list[tuple[int, int, int]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


def make_ledger(seed: int = 2024) -> Ledger:
    rng = random.Random(seed)
    led = Ledger()
    stock: dict[str, int] = defaultdict(int)
    returned: dict[int, int] = defaultdict(int)
    for day in range(1, 31):
        if day % 5 == 1:
            for fruit in FRUITS:
                kg, cost, sup = (
                    rng.choice([10, 15, 20]),
                    rng.choice([0.5, 1.0]),
                    rng.choice(SUPPLIERS),
                )
                led.purchases.append((day, fruit, kg, cost, sup))
                stock[fruit] += kg
                led.lines.append(
                    f"day {day}: bought {kg} kg of {fruit} from {sup} at {cost} EUR/kg"
                )
        for _ in range(rng.choice([1, 2, 2])):
            fruit = rng.choice(FRUITS)
            kg = rng.choice([1, 2, 3, 4])
            if stock[fruit] < kg:
                continue
            no = len(led.sales) + 1
            price, who = rng.choice([1.5, 2.0, 2.5, 3.0]), rng.choice(CUSTOMERS)
            led.sales.append((no, day, fruit, kg, price, who))
            stock[fruit] -= kg
            led.lines.append(
                f"day {day}: sale {no}: sold {kg} kg of {fruit} to {who} at {price} EUR/kg"
            )
        if led.sales and rng.random() < 0.35:
            no, _, fruit, kg, _, who = rng.choice(led.sales)
            if returned[no] < kg:
                returned[no] += 1
                stock[fruit] += 1
                led.returns.append((day, no, 1))
                led.lines.append(f"day {day}: {who} returned 1 kg from sale {no}")
    return led


def recorder(messages: Sequence[ChatMessage]) -> str:
    """Plays the model for ``record``: one INSERT with parameters, then DONE."""
    if messages[-1].role == "user" and messages[-1].content.startswith("RESULT"):
        return "DONE: stored"
    text = messages[-1].content
    if m := re.match(r"day (\d+): bought (\d+) kg of (\w+) from (.+) at ([\d.]+) EUR/kg", text):
        d, kg, fruit, sup, cost = m.groups()
        return (
            "SQL: INSERT INTO purchases (day, fruit, kg, unit_cost, supplier) "
            "VALUES (?, ?, ?, ?, ?)\n"
            f'PARAMS: [{d}, "{fruit}", {kg}, {cost}, "{sup}"]'
        )
    if m := re.match(r"day (\d+): sale (\d+): sold (\d+) kg of (\w+) to (\w+) at ([\d.]+)", text):
        d, no, kg, fruit, who, price = m.groups()
        return (
            "SQL: INSERT INTO sales (sale_no, day, fruit, kg, unit_price, customer) "
            f'VALUES (?, ?, ?, ?, ?, ?)\nPARAMS: [{no}, {d}, "{fruit}", {kg}, {price}, "{who}"]'
        )
    m = re.match(r"day (\d+): \w+ returned (\d+) kg from sale (\d+)", text)
    assert m, text
    d, kg, no = m.groups()
    return f"SQL: INSERT INTO returns (day, sale_no, kg) VALUES ({d}, {no}, {kg})"


def results(messages: Sequence[ChatMessage]) -> list[list[list[str]]]:
    out = []
    for msg in messages:
        if msg.role == "user" and msg.content.startswith("RESULT"):
            lines = msg.content.splitlines()[2:]  # drop "RESULT of step n:" and the header
            out.append([line.split(" | ") for line in lines])
    return out


Step = Callable[[list[list[list[str]]]], str]
NET_KG = (
    "SELECT s.customer, sum(s.kg) - coalesce(sum(r.kg), 0) AS net FROM sales s "
    "LEFT JOIN (SELECT sale_no, sum(kg) AS kg FROM returns GROUP BY sale_no) r "
    "ON r.sale_no = s.sale_no GROUP BY s.customer ORDER BY net DESC, s.customer LIMIT 1"
)


def questions(
    led: Ledger,
) -> list[tuple[str, list[Step], Callable[[list[list[list[str]]]], str], str]]:
    """(question, SQL steps built from earlier results, answer from results, expected)."""
    sale = {s[0]: s for s in led.sales}
    ret_kg: dict[int, int] = defaultdict(int)
    for _, no, kg in led.returns:
        ret_kg[no] += kg

    def stock(fruit: str, upto: int = 30) -> int:
        bought = sum(p[2] for p in led.purchases if p[1] == fruit and p[0] <= upto)
        sold = sum(s[3] for s in led.sales if s[2] == fruit and s[1] <= upto)
        back = sum(kg for d, no, kg in led.returns if sale[no][2] == fruit and d <= upto)
        return bought - sold + back

    net: dict[str, int] = defaultdict(int)
    for no, _, _, kg, _, who in led.sales:
        net[who] += kg - ret_kg[no]
    top = sorted(net.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
    revenue = sum(s[3] * s[4] for s in led.sales) - sum(
        kg * sale[no][4] for _, no, kg in led.returns
    )
    by_fruit: dict[str, float] = defaultdict(float)
    for _, _, fruit, kg, price, _ in led.sales:
        by_fruit[fruit] += kg * price
    best_fruit = sorted(by_fruit.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
    biggest = sorted(led.sales, key=lambda s: (-s[3] * s[4], s[0]))[0]
    banana_sup: dict[str, int] = defaultdict(int)
    for p in led.purchases:
        if p[1] == "banana":
            banana_sup[p[4]] += p[2]
    apple_kg: dict[str, int] = defaultdict(int)
    for s in led.sales:
        if s[2] == "apple":
            apple_kg[s[5]] += s[3]
    apple_top = sorted(apple_kg.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
    kiwi = [s for s in led.sales if s[2] == "kiwi"]

    def first(r: list[list[list[str]]]) -> str:
        return r[-1][0][0]

    def num(x: float) -> str:
        return f"{x:g}"

    return [
        (
            "How many kg of apples were sold?",
            [lambda r: "SELECT sum(kg) FROM sales WHERE fruit = 'apple'"],
            first,
            num(sum(s[3] for s in led.sales if s[2] == "apple")),
        ),
        (
            "How many kg were returned in total?",
            [lambda r: "SELECT coalesce(sum(kg), 0) FROM returns"],
            first,
            num(sum(kg for _, _, kg in led.returns)),
        ),
        (
            "What was the revenue after returns?",
            [
                lambda r: "SELECT sum(kg * unit_price) FROM sales",
                lambda r: (
                    "SELECT coalesce(sum(r.kg * s.unit_price), 0) FROM returns r "
                    "JOIN sales s ON s.sale_no = r.sale_no"
                ),
            ],
            lambda r: num(float(r[0][0][0]) - float(r[1][0][0])),
            num(revenue),
        ),
        (
            "How many kg of apples are in stock after returns?",
            [
                lambda r: (
                    "SELECT (SELECT sum(kg) FROM purchases WHERE fruit = 'apple') - "
                    "(SELECT sum(kg) FROM sales WHERE fruit = 'apple') + "
                    "(SELECT coalesce(sum(r.kg), 0) "
                    "FROM returns r JOIN sales s ON s.sale_no = r.sale_no WHERE s.fruit = 'apple')"
                )
            ],
            first,
            num(stock("apple")),
        ),
        (
            "How many kg of pears were in stock at the end of day 15?",
            [
                lambda r: (
                    "SELECT (SELECT coalesce(sum(kg), 0) FROM purchases WHERE fruit = 'pear' AND "
                    "day <= 15) - (SELECT coalesce(sum(kg), 0) FROM sales WHERE fruit = 'pear' "
                    "AND day <= 15)"
                    " + (SELECT coalesce(sum(r.kg), 0) FROM returns r JOIN sales s ON s.sale_no = "
                    "r.sale_no WHERE s.fruit = 'pear' AND r.day <= 15)"
                )
            ],
            first,
            num(stock("pear", 15)),
        ),
        (
            "Who bought the most, net of returns, and in how many sales?",
            [
                lambda r: NET_KG,
                lambda r: f"SELECT count(*) FROM sales WHERE customer = '{r[0][0][0]}'",
            ],
            lambda r: f"{r[0][0][0]} {r[1][0][0]}",
            f"{top} {sum(1 for s in led.sales if s[5] == top)}",
        ),
        (
            "What profit margin did the best-selling fruit make (revenue minus cost)?",
            [
                lambda r: (
                    "SELECT fruit, sum(kg * unit_price) AS rev FROM sales GROUP BY fruit "
                    "ORDER BY rev DESC, fruit LIMIT 1"
                ),
                lambda r: f"SELECT sum(kg * unit_cost) FROM purchases WHERE fruit = '{r[0][0][0]}'",
            ],
            lambda r: num(float(r[0][0][1]) - float(r[1][0][0])),
            num(
                by_fruit[best_fruit] - sum(p[2] * p[3] for p in led.purchases if p[1] == best_fruit)
            ),
        ),
        (
            "Who made the largest single sale, and what did they spend that day?",
            [
                lambda r: (
                    "SELECT day, customer FROM sales ORDER BY kg * unit_price DESC, sale_no LIMIT 1"
                ),
                lambda r: (
                    "SELECT customer, sum(kg * unit_price) FROM sales "
                    "WHERE day = ? AND customer = ?"
                ),
            ],
            lambda r: f"{r[1][0][0]} {r[1][0][1]}",
            f"{biggest[5]} "
            + num(sum(s[3] * s[4] for s in led.sales if s[1] == biggest[1] and s[5] == biggest[5])),
        ),
        (
            "Which supplier delivered the most bananas?",
            [
                lambda r: (
                    "SELECT supplier FROM purchases WHERE fruit = 'banana' GROUP BY supplier "
                    "ORDER BY sum(kg) DESC, supplier LIMIT 1"
                )
            ],
            first,
            sorted(banana_sup.items(), key=lambda kv: (-kv[1], kv[0]))[0][0],
        ),
        (
            "How many returns did the biggest apple buyer make?",
            [
                lambda r: (
                    "SELECT customer FROM sales WHERE fruit = 'apple' GROUP BY customer "
                    "ORDER BY sum(kg) DESC, customer LIMIT 1"
                ),
                lambda r: (
                    "SELECT count(*) FROM returns r JOIN sales s ON s.sale_no = r.sale_no "
                    f"WHERE s.customer = '{r[0][0][0]}'"
                ),
            ],
            lambda r: r[1][0][0],
            str(sum(1 for _, no, _ in led.returns if sale[no][5] == apple_top)),
        ),
        (
            "What was the average price of kiwis sold?",
            [lambda r: "SELECT round(avg(unit_price), 4) FROM sales WHERE fruit = 'kiwi'"],
            first,
            num(round(sum(s[4] for s in kiwi) / len(kiwi), 4)),
        ),
        (
            "How much was spent on purchases in days 1 to 10?",
            [lambda r: "SELECT sum(kg * unit_cost) FROM purchases WHERE day <= 10"],
            first,
            num(sum(p[2] * p[3] for p in led.purchases if p[0] <= 10)),
        ),
    ]


def asker(steps: list[Step], answer: Callable[[list[list[list[str]]]], str]) -> FunctionLLM:
    def play(messages: Sequence[ChatMessage]) -> str:
        done = results(messages)
        if len(done) < len(steps):
            sql = steps[len(done)](done)
            if "day = ?" in sql:  # the largest-sale question binds step 1's values
                return f'SQL: {sql}\nPARAMS: [{done[0][0][0]}, "{done[0][0][1]}"]'
            return f"SQL: {sql}"
        return f"ANSWER: {answer(done)} (step {len(done)})"

    return FunctionLLM(play)


@pytest.fixture(scope="module")
def shop() -> tuple[SymbolicStore, Ledger, AuditLog]:
    led = make_ledger()
    audit = AuditLog()
    store = SymbolicStore(clock=ManualClock(datetime(2024, 6, 1, tzinfo=UTC)), audit=audit)
    store.create_table(
        "purchases", {"day": int, "fruit": str, "kg": float, "unit_cost": float, "supplier": str}
    )
    store.create_table(
        "sales",
        {
            "sale_no": int,
            "day": int,
            "fruit": str,
            "kg": float,
            "unit_price": float,
            "customer": str,
        },
    )
    store.create_table("returns", {"day": int, "sale_no": int, "kg": float})
    llm = FunctionLLM(recorder)
    for line in led.lines:
        store.record(line, llm=llm, user_id="shop")
    return store, led, audit


def test_ledger_is_recorded_and_every_write_is_an_event(
    shop: tuple[SymbolicStore, Ledger, AuditLog],
) -> None:
    store, led, audit = shop
    assert (
        len(led.lines) >= 50 and len({int(line.split()[1].rstrip(":")) for line in led.lines}) == 30
    )
    assert len(store.rows("sales", user_id="shop")) == len(led.sales)
    assert len(store.rows("returns", user_id="shop")) == len(led.returns) > 0
    adds = audit.events(user_id="shop", ops=[EventOp.ADD])
    assert len(adds) == len(led.lines)
    assert store.rows("sales", user_id="other") == []


@pytest.mark.parametrize("number", range(12))
def test_multi_hop_questions_are_answered_exactly(
    shop: tuple[SymbolicStore, Ledger, AuditLog], number: int
) -> None:
    store, led, _ = shop
    question, steps, answer, expected = questions(led)[number]
    result = store.ask(question, llm=asker(steps, answer), user_id="shop")
    assert result.answered
    assert [s.error for s in result.steps] == [None] * len(steps)
    assert re.sub(r" \(step \d+\)$", "", result.answer) == expected
    assert result.citations and f"[step {len(steps)}]" in result.cited()


def test_a_refused_statement_gets_one_retry_then_a_user_error(
    shop: tuple[SymbolicStore, Ledger, AuditLog],
) -> None:
    from agentmem.stores import SandboxError
    from agentmem.testing import ScriptedLLM

    store, _, _ = shop
    llm = ScriptedLLM(
        ["SQL: SELECT * FROM sqlite_master", "SQL: SELECT count(*) FROM sales", "ANSWER: ok"]
    )
    result = store.ask("how many sales?", llm=llm, user_id="shop")
    assert result.answered and result.steps[0].error and result.steps[1].result is not None
    assert "ERROR in step 1" in llm.calls[1][-1].content
    bad = ScriptedLLM(["SQL: DROP TABLE sales", "SQL: ATTACH 'x' AS y"])
    with pytest.raises(SandboxError, match="ATTACH"):
        store.ask("drop it", llm=bad, user_id="shop")


def test_traces_show_every_statement(shop: tuple[SymbolicStore, Ledger, AuditLog]) -> None:
    store, led, _ = shop
    seen: list[TraceRecord] = []
    store.tracer = seen.append
    try:
        question, steps, answer, _ = questions(led)[5]
        result = store.ask(question, llm=asker(steps, answer), user_id="shop")
    finally:
        store.tracer = None
    sql = [t.request["sql"] for t in seen if t.name == "symbolic.sql"]
    assert sql == [s.sql for s in result.steps]


def _rowids(store: SymbolicStore, table: str, where: str) -> set[tuple[str, int]]:
    found, _ = store.execute(f"SELECT rowid FROM {table} WHERE {where}", user_id="shop")
    return {(table, int(r[0])) for r in found.rows}


def test_answers_cite_the_rows_they_rest_on(shop: tuple[SymbolicStore, Ledger, AuditLog]) -> None:
    from agentmem.testing import ScriptedLLM

    store, led, _ = shop
    apples = ScriptedLLM(
        ["SQL: SELECT sum(kg) FROM sales WHERE fruit = 'apple'", "ANSWER: 42 kg (step 1)"]
    )
    result = store.ask("How many kg of apples were sold?", llm=apples, user_id="shop")
    cited = {(r.table, r.row) for r in result.rows}
    assert cited == _rowids(store, "sales", "fruit = 'apple'")
    assert len(cited) == sum(1 for s in led.sales if s[2] == "apple")
    for row in result.rows:
        assert row.values["fruit"] == "apple" and row.step == 1
        item = store.get(row.item_id or "")
        assert item is not None and item.valid_to is None and "fruit=apple" in item.text
    assert f"sales#{result.rows[0].row} (" in result.cited()

    returned = ScriptedLLM(
        [
            "SQL: SELECT count(*) FROM purchases",
            "SQL: SELECT coalesce(sum(r.kg * s.unit_price), 0) FROM returns r "
            "JOIN sales s ON s.sale_no = r.sale_no",
            "ANSWER: refunds came to that much (step 2)",
        ]
    )
    result = store.ask("How much was refunded?", llm=returned, user_id="shop")
    numbers = ", ".join(str(no) for _, no, _ in led.returns)
    expected = _rowids(store, "returns", "1") | _rowids(store, "sales", f"sale_no IN ({numbers})")
    assert {(r.table, r.row) for r in result.rows} == expected  # step 1 is not named
    assert {r.step for r in result.rows} == {2}


def test_citations_are_bounded(shop: tuple[SymbolicStore, Ledger, AuditLog]) -> None:
    from agentmem.stores import SandboxLimits
    from agentmem.testing import ScriptedLLM

    store, _, _ = shop
    previous = store.limits
    store.limits = SandboxLimits(max_cite_rows=5)
    try:
        llm = ScriptedLLM(["SQL: SELECT count(*) FROM sales", "ANSWER: many (step 1)"])
        result = store.ask("How many sales?", llm=llm, user_id="shop")
    finally:
        store.limits = previous
    assert result.steps[0].cites is None and result.rows == []
    assert "too many to trace in sales" in result.cited()
