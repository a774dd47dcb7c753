"""A sandbox for SQL written by a language model (untrusted input).

Each sandbox is a private in-memory SQLite database holding a copy of one user's rows
only, so a statement can never see another user's data (scope by construction). Every
statement the model writes passes, in order:

1. a tokenizer-aware split (quotes, identifiers and comments respected) that admits
   exactly one statement, checked with :func:`sqlite3.complete_statement`;
2. an authorizer callback that allows SELECT / INSERT / UPDATE / DELETE on the sandbox's
   own tables and nothing else: no ATTACH / DETACH, no PRAGMA outside a read-only list,
   no ``load_extension``, no ``sqlite_master``, triggers, views, virtual tables or temp
   objects (CREATE TABLE only in schema mode);
3. SQLite limits (no attached databases; bounded string, row, SQL, column, LIKE-pattern
   and expression sizes), ``printf``/``format`` replaced by a version that refuses a
   width or precision past the string limit (SQLite's own loops over it without ever
   checking the time), a cap on the sandbox database's pages, and a progress handler
   that aborts a statement after a time budget (runaway recursive CTEs) or once it has
   written more rows than a step may;
4. row and byte limits on what is returned to the model, counted while rows stream in,
   so a wide result is cut off before it is held in memory;
5. caps on the rows one step and one chain may write, checked before anything is
   written back to the real database (see ``._symbolic_chain``).

For a read, :meth:`SqlSandbox.provenance` finds the rows the result depends on: each
row of the tables the statement read is removed in turn (in a savepoint, rolled back)
and the statement run again; a row whose removal changes the result is cited.

Writes run in a transaction that is rolled back if the statement fails.

It is over 500 lines on purpose: every defence against untrusted SQL is in this one
module, to be read and reviewed together.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agentmem._errors import UserError

__all__ = [
    "SandboxError",
    "SandboxLimits",
    "SqlSandbox",
    "StepResult",
    "split_statements",
]

_WRITE_ACTIONS = {sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE}
_READ_ONLY_PRAGMAS = frozenset({"table_info", "table_xinfo", "index_list", "index_info"})
_DENIED_FUNCTIONS = frozenset({"load_extension", "fts3_tokenizer", "readfile", "writefile", "edit"})
_ACTION_NAMES = {
    getattr(sqlite3, f"SQLITE_{name}"): name.replace("_", " ")
    for name in (
        "ALTER_TABLE ANALYZE ATTACH CREATE_INDEX CREATE_TABLE CREATE_TEMP_INDEX "
        "CREATE_TEMP_TABLE CREATE_TEMP_TRIGGER CREATE_TEMP_VIEW CREATE_TRIGGER CREATE_VIEW "
        "CREATE_VTABLE DETACH DROP_INDEX DROP_TABLE DROP_TEMP_INDEX DROP_TEMP_TABLE "
        "DROP_TEMP_TRIGGER DROP_TEMP_VIEW DROP_TRIGGER DROP_VIEW DROP_VTABLE REINDEX "
        "SAVEPOINT TRANSACTION"
    ).split()
}


class SandboxError(UserError):
    """A statement was refused or failed in the sandbox; ``statement`` holds it."""

    def __init__(self, message: str, statement: str) -> None:
        super().__init__(f"{message}\n  statement: {statement}")
        self.reason = message
        self.statement = statement


class SandboxLimits(BaseModel):
    """Bounds on what one statement may do and return.

    Args:
        max_rows: the most result rows shown to the model.
        max_bytes: the most bytes of rendered result shown to the model.
        time_limit: seconds a statement may run before it is aborted.
        max_value_bytes: the largest string or blob a statement may build.
        max_sql_bytes: the longest statement accepted.
        max_cite_rows: the most rows ``provenance`` examines (larger reads cite tables
            without rows).
        max_result_bytes: the most bytes of result rows fetched from SQLite (counted row
            by row while they stream; the rest is cut off).
        max_columns: the most columns a table, index or result may have.
        max_write_rows: the most rows one statement may insert, update or delete.
        max_chain_write_rows: the most rows all the steps of one chain may write.
        max_db_bytes: how much one statement may grow the sandbox database.
    """

    model_config = ConfigDict(frozen=True)

    max_rows: int = Field(default=50, gt=0)
    max_bytes: int = Field(default=4000, gt=0)
    time_limit: float = Field(default=1.0, gt=0)
    max_value_bytes: int = Field(default=1_000_000, gt=0)
    max_sql_bytes: int = Field(default=20_000, gt=0)
    max_cite_rows: int = Field(default=2000, ge=0)
    max_result_bytes: int = Field(default=2_000_000, gt=0)
    max_columns: int = Field(default=100, gt=0)
    max_write_rows: int = Field(default=1000, gt=0)
    max_chain_write_rows: int = Field(default=5000, gt=0)
    max_db_bytes: int = Field(default=64_000_000, gt=0)


class StepResult(BaseModel):
    """What one statement did: its columns and rows (bounded), and how many rows it wrote."""

    sql: str
    params: list[Any] = Field(default_factory=list)
    columns: list[str] = Field(default_factory=list)
    rows: list[list[Any]] = Field(default_factory=list)
    truncated: bool = False
    wrote: bool = False
    changes: int = 0
    read: list[str] = Field(default_factory=list)
    note: str | None = None

    def render(self, max_bytes: int) -> str:
        """The result as short text for the model, cut at ``max_bytes``."""
        if self.note is not None:
            return self.note
        if self.wrote and not self.columns:
            return f"OK: {self.changes} row(s) changed."
        if not self.rows:
            return "(no rows)"
        lines = [" | ".join(self.columns)]
        lines += [" | ".join(_cell(v) for v in row) for row in self.rows]
        text = "\n".join(lines)
        note = ""
        if self.truncated:
            note = f"\n(only the first {len(self.rows)} rows are shown; use LIMIT or aggregates)"
        if len(text.encode("utf-8")) > max_bytes:
            text = text.encode("utf-8")[:max_bytes].decode("utf-8", "ignore")
            note = f"\n(result cut at {max_bytes} bytes; select fewer columns or rows)"
        return text + note


def _cell(value: Any) -> str:
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else repr(value)
    return "NULL" if value is None else str(value)


def split_statements(sql: str) -> list[str]:
    """Split SQL into statements at top-level ``;`` (quotes and comments respected).

    Pieces holding only whitespace and comments are dropped.
    """
    pieces: list[str] = []
    start, i, n = 0, 0, len(sql)
    meaningful = False
    while i < n:
        ch = sql[i]
        if ch in "'\"`[":
            close = "]" if ch == "[" else ch
            j = i + 1
            while j < n:
                if sql[j] == close:
                    if close != "]" and j + 1 < n and sql[j + 1] == close:
                        j += 2
                        continue
                    break
                j += 1
            i = j + 1
            meaningful = True
            continue
        if sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j + 1
            continue
        if sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            i = n if j < 0 else j + 2
            continue
        if ch == ";":
            if meaningful:
                pieces.append(sql[start:i].strip())
            start, meaningful = i + 1, False
        elif not ch.isspace():
            meaningful = True
        i += 1
    if meaningful:
        pieces.append(sql[start:].strip())
    return pieces


def one_statement(sql: str, limits: SandboxLimits, *, schema_mode: bool = False) -> str:
    """The single statement in ``sql``; raises SandboxError unless there is exactly one."""
    if len(sql.encode("utf-8")) > limits.max_sql_bytes:
        msg = f"the statement is longer than {limits.max_sql_bytes} bytes"
        raise SandboxError(msg, sql[:200] + "...")
    pieces = split_statements(sql)
    if not pieces:
        msg = "there is no SQL statement"
        raise SandboxError(msg, sql)
    if len(pieces) > 1:
        msg = f"exactly one statement per step is allowed, got {len(pieces)}"
        raise SandboxError(msg, sql)
    statement = pieces[0]
    first = _FIRST_WORD.match(statement)
    verb = first.group(1).upper() if first else ""
    if verb not in _VERBS and not (schema_mode and verb == "CREATE"):
        msg = "only SELECT, INSERT, UPDATE and DELETE statements are allowed"
        raise SandboxError(msg, sql)
    if not sqlite3.complete_statement(statement + ";"):
        msg = "the statement is incomplete (an unclosed quote, comment or parenthesis?)"
        raise SandboxError(msg, sql)
    return statement


class SqlSandbox:
    """A private in-memory database that runs one untrusted statement at a time.

    Args:
        tables: the tables it holds, ``name -> [(column, type), ...]``.
        limits: the bounds every statement runs under.
        schema_mode: allow CREATE TABLE (for checking a schema the model proposes).
        read_only: more tables that statements may read but never write (e.g. the
            user's structured facts), ``name -> [(column, type), ...]``.
    """

    def __init__(
        self,
        tables: Mapping[str, Sequence[tuple[str, str]]],
        *,
        limits: SandboxLimits | None = None,
        schema_mode: bool = False,
        read_only: Mapping[str, Sequence[tuple[str, str]]] | None = None,
    ) -> None:
        self.limits = limits or SandboxLimits()
        self.schema_mode = schema_mode
        self.tables = {name.lower(): list(cols) for name, cols in tables.items()}
        self.read_only = {
            name.lower(): list(cols)
            for name, cols in (read_only or {}).items()
            if name.lower() not in self.tables
        }
        self._conn = sqlite3.connect(
            ":memory:", isolation_level=None, cached_statements=0, check_same_thread=False
        )
        conn = self._conn
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, self.limits.max_value_bytes)
        conn.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, self.limits.max_sql_bytes)
        conn.setlimit(sqlite3.SQLITE_LIMIT_TRIGGER_DEPTH, 0)
        conn.setlimit(sqlite3.SQLITE_LIMIT_COLUMN, self.limits.max_columns)
        conn.setlimit(sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH, 1000)
        conn.setlimit(sqlite3.SQLITE_LIMIT_EXPR_DEPTH, 200)
        conn.setlimit(sqlite3.SQLITE_LIMIT_COMPOUND_SELECT, 50)
        conn.setlimit(sqlite3.SQLITE_LIMIT_FUNCTION_ARG, 64)
        self._printf = _BoundedPrintf(self.limits.max_value_bytes)
        for name in ("printf", "format"):
            conn.create_function(name, -1, self._printf, deterministic=True)
        for name, columns in [*self.tables.items(), *self.read_only.items()]:
            spec = ", ".join(f'"{c}" {t}' for c, t in columns)
            conn.execute(f'CREATE TABLE "{name}" ({spec})')
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # load the schema now
        self._untrusted = False
        self._denied: str | None = None
        self._written: set[str] = set()
        self._read: set[str] = set()
        self._last: tuple[str, Sequence[Any] | Mapping[str, Any]] = ("", ())
        self._deadline = 0.0
        self._changes_at_start = 0
        self._cut = False
        conn.set_authorizer(self._authorize)
        conn.set_progress_handler(self._progress, 2000)

    def close(self) -> None:
        """Drop the sandbox database."""
        self._conn.close()
        self._printf.close()

    # -- loading -------------------------------------------------------------------------
    def load(self, table: str, rows: Sequence[tuple[int, Sequence[Any]]]) -> None:
        """Copy rows ``(rowid, values)`` into ``table`` (trusted; no checks)."""
        columns = self.tables.get(table) or self.read_only[table]
        names = ", ".join(["rowid", *(f'"{c}"' for c, _ in columns)])
        marks = ", ".join("?" * (len(columns) + 1))
        self._conn.executemany(
            f'INSERT INTO "{table}" ({names}) VALUES ({marks})',
            [(rowid, *values) for rowid, values in rows],
        )

    def snapshot(self, table: str) -> dict[int, tuple[Any, ...]]:
        """Every row of ``table`` by rowid (trusted)."""
        names = ", ".join(f'"{c}"' for c, _ in self.tables[table])
        rows = self._conn.execute(f'SELECT rowid, {names} FROM "{table}"').fetchall()
        return {int(r[0]): tuple(r[1:]) for r in rows}

    def renumber(self, table: str, old: int, new: int) -> None:
        """Give a row the id its copy got in the real database (trusted)."""
        self._conn.execute(f'UPDATE "{table}" SET rowid = ? WHERE rowid = ?', (new, old))

    def count(self, table: str) -> int:
        """How many rows ``table`` holds (trusted)."""
        return int(self._conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])

    def begin(self) -> None:
        """Start the transaction a step runs in."""
        self._conn.execute("BEGIN")

    def commit(self) -> None:
        """Keep what the step did."""
        self._conn.execute("COMMIT")

    def rollback(self) -> None:
        """Undo what the step did."""
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def declared(self) -> dict[str, list[tuple[str, str]]]:
        """Tables and columns as SQLite sees them (after schema-mode CREATE TABLE)."""
        out: dict[str, list[tuple[str, str]]] = {}
        names = self._conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY rowid"
        ).fetchall()
        for (name,) in names:
            info = self._conn.execute(f'PRAGMA table_info("{name}")').fetchall()
            out[str(name)] = [(str(r[1]), str(r[2] or "")) for r in info]
        return out

    # -- running untrusted SQL -------------------------------------------------------------
    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> StepResult:
        """Run one untrusted statement; raises SandboxError if it is refused or fails."""
        statement = one_statement(sql, self.limits, schema_mode=self.schema_mode)
        bound = _check_params(params, statement)
        self._written, self._read = set(), set()
        self._last = (statement, bound)
        try:
            columns, rows, changes = self._run(statement, bound)
        except sqlite3.Error as exc:
            raise SandboxError(self._explain(exc), statement) from exc
        truncated = len(rows) > self.limits.max_rows or self._cut
        return StepResult(
            sql=statement,
            params=list(bound.values()) if isinstance(bound, Mapping) else list(bound),
            columns=columns,
            rows=[list(r) for r in rows[: self.limits.max_rows]],
            truncated=truncated,
            wrote=bool(self._written),
            changes=changes,
            read=sorted(self._read),
        )

    def _run(
        self, statement: str, bound: Sequence[Any] | Mapping[str, Any]
    ) -> tuple[list[str], list[tuple[Any, ...]], int]:
        conn = self._conn
        (pages,) = conn.execute("PRAGMA page_count").fetchone()
        (page_size,) = conn.execute("PRAGMA page_size").fetchone()
        grow = max(1, self.limits.max_db_bytes // int(page_size))
        conn.execute(f"PRAGMA max_page_count = {int(pages) + grow}")
        self._untrusted, self._denied = True, None
        self._printf.refused = None
        self._changes_at_start = conn.total_changes
        self._deadline = time.monotonic() + self.limits.time_limit
        try:
            cursor = conn.execute(statement, bound)
            columns = [d[0] for d in cursor.description or ()]
            rows: list[tuple[Any, ...]] = []
            size = 0
            self._cut = False
            while columns and len(rows) <= self.limits.max_rows:
                row = cursor.fetchone()
                if row is None:
                    break
                size += sum(_size(value) for value in row)
                if size > self.limits.max_result_bytes:
                    self._cut = True  # the rest is never fetched
                    break
                rows.append(row)
            changes = max(cursor.rowcount, 0)
            cursor.close()
        finally:
            self._untrusted = False
        if changes > self.limits.max_write_rows:
            self._denied = f"a step may change at most {self.limits.max_write_rows} rows"
            msg = "too many rows written"
            raise sqlite3.OperationalError(msg)
        return columns, rows, changes

    def provenance(self, result: StepResult) -> dict[str, list[int]] | None:
        """The rows (by rowid, per table) that a read's result depends on.

        A row is cited when removing it changes the (bounded) result. Returns None when
        the tables read hold more than ``max_cite_rows`` rows or the re-runs together
        take longer than ``time_limit``; call it right after ``execute``, inside the
        step's transaction.
        """
        if result.wrote or not result.columns:
            return {}
        tables = [t for t in result.read if t in self.tables]
        if sum(self.count(t) for t in tables) > self.limits.max_cite_rows:
            return None
        statement, bound = self._last
        baseline = [tuple(r) for r in result.rows]
        limit = self.limits.max_rows
        stop = time.monotonic() + self.limits.time_limit
        cited: dict[str, list[int]] = {}
        conn = self._conn
        for table in tables:
            rowids = [int(r[0]) for r in conn.execute(f'SELECT rowid FROM "{table}"')]
            for rowid in rowids:
                if time.monotonic() > stop:
                    return None
                conn.execute("SAVEPOINT cite")
                try:
                    conn.execute(f'DELETE FROM "{table}" WHERE rowid = ?', (rowid,))
                    _, rows, _ = self._run(statement, bound)
                    changed = [tuple(r) for r in rows[:limit]] != baseline or (
                        len(rows) > limit
                    ) != result.truncated
                except sqlite3.Error:
                    changed = True
                finally:
                    conn.execute("ROLLBACK TO cite")
                    conn.execute("RELEASE cite")
                if changed:
                    cited.setdefault(table, []).append(rowid)
        return cited

    @property
    def written_tables(self) -> set[str]:
        """The tables the last statement was allowed to write."""
        return set(self._written)

    def _explain(self, exc: sqlite3.Error) -> str:
        text = str(exc)
        if self._denied is not None:
            return f"refused: {self._denied}"
        if "interrupted" in text:
            return (
                f"aborted: the statement ran longer than {self.limits.time_limit:g} s "
                "(a runaway recursive query?)"
            )
        if self._printf.refused is not None:
            return f"refused: {self._printf.refused}"
        if any(w in text for w in ("too big", "too long", "too many columns", "disk is full")):
            return f"refused: the result is too big ({text})"
        return f"SQL error: {text}"

    def _progress(self) -> int:
        if not self._untrusted:
            return 0
        if self._conn.total_changes - self._changes_at_start > self.limits.max_write_rows:
            self._denied = (
                f"a step may change at most {self.limits.max_write_rows} rows "
                "(write fewer rows per statement)"
            )
            return 1
        return 1 if time.monotonic() > self._deadline else 0

    def _deny(self, why: str) -> int:
        if self._denied is None:
            self._denied = why
        return sqlite3.SQLITE_DENY

    def _authorize(
        self, action: int, arg1: str | None, arg2: str | None, db: str | None, source: str | None
    ) -> int:
        if not self._untrusted:
            return sqlite3.SQLITE_OK
        table = (arg1 or "").lower()
        if db not in (None, "main"):
            return self._deny(f"the database {db!r} is not accessible")
        if action in (sqlite3.SQLITE_SELECT, sqlite3.SQLITE_RECURSIVE):
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_READ:
            # The sandbox holds only this user's tables; a name outside them (a CTE, a
            # subquery) is harmless unless it is SQLite's own schema or a pragma table.
            internal = table.startswith(("sqlite_", "pragma_"))
            if table in self.tables:
                self._read.add(table)
                return sqlite3.SQLITE_OK
            if table in self.read_only:
                return sqlite3.SQLITE_OK
            if not internal and table not in _KNOWN_VTABS:
                return sqlite3.SQLITE_OK
            if self.schema_mode and table == "sqlite_master":
                return sqlite3.SQLITE_OK
            return self._deny(f"reading {arg1!r} is not allowed; use the tables in the schema")
        if action in _WRITE_ACTIONS:
            if table in self.tables:
                self._written.add(table)
                return sqlite3.SQLITE_OK
            if self.schema_mode and table == "sqlite_master":
                return sqlite3.SQLITE_OK
            if table in self.read_only:
                return self._deny(f"the table {arg1!r} is read-only here")
            if table.startswith("sqlite_"):
                return self._deny("changing the schema or SQLite's own tables is not allowed")
            return self._deny(f"writing {arg1!r} is not allowed; only the schema's tables")
        if action == sqlite3.SQLITE_FUNCTION:
            name = (arg2 or "").lower()
            if name in _DENIED_FUNCTIONS:
                return self._deny(f"the function {name}() is not allowed")
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_PRAGMA:
            name = table
            if name in _READ_ONLY_PRAGMAS and (arg2 or "").lower() in self.tables:
                return sqlite3.SQLITE_OK
            return self._deny(f"PRAGMA {name} is not allowed (read-only table_info is)")
        if action == sqlite3.SQLITE_CREATE_TABLE and self.schema_mode:
            if _IDENT.match(table) and not table.startswith("sqlite_"):
                self.tables[table] = []
                return sqlite3.SQLITE_OK
            return self._deny(f"the table name {arg1!r} is not allowed")
        what = _ACTION_NAMES.get(action, f"action {action}")
        return self._deny(f"{what} is not allowed in the sandbox")


_FIRST_WORD = re.compile(r"^(?:\s|--[^\n]*\n|/\*.*?\*/|\()*([A-Za-z]+)", re.S)
_VERBS = frozenset({"SELECT", "WITH", "INSERT", "UPDATE", "DELETE", "REPLACE", "VALUES", "PRAGMA"})
_KNOWN_VTABS = frozenset({"json_each", "json_tree", "dbstat", "fts5vocab", "generate_series"})
_IDENT = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def _check_params(
    params: Sequence[Any] | Mapping[str, Any], statement: str
) -> Sequence[Any] | Mapping[str, Any]:
    values = params.values() if isinstance(params, Mapping) else params
    for value in values:
        if value is not None and not isinstance(value, str | int | float | bytes):
            msg = f"parameter {json.dumps(value, default=str)} is not a number, string or null"
            raise SandboxError(msg, statement)
    return params


def _size(value: object) -> int:
    if isinstance(value, str | bytes):
        return len(value) + 8
    return 8


_SPEC = re.compile(r"%[-+ 0#,!]*(\*|\d+)?(?:\.(\*|\d+))?(?:ll|l)?([a-zA-Z%])")


class _BoundedPrintf:
    """SQLite's ``printf``, refusing any width or precision past ``limit``.

    SQLite's ``printf('%.*c', 1000000000, 'x')`` loops a billion times inside one
    function call, where neither the length limit nor the progress handler stops it.
    This checks every width and precision (given inline or through ``*``) first, then
    lets SQLite format the checked call on a private connection.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.refused: str | None = None
        self._conn = sqlite3.connect(":memory:", check_same_thread=False)
        self._conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, limit)

    def close(self) -> None:
        self._conn.close()

    def __call__(self, *args: Any) -> Any:
        self.refused = None
        if not args or not isinstance(args[0], str):
            return self._format(args)
        rest = list(args[1:])
        for match in _SPEC.finditer(args[0]):
            for part in (match.group(1), match.group(2)):
                if part is None:
                    continue
                if part == "*":
                    value = rest.pop(0) if rest else 0
                    try:
                        number = abs(int(value))
                    except (TypeError, ValueError):
                        number = 0
                else:
                    number = int(part)
                if number > self.limit:
                    self.refused = (
                        f"printf width or precision {number:,} is past the limit of "
                        f"{self.limit:,} characters"
                    )
                    raise ValueError(self.refused)
            if match.group(3) != "%" and rest:
                rest.pop(0)
        return self._format(args)

    def _format(self, args: tuple[Any, ...]) -> Any:
        marks = ", ".join("?" * len(args))
        return self._conn.execute(f"SELECT printf({marks})", args).fetchone()[0]
