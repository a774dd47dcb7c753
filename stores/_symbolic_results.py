"""The results of SymbolicStore's calls: cited rows, SQL steps, answers, records, schemas."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from agentmem._models import MemoryEvent
from agentmem.stores._sql_sandbox import StepResult

__all__ = [
    "AskResult",
    "CitedRow",
    "RecordResult",
    "SchemaMode",
    "SchemaProposal",
    "SqlStep",
]

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
    """True only when the model gave a final answer after at least one SQL step ran."""
    steps: list[SqlStep]
    events: list[MemoryEvent] = Field(default_factory=list)
    rows: list[CitedRow] = Field(default_factory=list)
    """The record rows the answer rests on (of the steps it cites, else of every step)."""
    reason: str = ""
    """Why the question was not answered from the records (empty when it was)."""

    @property
    def citations(self) -> list[SqlStep]:
        """The successful steps that returned rows: the rows the answer rests on."""
        return [s for s in self.steps if s.result is not None and s.result.rows]

    def cited(self) -> str:
        """The answer followed by the statements, results and record rows it rests on."""
        lines = [self.answer] if self.answered else [f"not answered: {self.reason}"]
        if not self.answered and self.answer:
            lines.append(f"last result: {self.answer}")
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
    """The model's closing note (empty when nothing was written)."""
    steps: list[SqlStep]
    events: list[MemoryEvent] = Field(default_factory=list)
    reason: str = ""
    """Why nothing was written (empty when a step changed a row)."""

    @property
    def written(self) -> bool:
        """Whether any step changed a row."""
        return bool(self.events)


class SchemaProposal(BaseModel):
    """Tables a model proposed, checked in a sandbox; apply with ``apply_schema``."""

    statements: list[str]
    tables: dict[str, list[tuple[str, str]]]
