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

The store's helpers live beside it: the result models in :mod:`._symbolic_results`, the
per-user sandbox session and reply parsing in :mod:`._symbolic_chain`, and the row <->
item write-back, mirroring and citations in :mod:`._symbolic_rows`.

The module is over 500 lines because it is the store's whole public API (``ask``,
``record``, ``execute``, schema proposals and the ``MemoryStore`` methods); the
machinery lives in the ``_symbolic_*`` and ``_sql_sandbox`` modules.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import sqlite_utils
from pydantic import BaseModel

from agentmem._clock import Clock, SystemClock
from agentmem._errors import InvalidInputError, NotFoundError
from agentmem._models import Filters, Hit, MemoryEvent, MemoryItem, Scope
from agentmem._prompts import render_prompt
from agentmem._protocols import ChatMessage, ChatModel
from agentmem._structured import SqlStepReply, ask_lines
from agentmem._tracing import Tracer, traced
from agentmem.stores._fts import bm25_search, match_expression
from agentmem.stores._sql_sandbox import SandboxError, SandboxLimits, SqlSandbox, StepResult
from agentmem.stores._sqlite import TableStore, check_k, open_table, where_clause
from agentmem.stores._symbolic_chain import (
    FACTS_COLUMNS,
    FACTS_TABLE,
    SandboxSession,
    check_mode,
    parse_reply,
    schema_statements,
)
from agentmem.stores._symbolic_results import (
    AskResult,
    CitedRow,
    RecordResult,
    SchemaMode,
    SchemaProposal,
    SqlStep,
)
from agentmem.stores._symbolic_rows import cited_rows, mirror_update, mirrored_row
from agentmem.stores.facts import FactTable

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


