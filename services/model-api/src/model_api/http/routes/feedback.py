"""The feedback loop's endpoints: feedback on a logged prediction, the prediction itself, and a
model's judged predictions (a page, the CSV export for retraining, the agreement summary).

The store's calls block (a database round trip), so the endpoints are plain functions: FastAPI
runs them in its worker threads, never on the event loop.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Path, Query
from model_contract import (
    PREDICTION_ID_FORM,
    PREDICTION_ID_PATTERN,
    FeedbackPage,
    FeedbackRequest,
    FeedbackResponse,
    FeedbackSummary,
    LoggedPrediction,
)
from pydantic import BeforeValidator
from starlette.responses import Response, StreamingResponse

from model_api.errors import InvalidInputError, ModelAPIError, PredictionNotFoundError
from model_api.http.deps import RegistryDep, StoreDep
from model_api.http.operations import V1_ERROR_RESPONSES
from model_api.serving.bundle import BundleMetadata
from model_api.serving.registry import ModelRegistry
from model_api.store import FeedbackIn, Store
from model_api.store import LoggedPrediction as StoredPrediction
from model_api.store.feedback import CURSOR_PATTERN
from model_api.store.ids import parse_prediction_id

router = APIRouter(tags=["feedback"])

JSON_TIME_OPTIONS = orjson.OPT_NAIVE_UTC | orjson.OPT_SERIALIZE_NUMPY
FEEDBACK_RESPONSES: dict[int | str, dict[str, Any]] = {
    **{s: V1_ERROR_RESPONSES[s] for s in (404, 422)},
    503: {
        "model": V1_ERROR_RESPONSES[503]["model"],
        "description": "feedback_unavailable: the prediction log is off, or its database is down",
    },
}
# One page's most items.
MAX_PAGE = 1000
EXPORT_TAIL = ("prediction_id", "model_version")
EXPORT_END = ("verdict", "comment", "author", "predicted_at", "judged_at")

PredictionIdPath = Annotated[
    str,
    Path(
        description=f"A prediction id: {PREDICTION_ID_FORM}.",
        examples=["3f9a0c1be27d44a1c9e0-0"],
        # Declared, and checked by checked_id with a message that shows the form.
        json_schema_extra={"pattern": PREDICTION_ID_PATTERN},
    ),
]
VersionQuery = Annotated[str | None, Query(description="Only this version's predictions.")]
VerdictQuery = Annotated[Literal["right", "wrong"] | None, Query(description="Only this verdict.")]
# A date and a time: pydantic alone would also read a number as seconds since 1970.
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _date_time(value: Any) -> Any:
    if isinstance(value, str) and _DATE_TIME.match(value) is None:
        raise ValueError("expected an ISO 8601 date and time, e.g. 2026-12-01T00:00:00Z")
    return value


SinceQuery = Annotated[
    datetime | None,
    BeforeValidator(_date_time),
    Query(description="Feedback given at or after this time (ISO 8601; UTC if no offset)."),
]
UntilQuery = Annotated[
    datetime | None,
    BeforeValidator(_date_time),
    Query(description="Feedback given before this time (ISO 8601; UTC if no offset)."),
]
CursorQuery = Annotated[
    str | None,
    Query(
        description="next_cursor of the previous page: where it ended "
        "(`<microseconds since 1970>.<feedback number>`; any such position pages on from it).",
        pattern=CURSOR_PATTERN,
    ),
]


def _json(content: Any, status: int = 200) -> Response:
    body = orjson.dumps(_plain(content), option=JSON_TIME_OPTIONS)
    return Response(body, status_code=status, media_type="application/json")


def _plain(value: Any) -> Any:
    """A store's dataclass (nested ones too) as plain JSON-ready values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def as_utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def checked_id(prediction_id: str, loc: list[str]) -> str:
    """The id, or a 422 naming ``loc`` with the form ids have."""
    if parse_prediction_id(prediction_id) is None:
        problem = f"{prediction_id!r} is not a prediction id; expected {PREDICTION_ID_FORM}"
        raise InvalidInputError(problem, [{"loc": loc, "msg": problem}])
    return prediction_id


def served_metadata(
    registry: ModelRegistry, name: str, version: str | None
) -> BundleMetadata | None:
    """The metadata of ``name``'s version (or, when it is no longer served, of its newest one);
    None when no version of it is served."""
    for wanted in (version, None) if version is not None else (None,):
        try:
            return registry.get(name, wanted).metadata
        except ModelAPIError:
            continue
    return None


