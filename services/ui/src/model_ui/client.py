"""The UI's HTTP clients (the model API, Prometheus): timeouts on every call, retries for reads.

Every failure becomes an :class:`ApiError` that names the service and URL tried and what went
wrong, with the service's own error message passed up intact, so pages can show it instead of a
traceback.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import date
from typing import Any, Literal
from urllib.parse import quote, unquote

import httpx
from model_contract import (
    ComparisonResponse,
    EvaluationList,
    EvaluationProgress,
    EvaluationResponse,
    ExplainResponse,
    ModelAliases,
    ModelList,
    ModelMetadata,
    Scalar,
    ShadowReport,
    StreamedError,
)
from pydantic import BaseModel, ValidationError

from model_ui import __version__
from model_ui.prom import PromAnswer, PromSeries
from model_ui.schemas import (
    Actual,
    CsvScores,
    FeedbackPage,
    FeedbackSummary,
    IdentifiedPredictions,
    LoggedPrediction,
    Readiness,
    SavedFeedback,
)
from model_ui.settings import UISettings

ErrorKind = Literal["unreachable", "timeout", "http", "invalid_response"]
RETRY_STATUSES = frozenset({502, 503, 504})
READINESS_TIMEOUT_SECONDS = 3.0
SLOW_ANSWER = (httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout)
# Sent with every request that predicts: the API always records the UI's predictions (API
# clients' may be sampled), so each answer the UI shows has ids a colleague can judge.
FROM_THE_UI = {"X-Prediction-Source": "ui"}


# Asked of the evaluations: their answer as progress lines, then the result.
PROGRESS_MEDIA_TYPE = "application/x-ndjson"
type Progress = Callable[[EvaluationProgress], None]

API = "The model API"
PROMETHEUS = "Prometheus"


class ApiError(Exception):
    """A call to a service failed; ``message`` is the service's own words when it answered."""

    def __init__(
        self,
        url: str,
        message: str,
        *,
        kind: ErrorKind = "http",
        status: int | None = None,
        code: str | None = None,
        details: list[str] | None = None,
        service: str = API,
    ) -> None:
        super().__init__(message)
        self.url = url
        self.message = message
        self.kind = kind
        self.status = status
        self.code = code
        self.details = details or []
        self.service = service

    @property
    def headline(self) -> str:
        """One line saying what went wrong, for a banner title."""
        if self.kind == "unreachable":
            return f"{self.service} cannot be reached"
        if self.kind == "timeout":
            return f"{self.service} did not answer in time"
        if self.kind == "invalid_response":
            return f"{self.service} sent an answer the UI does not understand"
        code = f" ({self.code})" if self.code else ""
        return f"{self.service} answered {self.status}{code}"

    @property
    def refused_key(self) -> bool:
        """The API refused the UI's calls for its API key (missing or wrong)."""
        return self.kind == "http" and self.status in (401, 403)

    @property
    def feedback_off(self) -> bool:
        """The API takes no feedback: its prediction log is off or its database is down
        (``feedback_unavailable``), or it is older than feedback (no such endpoint)."""
        if self.kind != "http":
            return False
        return self.code == "feedback_unavailable" or (
            self.status == 404 and self.code == "not_found"
        )

    def __str__(self) -> str:
        return f"{self.headline}: {self.message} [{self.url}]"


def _model_path(name: str, version: str | None) -> str:
    path = f"/v1/models/{quote(name, safe='')}"
    return f"{path}/versions/{quote(version, safe='')}" if version else path


def _filters(
    version: str | None,
    verdict: str | None,
    since: date | None,
    until: date | None,
    **more: object,
) -> dict[str, str]:
    """Query parameters of the feedback reads; None means "no filter" and is left out.

    Dates are whole days: ``until`` is the day's end (the next day's midnight, UTC)."""
    params: dict[str, object] = {"version": version, "verdict": verdict, **more}
    if since is not None:
        params["since"] = f"{since.isoformat()}T00:00:00Z"
    if until is not None:
        params["until"] = f"{date.fromordinal(until.toordinal() + 1).isoformat()}T00:00:00Z"
    return {k: str(v) for k, v in params.items() if v is not None}


