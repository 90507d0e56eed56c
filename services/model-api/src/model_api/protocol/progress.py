"""Long labelled-file work (evaluate, compare) answered as a progress stream, when asked.

A client that sends ``Accept: application/x-ndjson`` gets the answer as JSON lines while the
work runs: ``{"progress": {...}}`` a few times a second (rows judged so far, the share of the
file read, the stage), then one ``{"result": ...}`` with the answer the plain request gets, or
one ``{"error": ...}`` with the error body's fields and its HTTP status. The status line (200)
is sent before the work starts, so an error found later can only be a line; an error found
before (the request, the header) is still a plain 4xx.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Iterator
from typing import IO, Any

import orjson

from model_api.errors import ModelAPIError
from model_api.observability import metrics
from model_api.observability.logs import request_id_var
from model_api.protocol.messages import Incoming

PROGRESS_MEDIA_TYPE = "application/x-ndjson"
# Often enough for a progress bar to move smoothly, rarely enough to cost nothing.
PROGRESS_EVERY_SECONDS = 0.25

log = logging.getLogger("model_api")


def wants_progress(incoming: Incoming) -> bool:
    return PROGRESS_MEDIA_TYPE in (incoming.header("accept") or "")


def _line(body: dict[str, Any]) -> str:
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY).decode() + "\n"


def _progress(rows: int, fraction: float, stage: str) -> str:
    return _line({"progress": {"rows": rows, "fraction": round(fraction, 4), "stage": stage}})


def _error(status: int, code: str, message: str, details: list[Any]) -> str:
    metrics.ERRORS.labels(code).inc()
    error = {"status": status, "code": code, "message": message, "details": details}
    return _line({"error": error, "request_id": request_id_var.get()})


def progress_lines[Done](
    steps: Generator[int, None, Done],
    upload: IO[bytes],
    size: int,
    finish: Callable[[Done], dict[str, Any]],
) -> Iterator[str]:
    """The lines of a progress stream: ``steps`` yields the rows judged so far after each chunk
    (the share read is ``upload``'s position in its ``size`` bytes) and returns what ``finish``
    turns into the answer (the "metrics" stage)."""
    yield _progress(0, 0.0, "scoring")
    shown, rows = time.monotonic(), 0
    try:
        while True:
            try:
                rows = next(steps)
            except StopIteration as done:
                judged = done.value
                break
            now = time.monotonic()
            if now - shown >= PROGRESS_EVERY_SECONDS:
                shown = now
                yield _progress(rows, min(1.0, upload.tell() / max(size, 1)), "scoring")
        yield _progress(rows, 1.0, "metrics")
        result = finish(judged)
    except ModelAPIError as error:
        yield _error(error.status, error.code, error.message, error.details)
        return
    except Exception:
        log.exception("a progress-streamed evaluation failed")
        yield _error(500, "internal_error", "the evaluation failed on the server", [])
        return
    yield _line({"result": result})
