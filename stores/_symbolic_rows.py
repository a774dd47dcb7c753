"""Record rows and their memory items: write-back, mirroring and citations.

Every record row (``rec_<table>``) has a memory item whose text renders the row; its
``_item_id`` column names that item. These helpers keep the two consistent, inside the
caller's write transaction on the store's ``ItemTable``; ``cited_rows`` looks up the
rows an answer rests on.
"""

from __future__ import annotations

import re
import sqlite3
from datetime import datetime
from typing import Any

from agentmem._errors import InvalidInputError
from agentmem._models import EventOp, Kind, MemoryEvent, MemoryItem, Scope
from agentmem.stores._sql_sandbox import SqlSandbox
from agentmem.stores._sqlite import ItemTable
from agentmem.stores._symbolic_results import CitedRow, SqlStep

_STEP_REF = re.compile(r"(?i)\bsteps?\s+(\d+(?:\s*(?:,|and|&)\s*\d+)*)")

Tables = dict[str, list[tuple[str, str]]]
"""The record tables and their columns, ``name -> [(column, type), ...]``."""


def write_back(
    items: ItemTable,
    conn: sqlite3.Connection,
    now: datetime,
    tables: Tables,
    user_id: str,
    sandbox: SqlSandbox,
    snapshots: dict[str, dict[int, tuple[Any, ...]]],
    statement: str,
) -> list[MemoryEvent]:
    """Write what a sandbox step changed to the user's rows and their items; return events.

    Deleted rows close their items, changed rows close the old item for a new one, new
    rows get a row id and an item. The sandbox's rows are renumbered to the new ids and
    ``snapshots`` updated. Call inside a transaction of ``items``.
    """
    events: list[MemoryEvent] = []
    reason = f"SQL: {statement[:300]}"
    for table in sorted(sandbox.written_tables & set(tables)):
        names = [c for c, _ in tables[table]]
        before, after = snapshots[table], sandbox.snapshot(table)
        for rid in sorted(before.keys() - after.keys()):
            old_item = row_item_id(conn, table, rid, user_id)
            conn.execute(
                f'DELETE FROM "rec_{table}" WHERE _id = ? AND _user_id = ?', (rid, user_id)
            )
            close_item(items, old_item, now, None)
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
            item = row_memory(table, names, values, user_id, now)
            items.insert([item], [None])
            if rid in before:
                old_item = row_item_id(conn, table, rid, user_id)
                assigns = ", ".join(f'"{c}" = ?' for c in names)
                conn.execute(
                    f'UPDATE "rec_{table}" SET {assigns}, _item_id = ? '
                    "WHERE _id = ? AND _user_id = ?",
                    (*values, item.id, rid, user_id),
                )
                close_item(items, old_item, now, item.id)
                item.metadata["row"] = rid
                items.replace(item, None, keep_embedding=True)
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
            new_id = _insert_row(conn, table, names, None, user_id, item.id, values)
            item.metadata["row"] = new_id
            items.replace(item, None, keep_embedding=True)
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
    items.bump_version()
    return events


def cited_rows(
    items: ItemTable, tables: Tables, answer: str, steps: list[SqlStep], user_id: str
) -> list[CitedRow]:
    """The rows of the steps the answer names (or of every step), with their values."""
    named = {int(n) for found in _STEP_REF.findall(answer) for n in re.findall(r"\d+", found)}
    chosen = [s for s in steps if s.index in named and s.cites] or steps
    out: list[CitedRow] = []
    seen: set[tuple[str, int]] = set()
    with items.lock:
        conn = items.conn
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
                            values={} if row is None else dict(zip(names, row[1:], strict=True)),
                        )
                    )
    return out


def row_item_id(conn: sqlite3.Connection, table: str, rid: int, user: str) -> str | None:
    """The id of the item that mirrors the user's row ``rid`` of ``table``, or None."""
    row = conn.execute(
        f'SELECT _item_id FROM "rec_{table}" WHERE _id = ? AND _user_id = ?', (rid, user)
    ).fetchone()
    return None if row is None or row[0] is None else str(row[0])


def close_item(items: ItemTable, item_id: str | None, now: datetime, successor: str | None) -> None:
    """Close a row's item at ``now`` (noting the item that supersedes it, if any)."""
    old = None if item_id is None else items.get(item_id)
    if old is None:
        return
    metadata = dict(old.metadata)
    if successor is not None:
        metadata["superseded_by"] = successor
    closed = old.model_copy(
        update={"valid_to": max(now, old.valid_from or now), "metadata": metadata}
    )
    items.replace(closed, None, keep_embedding=True)


def row_memory(
    table: str, names: list[str], values: tuple[Any, ...], user_id: str, now: datetime
) -> MemoryItem:
    """The memory item that mirrors a row: ``table: column=value, ...``."""
    shown = ", ".join(f"{c}={v}" for c, v in zip(names, values, strict=True) if v is not None)
    return MemoryItem(
        text=f"{table}: {shown}",
        kind=Kind.FACT,
        scope=Scope(user_id=user_id),
        created_at=now,
        recorded_at=now,
        metadata={"table": table, "values": dict(zip(names, values, strict=True))},
    )


def mirrored_row(
    items: ItemTable,
    conn: sqlite3.Connection,
    tables: Tables,
    item_id: str,
    *,
    item: MemoryItem | None = None,
) -> tuple[str, int, bool] | None:
    """``(table, row, exists)`` of the row this item is the current copy of, or None.

    ``exists`` is False for a closed item whose row was deleted with it.
    """
    item = item or items.get(item_id)
    if item is None:
        return None
    table, rid = item.metadata.get("table"), item.metadata.get("row")
    if not isinstance(table, str) or not isinstance(rid, int) or table not in tables:
        return None
    row = conn.execute(f'SELECT _item_id FROM "rec_{table}" WHERE _id = ?', (rid,)).fetchone()
    if row is None:
        return None if "superseded_by" in item.metadata else (table, rid, False)
    return (table, rid, True) if row[0] == item_id else None


def mirror_update(
    items: ItemTable,
    conn: sqlite3.Connection,
    tables: Tables,
    old: MemoryItem,
    new: MemoryItem,
) -> None:
    """Apply an item update to its row: closing deletes it, reopening restores it.

    Raises InvalidInputError when the update changes a row item's text or scope.
    """
    found = mirrored_row(items, conn, tables, old.id, item=old)
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
        names = [c for c, _ in tables[table]]
        if not isinstance(values, dict):
            msg = f"memory {old.id!r} cannot be reopened: the values of its row are unknown"
            raise InvalidInputError(msg)
        row_values = tuple(values.get(c) for c in names)
        _insert_row(conn, table, names, rid, old.scope.user_id, old.id, row_values)


def _insert_row(
    conn: sqlite3.Connection,
    table: str,
    names: list[str],
    rid: int | None,
    user_id: str,
    item_id: str,
    values: tuple[Any, ...],
) -> int:
    """Insert a row (as ``rid``, or with a new id if None); return its id."""
    cols = ["_user_id", "_item_id", *(f'"{c}"' for c in names)]
    params: tuple[Any, ...] = (user_id, item_id, *values)
    if rid is not None:
        cols, params = ["_id", *cols], (rid, *params)
    cursor = conn.execute(
        f'INSERT INTO "rec_{table}" ({", ".join(cols)}) VALUES ({", ".join("?" * len(cols))})',
        params,
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


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
