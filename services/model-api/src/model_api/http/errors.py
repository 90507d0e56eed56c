"""How every error becomes a JSON answer: the app's exception handlers, also used by ``fastpath``."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from model_api.errors import ModelAPIError
from model_api.http.middleware import error_body
from model_api.observability import metrics
from model_api.observability.logs import request_id_var

log = logging.getLogger("model_api")


def error_response(
    request: Request, status: int, code: str, message: str, details: list[Any]
) -> Response:
    path = request.url.path
    metrics.ERRORS.labels(code).inc()
    if path.startswith("/v2") and status == 422:
        status = 400  # the Open Inference Protocol reports input errors as 400
    body = error_body(path, code, message, request_id_var.get(), details)
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


async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
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
