"""How every error becomes a JSON answer: the error body shapes of v1 and V2, and the app's
exception handlers (the fast path uses them too, through ``response_for``)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import Scope

from model_api.errors import ModelAPIError
from model_api.observability import metrics
from model_api.observability.logs import request_id_var

log = logging.getLogger("model_api")


def _v1_body(code: str, message: str, request_id: str | None, details: list[Any]) -> bytes:
    return orjson.dumps(
        {"error": {"code": code, "message": message, "details": details}, "request_id": request_id}
    )


def _v2_body(code: str, message: str, request_id: str | None, details: list[Any]) -> bytes:
    return orjson.dumps({"error": message})


@dataclass(frozen=True)
class ErrorShape:
    """How one API spells its errors: the body, the OpenAPI schema naming it, and the status of
    a request whose input is invalid."""

    write: Callable[[str, str, str | None, list[Any]], bytes]
    schema: str
    invalid_input_status: int


V1_ERROR_SHAPE = ErrorShape(_v1_body, "ErrorResponse", 422)
# The Open Inference Protocol reports input errors as 400, and its error body is a message alone.
V2_ERROR_SHAPE = ErrorShape(_v2_body, "V2ErrorResponse", 400)


def app_path(scope: Scope) -> str:
    """A request's path inside the app: behind a proxy's prefix (a root_path), without it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def error_shape(path: str) -> ErrorShape:
    """The error shape of the API ``path`` belongs to (the one place that decides it)."""
    return V2_ERROR_SHAPE if path.startswith("/v2") else V1_ERROR_SHAPE


def error_body(
    path: str, code: str, message: str, request_id: str | None, details: list[Any] | None = None
) -> bytes:
    """The error body of the path's API: ``{"error": "..."}`` for V2, the v1 shape otherwise."""
    return error_shape(path).write(code, message, request_id, details or [])


def error_response(
    request: Request, status: int, code: str, message: str, details: list[Any]
) -> Response:
    shape = error_shape(app_path(request.scope))
    metrics.ERRORS.labels(code).inc()
    if status == 422:
        status = shape.invalid_input_status
    body = shape.write(code, message, request_id_var.get(), details)
    return Response(body, status_code=status, media_type="application/json")


async def domain_error(request: Request, exc: ModelAPIError) -> Response:
    response = error_response(request, exc.status, exc.code, exc.message, exc.details)
    response.headers.update(exc.headers)
    return response


async def validation_error(request: Request, exc: RequestValidationError) -> Response:
    details = [
        {"loc": [str(p) for p in err.get("loc", [])], "msg": err.get("msg", "invalid")}
        for err in exc.errors()
    ]
    message = "; ".join(f"{'.'.join(d['loc'])}: {d['msg']}" for d in details) or "invalid request"
    return error_response(request, 422, "invalid_input", message, details)


# FastAPI's answer to a JSON body it cannot even decode (not UTF-8): refused like any body that
# is not the JSON the operation takes, a 422 naming the body.
_UNREADABLE_BODY = "There was an error parsing the body"


async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
    if exc.status_code == 400 and exc.detail == _UNREADABLE_BODY:
        problem = "not a JSON document (UTF-8)"
        details = [{"loc": ["body"], "msg": problem}]
        return error_response(request, 422, "invalid_input", f"body: {problem}", details)
    codes = {404: "not_found", 405: "method_not_allowed"}
    message = str(exc.detail)
    if exc.status_code == 404:
        message = f"no endpoint at {request.url.path}; see /docs"
    response = error_response(
        request, exc.status_code, codes.get(exc.status_code, "http_error"), message, []
    )
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def client_gone(request: Request, exc: ClientDisconnect) -> Response:
    # Nobody is left to read an answer; 499 (nginx's "client closed request") keeps the
    # metrics honest without calling it a server error.
    metrics.ERRORS.labels("client_disconnected").inc()
    return Response(status_code=499)


async def unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error", extra={"path": request.url.path})
    return error_response(request, 500, "internal_error", "internal error; see the server log", [])


# Exception type -> handler; FastAPI gets them all (``install``), and ``response_for`` picks the
# same handler the same way (the nearest class in the exception's MRO).
HANDLERS: dict[type[Exception], Callable[[Request, Any], Awaitable[Response]]] = {
    ModelAPIError: domain_error,
    RequestValidationError: validation_error,
    StarletteHTTPException: http_error,
    ClientDisconnect: client_gone,
    Exception: unexpected_error,
}


async def response_for(request: Request, exc: Exception) -> Response:
    """The answer the app's handlers give for ``exc`` (for code that runs outside FastAPI)."""
    handler = next(HANDLERS[kind] for kind in type(exc).__mro__ if kind in HANDLERS)
    return await handler(request, exc)


def install(app: FastAPI) -> None:
    for kind, handler in HANDLERS.items():
        app.add_exception_handler(kind, handler)