def _invalid(field: str, problem: str) -> InvalidInputError:
    return InvalidInputError(f"{field}: {problem}", [{"loc": ["body", field], "msg": problem}])


def _class_label(actual: str | float | bool, labels: list[str]) -> str:
    """``actual`` as one of ``labels`` (true/false and whole numbers match labels spelt so)."""
    if isinstance(actual, bool):
        candidates = ["true", "True", "1"] if actual else ["false", "False", "0"]
    elif isinstance(actual, float):
        candidates = [str(int(actual))] if actual.is_integer() else [repr(actual)]
    else:
        candidates = [actual]
    for candidate in candidates:
        if candidate in labels or not labels:
            return candidate
    raise _invalid(
        "actual",
        f"{actual!r} is not a class of this model; expected one of {', '.join(labels)}",
    )


def judged(
    prediction: StoredPrediction, body: FeedbackRequest, metadata: BundleMetadata | None
) -> tuple[str | None, str | float | None]:
    """The verdict and actual to store: ``actual`` checked against the model (a class label, or
    a finite number), the verdict derived from a class label when it was not given."""
    output = prediction.output
    classifier = metadata.task != "regression" if metadata is not None else "label" in output
    verdict, actual = body.verdict, body.actual
    if actual is None:
        return verdict, None
    if classifier:
        labels = metadata.labels if metadata is not None else list(output.get("probabilities", {}))
        label = _class_label(actual, labels)
        if verdict is None:
            verdict = "right" if label == output.get("label") else "wrong"
        return verdict, label
    if "values" in output:
        raise _invalid(
            "actual",
            "this model has several outputs; give a verdict (and a comment) instead of a value",
        )
    if isinstance(actual, bool | str) or not math.isfinite(actual):
        raise _invalid("actual", f"{actual!r} is not a finite number; this model predicts a number")
    return verdict, float(actual)


@router.post(
    "/v1/feedback",
    status_code=201,
    response_model=FeedbackResponse,
    responses={
        200: {"model": FeedbackResponse, "description": "This author's earlier feedback, updated"},
        **FEEDBACK_RESPONSES,
    },
    summary="Say whether a prediction was right, and what it should have been",
)
def post_feedback(body: FeedbackRequest, store: StoreDep, registry: RegistryDep) -> Response:
    prediction_id = checked_id(body.prediction_id, ["body", "prediction_id"])
    prediction = _logged(store, prediction_id)
    metadata = served_metadata(registry, prediction.model, prediction.version)
    verdict, actual = judged(prediction, body, metadata)
    saved, created = store.put_feedback(
        FeedbackIn(
            prediction_id=prediction_id,
            verdict=verdict,
            actual=actual,
            comment=body.comment,
            author=body.author,
        )
    )
    return _json({"feedback": saved, "created": created}, 201 if created else 200)


def _logged(store: Store, prediction_id: str) -> StoredPrediction:
    prediction = store.prediction(prediction_id)
    if prediction is None:
        raise PredictionNotFoundError(
            f"no logged prediction {prediction_id}: it was never made, not recorded "
            "(MODEL_API_PREDICTION_LOG_SAMPLE_RATE), or purged after "
            "MODEL_API_PREDICTION_LOG_RETENTION_DAYS"
        )
    return prediction


@router.get(
    "/v1/predictions/{prediction_id}",
    response_model=LoggedPrediction,
    responses=FEEDBACK_RESPONSES,
    summary="A logged prediction: its inputs, output and feedback",
)
def get_prediction(prediction_id: PredictionIdPath, store: StoreDep) -> Response:
    return _json(_logged(store, checked_id(prediction_id, ["path", "prediction_id"])))


@router.get(
    "/v1/models/{name}/feedback",
    response_model=FeedbackPage,
    responses=FEEDBACK_RESPONSES,
    summary="The model's judged predictions, newest first (paginated)",
)
def feedback_page(
    name: str,
    store: StoreDep,
    version: VersionQuery = None,
    verdict: VerdictQuery = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Items per page.")] = 100,
    cursor: CursorQuery = None,
) -> Response:
    page = store.feedback_page(
        name,
        version=version,
        verdict=verdict,
        since=as_utc(since),
        until=as_utc(until),
        limit=limit,
        cursor=cursor,
    )
    return _json({"model": name, "items": page.items, "next_cursor": page.next_cursor})


