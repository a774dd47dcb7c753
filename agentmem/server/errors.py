"""Library errors as HTTP responses: a status code and the library's message, never a trace.

=========================  ======  ==========================================
error                      status  why
=========================  ======  ==========================================
request validation         422     the body or query does not fit the schema
InvalidInputError          422     the memory refused a value (its message)
NotFoundError              404     no memory or event with that id
NotKeptError               409     stored, then at once not kept by a policy
MissingDependencyError     501     the server lacks an optional dependency
UserError (other)          400     the request cannot be carried out as asked
ClosedError, StoreError    503     the memory cannot serve now; try again
ModelError                 502     the configured language model failed
anything else              500     logged with its trace here, not sent
=========================  ======  ==========================================
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from agentmem._errors import (
    ClosedError,
    InvalidInputError,
    MissingDependencyError,
    ModelError,
    NotFoundError,
    NotKeptError,
    StoreError,
    UserError,
)

__all__ = ["install_error_handlers", "status_of"]

logger = logging.getLogger("agentmem.server")


def status_of(exc: Exception) -> int:
    """The HTTP status a library error maps to (500 for anything unexpected)."""
    for kind, status in (
        (InvalidInputError, 422),
        (NotFoundError, 404),
        (NotKeptError, 409),
        (MissingDependencyError, 501),
        (ClosedError, 503),
        (UserError, 400),
        (StoreError, 503),
        (ModelError, 502),
    ):
        if isinstance(exc, kind):
            return status
    return 500


def _where(loc: Any) -> str:
    return ".".join(str(part) for part in loc if part not in ("body",)) or "body"


def _validation_message(errors: list[Any]) -> str:
    parts = []
    for error in errors[:5]:
        message = str(error.get("msg", "invalid"))
        parts.append(f"{_where(error.get('loc', ()))}: {message}")
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more


def _plain_errors(errors: list[Any]) -> list[dict[str, Any]]:
    return [
        {"loc": list(error.get("loc", ())), "msg": str(error.get("msg", "")), "type": error["type"]}
        for error in errors[:20]
    ]


def install_error_handlers(app: FastAPI) -> None:
    """Map every error a request can raise to a JSON body with a ``detail`` message."""

    async def request_invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError | ValidationError)
        errors = list(exc.errors())
        return JSONResponse(
            {"detail": _validation_message(errors), "errors": _plain_errors(errors)},
            status_code=422,
        )

    async def library(request: Request, exc: Exception) -> JSONResponse:
        status = status_of(exc)
        if status >= 500:
            logger.warning(
                "%s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc
            )
        return JSONResponse({"detail": str(exc)}, status_code=status)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"detail": "internal server error (logged on the server)"}, 500)

    app.add_exception_handler(RequestValidationError, request_invalid)
    app.add_exception_handler(ValidationError, request_invalid)
    for kind in (UserError, NotKeptError, StoreError, ModelError):
        app.add_exception_handler(kind, library)
    app.add_exception_handler(Exception, unexpected)
