"""What a protocol function reads of a request, and the answer it gives back.

The protocol code sees a request only through ``Incoming`` (``http.responses.ModelRequest``
implements it over Starlette's request), and answers with plain bytes or lines, so the same
function serves FastAPI's routes and the fast path and knows nothing of the web framework.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import orjson

from model_api.errors import UnsupportedMediaTypeError

if TYPE_CHECKING:
    from model_api.protocol.prediction_log import PredictionLog
    from model_api.protocol.shadow import ShadowScoring
    from model_api.serving.registry import LoadedModel, ModelRegistry
    from model_api.settings import Settings

JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


class Incoming(Protocol):
    """A request to a model operation, as the protocol code reads it."""

    @property
    def content_type(self) -> str:
        """The bare media type (``text/csv``), lower case; empty when the request has none."""
        ...

    def query(self, name: str) -> str | None:
        """A query parameter's value; None when absent (a request without a query string never
        has one parsed)."""
        ...

    def header(self, name: str) -> str | None:
        """A request header's value (the name in lower case); None when absent."""
        ...

    async def read(self, limit: int) -> bytes:
        """The whole body; 413 once it passes ``limit`` bytes."""
        ...

    def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives, for uploads too large to hold (CSV)."""
        ...


@dataclass(slots=True)
class Answer:
    """A whole answer: its bytes, media type and extra headers (status 200)."""

    body: bytes
    media_type: str = "application/json"
    headers: dict[str, str] | None = None


@dataclass(slots=True)
class StreamedAnswer:
    """An answer written while it is sent (a scored CSV, a progress stream): ``lines`` are
    produced on demand, by blocking code (parsing and predicting), so the web layer runs them
    off the event loop, and closed (a generator's ``finally`` runs) as soon as the answer ends,
    sent or not."""

    lines: Iterator[str]
    media_type: str
    headers: dict[str, str]


@dataclass(slots=True)
class Services:
    """What a model operation works with besides the model and the request: the settings, and
    the prediction log (None when it is off, or before the app has started)."""

    settings: Settings
    log: PredictionLog | None = None
    # The models served (compare reads a second one).
    registry: ModelRegistry | None = None
    # The shadow versions scoring live traffic (None when MODEL_API_SHADOW names none).
    shadow: ShadowScoring | None = None
    # Evaluations running now (each holds a few numbers per row of its file until it ends).
    evaluations: threading.BoundedSemaphore = field(init=False)

    def __post_init__(self) -> None:
        self.evaluations = threading.BoundedSemaphore(self.settings.max_concurrent_evaluations)


# Every model operation (v1 predict and explain, V2 infer) has this signature.
ModelOperation = Callable[["LoadedModel", Incoming, Services], Awaitable[Answer | StreamedAnswer]]


def bare_media_type(content_type: str) -> str:
    """``Text/CSV; charset=utf-8`` → ``text/csv``."""
    return content_type.split(";", 1)[0].strip().lower()


def require_json_type(kind: str) -> None:
    """Accept application/json (or +json, or no content type); 415 otherwise."""
    if kind and kind != "application/json" and not kind.endswith("+json"):
        raise UnsupportedMediaTypeError(
            f"content type {kind!r} is not supported here; send application/json (curl: -H 'Content-Type: application/json')"
        )
