"""Pure ASGI middleware: request ids, API key, admission (body sizes, body deadlines, byte
budgets, requests in flight), unexpected errors, metrics and access logs."""

from __future__ import annotations

import asyncio
import functools
import hmac
import itertools
import logging
import math
import re
import time
import uuid
import weakref
from collections.abc import Mapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from model_api.codecs.csv import CSV_MEDIA_TYPES
from model_api.errors import (
    MissingAPIKeyError,
    ModelAPIError,
    NotFoundError,
    OverloadedError,
    PayloadTooLargeError,
    RequestTimeoutError,
    UnauthorizedError,
)
from model_api.http.errors import app_path, error_body
from model_api.observability import metrics
from model_api.observability.logs import request_id_var
from model_api.protocol.messages import bare_media_type
from model_api.settings import CSV_SPOOL_MEMORY_BYTES, Settings

log = logging.getLogger("model_api.access")
error_log = logging.getLogger("model_api")

# Probes and scrapes: no key, no request metrics, access log only at debug level.
UNPROTECTED_PATHS = frozenset(
    {"/healthz", "/readyz", "/metrics", "/v2/health/live", "/v2/health/ready"}
)
# The API docs: the page and its assets load without a key (else its Authorize button could never
# be used); /openapi.json decides itself: without a key it is the public document (openapi.py).
# The admin API: its own key (X-Admin-Key), never the client's; off without one.
ADMIN_PREFIX = "/v1/admin/"
ADMIN_KEY_HEADER = "x-admin-key"
# Bundle archives uploaded to the admin API are spooled like CSV uploads (and limited alike).
BUNDLE_MEDIA_TYPES = frozenset({"application/gzip", "application/x-gzip", "application/x-tar"})
DOCS_PATH = "/docs"
OPENAPI_PATH = "/openapi.json"
DOCS_ASSETS_PATH = "/docs/assets"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_HEADERS_USED = frozenset(
    {
        b"x-request-id",
        b"x-api-key",
        b"x-admin-key",
        b"authorization",
        b"content-length",
        b"content-type",
        b"transfer-encoding",
    }
)
INTERNAL_ERROR_MESSAGE = "internal error; see the server log"
# A body up to this size (a JSON request of a few hundred rows) may use the memory budget's
# reserve (MODEL_API_MAX_BODY_MEMORY_BYTES' last part, Settings.body_memory_reserve).
SMALL_BODY_BYTES = 64 * 1024
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


def api_key_refusal(headers: Mapping[str, str], key: bytes) -> UnauthorizedError | None:
    """Why a request's key is refused: none offered (MissingAPIKeyError), or another key
    (compared in constant time); None when it offers ``key``."""
    offered = offered_api_key(headers)
    if not offered:
        return MissingAPIKeyError("missing API key: send it in the X-API-Key header")
    if not hmac.compare_digest(offered.encode(), key):
        return UnauthorizedError("invalid API key")
    return None


def _is_docs(path: str) -> bool:
    return path in (DOCS_PATH, OPENAPI_PATH) or path.startswith(DOCS_ASSETS_PATH + "/")


def _next_request_id() -> str:
    return f"{_ID_PREFIX}{next(_ID_COUNTER):012x}"


