"""Memory as a service: an HTTP API, an MCP server and an inspector page over :class:`Memory`.

These are thin layers: authentication, limits and transport, never memory logic::

    app.py        create_app(memory, keys): the FastAPI application (API, inspector, docs)
    routes.py     the /v1 endpoints, each one call to Memory after the tenant check
    auth.py       API keys from KEYS.json, bearer tokens, constant-time comparison
    limits.py     request body size limit and per-key rate limit
    errors.py     library errors as HTTP status codes, never a stack trace
    schemas.py    request bodies (responses are the library's own models)
    mcp.py        the Model Context Protocol server, scoped to one user
    inspector/    the static page served at ``/`` (no CDN: works offline)

Needs the ``server`` extra: ``pip install "agentmem[server]"``.
"""

from __future__ import annotations

from agentmem._errors import MissingDependencyError

try:
    import fastapi  # noqa: F401
    import uvicorn  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised without the extra
    raise MissingDependencyError.for_extra(
        exc.name or "fastapi", "server", "agentmem's HTTP server"
    ) from exc

from agentmem.server.app import create_app
from agentmem.server.auth import Keys, Principal

__all__ = ["Keys", "Principal", "create_app"]