def _detail_lines(items: list[Any]) -> list[str]:
    """An error body's details (``{"loc": [...], "msg": ...}``) as lines to show."""
    lines = []
    for item in items:
        if isinstance(item, dict):
            loc = ".".join(str(part) for part in item.get("loc") or [])
            lines.append(f"{loc}: {item.get('msg', '')}" if loc else str(item.get("msg", "")))
    return lines


def _error_from_response(url: str, response: httpx.Response, service: str = API) -> ApiError:
    """The error body (API v1 or V2, Prometheus) as an ApiError, message intact."""
    code, details = None, []
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        message = str(error.get("message") or response.reason_phrase)
        code = str(error["code"]) if error.get("code") else None
        details = _detail_lines(error.get("details") or [])
    elif isinstance(error, str):
        message = error
    else:
        message = response.text.strip()[:300] or response.reason_phrase
    return ApiError(
        url, message, status=response.status_code, code=code, details=details, service=service
    )


def _transport_error(
    url: str, exc: httpx.TransportError, timeout: float, service: str = API
) -> ApiError:
    if isinstance(exc, httpx.ConnectTimeout):
        return ApiError(url, f"no connection within {timeout:g} s", kind="timeout", service=service)
    if isinstance(exc, httpx.TimeoutException):
        return ApiError(
            url,
            f"no answer within {timeout:g} s ({type(exc).__name__})",
            kind="timeout",
            service=service,
        )
    reason = str(exc) or type(exc).__name__
    return ApiError(url, f"{type(exc).__name__}: {reason}", kind="unreachable", service=service)


