"""Loaders for LoCoMo, LongMemEval and Multi-Session Chat into one :class:`Dataset`.

Each loader validates every record and raises :class:`DatasetError` naming the file, the
record and the field that is wrong.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agentmem._errors import InvalidInputError
from agentmem.eval.dataset import Conversation, Dataset, Question, Session, Turn
from agentmem.eval.personas import persona_question, persona_questions

__all__ = [
    "FORMATS",
    "LOCOMO_CATEGORIES",
    "DatasetError",
    "load",
    "load_locomo",
    "load_longmemeval",
    "load_msc",
    "parse_locomo_date",
]

logger = logging.getLogger(__name__)

LOCOMO_CATEGORIES = {
    1: "multi-hop",
    2: "temporal",
    3: "open-domain",
    4: "single-hop",
    5: "adversarial",
}
_SESSION_KEY = re.compile(r"^session_(\d+)$")
_EVIDENCE_ID = re.compile(r"D\s*:?\s*(\d+)\s*:\s*(\d+)")
_LME_DATE = "%Y/%m/%d (%a) %H:%M"
_MSC_START = datetime(2023, 1, 1, 12, 0, tzinfo=UTC)
_MSC_UNITS = {"minute": 1 / 1440, "hour": 1 / 24, "day": 1, "week": 7, "month": 30, "year": 365}


class DatasetError(InvalidInputError):
    """A dataset file is malformed; the message names the record and field."""


class _Where:
    """Where in a file we are, for error messages."""

    def __init__(self, path: Path, record: str) -> None:
        self.path = path
        self.record = record

    def fail(self, problem: str) -> DatasetError:
        return DatasetError(f"{self.path.name}: {self.record}: {problem}")

    def field(self, obj: Any, key: str, kind: type | tuple[type, ...], what: str = "") -> Any:
        if not isinstance(obj, dict):
            raise self.fail(f"{what or 'record'} must be a JSON object, got {type(obj).__name__}")
        if key not in obj:
            raise self.fail(f"missing field {key!r}{f' in {what}' if what else ''}")
        value = obj[key]
        if not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise self.fail(f"field {key!r} must be {names}, got {type(value).__name__}")
        return value


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text("utf-8"))
    except FileNotFoundError as exc:
        msg = f"no dataset file at {path}; pass the path of the downloaded JSON"
        raise DatasetError(msg) from exc
    except json.JSONDecodeError as exc:
        msg = f"{path.name} is not valid JSON (line {exc.lineno}): {exc.msg}"
        raise DatasetError(msg) from exc


def _read_list(path: Path) -> list[Any]:
    data = _read_json(path)
    if not isinstance(data, list):
        msg = f"{path.name} must hold a JSON list of records, got {type(data).__name__}"
        raise DatasetError(msg)
    return data


def parse_locomo_date(text: str) -> datetime:
    """Parse a LoCoMo session date such as ``"1:56 pm on 8 May, 2023"`` (taken as UTC)."""
    cleaned = " ".join(text.replace(",", " ").split())
    for fmt in ("%I:%M %p on %d %B %Y", "%I:%M %p on %d %b %Y"):
        try:
            return datetime.strptime(cleaned, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    msg = f"{text!r} is not a date like '1:56 pm on 8 May, 2023'"
    raise ValueError(msg)


def _evidence_ids(raw: Any, where: _Where) -> list[str]:
    if not isinstance(raw, list):
        raise where.fail(f"'evidence' must be a list of ids like 'D1:3', got {raw!r}")
    ids: list[str] = []
    for entry in raw:
        if not isinstance(entry, str):
            raise where.fail(f"evidence id {entry!r} must be a string like 'D1:3'")
        found = _EVIDENCE_ID.findall(entry)
        if not found:
            logger.warning("%s: skipping unreadable evidence id %r", where.record, entry)
        ids += [f"D{int(s)}:{int(t)}" for s, t in found]
    return list(dict.fromkeys(ids))


def _locomo_record(record: Any, index: int, path: Path) -> Conversation:
    where = _Where(path, f"record {index}")
    sample_id = where.field(record, "sample_id", (str, int))
    where.record = f"record {index} (sample_id {sample_id})"
    convo = where.field(record, "conversation", dict)
    speakers = {where.field(convo, k, str, "conversation") for k in ("speaker_a", "speaker_b")}
    sessions: list[Session] = []
    numbers = sorted(int(m.group(1)) for key in convo if (m := _SESSION_KEY.match(key)))
    if not numbers:
        raise where.fail("'conversation' has no session_<n> lists")
    for n in numbers:
        turns_raw = where.field(convo, f"session_{n}", list, "conversation")
        date_raw = where.field(convo, f"session_{n}_date_time", str, "conversation")
        try:
            date = parse_locomo_date(date_raw)
        except ValueError as exc:
            raise where.fail(f"session_{n}_date_time: {exc}") from exc
        turns = []
        for k, turn in enumerate(turns_raw):
            what = f"session_{n} turn {k}"
            speaker = where.field(turn, "speaker", str, what)
            if speaker not in speakers:
                logger.warning("%s: %s speaker %r is neither speaker", where.record, what, speaker)
            text = where.field(turn, "text", str, what)
            if turn.get("blip_caption"):
                text = f"{text} [shares an image: {turn['blip_caption']}]"
            turns.append(
                Turn(id=where.field(turn, "dia_id", str, what), speaker=speaker, text=text)
            )
        sessions.append(Session(id=f"session_{n}", date=date, turns=turns))
    known = {turn.id for session in sessions for turn in session.turns}
    questions = []
    for q, qa in enumerate(where.field(record, "qa", list)):
        what = f"qa {q}"
        question = where.field(qa, "question", str, what)
        category = where.field(qa, "category", int, what)
        if category not in LOCOMO_CATEGORIES:
            raise where.fail(f"{what}: category {category} is not one of 1-5")
        adversarial = category == 5
        answer = None
        if not adversarial:
            answer = str(where.field(qa, "answer", (str, int, float), what))
        evidence = _evidence_ids(qa.get("evidence", []), where)
        unknown = [e for e in evidence if e not in known]
        if unknown:
            logger.warning("%s: %s cites unknown turns %s", where.record, what, unknown)
        questions.append(
            Question(
                id=f"{sample_id}/q{q}",
                question=question,
                answer=answer,
                category=LOCOMO_CATEGORIES[category],
                evidence=[e for e in evidence if e in known],
                abstain=adversarial,
            )
        )
    return Conversation(id=str(sample_id), sessions=sessions, questions=questions)


def load_locomo(path: str | os.PathLike[str]) -> Dataset:
    """Load a LoCoMo JSON file (a list of conversations with ``qa``)."""
    file = Path(path)
    records = _read_list(file)
    return Dataset(
        name=f"locomo:{file.name}",
        conversations=[_locomo_record(r, i, file) for i, r in enumerate(records)],
    )


def _lme_date(text: Any, where: _Where, what: str) -> datetime:
    if not isinstance(text, str):
        raise where.fail(f"{what} must be a string like '2023/05/20 (Sat) 02:21'")
    try:
        return datetime.strptime(text.strip(), _LME_DATE).replace(tzinfo=UTC)
    except ValueError as exc:
        raise where.fail(f"{what} {text!r} is not a date like '2023/05/20 (Sat) 02:21'") from exc


def _lme_record(record: Any, index: int, path: Path) -> Conversation:
    where = _Where(path, f"record {index}")
    qid = where.field(record, "question_id", str)
    where.record = f"record {index} (question_id {qid})"
    ids = where.field(record, "haystack_session_ids", list)
    dates = where.field(record, "haystack_dates", list)
    raw_sessions = where.field(record, "haystack_sessions", list)
    if not len(ids) == len(dates) == len(raw_sessions):
        raise where.fail(
            f"haystack_session_ids ({len(ids)}), haystack_dates ({len(dates)}) and "
            f"haystack_sessions ({len(raw_sessions)}) must have the same length"
        )
    sessions, evidence = [], []
    for sid, date, turns_raw in zip(ids, dates, raw_sessions, strict=True):
        what = f"session {sid}"
        if not isinstance(turns_raw, list):
            raise where.fail(f"{what} must be a list of turns")
        turns = []
        for k, turn in enumerate(turns_raw):
            role = where.field(turn, "role", str, f"{what} turn {k}")
            text = where.field(turn, "content", str, f"{what} turn {k}")
            turns.append(Turn(id=f"{sid}:{k}", speaker=role, text=text))
            if turn.get("has_answer"):
                evidence.append(f"{sid}:{k}")
        sessions.append(Session(id=str(sid), date=_lme_date(date, where, what), turns=turns))
    sessions.sort(key=lambda s: s.date)
    abstain = qid.endswith("_abs")
    question = Question(
        id=qid,
        question=where.field(record, "question", str),
        answer=None if abstain else str(where.field(record, "answer", (str, int, float))),
        category=where.field(record, "question_type", str),
        evidence=evidence,
        evidence_sessions=[str(s) for s in where.field(record, "answer_session_ids", list)],
        abstain=abstain,
        date=_lme_date(where.field(record, "question_date", str), where, "question_date"),
    )
    return Conversation(id=qid, sessions=sessions, questions=[question])


def load_longmemeval(path: str | os.PathLike[str]) -> Dataset:
    """Load a LongMemEval JSON file: one conversation (haystack) per question."""
    file = Path(path)
    records = _read_list(file)
    return Dataset(
        name=f"longmemeval:{file.name}",
        conversations=[_lme_record(r, i, file) for i, r in enumerate(records)],
    )


def _msc_turns(dialog: Any, where: _Where, sid: str) -> list[Turn]:
    if not isinstance(dialog, list):
        raise where.fail(f"{sid} 'dialog' must be a list of turns")
    turns = []
    for k, turn in enumerate(dialog):
        text = where.field(turn, "text", str, f"{sid} turn {k}")
        speaker = turn.get("id") or ("Speaker 1" if k % 2 == 0 else "Speaker 2")
        turns.append(Turn(id=f"{sid}:{k}", speaker=str(speaker), text=text))
    return turns


def _msc_record(record: Any, index: int, path: Path, threshold: float | None) -> Conversation:
    where = _Where(path, f"line {index + 1}")
    if (
        isinstance(record, dict)
        and "previous_dialogs" not in record
        and ("init_personachat" in record or "initial_data_id" in record)
    ):
        return _msc_summary_record(record, index, where, threshold)
    personas = where.field(record, "personas", list)
    where.field(record, "metadata", dict)
    previous = where.field(record, "previous_dialogs", list)
    sessions, date = [], _MSC_START
    for n, prev in enumerate(previous, start=1):
        sid = f"S{n}"
        turns = _msc_turns(where.field(prev, "dialog", list, sid), where, sid)
        sessions.append(Session(id=sid, date=date, turns=turns))
        amount = where.field(prev, "time_num", (int, float), sid)
        unit = where.field(prev, "time_unit", str, sid).lower().rstrip("s")
        if unit not in _MSC_UNITS or amount < 0:
            raise where.fail(f"{sid}: time '{amount} {unit}' is not a number of {list(_MSC_UNITS)}")
        date = date + timedelta(days=amount * _MSC_UNITS[unit])
    sid = f"S{len(previous) + 1}"
    turns = _msc_turns(where.field(record, "dialog", list), where, sid)
    sessions.append(Session(id=sid, date=date, turns=turns))
    meta = record["metadata"]
    convo_id = str(meta.get("initial_data_id", meta.get("conv_id", f"msc-{index}")))
    questions: list[Question] = []
    if threshold is not None and personas:
        if not all(isinstance(facts, list) for facts in personas):
            raise where.fail("'personas' must be a list of two lists of sentences")
        questions, dropped = persona_questions(
            convo_id, sessions[:-1], personas, ["Speaker 1", "Speaker 2"], threshold=threshold
        )
        if dropped:
            logger.info("%s: %d persona facts matched no earlier turn", convo_id, dropped)
    return Conversation(id=convo_id, sessions=sessions, questions=questions)


def _msc_summary_record(
    record: dict[str, Any], index: int, where: _Where, threshold: float | None
) -> Conversation:
    """A persona-summary record: one session whose turns name the facts they state."""
    dialog = where.field(record, "dialog", list)
    convo_id = str(record.get("initial_data_id") or f"msc-{index}")
    turns: list[Turn] = []
    questions: list[Question] = []
    for k, turn in enumerate(dialog):
        text = where.field(turn, "text", str, f"S1 turn {k}")
        speaker = str(turn.get("id") or ("Speaker 1" if k % 2 == 0 else "Speaker 2"))
        turns.append(Turn(id=f"S1:{k}", speaker=speaker, text=text))
        fact = turn.get("persona_text")
        if threshold is not None and isinstance(fact, str) and fact.strip():
            questions.append(
                persona_question(convo_id, len(questions), speaker, fact, [f"S1:{k}"], "S1")
            )
    session = Session(id="S1", date=_MSC_START, turns=turns)
    return Conversation(id=convo_id, sessions=[session], questions=questions)


def load_msc(path: str | os.PathLike[str], *, threshold: float | None = 0.5) -> Dataset:
    """Load Multi-Session Chat JSON lines, with persona probes as questions.

    Reads both of ParlAI's MSC formats: dialogue records (``msc_dialogue``: ``dialog``,
    ``previous_dialogs``, ``personas``, ``metadata``) and persona-summary records
    (``msc_personasummary``: ``dialog`` turns with ``persona_text``, ``init_personachat``,
    ``initial_data_id``). Session dates start on 2023-01-01; each previous dialog's
    ``time_num``/``time_unit`` is taken as the time until the next session. Each
    speaker's persona facts become probes (:mod:`agentmem.eval.personas`) whose evidence
    turns match at ``threshold``; ``threshold=None`` loads sessions only.
    """
    file = Path(path)
    try:
        lines = file.read_text("utf-8").splitlines()
    except FileNotFoundError as exc:
        msg = f"no dataset file at {file}; pass the path of the MSC .jsonl file"
        raise DatasetError(msg) from exc
    conversations = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            msg = f"{file.name}: line {i + 1} is not valid JSON: {exc.msg}"
            raise DatasetError(msg) from exc
        conversations.append(_msc_record(record, i, file, threshold))
    return Dataset(name=f"msc:{file.name}", conversations=conversations)


FORMATS: dict[str, Callable[[str | os.PathLike[str]], Dataset]] = {
    "locomo": load_locomo,
    "longmemeval": load_longmemeval,
    "msc": load_msc,
}


def load(
    path: str | os.PathLike[str], format: str, *, columns: dict[str, str] | None = None
) -> Dataset:
    """Load ``path`` in ``format`` (``locomo``, ``longmemeval``, ``msc``, ``jsonl``, ``csv``).

    ``jsonl`` / ``csv`` rows are read by the ``columns`` mapping
    (:mod:`agentmem.eval.tabular`).
    """
    if format in ("jsonl", "csv"):
        from agentmem.eval.tabular import load_recall_table

        return load_recall_table(path, columns, format=format)
    if format not in FORMATS:
        msg = f"unknown dataset format {format!r}; use one of {sorted(FORMATS) + ['csv', 'jsonl']}"
        raise DatasetError(msg)
    return FORMATS[format](path)