@router.get(
    "/v1/models/{name}/feedback/summary",
    response_model=FeedbackSummary,
    responses=FEEDBACK_RESPONSES,
    summary="Agreement (judged right / judged) per version and per day",
)
def feedback_summary(
    name: str,
    store: StoreDep,
    version: VersionQuery = None,
    days: Annotated[int, Query(ge=1, le=3650, description="How many days back.")] = 30,
) -> Response:
    return _json(store.summary(name, version=version, days=days))


@router.get(
    "/v1/models/{name}/feedback/export",
    response_class=Response,
    responses={
        200: {
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": "The judged predictions in the training set's shape: the features, "
            "the target (the actual answer), then the prediction and the feedback",
        },
        **FEEDBACK_RESPONSES,
    },
    summary="The judged predictions as CSV, ready to append to the training set",
)
def feedback_export(
    name: str,
    store: StoreDep,
    registry: RegistryDep,
    version: VersionQuery = None,
    verdict: VerdictQuery = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
) -> Response:
    metadata = served_metadata(registry, name, version)
    rows = store.export_rows(
        name, version=version, verdict=verdict, since=as_utc(since), until=as_utc(until)
    )
    disposition = _attachment(f"{name}-feedback.csv")
    return StreamingResponse(
        export_lines(metadata, rows),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": disposition},
    )


def _attachment(filename: str) -> str:
    """A Content-Disposition for any model name (RFC 6266): an ASCII fallback without quotes,
    backslashes or control characters, and the name itself percent-encoded as UTF-8."""
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _cell(value: Any) -> Any:
    """A logged value as a CSV cell: missing empty, booleans true/false, whole floats of
    integer features without a fraction (the store gives JSON values)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isnan(value):
        return ""
    return value


def export_lines(metadata: BundleMetadata | None, rows: Iterator[Any]) -> Iterator[str]:
    """The export's CSV, a batch of rows at a time.

    Columns: each feature (in the model's order; a feature left out by the privacy setting is
    empty), the target (the actual answer; a classifier's prediction judged right without one
    is its own label), ``prediction_id, model_version``, the prediction (``predicted``, or a
    ``predicted_<output>`` per output), then ``verdict, comment, author, predicted_at,
    judged_at``. Cells are written as they are: a comment starting with ``=`` stays so.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    first = next(rows, None)
    if metadata is not None:
        features = [f.name for f in metadata.features]
        integers = {f.name for f in metadata.features if f.type == "integer"}
        target = metadata.target or "actual"
        outputs = metadata.output_names if metadata.task == "regression" else []
    else:  # no version of the model is served any more: the logged rows say what they have
        features = list(first.inputs) if first is not None else []
        integers = set()
        target = "actual"
        values = first.output.get("values") if first is not None else None
        outputs = list(values) if isinstance(values, dict) else []
    predicted = [f"predicted_{o}" for o in outputs] if outputs else ["predicted"]
    writer.writerow([*features, target, *EXPORT_TAIL, *predicted, *EXPORT_END])
    yield out.getvalue()
    pending = [] if first is None else [first]
    for row in rows:
        pending.append(row)
        if len(pending) >= 500:
            yield _export_chunk(out, writer, pending, features, integers, outputs)
            pending = []
    if pending:
        yield _export_chunk(out, writer, pending, features, integers, outputs)


def _export_chunk(
    out: io.StringIO,
    writer: Any,
    rows: list[Any],
    features: list[str],
    integers: set[str],
    outputs: list[str],
) -> str:
    out.seek(0)
    out.truncate()
    for row in rows:
        inputs = row.inputs
        cells = []
        for name in features:
            value = inputs.get(name)
            if name in integers and isinstance(value, float) and value.is_integer():
                value = int(value)
            cells.append(_cell(value))
        output = row.output
        actual = row.actual
        if actual is None and row.verdict == "right" and "label" in output:
            actual = output["label"]  # right means the answer was the truth
        if outputs:
            values = output.get("values") or {}
            prediction = [_cell(values.get(o)) for o in outputs]
        else:
            prediction = [_cell(output.get("label", output.get("value")))]
        writer.writerow(
            [
                *cells,
                _cell(actual),
                row.prediction_id,
                row.version,
                *prediction,
                _cell(row.verdict),
                _cell(row.comment),
                row.author,
                _iso(row.predicted_at),
                _iso(row.judged_at),
            ]
        )
    return out.getvalue()


def _iso(moment: datetime | None) -> str:
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat()
