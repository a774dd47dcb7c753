"""The dataset model every loader produces: conversations of dated sessions, and questions."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

__all__ = ["Conversation", "Dataset", "Question", "Session", "Turn"]


class Turn(BaseModel):
    """One utterance, with an id that questions cite as evidence (e.g. ``D3:7``)."""

    id: str
    speaker: str
    text: str


class Session(BaseModel):
    """A dated sitting of the conversation."""

    id: str
    date: datetime
    turns: list[Turn]


class Question(BaseModel):
    """A question about a conversation.

    ``answer`` is ``None`` when the right reply is to say it was never mentioned
    (``abstain``). ``evidence`` holds the ids of the turns that answer it;
    ``evidence_sessions`` the sessions, for datasets annotated per session only.
    """

    id: str
    question: str
    answer: str | None
    category: str
    evidence: list[str] = Field(default_factory=list)
    evidence_sessions: list[str] = Field(default_factory=list)
    abstain: bool = False
    date: datetime | None = None


class Conversation(BaseModel):
    """A long conversation between two speakers, and the questions asked about it."""

    id: str
    sessions: list[Session]
    questions: list[Question] = Field(default_factory=list)

    def turns(self) -> list[tuple[Session, Turn]]:
        """Every turn with its session, in order."""
        return [(session, turn) for session in self.sessions for turn in session.turns]

    @property
    def end(self) -> datetime:
        """The date of the last session."""
        return max(session.date for session in self.sessions)


class Dataset(BaseModel):
    """Conversations from one source, in one format."""

    name: str
    conversations: list[Conversation]

    @property
    def question_count(self) -> int:
        """How many questions the dataset asks in all."""
        return sum(len(c.questions) for c in self.conversations)
