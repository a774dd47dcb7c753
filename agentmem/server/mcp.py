"""An MCP server over a :class:`Memory`, scoped to one user: remember, recall, forget, list.

Built on the official ``mcp`` SDK (``MCPServer``); ``agentmem mcp`` runs it over stdio (for
desktop assistants that start it themselves) or streamable HTTP (bound to 127.0.0.1 by
default: that transport has no API keys, so do not expose it). Every tool acts on the one
user the server was started for; a memory id of another user is treated as unknown.
"""

from __future__ import annotations

import threading
from typing import Any, Literal

from agentmem._errors import MissingDependencyError, NotFoundError, NotKeptError
from agentmem._memory import Memory
from agentmem._models import Hit, Kind, MemoryItem

__all__ = ["build_mcp_server", "run_mcp_server"]

_INSTRUCTIONS = (
    "Long-term memory for the user {user}. Call `recall` with the user's question before "
    "answering anything that may depend on the past; call `remember` with short, "
    "self-contained facts worth keeping (one fact per call); `forget` removes a memory "
    "for good when the user asks."
)


def _item(item: MemoryItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "text": item.text,
        "kind": item.kind.value,
        "created_at": item.created_at.isoformat(),
        "valid_to": None if item.valid_to is None else item.valid_to.isoformat(),
        "metadata": item.metadata,
    }


def _hit(hit: Hit) -> dict[str, Any]:
    return {**_item(hit.item), "score": round(hit.score, 6), "signal": hit.signal}


def build_mcp_server(memory: Memory, user_id: str) -> Any:
    """An ``mcp`` ``MCPServer`` whose tools read and write ``user_id``'s memories."""
    try:
        from mcp.server.mcpserver import MCPServer
    except ImportError as exc:
        raise MissingDependencyError.for_extra("mcp", "server", "agentmem mcp") from exc
    memory.make_item("check", user_id=user_id)  # a bad user id fails now, not on first use
    lock = threading.Lock()
    server = MCPServer(
        "agentmem",
        instructions=_INSTRUCTIONS.format(user=user_id),
        log_level="WARNING",
    )

    @server.tool()
    def remember(text: str, session_id: str | None = None, kind: str = "fact") -> dict[str, Any]:
        """Store one memory about the user (a short, self-contained fact); returns it.

        When a retention policy does not keep it (e.g. memory is full of more important
        ones), the answer says so: ``kept`` is false and ``reason`` says why.
        """
        with lock:
            try:
                item = memory.add(text, user_id=user_id, session_id=session_id, kind=Kind(kind))
            except NotKeptError as exc:
                return {"id": exc.item.id, "kept": False, "reason": str(exc)}
            return _item(item)

    @server.tool()
    def recall(query: str, k: int = 5) -> list[dict[str, Any]]:
        """The k memories of the user most relevant to the query, best first, with scores."""
        with lock:
            return [_hit(hit) for hit in memory.search(query, user_id=user_id, k=k)]

    @server.tool()
    def forget(memory_id: str) -> dict[str, int]:
        """Delete one of the user's memories for good, by id (from recall or list_memories)."""
        with lock:
            try:
                owner = memory.get(memory_id).scope.user_id
            except NotFoundError:
                owner = None
            if owner != user_id:
                msg = f"no memory with id {memory_id!r} for {user_id!r}"
                raise NotFoundError(msg)
            return {"forgotten": memory.forget(user_id=user_id, ids=[memory_id])}

    @server.tool()
    def list_memories(include_closed: bool = False, limit: int = 100) -> list[dict[str, Any]]:
        """The user's memories, newest first (superseded ones too if include_closed)."""
        with lock:
            items = memory.items(user_id=user_id, include_closed=include_closed)
        return [_item(item) for item in reversed(items[-max(limit, 1) :])]

    return server


def run_mcp_server(
    memory: Memory,
    user_id: str,
    *,
    transport: Literal["stdio", "http"] = "stdio",
    host: str = "127.0.0.1",
    port: int = 8766,
) -> None:
    """Serve ``user_id``'s memories over MCP until the client goes away (or Ctrl-C)."""
    server = build_mcp_server(memory, user_id)
    if transport == "stdio":
        server.run("stdio")
    else:
        server.run("streamable-http", host=host, port=port)
