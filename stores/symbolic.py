"""SymbolicStore (ChatDB): an SQLite database the LLM reads and writes through SQL.

Records live in ordinary tables (``rec_<name>``, with hidden ``_id``, ``_user_id`` and
``_item_id`` columns). The LLM never touches them directly: each ``ask`` / ``record`` /
``execute`` copies the user's rows into a private sandbox (:mod:`._sql_sandbox`) and runs
the model's statements there one by one. Each step holds the store's write transaction
from a refresh of the copy (if anything changed since it was taken) to the write-back of
what the step changed, scoped to that user, so concurrent writers never lose an update.
Every written row is also a memory item (its text a rendering of the row), searchable
with SQLite FTS5 (BM25), so the store passes the ``MemoryStore`` contract without an
embedder; a changed row closes its old item, so history survives. Deleting a row's item
through ``delete`` deletes the row; closing it through ``update`` deletes the row too
(reopening restores it); changing its text is refused: change the row with SQL instead.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import sqlite_utils
from agentmem.stores._sql_sandbox import (
    SandboxError,
    SandboxLimits,
    SqlSandbox,
    StepResult,
    one_statement,
    split_statements,
)
from agentmem.stores._sqlite import ItemTable, where_clause
from agentmem.stores.facts import FactTable
from pydantic import BaseModel, Field

from agentmem._clock import Clock, SystemClock
from agentmem._errors import InvalidInputError, NotFoundError
from agentmem._models import EventOp, Filters, Hit, Kind, MemoryEvent, MemoryItem, Scope
from agentmem._prompts import render_prompt
from agentmem._protocols import ChatMessage, ChatModel
from agentmem._tracing import Tracer, traced

if TYPE_CHECKING:
    from agentmem._audit import AuditLog

__all__ = [
    "AskResult",
    "CitedRow",
    "RecordResult",
    "SchemaMode",
    "SchemaProposal",
    "SqlStep",
    "SymbolicStore",
]

logger = logging.getLogger(__name__)

_DB = "symbolic.sqlite"
_TABLES_KEY = "symbolic_tables"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_WORD = re.compile(r"\w+", re.UNICODE)
_FTS = """
CREATE VIRTUAL TABLE IF NOT EXISTS items_fts USING fts5(text, content='items', content_rowid='vid');
CREATE TRIGGER IF NOT EXISTS items_fts_ai AFTER INSERT ON items BEGIN
  INSERT INTO items_fts (rowid, text) VALUES (new.vid, new.text);
END;
CREATE TRIGGER IF NOT EXISTS items_fts_ad AFTER DELETE ON items BEGIN
  INSERT INTO items_fts (items_fts, rowid, text) VALUES ('delete', old.vid, old.text);
END;
CREATE TRIGGER IF NOT EXISTS items_fts_au AFTER UPDATE OF text ON items BEGIN
  INSERT INTO items_fts (items_fts, rowid, text) VALUES ('delete', old.vid, old.text);
  INSERT INTO items_fts (rowid, text) VALUES (new.vid, new.text);
