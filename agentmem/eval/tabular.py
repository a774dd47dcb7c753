"""Bring your own data: JSON lines or CSV rows, mapped by column, for recall and conflicts.

A mapping names, for each field the evaluator needs, the column that holds it; a field
left out is read from a column of the same name. ``parse_columns("question=q,answer=a")``
turns the command line's ``--columns`` into a mapping.

Recall rows (:func:`load_recall_table`), one question each:

- ``question`` (required), ``answer`` (empty: the right reply is to abstain),
- ``context``: the conversation the question is about: a text whose non-empty lines are
  turns (``Speaker: text`` names the speaker), or a JSON list of strings or of
  ``{"speaker", "text"}`` objects. Rows with the same ``conversation`` share the first
  row's context; without that column each row is its own conversation.
- ``evidence`` (optional): the turns that answer it: 1-based line numbers, or texts a
  turn contains; a list, or one string separated by ``;``.
- ``date`` (optional, ISO 8601), ``category``, ``id``, ``conversation`` (optional).

Conflict rows (:func:`load_conflict_table`): ``question``, ``answer`` (the model's prior
/ the original answer), ``counter_answer`` and ``context`` (the memory that contradicts
it), ``id`` optional.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agentmem.eval.conflicts import ConflictItem
from agentmem.eval.dataset import Conversation, Dataset, Question, Session, Turn
from agentmem.eval.loaders import DatasetError
from agentmem.eval.metrics import normalize_answer

__all__ = [
    "CONFLICT_FIELDS",
    "RECALL_FIELDS",
    "load_conflict_table",
    "load_recall_table",
    "parse_columns",
    "read_rows",
]

RECALL_FIELDS = {
    "question": True,
    "answer": False,
    "context": True,
    "evidence": False,
    "date": False,
    "category": False,
    "id": False,
    "conversation": False,
}
CONFLICT_FIELDS = {
    "question": True,
    "answer": True,
    "counter_answer": True,
    "context": True,
    "id": False,
}
_DEFAULT_DATE = datetime(2023, 1, 1, 12, 0, tzinfo=UTC)


def parse_columns(text: str | None) -> dict[str, str]:
    """``"question=q,answer=a"`` -> ``{"question": "q", "answer": "a"}``."""
    mapping: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        field, sep, column = part.partition("=")
        if not sep or not field.strip() or not column.strip():
            msg = f"--columns takes FIELD=COLUMN pairs separated by commas, got {part!r}"
            raise DatasetError(msg)
        mapping[field.strip()] = column.strip()
    return mapping


def read_rows(path: str | os.PathLike[str], format: str | None = None) -> list[dict[str, Any]]:
    """The rows of a JSON-lines (``.jsonl``/``.json``) or CSV file, as dicts."""
    file = Path(path)
    kind = format or ("csv" if file.suffix.lower() in (".csv", ".tsv") else "jsonl")
    try:
        with file.open(encoding="utf-8-sig", newline="") as handle:
            text = handle.read()
    except OSError as exc:
        msg = f"cannot read {file}: {exc}"
        raise DatasetError(msg) from exc
    if kind == "csv":
        dialect = "excel-tab" if file.suffix.lower() == ".tsv" else "excel"
        reader = csv.DictReader(io.StringIO(text, newline=""), dialect=dialect)
        return [dict(row) for row in reader]
    if kind != "jsonl":
        msg = f"format is 'jsonl' or 'csv', got {kind!r}"
        raise DatasetError(msg)
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            msg = f"{file.name}: line {number} is not valid JSON: {exc.msg}"
            raise DatasetError(msg) from exc
        if not isinstance(row, dict):
            msg = f"{file.name}: line {number} must be a JSON object, got {type(row).__name__}"
            raise DatasetError(msg)
        rows.append(row)
    return rows


def _resolve(
    rows: list[dict[str, Any]], columns: Mapping[str, str], fields: Mapping[str, bool], name: str
) -> dict[str, str]:
    unknown = sorted(set(columns) - set(fields))
    if unknown:
        msg = f"unknown field(s) {unknown} in --columns; the fields are {sorted(fields)}"
        raise DatasetError(msg)
    if not rows:
        msg = f"{name} holds no rows"
        raise DatasetError(msg)
    present = list(dict.fromkeys(key for row in rows for key in row))
    resolved: dict[str, str] = {}
    for field, required in fields.items():
        column = columns.get(field, field)
        if column in present:
            resolved[field] = column
        elif field in columns or required:
            how = f"mapped to {field!r}" if field in columns else f"needed for {field!r}"
            msg = (
                f"{name} has no column {column!r} ({how}); its columns are {present}. "
                f"Map one with --columns {field}=COLUMN"
            )
            raise DatasetError(msg)
    return resolved


def _text(row: dict[str, Any], column: str | None) -> str:
    if column is None:
        return ""
    value = row.get(column)
    return "" if value is None else str(value).strip()


def _turns(raw: Any, convo: str, where: str) -> list[Turn]:
    items: list[Any]
    if isinstance(raw, list):
        items = raw
    else:
        text = "" if raw is None else str(raw)
        if text.lstrip().startswith("["):
            try:
                items = json.loads(text)
            except json.JSONDecodeError:
                items = text.splitlines()
        else:
            items = text.splitlines()
    turns: list[Turn] = []
    for item in items:
        if isinstance(item, dict):
            speaker, said = str(item.get("speaker", "")), str(item.get("text", ""))
        else:
            line = str(item).strip()
            head, sep, tail = line.partition(": ")
            named = sep and 0 < len(head) <= 40 and "\n" not in head
            speaker, said = (head, tail) if named else ("", line)
        if said.strip():
            turns.append(Turn(id=f"{convo}:L{len(turns) + 1}", speaker=speaker, text=said))
    if not turns:
        msg = f"{where}: the context holds no turns"
        raise DatasetError(msg)
    return turns


def _evidence(raw: Any, turns: list[Turn], where: str) -> list[str]:
    if raw is None or raw == "":
        return []
    entries = raw if isinstance(raw, list) else str(raw).split(";")
    ids: list[str] = []
    for entry in entries:
        value = str(entry).strip()
        if not value:
            continue
        if value.isdigit():
            n = int(value)
            if not 1 <= n <= len(turns):
                msg = f"{where}: evidence line {n} is outside the context's {len(turns)} lines"
                raise DatasetError(msg)
            ids.append(turns[n - 1].id)
            continue
        needle = normalize_answer(value)
        found = [t.id for t in turns if needle and needle in normalize_answer(t.text)]
        if not found:
            msg = f"{where}: no turn of the context contains the evidence {value!r}"
            raise DatasetError(msg)
        ids += found
    return list(dict.fromkeys(ids))


def _date(raw: str, where: str) -> datetime | None:
    if not raw:
        return None
    try:
        date = datetime.fromisoformat(raw)
    except ValueError as exc:
        msg = f"{where}: date {raw!r} is not ISO 8601 (e.g. 2023-05-08 or 2023-05-08T13:56)"
        raise DatasetError(msg) from exc
    return date if date.tzinfo else date.replace(tzinfo=UTC)


def load_recall_table(
    path: str | os.PathLike[str],
    columns: Mapping[str, str] | None = None,
    *,
    format: str | None = None,
) -> Dataset:
    """Questions with their contexts from JSON lines or CSV, by a column mapping."""
    file = Path(path)
    rows = read_rows(file, format)
    col = _resolve(rows, columns or {}, RECALL_FIELDS, file.name)
    conversations: dict[str, Conversation] = {}
    for number, row in enumerate(rows, 1):
        where = f"{file.name}: row {number}"
        convo_id = _text(row, col.get("conversation")) or f"row{number}"
        question = _text(row, col["question"])
        if not question:
            msg = f"{where}: the question (column {col['question']!r}) is empty"
            raise DatasetError(msg)
        date = _date(_text(row, col.get("date")), where)
        convo = conversations.get(convo_id)
        if convo is None:
            turns = _turns(row.get(col["context"]), convo_id, where)
            session = Session(id=f"{convo_id}:S1", date=date or _DEFAULT_DATE, turns=turns)
            convo = conversations[convo_id] = Conversation(id=convo_id, sessions=[session])
        turns = convo.sessions[0].turns
        answer = _text(row, col.get("answer")) or None
        evidence_column = col.get("evidence")
        convo.questions.append(
            Question(
                id=_text(row, col.get("id")) or f"{convo_id}/q{number}",
                question=question,
                answer=answer,
                category=_text(row, col.get("category")) or "uncategorised",
                evidence=_evidence(
                    row.get(evidence_column) if evidence_column else None, turns, where
                ),
                abstain=answer is None,
                date=date,
            )
        )
    return Dataset(name=f"table:{file.name}", conversations=list(conversations.values()))


def load_conflict_table(
    path: str | os.PathLike[str],
    columns: Mapping[str, str] | None = None,
    *,
    format: str | None = None,
) -> list[ConflictItem]:
    """Conflict items (question, prior answer, counter answer, memory) by a column mapping."""
    file = Path(path)
    rows = read_rows(file, format)
    col = _resolve(rows, columns or {}, CONFLICT_FIELDS, file.name)
    items = []
    for number, row in enumerate(rows, 1):
        values = {field: _text(row, col.get(field)) for field in CONFLICT_FIELDS}
        empty = [f for f, required in CONFLICT_FIELDS.items() if required and not values[f]]
        if empty:
            msg = f"{file.name}: row {number}: empty {empty} (columns {[col[f] for f in empty]})"
            raise DatasetError(msg)
        items.append(
            ConflictItem(
                id=values["id"] or f"row{number}",
                question=values["question"],
                prior_answer=values["answer"],
                counter_answer=values["counter_answer"],
                counter_memory=values["context"],
            )
        )
    return items
