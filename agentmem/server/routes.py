"""The ``/v1`` endpoints: each checks the tenant, then makes one call to :class:`Memory`.

A request names a user (in the path, the query or the body) or a memory id; the key must
allow that user, and for an id, the memory's owner, checked before anything is changed.
Calls into the memory are serialised within a worker process by one lock (the memory's
own guarantees cover several processes).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from agentmem._agent import Agent, Reply
from agentmem._errors import InvalidInputError, NotFoundError, UserError
from agentmem._memory import Changes, Memory
from agentmem._models import Hit, MemoryEvent, MemoryItem
from agentmem._protocols import Action, Decision, RetentionPolicy
from agentmem.server.auth import Keys, Principal
from agentmem.server.limits import RateLimiter
from agentmem.server.schemas import (
    ChatRequest,
    Forgotten,
    MemoryPatch,
    NewMemories,
    NewMemory,
    PolicyPreview,
    PolicyRequest,
    UndoRequest,
    Users,
)

__all__ = ["Service", "router"]

T = TypeVar("T")


@dataclass
class Service:
    """What the endpoints share: the memory, the keys, the limiter, the agent (if any)."""

    memory: Memory
    keys: Keys
    limiter: RateLimiter
    agent: Agent | None = None
    lock: threading.RLock = field(default_factory=threading.RLock)

    def run(self, call: Callable[[], T]) -> T:
        """Call into the memory under this worker's lock."""
        with self.lock:
            return call()


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def _principal(request: Request) -> Principal:
    service = _service(request)
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    principal = (
        service.keys.authenticate(token.strip())
        if scheme.lower() == "bearer" and token.strip()
        else None
    )
    name = principal.key_id if principal else f"ip:{request.client.host if request.client else ''}"
    wait = service.limiter.take(name)
    if wait > 0:
        raise HTTPException(
            429,
            f"too many requests; retry in {wait:.1f} s",
            headers={"Retry-After": str(max(1, round(wait + 0.5)))},
        )
    if principal is None:
        detail = (
            "missing API key: send Authorization: Bearer KEY" if not header else "invalid API key"
        )
        raise HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})
    return principal


Caller = Annotated[Principal, Depends(_principal)]
Svc = Annotated[Service, Depends(_service)]


def _allow(principal: Principal, user_id: str) -> None:
    if not principal.allows(user_id):
        raise HTTPException(403, f"this API key may not touch the memories of {user_id!r}")


def _owned(service: Service, principal: Principal, item_id: str) -> MemoryItem:
    item = service.run(lambda: service.memory.get(item_id))
    _allow(principal, item.scope.user_id)
    return item


router = APIRouter(prefix="/v1")


@router.get("/health", tags=["service"])
def health() -> dict[str, str]:
    """Whether the server is up (no key needed)."""
    return {"status": "ok"}


@router.get("/users", tags=["service"])
def users(service: Svc, principal: Caller) -> Users:
    """The users this key may see (an admin key: every user with memories)."""
    if not principal.admin:
        return Users(users=sorted(principal.users), admin=False)
    items = service.run(lambda: service.memory.items(include_closed=True))
    return Users(users=sorted({item.scope.user_id for item in items}), admin=True)


@router.post("/memories", status_code=201, tags=["memories"])
def add(body: NewMemory, service: Svc, principal: Caller) -> MemoryItem:
    """Store one memory (the retention policies run on it); returns the stored memory."""
    _allow(principal, body.user_id)
    return service.run(lambda: service.memory.add(**body.model_dump()))


@router.post("/memories/batch", status_code=201, tags=["memories"])
def add_many(body: NewMemories, service: Svc, principal: Caller) -> list[MemoryItem]:
    """Store several memories in one transaction; every user named must be allowed."""
    for each in body.memories:
        _allow(principal, each.user_id)

    def write() -> list[MemoryItem]:
        items = [service.memory.make_item(**each.model_dump()) for each in body.memories]
        service.memory.write(items)
        return items

    return service.run(write)


@router.get("/memories", tags=["memories"])
def list_memories(
    service: Svc,
    principal: Caller,
    user_id: str,
    include_closed: bool = False,
) -> list[MemoryItem]:
    """A user's memories, oldest first; closed (superseded) ones on request."""
    _allow(principal, user_id)
    return service.run(lambda: service.memory.items(user_id=user_id, include_closed=include_closed))


@router.get("/memories/search", tags=["memories"])
def search(
    service: Svc,
    principal: Caller,
    user_id: str,
    q: Annotated[str, Query(description="the query")],
    k: Annotated[int, Query(ge=1, le=100)] = 10,
    session_id: str | None = None,
    agent_id: str | None = None,
    as_of: datetime | None = None,
    record_access: bool = True,
) -> list[Hit]:
    """The ``k`` memories most relevant to ``q``, with scores and the signals that found them.

    ``record_access=false`` looks without counting it as a recall (no strength change).
    """
    _allow(principal, user_id)
    return service.run(
        lambda: service.memory.search(
            q,
            user_id=user_id,
            k=k,
            session_id=session_id,
            agent_id=agent_id,
            as_of=as_of,
            record_access=record_access,
        )
    )


@router.get("/memories/{item_id}", tags=["memories"])
def get(item_id: str, service: Svc, principal: Caller) -> MemoryItem:
    """One memory."""
    return _owned(service, principal, item_id)


