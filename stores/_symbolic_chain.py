"""The chain of SQL: a user's sandbox session, one step at a time, and reply parsing.

A :class:`SandboxSession` copies one user's record rows into a private sandbox
(:mod:`._sql_sandbox`) and runs the model's statements there one by one, writing what each
step changed back through :func:`._symbolic_rows.write_back`. :func:`parse_reply` reads
a model's reply as either a final answer or the next statement.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from agentmem._errors import InvalidInputError
from agentmem._models import MemoryEvent
from agentmem._tracing import traced
from agentmem.stores._sql_sandbox import (
    SandboxError,
    SqlSandbox,
    StepResult,
    one_statement,
    split_statements,
)
from agentmem.stores._sqlite import from_micros
from agentmem.stores._symbolic_results import SchemaMode, SchemaProposal
from agentmem.stores._symbolic_rows import write_back

if TYPE_CHECKING:
    from agentmem.stores.symbolic import SymbolicStore

FACTS_TABLE = "facts"
FACTS_COLUMNS = [
    ("subject", "TEXT"),
    ("attribute", "TEXT"),
    ("value", "ANY"),
    ("valid_from", "TEXT"),
    ("valid_to", "TEXT"),
]

__all__ = ["SandboxSession", "check_mode", "parse_reply", "schema_statements", "statement_verb"]

_SQL_START = re.compile(
    r"(?im)^\s*(CREATE|ATTACH|DETACH|PRAGMA|DROP|ALTER|INSERT|UPDATE|DELETE|SELECT|WITH|"
    r"REPLACE|VACUUM|REINDEX|ANALYZE|BEGIN|COMMIT|END|SAVEPOINT|RELEASE|ROLLBACK|VALUES)\b"
)


class SandboxSession:
    """A sandbox loaded with one user's rows; each ``run`` is one step.

    Each step holds the store's write transaction from start to end: the copy is
    refreshed first if the database changed since it was taken (another session, another
    process), then the statement runs and its changes are written back. So a step
    always works on the latest rows and no concurrent update is lost.
    """

    def __init__(self, store: SymbolicStore, user_id: str) -> None:
        self._store = store
        self.user_id = user_id
        self.sandbox = SqlSandbox({}, limits=store.limits)
        self.snapshots: dict[str, dict[int, tuple[Any, ...]]] = {}
        self.cites: dict[str, list[int]] | None = {}
        self._version: str | None = None
        self.written_rows = 0  # by every step of this session (a chain), capped
        with store._table.lock:
            self._refresh()

    def __enter__(self) -> SandboxSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sandbox.close()

    def _refresh(self) -> None:
        """Copy the user's rows in again if the database changed (caller holds the lock)."""
        store = self._store
        version = store._table.get_meta("version") or "0"
        if version == self._version:
            return
        tables = store.tables()
        conn = store._table.conn
        facts = _fact_rows(conn, self.user_id) if FACTS_TABLE not in tables else []
        self.sandbox.close()
        self.sandbox = SqlSandbox(
            tables, limits=store.limits, read_only={FACTS_TABLE: FACTS_COLUMNS} if facts else {}
        )
        if facts:
            self.sandbox.load(FACTS_TABLE, facts)
        self.snapshots = {}
        for table, cols in tables.items():
            names = ", ".join(f'"{c}"' for c, _ in cols)
            rows = conn.execute(
                f'SELECT _id, {names} FROM "rec_{table}" WHERE _user_id = ?', (self.user_id,)
            ).fetchall()
            self.sandbox.load(table, [(int(r[0]), tuple(r[1:])) for r in rows])
            self.snapshots[table] = self.sandbox.snapshot(table)
        self._version = version

    def run(
        self,
        sql: str,
        params: Sequence[Any] = (),
        *,
        schema_mode: SchemaMode = "off",
        approve: Callable[[SchemaProposal], bool] | None = None,
    ) -> tuple[StepResult, list[MemoryEvent]]:
        """Run one untrusted statement; write its changes back (all or nothing).

        A ``CREATE TABLE`` statement is refused unless ``schema_mode`` allows it.
        """
        store = self._store
        self.cites = {}
        if statement_verb(sql) == "CREATE":
            return self._create(sql, schema_mode, approve), []
        with traced(store.tracer, "store", "symbolic.sql", sql=sql) as response:
            with store._table.transaction() as conn:
                self._refresh()
                self.sandbox.begin()
                try:
                    result = self.sandbox.execute(sql, params)
                    events: list[MemoryEvent] = []
                    if result.wrote:
                        self._check_chain(result)
                        events = write_back(
                            store._table,
                            conn,
                            store.clock.now(),
                            store.tables(),
                            self.user_id,
                            self.sandbox,
                            self.snapshots,
                            result.sql,
                        )
                        # Inside the write's transaction: the rows and their events
                        # commit together (or the events first, with a separate log).
                        events = store.audit.record(events) if events else []
                    else:
                        self.cites = self.sandbox.provenance(result)
                    self.sandbox.commit()
                except BaseException:
                    self.sandbox.rollback()
                    self._version = None  # copy the rows in again next time
                    raise
                self._version = store._table.get_meta("version") or "0"
            response["rows"] = len(result.rows)
        self.written_rows += result.changes if result.wrote else 0
        return result, events

    def _check_chain(self, result: StepResult) -> None:
        """Refuse a step that would take the chain past its cap on written rows."""
        cap = self._store.limits.max_chain_write_rows
        if self.written_rows + result.changes > cap:
            msg = (
                f"refused: this chain may write at most {cap} rows in all "
                f"({self.written_rows} written, this step {result.changes})"
            )
            raise SandboxError(msg, result.sql)

    def _create(
        self,
        sql: str,
        schema_mode: SchemaMode,
        approve: Callable[[SchemaProposal], bool] | None,
    ) -> StepResult:
        store = self._store
        with traced(store.tracer, "store", "symbolic.sql", sql=sql) as response:
            if schema_mode == "off":
                msg = (
                    "CREATE TABLE is allowed only in schema mode; use the tables in the "
                    "schema (or ask with schema_mode='allow' or 'approve')"
                )
                raise SandboxError(msg, sql)
            statement = one_statement(sql, store.limits, schema_mode=True)
            statements, tables = store._check_schema([statement])
            if len(tables) != 1:
                msg = "a CREATE TABLE step must create exactly one table"
                raise SandboxError(msg, statement)
            proposal = SchemaProposal(statements=statements, tables=tables)
            if schema_mode == "approve" and (approve is None or not approve(proposal)):
                msg = "the user did not approve this table; use the tables in the schema"
                raise SandboxError(msg, statement)
            try:
                (name,) = store.apply_schema(proposal)
            except InvalidInputError as exc:
                raise SandboxError(str(exc), statement) from exc
            with store._table.lock:
                self._version = None
                self._refresh()
            response["rows"] = 0
        columns = ", ".join(f"{c} {t}" for c, t in store.tables()[name])
        return StepResult(sql=statement, note=f"OK: table {name}({columns}) created.")