END;
"""
_TYPES: dict[type, str] = {int: "INTEGER", float: "REAL", str: "TEXT", bool: "INTEGER"}
_STEP_REF = re.compile(r"(?i)\bsteps?\s+(\d+(?:\s*(?:,|and|&)\s*\d+)*)")
_SQL_START = re.compile(
    r"(?im)^\s*(CREATE|ATTACH|DETACH|PRAGMA|DROP|ALTER|INSERT|UPDATE|DELETE|SELECT|WITH|"
    r"REPLACE|VACUUM|REINDEX|ANALYZE|BEGIN|COMMIT|END|SAVEPOINT|RELEASE|ROLLBACK|VALUES)\b"
)

SchemaMode = Literal["off", "allow", "approve"]
"""Whether a chain may create tables: never, freely, or when ``approve`` says yes."""


class CitedRow(BaseModel):
    """A record row an answer rests on: its table, row id, item and values."""

    table: str
    row: int
    step: int
    item_id: str | None = None
    values: dict[str, Any] = Field(default_factory=dict)

    def __str__(self) -> str:
        shown = ", ".join(f"{c}={v}" for c, v in self.values.items() if v is not None)
        return f"{self.table}#{self.row} ({shown})"


class SqlStep(BaseModel):
    """One step of a chain: the statement, its (bounded) result or its error."""

    index: int
    sql: str
    params: list[Any] = Field(default_factory=list)
    result: StepResult | None = None
    error: str | None = None
    cites: dict[str, list[int]] | None = Field(default_factory=dict)
    """Row ids per table the result depends on (None: too many rows to trace)."""


class AskResult(BaseModel):
    """What ``ask`` found: the answer, every step with its result, and the writes' events."""

    question: str
    answer: str
    answered: bool
    steps: list[SqlStep]
    events: list[MemoryEvent] = Field(default_factory=list)
    rows: list[CitedRow] = Field(default_factory=list)
    """The record rows the answer rests on (of the steps it cites, else of every step)."""

    @property
    def citations(self) -> list[SqlStep]:
        """The successful steps that returned rows: the rows the answer rests on."""
        return [s for s in self.steps if s.result is not None and s.result.rows]

    def cited(self) -> str:
        """The answer followed by the statements, results and record rows it rests on."""
        lines = [self.answer]
        for step in self.citations:
            assert step.result is not None
            lines.append(f"[step {step.index}] {step.sql}")
            lines += [f"    {row}" for row in step.result.rows[:10]]
            used = [str(r) for r in self.rows if r.step == step.index]
            if used:
                lines.append(f"  rows used: {'; '.join(used[:20])}")
                if len(used) > 20:
                    lines.append(f"  ... and {len(used) - 20} more")
            elif step.cites is None:
                lines.append(f"  rows used: too many to trace in {', '.join(step.result.read)}")
        return "\n".join(lines)


class RecordResult(BaseModel):
    """What ``record`` stored: the model's note, every step, and the writes' events."""

    text: str
    note: str
    steps: list[SqlStep]
    events: list[MemoryEvent] = Field(default_factory=list)


class SchemaProposal(BaseModel):
    """Tables a model proposed, checked in a sandbox; apply with ``apply_schema``."""

    statements: list[str]
    tables: dict[str, list[tuple[str, str]]]


