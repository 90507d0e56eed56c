"""Domain errors and the single place that maps them to HTTP status codes."""

from __future__ import annotations

from typing import Any, ClassVar


class ModelAPIError(Exception):
    """Base of every error the API answers on purpose; ``status`` is the HTTP status code."""

    status = 500
    code = "internal_error"
    headers: ClassVar[dict[str, str]] = {}  # extra response headers

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class InvalidInputError(ModelAPIError):
    """The request's data does not match the model's features (422)."""

    status = 422
    code = "invalid_input"


class BadRequestError(ModelAPIError):
    """The request is malformed: not JSON, wrong content type, bad tensor (400)."""

    status = 400
    code = "bad_request"


class NotFoundError(ModelAPIError):
    """Something the request names does not exist (404); subclasses say what."""

    status = 404
    code = "not_found"


class ModelNotFoundError(NotFoundError):
    """No model (or version) by that name in the repository (404)."""

    code = "model_not_found"


class PredictionNotFoundError(NotFoundError):
    """No logged prediction has that id: never made, not recorded (sampling), or purged (404)."""

    code = "prediction_not_found"


class EvaluationNotFoundError(NotFoundError):
    """No stored evaluation run has that id (404)."""

    code = "evaluation_not_found"


class FeedbackUnavailableError(ModelAPIError):
    """The prediction log is off, or its database cannot be reached right now (503)."""

    status = 503
    code = "feedback_unavailable"


class PayloadTooLargeError(ModelAPIError):
    """The body or the row count is past the configured limit (413)."""

    status = 413
    code = "payload_too_large"


class UnsupportedMediaTypeError(ModelAPIError):
    """A content type the endpoint does not take (415)."""

    status = 415
    code = "unsupported_media_type"


class NotReadyError(ModelAPIError):
    """Models are still loading or failed to load (503)."""

    status = 503
    code = "not_ready"


class OverloadedError(ModelAPIError):
    """More requests in flight than ``MODEL_API_MAX_IN_FLIGHT``, or more body bytes than the
    body budgets allow (503, retry after a second)."""

    status = 503
    code = "overloaded"
    headers: ClassVar[dict[str, str]] = {"retry-after": "1"}


class RequestTimeoutError(ModelAPIError):
    """The request body stopped arriving (408); the connection is closed, its body unfinished."""

    status = 408
    code = "request_timeout"
    headers: ClassVar[dict[str, str]] = {"connection": "close"}


class ConflictError(ModelAPIError):
    """The request conflicts with what the repository holds (409): a version that exists, an
    alias that names the version to remove, a repository that cannot be written."""

    status = 409
    code = "conflict"


class UnauthorizedError(ModelAPIError):
    """Missing or wrong API key (401)."""

    status = 401
    code = "unauthorized"
    headers: ClassVar[dict[str, str]] = {"www-authenticate": "Bearer"}


class MissingAPIKeyError(UnauthorizedError):
    """No API key offered at all (401; ``/openapi.json`` serves the public document instead)."""


class BundleError(Exception):
    """A model bundle on disk is missing, corrupt or inconsistent; the message names the problem."""