def _fact_rows(conn: sqlite3.Connection, user_id: str) -> list[tuple[int, Sequence[Any]]]:
    """The user's structured facts as rows of the read-only ``facts`` table."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'facts'"
    ).fetchone()
    if not exists:
        return []
    rows = conn.execute(
        "SELECT id, subject, attribute, value, valid_from, valid_to FROM facts "
        "WHERE user_id = ? ORDER BY subject, attribute, valid_from, id",
        (user_id,),
    ).fetchall()
    return [
        (
            int(rid),
            (
                subject,
                attribute,
                json.loads(value),
                from_micros(start).isoformat(),
                None if end is None else from_micros(end).isoformat(),
            ),
        )
        for rid, subject, attribute, value, start, end in rows
    ]


def parse_reply(reply: str) -> tuple[str | None, str | None, list[Any]]:
    """Split a model reply into ``(final_text, sql, params)``; one of the first two is None."""
    text = reply.strip()
    fenced = re.search(r"```(?:sql|sqlite)?\s*\n?(.*?)```", text, re.S | re.I)
    params: list[Any] = []
    found = re.search(r"(?im)^\s*PARAMS\s*:\s*(.+)$", text)
    if found:
        try:
            loaded = json.loads(found.group(1).strip())
            params = loaded if isinstance(loaded, list) else [loaded]
        except json.JSONDecodeError:
            params = []
    sql_line = re.search(r"(?is)^\s*SQL\s*:\s*(.*?)(?=^\s*PARAMS\s*:|\Z)", text, re.M)
    final = re.match(r"(?is)^\s*(?:ANSWER|DONE)\s*:\s*(.*)$", text)
    if final and not sql_line:
        return final.group(1).strip(), None, []
    if sql_line:
        sql = sql_line.group(1).strip()
        inner = re.search(r"```(?:sql|sqlite)?\s*\n?(.*?)```", sql, re.S | re.I)
        return None, (inner.group(1) if inner else sql).strip().rstrip(";").strip(), params
    if fenced:
        return None, fenced.group(1).strip().rstrip(";").strip(), params
    if re.match(r"(?i)^(SELECT|WITH|INSERT|UPDATE|DELETE)\b", text):
        return None, text.split("\n\n")[0].strip().rstrip(";").strip(), params
    return text, None, []


def schema_statements(text: str) -> list[str]:
    """The SQL statements in a model's schema reply (prose before each one dropped)."""
    body = re.sub(r"```(?:sql|sqlite)?", "", text, flags=re.I)
    out: list[str] = []
    for piece in split_statements(body):
        start = _SQL_START.search(piece)
        if start is not None:
            out.append(piece[start.start(1) :].strip())
    return out


def statement_verb(sql: str) -> str:
    """The first keyword of a statement, upper-cased (comments and "(" skipped)."""
    found = re.match(r"^(?:\s|--[^\n]*\n|/\*.*?\*/|\()*([A-Za-z]+)", sql, re.S)
    return found.group(1).upper() if found else ""


def check_mode(mode: str, approve: Callable[[SchemaProposal], bool] | None) -> SchemaMode:
    """``mode`` as a SchemaMode; raise InvalidInputError if invalid or missing ``approve``."""
    if mode not in ("off", "allow", "approve"):
        msg = f"schema_mode must be 'off', 'allow' or 'approve', got {mode!r}"
        raise InvalidInputError(msg)
    if mode == "approve" and approve is None:
        msg = "schema_mode='approve' needs approve=: a function that says yes or no to a table"
        raise InvalidInputError(msg)
    return mode  # type: ignore[return-value]
