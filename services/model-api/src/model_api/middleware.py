"""Pure ASGI middleware: request ids, API key, body-size guard, metrics and access logs."""

from __future__ import annotations

import functools
import hmac
import itertools
import logging
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from model_api import metrics
from model_api.errors import (
    ModelAPIError,
    OverloadedError,
    PayloadTooLargeError,
    UnauthorizedError,
)
from model_api.http import CSV_MEDIA_TYPES, bare_media_type
from model_api.logs import request_id_var
from model_api.settings import Settings

log = logging.getLogger("model_api.access")

# Probes and scrapes: no key, no request metrics, access log only at debug level.
UNPROTECTED_PATHS = frozenset(
    {"/healthz", "/readyz", "/metrics", "/v2/health/live", "/v2/health/ready"}
)
# The API docs: the page and its assets load without a key (else its Authorize button could never
# be used); /openapi.json decides itself: without a key it is the public document (openapi.py).
DOCS_PATH = "/docs"
OPENAPI_PATH = "/openapi.json"
DOCS_ASSETS_PATH = "/docs/assets"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_HEADERS_USED = frozenset(
    {b"x-request-id", b"x-api-key", b"authorization", b"content-length", b"content-type"}
)
# Request ids: a random per-process prefix and a counter: unique, and far cheaper than uuid4.
_ID_PREFIX = uuid.uuid4().hex[:12]
_ID_COUNTER = itertools.count(1)


@functools.cache
def _request_series(template: str, method: str, status: int) -> tuple[Any, Any]:
    """The labelled request counter and duration histogram, looked up once per combination
    (route templates, methods and statuses are bounded, so the cache is too)."""
    return (
        metrics.HTTP_REQUESTS.labels(template, method, str(status)),
        metrics.HTTP_DURATION.labels(template, method),
    )


def offered_api_key(headers: Mapping[str, str]) -> str:
    """The key a request offers: ``X-API-Key``, else an ``Authorization: Bearer`` token."""
    offered = headers.get("x-api-key", "")
    authorization = headers.get("authorization", "")
    if not offered and authorization.lower().startswith("bearer "):
        offered = authorization[7:].strip()
    return offered


def _is_docs(path: str) -> bool:
    return path in (DOCS_PATH, OPENAPI_PATH) or path.startswith(DOCS_ASSETS_PATH + "/")


def _next_request_id() -> str:
    return f"{_ID_PREFIX}{next(_ID_COUNTER):012x}"


def error_body(
    path: str, code: str, message: str, request_id: str | None, details: list[Any] | None = None
) -> bytes:
    """The error shape of the path's API: ``{"error": "..."}`` for V2, the v1 shape otherwise."""
    if path.startswith("/v2"):
        return orjson.dumps({"error": message})
    return orjson.dumps(
        {
            "error": {"code": code, "message": message, "details": details or []},
            "request_id": request_id,
        }
    )


class RequestMiddleware:
    """Wraps every HTTP request; one instance per app."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        key = settings.api_key.get_secret_value() if settings.api_key else ""
        self._api_key = key.encode() if key else None
        self._in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        headers = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope["headers"]
            if name in _HEADERS_USED
        }
        incoming_id = headers.get("x-request-id", "")
        request_id = (
            incoming_id if incoming_id and _REQUEST_ID.match(incoming_id) else _next_request_id()
        )
        token = request_id_var.set(request_id)
        quiet = path in UNPROTECTED_PATHS
        started = time.perf_counter()
        status_holder = [500]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        if not quiet:
            metrics.HTTP_IN_FLIGHT.inc()
            self._in_flight += 1
        try:
            refusal = self._refusal(scope["method"], path, headers) or (
                None if quiet else self._overload()
            )
            if refusal is not None:
                metrics.ERRORS.labels(refusal.code).inc()
                body = error_body(path, refusal.code, refusal.message, request_id)
                await _send_json(send_with_id, refusal.status, body, refusal.headers)
            else:
                await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            status = status_holder[0]
            if not quiet:
                metrics.HTTP_IN_FLIGHT.dec()
                self._in_flight -= 1
                route = scope.get("route")
                template = getattr(route, "path", None) or "unmatched"
                counter, histogram = _request_series(template, scope["method"], status)
                counter.inc()
                histogram.observe(elapsed)
            # Errors are always logged; successful requests only with MODEL_API_ACCESS_LOG
            # (a log line costs a noticeable share of a single-row prediction).
            logged = status >= 400 or (self.settings.access_log and not quiet)
            level = logging.INFO if logged else logging.DEBUG
            if log.isEnabledFor(level):
                log.log(
                    level,
                    "request",
                    extra={
                        "method": scope["method"],
                        "path": path,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 3),
                        "client": (scope.get("client") or ("", 0))[0],
                    },
                )
            request_id_var.reset(token)

    def _overload(self) -> OverloadedError | None:
        """Past the in-flight limit, answer 503 at once instead of queueing without bound."""
        limit = self.settings.max_in_flight
        if limit and self._in_flight > limit:
            return OverloadedError(
                f"server busy: more than {limit} requests in flight; retry after 1 second"
            )
        return None

    def _refusal(self, method: str, path: str, headers: dict[str, str]) -> ModelAPIError | None:
        """A reason to answer before the app runs: missing key (401) or oversized body (413)."""
        # CORS preflights never carry credentials; CORS itself decides about them.
        needs_key = path not in UNPROTECTED_PATHS and method != "OPTIONS" and not _is_docs(path)
        if self._api_key is not None and needs_key:
            offered = offered_api_key(headers)
            if not offered:
                return UnauthorizedError("missing API key: send it in the X-API-Key header")
            if not hmac.compare_digest(offered.encode(), self._api_key):
                return UnauthorizedError("invalid API key")
        declared = headers.get("content-length", "")
        if declared.isdigit():
            is_csv = bare_media_type(headers.get("content-type", "")) in CSV_MEDIA_TYPES
            limit = self.settings.max_csv_bytes if is_csv else self.settings.max_request_bytes
            if int(declared) > limit:
                return PayloadTooLargeError(
                    f"request body of {declared} bytes exceeds the limit of {limit} bytes"
                )
        return None


async def _send_json(send: Any, status: int, body: bytes, extra_headers: dict[str, str]) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in extra_headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