class _HttpClient:
    """Timeouts, read retries and errors as ApiError, for one service at ``base_url``."""

    service = API

    def __init__(
        self,
        base_url: str,
        settings: UISettings,
        headers: dict[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.base_url = base_url
        self._http = httpx.Client(
            base_url=base_url,
            headers={"User-Agent": f"model-ui/{__version__}", **(headers or {})},
            timeout=httpx.Timeout(
                settings.timeout_seconds, connect=settings.connect_timeout_seconds
            ),
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------------- plumbing
    def _send(
        self,
        method: str,
        path: str,
        *,
        retries: int = 0,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """One call with a timeout; ``retries`` extra attempts with doubling back-off.

        Retried: refused or dropped connections, connect timeouts and 502/503/504 answers.
        Not retried: other HTTP errors (the API's answer stands) and read timeouts.
        """
        url = self.base_url + path
        read_timeout = timeout or self.settings.timeout_seconds
        limits = httpx.Timeout(read_timeout, connect=self.settings.connect_timeout_seconds)
        attempt = 0
        while True:
            try:
                response = self._http.request(method, path, timeout=limits, **kwargs)
            except httpx.TransportError as exc:
                error = _transport_error(url, exc, read_timeout, self.service)
                if isinstance(exc, SLOW_ANSWER):  # the service is slow: asking again adds load
                    raise error from None
            else:
                if not response.is_error:
                    return response
                error = _error_from_response(url, response, self.service)
                if response.status_code not in RETRY_STATUSES:
                    raise error
            if attempt >= retries:
                raise error from None
            time.sleep(self.settings.retry_backoff_seconds * 2**attempt)
            attempt += 1

    def _read(self, path: str, **kwargs: Any) -> httpx.Response:
        return self._send("GET", path, retries=self.settings.read_retries, **kwargs)

    def _parse[M: BaseModel](self, model: type[M], response: httpx.Response) -> M:
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(part) for part in problem["loc"]) or "body"
            raise ApiError(
                str(response.url),
                f"{where}: {problem['msg']}",
                kind="invalid_response",
                service=self.service,
            ) from None


class ApiClient(_HttpClient):
    """Synchronous client of the model API; one instance is shared by all sessions."""

    def __init__(self, settings: UISettings, transport: httpx.BaseTransport | None = None) -> None:
        key = settings.api_key
        headers = {"X-API-Key": key.get_secret_value()} if key is not None else {}
        super().__init__(settings.base_url, settings, headers, transport)
        admin = settings.admin_key
        # Sent to the admin API only (which takes nothing else), never to the model endpoints.
        self._admin = {"X-Admin-Key": admin.get_secret_value()} if admin is not None else None

    @property
    def can_promote(self) -> bool:
        """Whether the UI holds the API's admin key (it may move defaults and aliases)."""
        return self._admin is not None

    # ------------------------------------------------------------------------- endpoints
    def readiness(self) -> Readiness:
        """GET /readyz once, with a short timeout; never raises."""
        url = f"{self.base_url}/readyz"
        timeout = min(READINESS_TIMEOUT_SECONDS, self.settings.timeout_seconds)
        try:
            response = self._http.get("/readyz", timeout=timeout)
        except httpx.TransportError as exc:
            error = _transport_error(url, exc, timeout)
            return Readiness(reachable=False, ready=False, status=error.kind, problem=error.message)
        try:
            body = response.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        models = body.get("models") if isinstance(body.get("models"), dict) else {}
        failed = body.get("failed") if isinstance(body.get("failed"), dict) else {}
        ready = response.status_code == 200
        problem: str | None = None
        if not ready:
            problem = f"/readyz answered {response.status_code}"
            if body.get("status"):
                problem += f" (status: {body['status']})"
            if failed:
                problem += "; failed: " + "; ".join(f"{k}: {v}" for k, v in failed.items())
            elif not body:
                problem += f": {_error_from_response(url, response).message}"
        return Readiness(
            reachable=True,
            ready=ready,
            status=str(body.get("status") or ("ok" if ready else response.status_code)),
            models=models or {},
            failed=failed or {},
            problem=problem,
        )

    def list_models(self) -> ModelList:
        return self._parse(ModelList, self._read("/v1/models"))

    def metadata(self, name: str, version: str | None = None) -> ModelMetadata:
        return self._parse(ModelMetadata, self._read(_model_path(name, version)))

    def predict(
        self, name: str, version: str | None, instances: list[dict[str, Scalar]]
    ) -> IdentifiedPredictions:
        """The answer per row, with its prediction id when the API records predictions."""
        response = self._send(
            "POST",
            f"{_model_path(name, version)}/predict",
            json={"instances": instances},
            headers=FROM_THE_UI,
        )
        return self._parse(IdentifiedPredictions, response)

    def explain(
        self,
        name: str,
        version: str | None,
        instances: list[dict[str, Scalar]],
        output: str | None = None,
    ) -> ExplainResponse:
        """Contributions per row; ``output`` picks a multi-output model's output to explain
        (None: the API's default, the exact median quantile, else the first output)."""
        response = self._send(
            "POST",
            f"{_model_path(name, version)}/explain",
            json={"instances": instances},
            params={"output": output} if output is not None else None,
        )
        return self._parse(ExplainResponse, response)

    def predict_csv(self, name: str, version: str | None, csv_text: str) -> CsvScores:
        """Score a CSV (header + rows) through the CSV endpoint; returns the scored CSV."""
        response = self._send(
            "POST",
            f"{_model_path(name, version)}/predict",
            content=csv_text.encode("utf-8"),
            headers={"Content-Type": "text/csv; charset=utf-8", **FROM_THE_UI},
            timeout=self.settings.batch_timeout_seconds,
        )
        ignored = response.headers.get("x-ignored-columns", "")
        # Each name is percent-encoded UTF-8; a last "...and N more" says the list was cut.
        names = [unquote(c) for c in ignored.split(",") if c]
        return CsvScores(text=response.text, ignored_columns=names)

    # ------------------------------------------------------------------------- feedback
    def feedback(
        self,
        prediction_id: str,
        *,
        author: str,
        verdict: str | None = None,
        actual: Actual = None,
        comment: str | None = None,
    ) -> SavedFeedback:
        """POST /v1/feedback: a verdict and/or the actual answer for one prediction. Posting
        again for the same prediction and author updates it (the API is idempotent), so a lost
        answer may be retried."""
        body = {
            "prediction_id": prediction_id,
            "verdict": verdict,
            "actual": actual,
            "comment": comment,
            "author": author,
        }
        response = self._send("POST", "/v1/feedback", json=body, retries=self.settings.read_retries)
        return self._parse(SavedFeedback, response)

    def prediction(self, prediction_id: str) -> LoggedPrediction:
        """GET /v1/predictions/{id}: the recorded prediction, its inputs and its feedback."""
        path = f"/v1/predictions/{quote(prediction_id, safe='')}"
        return self._parse(LoggedPrediction, self._read(path))

    def feedback_page(
        self,
        name: str,
        *,
        version: str | None = None,
        verdict: str | None = None,
        since: date | None = None,
        until: date | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> FeedbackPage:
        """One page of a model's judged predictions, newest first."""
        params = _filters(version, verdict, since, until, limit=limit, cursor=cursor)
        response = self._read(f"{_model_path(name, None)}/feedback", params=params)
        return self._parse(FeedbackPage, response)

    def feedback_export(
        self,
        name: str,
        *,
        version: str | None = None,
        verdict: str | None = None,
        since: date | None = None,
        until: date | None = None,
    ) -> bytes:
        """The CSV export: each judged prediction's inputs, the actual answer, the model's."""
        response = self._read(
            f"{_model_path(name, None)}/feedback/export",
            params=_filters(version, verdict, since, until),
            timeout=self.settings.batch_timeout_seconds,
        )
        return response.content

    def feedback_summary(
        self, name: str, *, version: str | None = None, days: int = 30
    ) -> FeedbackSummary:
        """Agreement (judged right / judged) per version and per day over the last ``days``."""
        params = _filters(version, None, None, None, days=days)
        response = self._read(f"{_model_path(name, None)}/feedback/summary", params=params)
        return self._parse(FeedbackSummary, response)

    # ------------------------------------------------------------------------- evaluate
    def _post_labelled[M: BaseModel](
        self,
        model: type[M],
        path: str,
        data: bytes,
        params: dict[str, str],
        delimiter: str,
        progress: Progress | None,
    ) -> M:
        """A labelled CSV file to an evaluation endpoint, with the batch timeout; with
        ``progress``, the answer is read as the API's progress stream, each progress line
        handed to it as it comes."""
        if delimiter != ",":
            params = {**params, "delimiter": delimiter}
        headers = {"Content-Type": "text/csv; charset=utf-8"}
        timeout = self.settings.batch_timeout_seconds
        if progress is None:
            response = self._send(
                "POST", path, content=data, params=params, headers=headers, timeout=timeout
            )
            return self._parse(model, response)
        url = self.base_url + path
        limits = httpx.Timeout(timeout, connect=self.settings.connect_timeout_seconds)
        headers["Accept"] = PROGRESS_MEDIA_TYPE
        try:
            with self._http.stream(
                "POST", path, content=data, params=params, headers=headers, timeout=limits
            ) as response:
                if response.is_error:
                    response.read()
                    raise _error_from_response(url, response)
                for line in response.iter_lines():
                    if line.strip():
                        done = self._progress_line(model, url, line, progress)
                        if done is not None:
                            return done
        except httpx.TransportError as exc:
            raise _transport_error(url, exc, timeout) from None
        raise ApiError(url, "the answer ended before its result", kind="invalid_response")

    def _progress_line[M: BaseModel](
        self, model: type[M], url: str, line: str, progress: Progress
    ) -> M | None:
        """One line of a progress stream: progress is handed on, the result returned, an
        error raised."""
        try:
            body = json.loads(line)
            if not isinstance(body, dict):
                raise ValueError("not an object")
            if "progress" in body:
                progress(EvaluationProgress.model_validate(body["progress"]))
                return None
            if "error" in body:
                error = StreamedError.model_validate(body["error"])
                details = _detail_lines(error.details)
                raise ApiError(
                    url, error.message, status=error.status, code=error.code, details=details
                )
            return model.model_validate(body["result"])
        except (ValueError, KeyError, ValidationError) as exc:
            problem = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
            raise ApiError(
                url, f"a progress line the UI does not understand: {problem}",
                kind="invalid_response",
            ) from None  # fmt: skip

    def evaluate_csv(
        self,
        name: str,
        version: str | None,
        data: bytes,
        target: str,
        delimiter: str = ",",
        progress: Progress | None = None,
    ) -> EvaluationResponse:
        """A labelled CSV judged by the model (the file as uploaded; ``target`` its column of
        actual answers)."""
        path = f"{_model_path(name, version)}/evaluate"
        params = {"target": target}
        return self._post_labelled(EvaluationResponse, path, data, params, delimiter, progress)

    def compare_csv(
        self,
        name: str,
        version: str | None,
        data: bytes,
        target: str,
        other_model: str,
        other_version: str,
        delimiter: str = ",",
        progress: Progress | None = None,
    ) -> ComparisonResponse:
        """This version and the other judged on the same labelled rows."""
        params = {"target": target, "other_model": other_model, "other_version": other_version}
        path = f"{_model_path(name, version)}/compare"
        return self._post_labelled(ComparisonResponse, path, data, params, delimiter, progress)

    def evaluate_feedback(self, name: str, version: str | None) -> EvaluationResponse:
        """The version judged on the labels colleagues gave (every judged prediction)."""
        response = self._send(
            "POST",
            f"{_model_path(name, None)}/feedback/evaluate",
            params={"version": version} if version is not None else None,
            timeout=self.settings.batch_timeout_seconds,
        )
        return self._parse(EvaluationResponse, response)

    def evaluations(self, name: str, version: str | None = None) -> EvaluationList:
        """The model's stored evaluation runs, newest first."""
        params = {"version": version} if version is not None else None
        response = self._read(f"{_model_path(name, None)}/evaluations", params=params)
        return self._parse(EvaluationList, response)

    def evaluation(self, evaluation_id: str) -> EvaluationResponse:
        response = self._read(f"/v1/evaluations/{quote(evaluation_id, safe='')}")
        return self._parse(EvaluationResponse, response)

    def shadow(self, name: str, limit: int = 20) -> ShadowReport:
        """The model's shadow version on live traffic and its newest disagreements."""
        response = self._read(f"{_model_path(name, None)}/shadow", params={"limit": str(limit)})
        return self._parse(ShadowReport, response)

    # ------------------------------------------------------------------------- admin
    def model_aliases(self, name: str) -> ModelAliases:
        """The model's default version and aliases (the admin API)."""
        response = self._read(
            f"/v1/admin/models/{quote(name, safe='')}/aliases", headers=self._admin_headers()
        )
        return self._parse(ModelAliases, response)

    def set_aliases(self, name: str, default: str | None, aliases: dict[str, str]) -> ModelAliases:
        """Write the model's aliases.json: ``default`` answers the unversioned paths."""
        response = self._send(
            "PUT",
            f"/v1/admin/models/{quote(name, safe='')}/aliases",
            json={"default": default, "aliases": aliases},
            headers=self._admin_headers(),
        )
        return self._parse(ModelAliases, response)

    def _admin_headers(self) -> dict[str, str]:
        if self._admin is None:
            raise ApiError(
                self.base_url + "/v1/admin",
                "the UI has no admin key (MODEL_UI_ADMIN_KEY)",
                status=403,
                code="no_admin_key",
            )
        return self._admin

    def metrics_text(self) -> str:
        """The Prometheus exposition text of GET /metrics."""
        return self._read("/metrics").text


class PrometheusClient(_HttpClient):
    """Queries of Prometheus' HTTP API (the Monitoring page's figures across every API pod)."""

    service = PROMETHEUS

    def query(self, expr: str) -> list[PromSeries]:
        """GET /api/v1/query: the instant vector of ``expr`` now."""
        answer = self._parse(PromAnswer, self._read("/api/v1/query", params={"query": expr}))
        return answer.data.result

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[PromSeries]:
        """GET /api/v1/query_range: ``expr`` every ``step`` seconds from ``start`` to ``end``."""
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        response = self._read("/api/v1/query_range", params=params)
        return self._parse(PromAnswer, response).data.result