class RequestMiddleware:
    """Wraps every HTTP request; one instance per app."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        key = settings.api_key.get_secret_value() if settings.api_key else ""
        self._api_key = key.encode() if key else None
        admin = settings.admin_key.get_secret_value() if settings.admin_key else ""
        self._admin_key = admin.encode() if admin else None
        self.admission = Admission(settings)

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
        status_holder = [0]  # the status sent; 0 until the response starts

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        body: RequestBody | None = None
        entered = False
        try:
            refusal = self._refusal(scope["method"], path, headers)
            if refusal is None and not quiet:
                refusal, body = self._admit(headers, receive, spooled(path, headers))
                entered = refusal is None and body is None
                receive = body.receive if body is not None else receive
            if refusal is not None:
                metrics.ERRORS.labels(refusal.code).inc()
                error = error_body(app_path(scope), refusal.code, refusal.message, request_id)
                await _send_json(send_with_id, refusal.status, error, refusal.headers)
            else:
                await self._serve(scope, receive, send_with_id, status_holder)
        finally:
            if body is not None:
                entered = body.finish()
            if entered:
                self.admission.leave()
            elapsed = time.perf_counter() - started
            status = status_holder[0] or 500
            if not quiet:
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

    async def _serve(
        self, scope: Scope, receive: Receive, send: Send, status_holder: list[int]
    ) -> None:
        """Run the app; a bug becomes a 500 that carries the request id, on a connection that
        stays usable (an error escaping to uvicorn drops the connection after the answer, so the
        client's next request on it fails)."""
        try:
            await self.app(scope, receive, send)
        except Exception:
            metrics.ERRORS.labels("internal_error").inc()
            if status_holder[0]:
                # Part of the answer is out (a streamed CSV): returning without finishing it makes
                # uvicorn close the connection, so the client sees a cut answer, never a short one.
                status_holder[0] = 500
                error_log.exception("error after the response started; the connection is closed")
                return
            error_log.exception("unhandled error", extra={"path": scope["path"]})
            body = error_body(
                app_path(scope), "internal_error", INTERNAL_ERROR_MESSAGE, request_id_var.get()
            )
            await _send_json(send, 500, body, {})

    def _admin_refusal(self, headers: dict[str, str]) -> ModelAPIError | None:
        """Why an admin request is refused: the admin API is off (404), or the request does
        not offer the admin key in X-Admin-Key (401); the client key never opens it."""
        if self._admin_key is None:
            return NotFoundError("the admin API is off: set MODEL_API_ADMIN_KEY to turn it on")
        offered = headers.get(ADMIN_KEY_HEADER, "")
        if not offered:
            return UnauthorizedError("missing admin key: send it in the X-Admin-Key header")
        if not hmac.compare_digest(offered.encode(), self._admin_key):
            return UnauthorizedError("invalid admin key")
        return None

    def _admit(
        self, headers: dict[str, str], receive: Receive, spooled: bool
    ) -> tuple[OverloadedError | None, RequestBody | None]:
        """Admit a request now, or refuse it (503). A request with a body holds the bytes that
        have arrived (never the length it declares: a client that declares 8 MiB and sends
        nothing holds nothing), and counts among those served once its body is in (RequestBody
        enters it then): a client still sending, or stalled, holds bytes and a deadline, no slot."""
        if not _has_body(headers):
            return self.admission.enter(), None
        return None, RequestBody(self.admission, receive, headers, spooled)

    def _refusal(self, method: str, path: str, headers: dict[str, str]) -> ModelAPIError | None:
        """A reason to answer before the app runs: missing key (401) or oversized body (413)."""
        # CORS preflights never carry credentials; CORS itself decides about them.
        if path.startswith(ADMIN_PREFIX):
            refusal = self._admin_refusal(headers)
            if refusal is not None:
                return refusal
        else:
            needs_key = path not in UNPROTECTED_PATHS and method != "OPTIONS" and not _is_docs(path)
            if self._api_key is not None and needs_key:
                refusal = api_key_refusal(headers, self._api_key)
                if refusal is not None:
                    return refusal
        declared = headers.get("content-length", "")
        if declared.isdigit():
            limit = (
                self.settings.max_csv_bytes
                if spooled(path, headers)
                else self.settings.max_request_bytes
            )
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


def _has_body(headers: dict[str, str]) -> bool:
    declared = headers.get("content-length", "")
    return "transfer-encoding" in headers or (declared.isdigit() and int(declared) > 0)


def spooled(path: str, headers: Mapping[str, str]) -> bool:
    """Whether the body is an upload spooled to disk past a few MiB (a CSV file, a bundle
    archive sent to the admin API) rather than read into memory."""
    media_type = bare_media_type(headers.get("content-type", ""))
    return media_type in CSV_MEDIA_TYPES or (
        path.startswith(ADMIN_PREFIX) and media_type in BUNDLE_MEDIA_TYPES
    )


def held_bytes(size: int, is_csv: bool) -> tuple[int, int]:
    """(memory, disk) bytes a body of ``size`` bytes holds: JSON and binary bodies are read into
    memory; a CSV upload is spooled in memory up to CSV_SPOOL_MEMORY_BYTES, then moved whole to
    /tmp (``SpooledTemporaryFile`` rolls over and frees its buffer)."""
    if not is_csv or size <= CSV_SPOOL_MEMORY_BYTES:
        return size, 0
    return 0, size


class Admission:
    """What one API process takes on at once: the requests being served (MODEL_API_MAX_IN_FLIGHT)
    and the bytes of request bodies held in memory and on disk (the body budgets)."""

    def __init__(self, settings: Settings) -> None:
        self.max_in_flight = settings.max_in_flight
        self.max_request_bytes = settings.max_request_bytes
        self.max_csv_bytes = settings.max_csv_bytes
        self.memory_budget = settings.body_memory_budget
        # Bodies past SMALL_BODY_BYTES may not use the last ``reserve`` bytes of the budget: kept
        # for small bodies (a prediction of a few rows), so uploads that fill the budget and stall
        # never refuse them.
        self.reserve = settings.body_memory_reserve
        self.disk_budget = settings.body_disk_budget
        self.deadlines = BodyDeadlines(
            settings.body_timeout_seconds, settings.body_min_bytes_per_second
        )
        self.in_flight = 0
        self.memory_held = 0
        self.disk_held = 0
        _ADMISSIONS.add(self)

    def enter(self) -> OverloadedError | None:
        """Count one more request served, or refuse it (503) at once instead of queueing."""
        limit = self.max_in_flight
        if limit and self.in_flight >= limit:
            return OverloadedError(
                f"server busy: {limit} requests in flight (MODEL_API_MAX_IN_FLIGHT); "
                "retry after 1 second"
            )
        self.in_flight += 1
        return None

    def leave(self) -> None:
        self.in_flight -= 1

    def hold(self, memory: int, disk: int, size: int) -> OverloadedError | None:
        """Take ``memory`` and ``disk`` more bytes of the budgets for a body that has reached
        ``size`` bytes, or refuse (503)."""
        budget = (
            self.memory_budget if size <= SMALL_BODY_BYTES else self.memory_budget - self.reserve
        )
        if memory and self.memory_held + memory > budget:
            return OverloadedError(
                f"server busy: request bodies would hold more than {budget} bytes "
                "of memory (MODEL_API_MAX_BODY_MEMORY_BYTES); retry after 1 second"
            )
        if disk and self.disk_held + disk > self.disk_budget:
            return OverloadedError(
                f"server busy: CSV uploads would spool more than {self.disk_budget} bytes to "
                "disk (MODEL_API_MAX_BODY_DISK_BYTES); retry after 1 second"
            )
        self.memory_held += memory
        self.disk_held += disk
        return None

    def release(self, memory: int, disk: int) -> None:
        self.memory_held -= memory
        self.disk_held -= disk


class RequestBody:
    """One request's body while it arrives: the receive callable the app reads it with, which
    holds its bytes in the budgets, lets BodyDeadlines cut it when it stops arriving (408), and
    enters the request among those served once the last byte is in."""

    __slots__ = (
        "_receive",
        "admission",
        "arriving",
        "disk",
        "entered",
        "is_csv",
        "limit",
        "memory",
        "received",
        "task",
        "timed_out",
        "waiting",
        "window_bytes",
        "window_end",
    )

    def __init__(
        self, admission: Admission, receive: Receive, headers: dict[str, str], spooled: bool
    ) -> None:
        self.admission = admission
        self._receive = receive
        self.is_csv = spooled
        self.limit = admission.max_csv_bytes if self.is_csv else admission.max_request_bytes
        self.received = self.memory = self.disk = 0
        self.arriving = True
        self.entered = self.waiting = self.timed_out = False
        self.task: asyncio.Task[Any] | None = None  # the task waiting for the body
        self.window_end = 0.0
        self.window_bytes = 0
        admission.deadlines.watch(self)

    def _hold(self, size: int) -> OverloadedError | None:
        memory, disk = held_bytes(size, self.is_csv)
        refusal = self.admission.hold(memory - self.memory, disk - self.disk, size)
        if refusal is None:
            self.memory, self.disk = memory, disk
        return refusal

    async def receive(self) -> Message:
        if not self.arriving:
            return await self._receive()
        self.task = asyncio.current_task()
        self.waiting = True
        try:
            message = await self._receive()
        except asyncio.CancelledError:
            # BodyDeadlines cancelled this wait (and no one else did): the body stopped arriving.
            if self.timed_out and self.task is not None and self.task.uncancel() == 0:
                raise self.admission.deadlines.timeout_error(self) from None
            raise
        finally:
            self.waiting = False
        if message["type"] != "http.request":  # http.disconnect: the client is gone
            self._stop_arriving()
            return message
        size = len(message.get("body", b""))
        self.received += size
        self.window_bytes += size
        # Past its size limit the body gets its 413 from the app, not a 503 from here.
        self._raise_if(self._hold(min(self.received, self.limit)))
        if not message.get("more_body", False):
            self._stop_arriving()
            self._raise_if(self.admission.enter())
            self.entered = True
        return message

    def _raise_if(self, refusal: OverloadedError | None) -> None:
        """Raise ``refusal`` (if any) with no frame keeping a reference to it.

        A frame holding the exception it raises makes a reference cycle (the traceback holds the
        frame), and the app's frames on that traceback hold the body read so far: megabytes per
        refused upload, kept until the cyclic collector runs, which the API runs rarely."""
        if refusal is None:
            return
        self._stop_arriving()
        try:
            raise refusal
        finally:
            del refusal

    def time_out(self) -> None:
        """Called by BodyDeadlines while the app waits for more of a body that stopped coming."""
        self.timed_out = True
        self._stop_arriving()
        if self.task is not None:
            self.task.cancel()

    def _stop_arriving(self) -> None:
        if self.arriving:
            self.arriving = False
            self.admission.deadlines.forget(self)

    def finish(self) -> bool:
        """The request is answered: give its bytes back; True if it was entered among those
        served (the caller then counts it out)."""
        self._stop_arriving()
        self.admission.release(self.memory, self.disk)
        self.memory = self.disk = 0
        return self.entered


class BodyDeadlines:
    """Cuts request bodies that stop arriving, like nginx's client_body_timeout with a minimum
    rate: each ``period`` must bring at least ``min_rate`` x ``period`` bytes (and at least one),
    else the request gets a 408 and its connection is closed. A slow but steady upload of any
    size passes; a stalled one frees its bytes within about two periods.

    One timer checks every body still arriving a few times per period, so a request pays for a
    set insertion, not a timer of its own."""

    def __init__(self, period: float, min_rate: int) -> None:
        self.period = period
        self.required = max(1, math.ceil(min_rate * period))
        self.tick = min(1.0, period / 4)
        self._watched: set[RequestBody] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def watch(self, body: RequestBody) -> None:
        loop = asyncio.get_running_loop()
        body.window_end = loop.time() + self.period
        self._watched.add(body)
        if self._timer is None or self._loop is not loop:
            self._loop = loop
            self._timer = loop.call_later(self.tick, self._check)

    def forget(self, body: RequestBody) -> None:
        self._watched.discard(body)

    def __len__(self) -> int:
        """Bodies still arriving."""
        return len(self._watched)

    def _check(self) -> None:
        loop = self._loop
        assert loop is not None
        now = loop.time()
        for body in [b for b in self._watched if b.window_end <= now]:
            # While the app is busy elsewhere (not waiting for the body), the client is not late.
            if body.window_bytes >= self.required or not body.waiting:
                body.window_end, body.window_bytes = now + self.period, 0
            else:
                body.time_out()
        self._timer = loop.call_later(self.tick, self._check) if self._watched else None

    def timeout_error(self, body: RequestBody) -> RequestTimeoutError:
        return RequestTimeoutError(
            f"request body too slow: fewer than {self.required} bytes arrived in "
            f"{self.period:g} seconds ({body.received} bytes received; "
            "MODEL_API_BODY_TIMEOUT_SECONDS, MODEL_API_BODY_MIN_BYTES_PER_SECOND); "
            "the connection is closed"
        )


# The gauges are read from the admissions when /metrics is scraped: a request pays for a few
# integer additions, not for locked gauge updates.
_ADMISSIONS: weakref.WeakSet[Admission] = weakref.WeakSet()
metrics.HTTP_IN_FLIGHT.set_function(lambda: sum(a.in_flight for a in _ADMISSIONS))
metrics.HTTP_BODIES_RECEIVING.set_function(lambda: sum(len(a.deadlines) for a in _ADMISSIONS))
metrics.HTTP_BODY_BYTES.labels("memory").set_function(
    lambda: sum(a.memory_held for a in _ADMISSIONS)
)
metrics.HTTP_BODY_BYTES.labels("disk").set_function(lambda: sum(a.disk_held for a in _ADMISSIONS))