@router.patch("/memories/{item_id}", tags=["memories"])
def update(item_id: str, body: MemoryPatch, service: Svc, principal: Caller) -> MemoryItem:
    """Change a memory in place; the old values go to its history."""

    def change() -> MemoryItem:
        _owned(service, principal, item_id)
        return service.memory.update(item_id, **body.model_dump())

    return service.run(change)


@router.get("/memories/{item_id}/history", tags=["memories"])
def history(item_id: str, service: Svc, principal: Caller) -> list[MemoryEvent]:
    """Every change to a memory, oldest first, each with its reason (also once forgotten)."""

    def read() -> list[MemoryEvent]:
        events = service.memory.history(item_id)
        try:
            owner = service.memory.get(item_id).scope.user_id
        except NotFoundError:
            if not events:
                raise
            owner = events[0].user_id
        _allow(principal, owner)
        return events

    return service.run(read)


@router.delete("/memories/{item_id}", tags=["memories"])
def forget_one(item_id: str, service: Svc, principal: Caller) -> Forgotten:
    """Forget one memory for good."""

    def forget() -> Forgotten:
        item = _owned(service, principal, item_id)
        removed = service.memory.forget(user_id=item.scope.user_id, ids=[item_id])
        return Forgotten(forgotten=removed)

    return service.run(forget)


@router.delete("/users/{user_id}/memories", tags=["memories"])
def forget_user(user_id: str, service: Svc, principal: Caller) -> Forgotten:
    """Forget every memory of a user for good, and the user's audit trail."""
    _allow(principal, user_id)
    return Forgotten(forgotten=service.run(lambda: service.memory.forget(user_id=user_id)))


@router.get("/events", tags=["audit"])
def events(
    service: Svc,
    principal: Caller,
    user_id: str | None = None,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[MemoryEvent]:
    """Audit events, oldest first: a user's (an admin key may leave ``user_id`` out)."""
    if user_id is None and not principal.admin:
        raise HTTPException(422, "user_id is required unless the key is an admin key")
    if user_id is not None:
        _allow(principal, user_id)
    return service.run(lambda: service.memory.events(user_id=user_id, since=since, limit=limit))


def _policy(spec: str | None) -> RetentionPolicy | None:
    if spec is None:
        return None
    from agentmem.policies import parse_spec

    try:
        return parse_spec(spec)
    except (UserError, TypeError, ValueError) as exc:
        msg = f"bad policy spec {spec!r}: {exc}"
        raise InvalidInputError(msg) from exc


def _users_decisions(memory: Memory, body: PolicyRequest) -> list[Decision]:
    """What a tick would decide now, narrowed to the memories of ``body.user_id``."""
    decisions = memory.preview(_policy(body.policy))
    owned = {item.id for item in memory.items(user_id=body.user_id, include_closed=True)}
    out: list[Decision] = []
    for decision in decisions:
        if decision.action is Action.KEEP:
            continue
        ids = [item_id for item_id in decision.item_ids if item_id in owned]
        if not ids:
            continue
        if decision.action is Action.MERGE and (
            len(ids) != len(decision.item_ids)
            or (decision.merged is not None and decision.merged.scope.user_id != body.user_id)
        ):
            continue
        out.append(decision.model_copy(update={"item_ids": ids}))
    return out


@router.post("/policy/preview", tags=["policy"])
def policy_preview(body: PolicyRequest, service: Svc, principal: Caller) -> PolicyPreview:
    """Which of a user's memories a tick would change now, and why; changes nothing."""
    _allow(principal, body.user_id)

    def preview() -> PolicyPreview:
        decisions = _users_decisions(service.memory, body)
        ids = {item_id for decision in decisions for item_id in decision.item_ids}
        items = {
            item.id: item
            for item in service.memory.items(user_id=body.user_id, include_closed=True)
        }
        return PolicyPreview(
            decisions=decisions, items={key: value for key, value in items.items() if key in ids}
        )

    return service.run(preview)


@router.post("/policy/apply", tags=["policy"])
def policy_apply(body: PolicyRequest, service: Svc, principal: Caller) -> Changes:
    """Carry out what a tick decides now for a user's memories; every change is undoable."""
    _allow(principal, body.user_id)
    return service.run(lambda: service.memory.apply(_users_decisions(service.memory, body)))


@router.post("/policy/undo", tags=["policy"])
def policy_undo(body: UndoRequest, service: Svc, principal: Caller) -> Changes:
    """Reverse one change, read back from the audit log (see ``/v1/events``)."""

    def undo() -> Changes:
        event = service.memory.audit.get(body.event_id)
        if event is None:
            msg = f"no audit event with id {body.event_id}"
            raise NotFoundError(msg)
        _allow(principal, event.user_id)
        return service.memory.undo(body.event_id)

    return service.run(undo)


@router.post("/chat", tags=["agent"])
def chat(body: ChatRequest, service: Svc, principal: Caller) -> Reply:
    """One turn with the agent: recall, answer, remember (needs a configured LLM)."""
    _allow(principal, body.user_id)
    agent = service.agent
    if agent is None:
        raise HTTPException(501, "no language model is configured: start the server with --llm-url")
    return service.run(lambda: agent.chat(**body.model_dump()))