class SymbolicStore:
    """Memories as SQL records the LLM reads and writes through a sandbox.

    Args:
        path: a folder for ``symbolic.sqlite`` (created if missing), or ``None`` for an
            in-memory store.
        name: the store's name in hits and traces.
        clock: where "now" comes from (row items' times, prompts, facts).
        audit: an audit log that every write through SQL is recorded in (events are
            also returned by ``ask``, ``record`` and ``execute_logged``).
        limits: bounds on each statement (time, rows and bytes shown to the model).
        max_steps: the most SQL steps ``ask`` / ``record`` take.
        retries: how many times the model may correct a refused or failing statement.
        tracer: called for every model call and SQL step.
        synchronous: SQLite durability (``FULL`` or ``NORMAL``).
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        name: str = "symbolic",
        clock: Clock | None = None,
        audit: AuditLog | None = None,
        limits: SandboxLimits | None = None,
        max_steps: int = 6,
        retries: int = 1,
        tracer: Tracer | None = None,
        synchronous: str = "FULL",
    ) -> None:
        self.name = name
        self.clock: Clock = clock or SystemClock()
        self.audit = audit
        self.limits = limits or SandboxLimits()
        self.max_steps = max_steps
        self.retries = retries
        self.tracer = tracer
        folder = None if path is None else Path(path).expanduser()
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
        self._table = ItemTable(None if folder is None else folder / _DB, synchronous=synchronous)
        with self._table.lock:
            self._table.conn.executescript(_FTS)

    # -- lifecycle -----------------------------------------------------------------------
    def close(self) -> None:
        """Close the database. Further calls raise ClosedError."""
        self._table.close()

    def __enter__(self) -> SymbolicStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema --------------------------------------------------------------------------
    def tables(self) -> dict[str, list[tuple[str, str]]]:
        """The record tables and their columns, ``name -> [(column, type), ...]``."""
        raw = self._table.get_meta(_TABLES_KEY)
        loaded = json.loads(raw) if raw else {}
        return {t: [(c, ty) for c, ty in cols] for t, cols in loaded.items()}

    def describe(self) -> str:
        """The schema as the model sees it: one ``table(column TYPE, ...)`` per line."""
        lines = [
            f"{t}({', '.join(f'{c} {ty}' for c, ty in cols)})" for t, cols in self.tables().items()
        ]
        return "\n".join(lines) or "(no tables yet)"

    def create_table(self, name: str, columns: Mapping[str, type | str]) -> str:
        """Create a record table with these columns (Python types or SQL type names)."""
        name = _check_name(name, "table name")
        cols: list[tuple[str, str]] = []
        for column, kind in columns.items():
            column = _check_name(column, "column name")
            if isinstance(kind, str):
                sql_type = kind.strip().upper() or "TEXT"
                if not re.fullmatch(r"[A-Z]+(\(\d+(,\s*\d+)?\))?", sql_type):
                    msg = f"column {column!r} has type {kind!r}; use TEXT, INTEGER or REAL"
                    raise InvalidInputError(msg)
            else:
                sql_type = _TYPES.get(kind, "TEXT")
            cols.append((column, sql_type))
        if not cols:
            msg = f"table {name!r} needs at least one column"
            raise InvalidInputError(msg)
        existing = self.tables()
        if name in existing:
            if existing[name] == cols:
                return name
            msg = f"a table named {name!r} already exists with other columns: {existing[name]}"
            raise InvalidInputError(msg)
        with self._table.transaction() as conn:
            db = sqlite_utils.Database(conn, recursive_triggers=False, execute_plugins=False)
            spec: dict[str, Any] = {"_id": int, "_user_id": str, "_item_id": str}
            db.create_table(f"rec_{name}", spec, pk="_id", not_null={"_user_id"})
            for column, sql_type in cols:
                conn.execute(f'ALTER TABLE "rec_{name}" ADD COLUMN "{column}" {sql_type}')
            conn.execute(f'CREATE INDEX "rec_{name}_user" ON "rec_{name}" (_user_id)')
            existing[name] = cols
            self._table.set_meta(_TABLES_KEY, json.dumps(existing))
            self._table.bump_version()
        return name

    def define(self, model: type[BaseModel], *, table: str | None = None) -> str:
        """Create a record table from a pydantic model's fields; return the table name."""
        columns: dict[str, type | str] = {}
        for field_name, info in model.model_fields.items():
            kind = info.annotation
            if isinstance(kind, type) and issubclass(kind, datetime | date):
                columns[field_name] = "TEXT"
            else:
                columns[field_name] = kind if isinstance(kind, type) else "TEXT"
        return self.create_table(table or _snake(model.__name__), columns)

    def propose_schema(
        self,
        description: str,
        *,
        llm: ChatModel,
        approve: Callable[[SchemaProposal], bool] | None = None,
        max_tokens: int = 300,
    ) -> SchemaProposal:
        """Ask the model for tables that fit ``description`` (schema mode).

        The statements run in an empty sandbox where only CREATE TABLE is allowed. A
        reply holding any other statement (ATTACH, a trigger, a DROP, ...) or a CREATE
        the sandbox refuses raises SandboxError and nothing is proposed; prose around
        the statements is ignored. Nothing changes here unless ``approve`` is given and
        returns True for the proposal (or you call ``apply_schema`` yourself).
        """
        prompt = render_prompt("symbolic_schema", description=description)
        with traced(self.tracer, "llm", "symbolic.schema") as response:
            reply = llm.chat([ChatMessage(role="user", content=prompt)], max_tokens=max_tokens)
            response["text"] = reply.text
        statements, tables = self._check_schema(_schema_statements(reply.text))
        if not tables:
            msg = f"the model proposed no usable CREATE TABLE statement; it wrote: {reply.text!r}"
            raise SandboxError(msg, reply.text)
        proposal = SchemaProposal(statements=statements, tables=tables)
        if approve is not None and approve(proposal):
            self.apply_schema(proposal)
        return proposal

    def _check_schema(
        self, statements: Sequence[str]
    ) -> tuple[list[str], dict[str, list[tuple[str, str]]]]:
        """Run CREATE TABLE statements in an empty schema-mode sandbox; return the tables."""
        sandbox = SqlSandbox({}, limits=self.limits, schema_mode=True)
        kept: list[str] = []
        try:
            for statement in statements:
                verb = statement.split(None, 1)[0].upper()
                if verb != "CREATE":
                    msg = "only CREATE TABLE statements are allowed in a schema"
                    raise SandboxError(msg, statement)
                if re.search(r"(?is)\bAS\s*\(?\s*(SELECT|WITH|VALUES)\b", statement):
                    msg = "CREATE TABLE ... AS SELECT is not allowed; declare the columns"
                    raise SandboxError(msg, statement)
                sandbox.execute(statement)
                kept.append(statement)
            declared = sandbox.declared()
        finally:
            sandbox.close()
        tables = {
            t.lower(): [(c.lower(), ty or "TEXT") for c, ty in cols if not c.startswith("_")]
            for t, cols in declared.items()
        }
        return kept, tables

    def apply_schema(self, proposal: SchemaProposal) -> list[str]:
        """Create the tables of an approved proposal; return their names."""
        return [self.create_table(t, dict(cols)) for t, cols in proposal.tables.items()]

    # -- sandboxed SQL -------------------------------------------------------------------
    def session(self, user_id: str) -> _Session:
        """A sandbox holding ``user_id``'s rows; use it as a ``with`` block."""
        return _Session(self, _user(user_id))

    def execute(
        self, sql: str, params: Sequence[Any] = (), *, user_id: str
    ) -> tuple[StepResult, list[MemoryEvent]]:
        """Run one untrusted statement as ``user_id``; return its result and write events.

        Raises SandboxError (a UserError) with the statement when it is refused or fails.
        """
        with self.session(user_id) as session:
            return session.run(sql, params)

    def rows(self, table: str, *, user_id: str) -> list[dict[str, Any]]:
        """Every row of a record table that belongs to ``user_id`` (trusted read)."""
        cols = self.tables().get(table)
        if cols is None:
            msg = f"no table {table!r}; tables: {sorted(self.tables())}"
            raise NotFoundError(msg)
        names = ", ".join(f'"{c}"' for c, _ in cols)
        with self._table.lock:
            found = self._table.conn.execute(
                f'SELECT {names} FROM "rec_{table}" WHERE _user_id = ? ORDER BY _id', (user_id,)
            ).fetchall()
        return [dict(zip([c for c, _ in cols], row, strict=True)) for row in found]

    # -- chain of memory -----------------------------------------------------------------
    def ask(
        self,
        question: str,
        *,
        llm: ChatModel,
        user_id: str,
        max_steps: int | None = None,
        max_tokens: int = 200,
        schema_mode: SchemaMode = "off",
        approve: Callable[[SchemaProposal], bool] | None = None,
    ) -> AskResult:
        """Answer ``question`` from the user's records through a chain of SQL steps.

        Args:
            question: what the user asks.
            llm: the model that writes the steps.
            user_id: whose records the steps see.
            max_steps: the most steps (default: the store's ``max_steps``).
            max_tokens: the longest reply per step.
            schema_mode: whether a step may be ``CREATE TABLE``: ``"off"`` (refused),
                ``"allow"``, or ``"approve"`` (only if ``approve`` returns True for it).
            approve: decides on each table the model wants (needed for ``"approve"``).

        The answer's ``rows`` cite the record rows (table, row id, item) the result of
        each step depends on: of the steps the answer names ("step 2"), else of all.
        """
        final, steps, events = self._chain(
            "symbolic_ask",
            question,
            llm,
            user_id,
            max_steps,
            max_tokens,
            _check_mode(schema_mode, approve),
            approve,
        )
        answered = final is not None
        if final is None:
            last = next((s for s in reversed(steps) if s.result is not None), None)
            final = "" if last is None or last.result is None else last.result.render(500)
        return AskResult(
            question=question,
            answer=final,
            answered=answered,
            steps=steps,
            events=events,
            rows=self._cited_rows(final if answered else "", steps, _user(user_id)),
        )

    def record(
        self,
        text: str,
        *,
        llm: ChatModel,
        user_id: str,
        max_steps: int | None = None,
        max_tokens: int = 200,
        schema_mode: SchemaMode = "off",
        approve: Callable[[SchemaProposal], bool] | None = None,
    ) -> RecordResult:
        """Turn a statement ("sold 3 kg of apples to Bob") into INSERT / UPDATE steps.

        ``schema_mode`` and ``approve`` work as for ``ask``: with them the model may
        first create a table for a kind of record the schema lacks.
        """
        final, steps, events = self._chain(
            "symbolic_record",
            text,
            llm,
            user_id,
            max_steps,
            max_tokens,
            _check_mode(schema_mode, approve),
            approve,
        )
        return RecordResult(text=text, note=final or "", steps=steps, events=events)

    def _chain(
        self,
        prompt: str,
        text: str,
        llm: ChatModel,
        user_id: str,
        max_steps: int | None,
        max_tokens: int,
        schema_mode: SchemaMode,
        approve: Callable[[SchemaProposal], bool] | None,
    ) -> tuple[str | None, list[SqlStep], list[MemoryEvent]]:
        limit = self.max_steps if max_steps is None else max_steps
        system = render_prompt(
            prompt,
            today=self.clock.now().date().isoformat(),
            schema=self.describe(),
            max_steps=limit,
            schema_note=render_prompt("symbolic_schema_note") if schema_mode != "off" else "",
        )
        messages = [
            ChatMessage(role="system", content=system),
            ChatMessage(role="user", content=text),
        ]
        steps: list[SqlStep] = []
        events: list[MemoryEvent] = []
        with self.session(user_id) as session:
            for index in range(1, limit + 1):
                attempts = 0
                while True:
                    with traced(self.tracer, "llm", "symbolic.step", step=index) as response:
                        reply = llm.chat(messages, max_tokens=max_tokens).text
                        response["text"] = reply
                    messages.append(ChatMessage(role="assistant", content=reply))
                    final, sql, params = parse_reply(reply)
                    if sql is None:
                        return final, steps, events
                    try:
                        result, written = session.run(
                            sql, params, schema_mode=schema_mode, approve=approve
                        )
                    except SandboxError as exc:
                        steps.append(SqlStep(index=index, sql=sql, params=params, error=exc.reason))
                        if attempts >= self.retries:
                            raise
                        attempts += 1
                        messages.append(
                            ChatMessage(
                                role="user",
                                content=f"ERROR in step {index}: {exc.reason}\n"
                                "Write one corrected statement.",
                            )
                        )
                        continue
                    steps.append(
                        SqlStep(
                            index=index,
                            sql=sql,
                            params=params,
                            result=result,
                            cites=session.cites,
                        )
                    )
                    events += written
                    shown = result.render(self.limits.max_bytes)
                    messages.append(
                        ChatMessage(role="user", content=f"RESULT of step {index}:\n{shown}")
                    )
                    break
        return None, steps, events

    def _cited_rows(self, answer: str, steps: list[SqlStep], user_id: str) -> list[CitedRow]:
        """The rows of the steps the answer names (or of every step), with their values."""
        named = {int(n) for found in _STEP_REF.findall(answer) for n in re.findall(r"\d+", found)}
        chosen = [s for s in steps if s.index in named and s.cites] or steps
        tables = self.tables()
        out: list[CitedRow] = []
        seen: set[tuple[str, int]] = set()
        with self._table.lock:
            conn = self._table.conn
            for step in chosen:
                for table, rids in (step.cites or {}).items():
                    names = [c for c, _ in tables.get(table, [])]
                    if not names:
                        continue
                    cols = ", ".join(f'"{c}"' for c in names)
                    for rid in rids:
                        if (table, rid) in seen:
                            continue
                        seen.add((table, rid))
                        row = conn.execute(
                            f'SELECT _item_id, {cols} FROM "rec_{table}" '
                            "WHERE _id = ? AND _user_id = ?",
                            (rid, user_id),
                        ).fetchone()
                        out.append(
                            CitedRow(
                                table=table,
                                row=rid,
                                step=step.index,
                                item_id=None if row is None else row[0],
                                values={}
                                if row is None
                                else dict(zip(names, row[1:], strict=True)),
                            )
                        )
        return out

    # -- writing rows back ---------------------------------------------------------------
    def _sync(
        self,
        conn: sqlite3.Connection,
        user_id: str,
        sandbox: SqlSandbox,
        snapshots: dict[str, dict[int, tuple[Any, ...]]],
        statement: str,
    ) -> list[MemoryEvent]:
        now = self.clock.now()
        tables = self.tables()
        events: list[MemoryEvent] = []
        reason = f"SQL: {statement[:300]}"
        for table in sorted(sandbox.written_tables & set(tables)):
            names = [c for c, _ in tables[table]]
            before, after = snapshots[table], sandbox.snapshot(table)
            for rid in sorted(before.keys() - after.keys()):
                old_item = self._row_item_id(conn, table, rid, user_id)
                conn.execute(
                    f'DELETE FROM "rec_{table}" WHERE _id = ? AND _user_id = ?', (rid, user_id)
                )
                self._close_item(old_item, now, None)
                events.append(
                    _event(
                        EventOp.FORGET,
                        [old_item] if old_item else [],
                        user_id,
                        now,
                        f"row deleted from {table} (its memory is closed); {reason}",
                        before=_values(table, rid, names, before[rid]),
                    )
                )
            moved: list[tuple[int, int]] = []
            for rid, values in sorted(after.items()):
                if rid in before and before[rid] == values:
                    continue
                item = self._row_memory(table, names, values, user_id, now)
                self._table.insert([item], [None])
                if rid in before:
                    old_item = self._row_item_id(conn, table, rid, user_id)
                    assigns = ", ".join(f'"{c}" = ?' for c in names)
                    conn.execute(
                        f'UPDATE "rec_{table}" SET {assigns}, _item_id = ? '
                        "WHERE _id = ? AND _user_id = ?",
                        (*values, item.id, rid, user_id),
                    )
                    self._close_item(old_item, now, item.id)
                    item.metadata["row"] = rid
                    self._table.replace(item, None, keep_embedding=True)
                    events.append(
                        _event(
                            EventOp.UPDATE,
                            [i for i in (old_item, item.id) if i],
                            user_id,
                            now,
                            f"row updated in {table}; {reason}",
                            before=_values(table, rid, names, before[rid]),
                            after=_values(table, rid, names, values),
                        )
                    )
                    continue
                cols = ", ".join(["_user_id", "_item_id", *(f'"{c}"' for c in names)])
                marks = ", ".join("?" * (len(names) + 2))
                cursor = conn.execute(
                    f'INSERT INTO "rec_{table}" ({cols}) VALUES ({marks})',
                    (user_id, item.id, *values),
                )
                assert cursor.lastrowid is not None
                new_id = cursor.lastrowid
                item.metadata["row"] = new_id
                self._table.replace(item, None, keep_embedding=True)
                moved.append((rid, new_id))
                events.append(
                    _event(
                        EventOp.ADD,
                        [item.id],
                        user_id,
                        now,
                        f"row inserted into {table}; {reason}",
                        after=_values(table, new_id, names, values),
                    )
                )
            for rid, _ in moved:
                sandbox.renumber(table, rid, -rid - 1)
            for rid, new_id in moved:
                sandbox.renumber(table, -rid - 1, new_id)
            snapshots[table] = sandbox.snapshot(table)
        self._table.bump_version()
        return events

    def _row_item_id(self, conn: sqlite3.Connection, table: str, rid: int, user: str) -> str | None:
        row = conn.execute(
            f'SELECT _item_id FROM "rec_{table}" WHERE _id = ? AND _user_id = ?', (rid, user)
        ).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def _close_item(self, item_id: str | None, now: datetime, successor: str | None) -> None:
        old = None if item_id is None else self._table.get(item_id)
        if old is None:
            return
        metadata = dict(old.metadata)
        if successor is not None:
            metadata["superseded_by"] = successor
        closed = old.model_copy(
            update={"valid_to": max(now, old.valid_from or now), "metadata": metadata}
        )
        self._table.replace(closed, None, keep_embedding=True)

    @staticmethod
    def _row_memory(
        table: str, names: list[str], values: tuple[Any, ...], user_id: str, now: datetime
    ) -> MemoryItem:
        shown = ", ".join(f"{c}={v}" for c, v in zip(names, values, strict=True) if v is not None)
        return MemoryItem(
            text=f"{table}: {shown}",
            kind=Kind.FACT,
            scope=Scope(user_id=user_id),
            created_at=now,
            recorded_at=now,
            metadata={"table": table, "values": dict(zip(names, values, strict=True))},
        )

    # -- facts ---------------------------------------------------------------------------
    def facts(self, user_id: str) -> FactTable:
        """The user's structured facts (``upsert`` / ``current`` / ``as_of`` / ``history``)."""
        return FactTable(
            user_id=_user(user_id),
            clock=self.clock,
            connection=self._table.conn,
            lock=self._table.lock,
        )

    # -- MemoryStore ---------------------------------------------------------------------
    def add(self, items: Sequence[MemoryItem]) -> None:
        """Store items in one transaction (searchable at once)."""
        if not items:
            return
        with self._table.transaction():
            self._table.insert(items, [None] * len(items))
            self._table.bump_version()

    def get(self, item_id: str) -> MemoryItem | None:
        """Return the item with this id, or None."""
        return self._table.get(item_id)

    def update(self, items: Sequence[MemoryItem]) -> None:
        """Replace stored items by id; unknown ids raise NotFoundError.

        An item that mirrors a record row keeps row and item consistent: closing it
        (``valid_to``) deletes the row, reopening it restores the row, and changing its
        text or scope raises InvalidInputError (change the row with ``execute`` instead).
        All or nothing.
        """
        if not items:
            return
        with self._table.transaction() as conn:
            for item in items:
                old = self._table.get(item.id)
                if old is None:
                    msg = f"no memory with id {item.id!r} in store {self.name!r}"
                    raise NotFoundError(msg)
                self._mirror_update(conn, old, item)
                self._table.replace(item, None, keep_embedding=True)
            self._table.bump_version()

    def delete(self, ids: Sequence[str]) -> int:
        """Delete items for good; return how many existed.

        Deleting the item that mirrors a record row deletes the row too.
        """
        if not ids:
            return 0
        with self._table.transaction() as conn:
            for item_id in dict.fromkeys(ids):
                found = self._mirrored_row(conn, item_id)
                if found is not None:
                    table, rid, _ = found
                    conn.execute(f'DELETE FROM "rec_{table}" WHERE _id = ?', (rid,))
            removed = self._table.delete(list(ids))
            if removed:
                self._table.bump_version()
        return len(removed)

    def _mirrored_row(
        self, conn: sqlite3.Connection, item_id: str, *, item: MemoryItem | None = None
    ) -> tuple[str, int, bool] | None:
        """``(table, row, exists)`` of the row this item is the current copy of, or None.

        ``exists`` is False for a closed item whose row was deleted with it.
        """
        item = item or self._table.get(item_id)
        if item is None:
            return None
        table, rid = item.metadata.get("table"), item.metadata.get("row")
        if not isinstance(table, str) or not isinstance(rid, int) or table not in self.tables():
            return None
        row = conn.execute(f'SELECT _item_id FROM "rec_{table}" WHERE _id = ?', (rid,)).fetchone()
        if row is None:
            return None if "superseded_by" in item.metadata else (table, rid, False)
        return (table, rid, True) if row[0] == item_id else None

    def _mirror_update(self, conn: sqlite3.Connection, old: MemoryItem, new: MemoryItem) -> None:
        found = self._mirrored_row(conn, old.id, item=old)
        if found is None:
            return
        table, rid, exists = found
        if new.text != old.text or new.scope != old.scope:
            msg = (
                f"memory {old.id!r} is a copy of row {rid} of table {table!r}; its text and "
                "scope follow the row. Change the row instead, e.g. store.execute("
                f"'UPDATE {table} SET <column> = ? WHERE rowid = {rid}', [value], "
                f"user_id={old.scope.user_id!r})"
            )
            raise InvalidInputError(msg)
        if exists and old.valid_to is None and new.valid_to is not None:
            conn.execute(f'DELETE FROM "rec_{table}" WHERE _id = ?', (rid,))
        elif not exists and old.valid_to is not None and new.valid_to is None:
            values = old.metadata.get("values")
            names = [c for c, _ in self.tables()[table]]
            if not isinstance(values, dict):
                msg = f"memory {old.id!r} cannot be reopened: the values of its row are unknown"
                raise InvalidInputError(msg)
            cols = ", ".join(["_id", "_user_id", "_item_id", *(f'"{c}"' for c in names)])
            marks = ", ".join("?" * (len(names) + 3))
            conn.execute(
                f'INSERT INTO "rec_{table}" ({cols}) VALUES ({marks})',
                (rid, old.scope.user_id, old.id, *(values.get(c) for c in names)),
            )

    def search(
        self,
        query: str,
        *,
        scope: Scope,
        k: int = 10,
        filters: Filters | None = None,
        as_of: datetime | None = None,
    ) -> list[Hit]:
        """BM25 full-text search over the items in ``scope`` that pass ``filters``."""
        if k <= 0:
            msg = f"k must be positive, got {k}"
            raise InvalidInputError(msg)
        self._table.ensure_open()
        words = _WORD.findall(query.lower())
        match = " OR ".join('"' + w + '"' for w in dict.fromkeys(words))
        where, params = where_clause(scope, filters, as_of=as_of, open_only=as_of is None)
        with self._table.lock:
            found = (
                self._table.conn.execute(
                    "SELECT items.vid, bm25(items_fts) AS rank FROM items_fts JOIN items "
                    f"ON items.vid = items_fts.rowid WHERE items_fts MATCH ? AND ({where}) "
                    "ORDER BY rank, items.vid LIMIT ?",
                    (match, *params, k),
                ).fetchall()
                if words
                else []
            )
            ranked = [(int(vid), -float(rank)) for vid, rank in found]
            if len(ranked) < k:
                # Fill up to k with the newest other items in scope (score 0), as a
                # dense store would return its k nearest.
                seen = [vid for vid, _ in ranked] or [-1]
                rest = self._table.conn.execute(
                    f"SELECT vid FROM items WHERE ({where}) AND vid NOT IN "
                    f"({', '.join('?' * len(seen))}) ORDER BY created_at DESC, vid DESC LIMIT ?",
                    (*params, *seen, k - len(ranked)),
                ).fetchall()
                ranked += [(int(r[0]), 0.0) for r in rest]
        items = self._table.by_vids([vid for vid, _ in ranked])
        return [
            Hit(item=items[vid], score=score, store=self.name, signal="bm25")
            for vid, score in ranked
            if vid in items
        ]

    def scan(
        self,
        *,
        scope: Scope | None = None,
        filters: Filters | None = None,
        include_closed: bool = True,
    ) -> Iterator[MemoryItem]:
        """Iterate over stored items, oldest first."""
        return self._table.scan(scope, filters, include_closed=include_closed)

    def count(self, *, scope: Scope | None = None) -> int:
        """Count stored items (in ``scope`` if given)."""
        return self._table.count(scope)


