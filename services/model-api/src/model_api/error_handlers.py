"""How every error becomes a JSON answer: the app's exception handlers, also used by ``fastpath``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from model_api import metrics
from model_api.errors import ModelAPIError
from model_api.logs import request_id_var
from model_api.middleware import error_body

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
    return error_response(request, exc.status, exc.code, exc.message, exc.details)


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


async def response_for(request: Request, exc: Exception) -> Response:
    """The answer the app's handlers give for ``exc`` (for code that runs outside FastAPI)."""
    if isinstance(exc, ModelAPIError):
        return await domain_error(request, exc)
    if isinstance(exc, ClientDisconnect):
        return await client_gone(request, exc)
    if isinstance(exc, StarletteHTTPException):
        return await http_error(request, exc)
    return await unexpected_error(request, exc)


def install(app: FastAPI) -> None:
    app.add_exception_handler(ModelAPIError, domain_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, http_error)  # type: ignore[arg-type]
    app.add_exception_handler(ClientDisconnect, client_gone)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, unexpected_error)