class SymbolicStore(TableStore):
    """Memories as SQL records the LLM reads and writes through a sandbox.

    Args:
        path: a folder for ``symbolic.sqlite`` (created if missing), or ``None`` for an
            in-memory store.
        name: the store's name in hits and traces.
        clock: where "now" comes from (row items' times, prompts, facts).
        audit: an audit log that every write through SQL is recorded in, inside the
            write's transaction (default: one kept in the store's own database, so a
            write and its events commit together). Events are also returned by ``ask``,
            ``record`` and ``execute_logged``.
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
        self.limits = limits or SandboxLimits()
        self.max_steps = max_steps
        self.retries = retries
        self.tracer = tracer
        _, self._table = open_table(path, _DB, synchronous=synchronous)
        with self._table.lock:
            self._table.conn.executescript(_FTS)
        self.audit: AuditLog = audit if audit is not None else self.audit_sink()

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
        """The schema as the model sees it: one ``table(column TYPE, ...)`` per line.

        When structured facts exist (``facts(user).upsert``, ``agentmem symbolic
        set-fact``), a read-only ``facts`` table is listed too: SQL steps can read them.
        """
        tables = self.tables()
        lines = [f"{t}({', '.join(f'{c} {ty}' for c, ty in cols)})" for t, cols in tables.items()]
        if FACTS_TABLE not in tables and self._has_facts():
            columns = ", ".join(f"{c} {ty}" for c, ty in FACTS_COLUMNS)
            lines.append(
                f"{FACTS_TABLE}({columns}) -- read-only: structured facts; "
                "valid_to IS NULL for the current value"
            )
        return "\n".join(lines) or "(no tables yet)"

    def _has_facts(self) -> bool:
        with self._table.lock:
            conn = self._table.conn
            exists = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'facts'"
            ).fetchone()
            return bool(exists) and conn.execute("SELECT 1 FROM facts LIMIT 1").fetchone()

    def create_table(self, name: str, columns: Mapping[str, type | str]) -> str:
        """Create a record table with these columns (Python types or SQL type names)."""
        name = _check_name(name, "table name")
        if name == FACTS_TABLE and name not in self.tables():
            msg = (
                f"the table name {FACTS_TABLE!r} is reserved for the structured facts "
                "(store.facts(user_id)); choose another name"
            )
            raise InvalidInputError(msg)
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
        statements, tables = self._check_schema(schema_statements(reply.text))
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
    def session(self, user_id: str) -> SandboxSession:
        """A sandbox holding ``user_id``'s rows; use it as a ``with`` block."""
        return SandboxSession(self, _user(user_id))

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
            schema_mode,
            approve,
        )
        ran = [s for s in steps if s.result is not None]
        answered = final is not None and bool(ran)
        reason = ""
        if final is None:
            limit = self.max_steps if max_steps is None else max_steps
            reason = f"the model gave no answer within {limit} SQL steps"
            last = ran[-1] if ran else None
            final = "" if last is None or last.result is None else last.result.render(500)
        elif not steps:
            reason = (
                "the model wrote no SQL step, so nothing was read from the records "
                f"(it replied: {_clip(final)!r})"
            )
            final = ""
        elif not ran:
            reason = f"every SQL step failed (last: {steps[-1].error})"
            final = ""
        if reason:
            logger.info("ask %r not answered: %s", question, reason)
        return AskResult(
            question=question,
            answer=final,
            answered=answered,
            steps=steps,
            events=events,
            rows=cited_rows(
                self._table, self.tables(), final if answered else "", steps, _user(user_id)
            ),
            reason=reason,
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
            schema_mode,
            approve,
        )
        reason = ""
        if not steps:
            reason = (
                "the model wrote no SQL step, so nothing was stored "
                f"(it replied: {_clip(final or '')!r})"
            )
        elif not events:
            failed = [s.error for s in steps if s.error]
            reason = "no SQL step changed a row" + (
                f" (last error: {failed[-1]})" if failed else ""
            )
        if reason:
            logger.info("record %r wrote nothing: %s", text, reason)
        return RecordResult(
            text=text, note="" if reason else final or "", steps=steps, events=events, reason=reason
        )

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
        schema_mode = check_mode(schema_mode, approve)
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
                        reply = ask_lines(
                            llm,
                            messages,
                            SqlStepReply,
                            max_tokens=max_tokens,
                            structured_max_tokens=2 * max_tokens,
                        )
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
            tables = self.tables()
            for item in items:
                old = self._table.get(item.id)
                if old is None:
                    msg = f"no memory with id {item.id!r} in store {self.name!r}"
                    raise NotFoundError(msg)
                mirror_update(self._table, conn, tables, old, item)
                self._table.replace(item, None, keep_embedding=True)
            self._table.bump_version()

    def erase_user(self, user_id: str) -> int:
        """Delete every record row and fact of a user (``Memory.forget(user_id=...)``).

        Items are deleted by ``delete``; this removes what is not an item. Returns how
        many rows went.
        """
        user = _user(user_id)
        removed = 0
        with self._table.transaction() as conn:
            for table in self.tables():
                cursor = conn.execute(f'DELETE FROM "rec_{table}" WHERE _user_id = ?', (user,))
                removed += max(cursor.rowcount, 0)
            has_facts = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'facts'"
            ).fetchone()
            if has_facts:
                cursor = conn.execute("DELETE FROM facts WHERE user_id = ?", (user,))
                removed += max(cursor.rowcount, 0)
            if removed:
                self._table.bump_version()
        return removed

    def delete(self, ids: Sequence[str]) -> int:
        """Delete items for good; return how many existed.

        Deleting the item that mirrors a record row deletes the row too.
        """
        if not ids:
            return 0
        with self._table.transaction() as conn:
            tables = self.tables()
            for item_id in dict.fromkeys(ids):
                found = mirrored_row(self._table, conn, tables, item_id)
                if found is not None:
                    table, rid, _ = found
                    conn.execute(f'DELETE FROM "rec_{table}" WHERE _id = ?', (rid,))
            removed = self._table.delete(list(ids))
            if removed:
                self._table.bump_version()
        return len(removed)

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
        check_k(k)
        self._table.ensure_open()
        match = match_expression(query)
        where, params = where_clause(scope, filters, as_of=as_of, open_only=as_of is None)
        with self._table.lock:
            conn = self._table.conn
            ranked = [] if match is None else bm25_search(conn, match, where, params, k)
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
        return self._hits(ranked, "bm25")


def _clip(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


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
