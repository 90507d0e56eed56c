"""The uvicorn server of the API: its configuration, and an HTTP protocol that bounds request heads.

uvicorn's httptools protocol waits for a request's line and headers without a deadline and takes
headers of any size: a client that connects and sends nothing, half a header, or an endless one
would hold its connection, and memory, for as long as it likes. ``BoundedHeadProtocol`` gives
every request head a deadline and a size limit and closes the connection past either. (Request
bodies are bounded by ``middleware.RequestMiddleware``: sizes, deadlines and byte budgets.)

uvicorn's ``limit_concurrency`` is left off on purpose: it counts open connections, idle and
stalled ones included, so a few stalled clients would get every other client a 503.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from model_api.http.errors import error_body
from model_api.observability import metrics
from model_api.settings import Settings


class BoundedHeadProtocol(HttpToolsProtocol):
    """HTTP/1.1 whose request heads must arrive within ``head_timeout`` seconds of the connection
    opening or the previous response ending (else the connection is closed) and hold at most
    ``max_head_bytes`` bytes (else 431, and the connection is closed)."""

    head_timeout = 20.0
    max_head_bytes = 64 * 1024
    # After a 431 the rest of what the client sends is read and dropped this long before the
    # connection closes: closing on unread data resets the connection, which can destroy the
    # answer before the client reads it (nginx's lingering close).
    linger_seconds = 2.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer: asyncio.TimerHandle | None = None
        self._in_head = False  # between the first byte of a request and the end of its headers
        self._head_bytes = 0
        self._heads_begun = 0
        self._discarding = False
        self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            return
        begun = self._heads_begun
        super().data_received(data)
        # A chunk in which a head began may end a previous body: only later chunks are counted
        # whole, so the limit is never hit early (and overshoots by one read at most).
        if self._in_head and begun == self._heads_begun:
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head_bytes and not self.transport.is_closing():
                self._refuse_large_head()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0
        self._heads_begun += 1

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._cancel_head_deadline()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        next_head_pending = not self.pipeline  # a pipelined request's head is already complete
        super().on_response_complete()
        if next_head_pending and not self.transport.is_closing():
            self._arm_head_deadline()

    def _arm_head_deadline(self) -> None:
        self._cancel_head_deadline()
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _cancel_head_deadline(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            # Like nginx's client_header_timeout: close without an answer (the client may not
            # even have started a request).
            metrics.HTTP_CONNECTIONS_CLOSED.labels("header_timeout").inc()
            self.transport.close()

    def _refuse_large_head(self) -> None:
        metrics.HTTP_CONNECTIONS_CLOSED.labels("header_too_large").inc()
        # The error shape of the API asked (V2 or v1), as far as the request line has arrived.
        body = error_body(
            self.url.decode("latin-1"),
            "header_too_large",
            f"request line and headers exceed {self.max_head_bytes} bytes "
            "(MODEL_API_MAX_HEADER_BYTES)",
            None,
        )
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/json\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body)
        )
        self._discarding = True
        self._cancel_head_deadline()
        if self.transport.can_write_eof():
            self.transport.write_eof()  # the answer is complete; reading goes on for a while
        self.loop.call_later(self.linger_seconds, self.transport.close)


def http_protocol(settings: Settings) -> type[BoundedHeadProtocol]:
    """The protocol class with the head deadline and size limit of ``settings``."""
    return type(
        "ModelAPIProtocol",
        (BoundedHeadProtocol,),
        {
            "head_timeout": settings.header_timeout_seconds,
            "max_head_bytes": settings.max_header_bytes,
        },
    )


def server_config(app: Any, settings: Settings) -> uvicorn.Config:
    """How ``model-api serve`` runs ``app`` under uvicorn (logging is configured by the caller)."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=http_protocol(settings),
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.graceful_shutdown_seconds),
        server_header=False,
    )
