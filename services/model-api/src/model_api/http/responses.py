"""Small HTTP helpers: fast JSON responses, bounded body reads, and the request and response
types the model operations are served through."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from model_api.errors import PayloadTooLargeError
from model_api.protocol.messages import JSON_OPTIONS, Answer, StreamedAnswer, bare_media_type


class JSONBytes(Response):
    """A JSON response serialised with orjson (numpy arrays included)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=JSON_OPTIONS)


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing (413) past ``limit`` bytes while it streams in.

    (A declared Content-Length past the limit was already refused by the middleware.)"""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class ModelRequest(Request):
    """A request to a model operation: Starlette's request as the protocol code reads it
    (``protocol.messages.Incoming``); the fast path builds it instead of a plain Request."""

    @property
    def content_type(self) -> str:
        return bare_media_type(self.headers.get("content-type", ""))

    def query(self, name: str) -> str | None:
        # Most requests have no query string: only those pay for parsing one.
        return self.query_params.get(name) if self.scope["query_string"] else None

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    async def read(self, limit: int) -> bytes:
        return await read_body(self, limit)

    def chunks(self) -> AsyncIterator[bytes]:
        return self.stream()


class ClosingStreamingResponse(StreamingResponse):
    """A streamed answer whose lines are closed as soon as it ends, however it ends (all sent,
    the client gone, an error), so the code producing them lets go at once of what it holds (an
    upload's spool, an evaluation slot) rather than whenever the garbage collector finds it."""

    def __init__(self, answer: StreamedAnswer) -> None:
        super().__init__(answer.lines, media_type=answer.media_type, headers=answer.headers)
        self.lines = answer.lines

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            close = getattr(self.lines, "close", None)
            if close is not None:
                close()


def response_of(answer: Answer | StreamedAnswer) -> Response:
    """The Starlette response carrying a protocol answer; a streamed one's lines are produced
    in Starlette's worker threads (they parse and predict)."""
    if isinstance(answer, StreamedAnswer):
        return ClosingStreamingResponse(answer)
    return Response(answer.body, media_type=answer.media_type, headers=answer.headers)