class _Session:
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
        with store._table.lock:
            self._refresh()

    def __enter__(self) -> _Session:
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
        self.sandbox.close()
        self.sandbox = SqlSandbox(tables, limits=store.limits)
        self.snapshots = {}
        conn = store._table.conn
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
        if _verb(sql) == "CREATE":
            return self._create(sql, schema_mode, approve), []
        with traced(store.tracer, "store", "symbolic.sql", sql=sql) as response:
            with store._table.transaction() as conn:
                self._refresh()
                self.sandbox.begin()
                try:
                    result = self.sandbox.execute(sql, params)
                    events: list[MemoryEvent] = []
                    if result.wrote:
                        events = store._sync(
                            conn, self.user_id, self.sandbox, self.snapshots, result.sql
                        )
                    else:
                        self.cites = self.sandbox.provenance(result)
                    self.sandbox.commit()
                except BaseException:
                    self.sandbox.rollback()
                    self._version = None  # copy the rows in again next time
                    raise
                self._version = store._table.get_meta("version") or "0"
            response["rows"] = len(result.rows)
        if store.audit is not None and events:
            events = store.audit.record(events)
        return result, events

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


def _schema_statements(text: str) -> list[str]:
    """The SQL statements in a model's schema reply (prose before each one dropped)."""
    body = re.sub(r"```(?:sql|sqlite)?", "", text, flags=re.I)
    out: list[str] = []
    for piece in split_statements(body):
        start = _SQL_START.search(piece)
        if start is not None:
            out.append(piece[start.start(1) :].strip())
    return out


