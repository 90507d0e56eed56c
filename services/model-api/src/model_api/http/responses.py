"""Small HTTP helpers shared by the routes: fast JSON responses, bounded body reads."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from starlette.responses import Response

from model_api.errors import BadRequestError, PayloadTooLargeError, UnsupportedMediaTypeError

JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY
CSV_MEDIA_TYPES = frozenset({"text/csv", "application/csv"})


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


def media_type(request: Request) -> str:
    return bare_media_type(request.headers.get("content-type", ""))


def bare_media_type(content_type: str) -> str:
    """``Text/CSV; charset=utf-8`` → ``text/csv``."""
    return content_type.split(";", 1)[0].strip().lower()


def require_json_type(kind: str) -> None:
    """Accept application/json (or +json, or no content type); 415 otherwise."""
    if kind and kind != "application/json" and not kind.endswith("+json"):
        raise UnsupportedMediaTypeError(
            f"content type {kind!r} is not supported here; send application/json (curl: -H 'Content-Type: application/json')"
        )


def parse_json(body: bytes) -> Any:
    """Parse a JSON body; 400 with the parser's position on malformed JSON."""
    if not body:
        raise BadRequestError("request body is empty; expected a JSON object")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(f"request body is not valid JSON: {exc}") from None
