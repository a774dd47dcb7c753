"""``create_app(memory, keys)``: the FastAPI application that serves a :class:`Memory`.

It holds the ``/v1`` API (see :mod:`agentmem.server.routes`), the OpenAPI schema at
``/openapi.json``, its documentation at ``/docs`` and ``/redoc`` (Swagger UI and ReDoc
served from the package ``fastapi-offline``, so no CDN is needed), and the inspector page
at ``/``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

import agentmem
from agentmem._agent import Agent
from agentmem._errors import MissingDependencyError
from agentmem._memory import Memory
from agentmem.server.auth import Keys
from agentmem.server.errors import install_error_handlers
from agentmem.server.limits import BodyLimitMiddleware, RateLimiter
from agentmem.server.routes import Service, router

__all__ = ["DEFAULT_MAX_BODY_BYTES", "DEFAULT_RATE", "create_app"]

logger = logging.getLogger("agentmem.server")

DEFAULT_MAX_BODY_BYTES = 1_000_000
DEFAULT_RATE = 100.0
INSPECTOR = Path(__file__).parent / "inspector"

_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


def _docs_assets() -> Path:
    try:
        import fastapi_offline
    except ImportError as exc:
        raise MissingDependencyError.for_extra(
            "fastapi_offline", "server", "the offline API docs"
        ) from exc
    return Path(fastapi_offline.__file__).parent / "static"


def create_app(
    memory: Memory,
    keys: Keys | Mapping[str, object],
    *,
    agent: Agent | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    rate: float = DEFAULT_RATE,
    burst: int | None = None,
    close_memory: bool = False,
) -> FastAPI:
    """Build the HTTP application over ``memory``.

    Args:
        memory: the memory to serve.
        keys: the API keys (a :class:`Keys`, or the mapping KEYS.json holds).
        agent: answers ``POST /v1/chat``; ``None`` leaves chat off (501).
        max_body_bytes: the largest request body accepted (413 above it).
        rate: requests per second allowed per API key, on average (0: no limit).
        burst: how many requests a key may make at once (default: twice ``rate``).
        close_memory: close the memory when the application shuts down.
    """
    if not isinstance(keys, Keys):
        keys = Keys(keys)  # type: ignore[arg-type]
    service = Service(memory=memory, keys=keys, limiter=RateLimiter(rate, burst), agent=agent)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if close_memory:
            with service.lock:
                memory.close()

    app = FastAPI(
        title="agentmem",
        version=agentmem.__version__,
        description="Long-term memory for LLM agents, over HTTP. Send `Authorization: Bearer KEY`.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.service = service
    install_error_handlers(app)
    app.include_router(router)

    assets = _docs_assets()
    app.mount("/_docs", StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="agentmem API",
            swagger_js_url="/_docs/swagger-ui-bundle.js",
            swagger_css_url="/_docs/swagger-ui.css",
            swagger_favicon_url="/_docs/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title="agentmem API",
            redoc_js_url="/_docs/redoc.standalone.js",
            redoc_favicon_url="/_docs/favicon.png",
            with_google_fonts=False,
        )

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Cache-Control", "no-store")
        if not request.url.path.startswith(("/docs", "/redoc")):
            response.headers.setdefault("Content-Security-Policy", _CSP)
            response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    app.mount("/", StaticFiles(directory=INSPECTOR, html=True), name="inspector")
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    return app