def _verb(sql: str) -> str:
    found = re.match(r"^(?:\s|--[^\n]*\n|/\*.*?\*/|\()*([A-Za-z]+)", sql, re.S)
    return found.group(1).upper() if found else ""


def _check_mode(mode: str, approve: Callable[[SchemaProposal], bool] | None) -> SchemaMode:
    if mode not in ("off", "allow", "approve"):
        msg = f"schema_mode must be 'off', 'allow' or 'approve', got {mode!r}"
        raise InvalidInputError(msg)
    if mode == "approve" and approve is None:
        msg = "schema_mode='approve' needs approve=: a function that says yes or no to a table"
        raise InvalidInputError(msg)
    return mode  # type: ignore[return-value]


def _event(
    op: EventOp,
    item_ids: list[str],
    user_id: str,
    at: datetime,
    reason: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> MemoryEvent:
    return MemoryEvent(
        op=op,
        item_ids=item_ids,
        user_id=user_id,
        at=at,
        reason=reason,
        policy="symbolic",
        before=before,
        after=after,
    )


def _values(table: str, rid: int, names: list[str], values: tuple[Any, ...]) -> dict[str, Any]:
    return {"table": table, "row": rid, **dict(zip(names, values, strict=True))}


def _check_name(name: str, what: str) -> str:
    lowered = name.strip().lower() if isinstance(name, str) else ""
    if not _NAME.match(lowered) or lowered.startswith("sqlite"):
        msg = f"{what} {name!r} must be lower-case letters, digits and _ (starting with a letter)"
        raise InvalidInputError(msg)
    return lowered


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _user(user_id: str) -> str:
    try:
        return Scope(user_id=user_id).user_id
    except ValueError as exc:
        msg = f"invalid user_id {user_id!r}: give a non-empty string of at most 256 characters"
        raise InvalidInputError(msg) from exc
