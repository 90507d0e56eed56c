"""Evaluation besides a file (``POST .../evaluate`` is a model operation: ``http.operations``):
a version judged on the feedback so far, a model's stored runs, and one run's whole answer.

The store's calls block, so the endpoints are plain functions, run in FastAPI's worker threads.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query
from starlette.responses import Response

from model_api.errors import EvaluationNotFoundError
from model_api.http.deps import RegistryDep, ServicesDep, StoreDep
from model_api.http.routes.feedback import FEEDBACK_RESPONSES, SinceQuery, UntilQuery, as_utc
from model_api.protocol import evaluate
from model_api.protocol.schemas import EvaluationList, EvaluationResponse

router = APIRouter(prefix="/v1", tags=["evaluate"])

RUN_ID_PATTERN = r"^[0-9a-f]{32}$"
MAX_RUNS = 500


def _json(content: Any) -> Response:
    return Response(orjson.dumps(content), media_type="application/json")


@router.get(
    "/models/{name}/evaluations",
    response_model=EvaluationList,
    summary="A model's stored evaluation runs, newest first",
    responses={503: FEEDBACK_RESPONSES[503]},
)
def list_evaluations(
    name: str,
    store: StoreDep,
    version: Annotated[str | None, Query(description="Only this version's runs.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_RUNS, description="At most this many.")] = 100,
) -> Response:
    return _json({"evaluations": store.evaluations(name, version=version, limit=limit)})


@router.get(
    "/evaluations/{evaluation_id}",
    response_model=EvaluationResponse,
    summary="One stored evaluation run, as its evaluate call answered",
    responses={404: FEEDBACK_RESPONSES[404], 503: FEEDBACK_RESPONSES[503]},
)
def read_evaluation(
    evaluation_id: Annotated[
        str, Path(pattern=RUN_ID_PATTERN, description="The run's id (32 hex characters).")
    ],
    store: StoreDep,
) -> Response:
    found = store.evaluation(evaluation_id)
    if found is None:
        raise EvaluationNotFoundError(f"no stored evaluation run has the id {evaluation_id!r}")
    return _json(found)


@router.post(
    "/models/{name}/feedback/evaluate",
    response_model=EvaluationResponse,
    summary="Evaluate a version on the labels colleagues gave (the feedback so far)",
    responses={
        **{s: FEEDBACK_RESPONSES[s] for s in (404, 422)},
        503: {
            **FEEDBACK_RESPONSES[503],
            "description": "The log is off, its database is down, "
            "or an evaluation is already running (Retry-After)",
        },
    },
)
def evaluate_feedback(
    name: str,
    registry: RegistryDep,
    services: ServicesDep,
    store: StoreDep,
    version: Annotated[
        str | None, Query(description="The version that scores the rows (default: the newest).")
    ] = None,
    predictions_of: Annotated[
        str | None,
        Query(description="Only feedback on the predictions of this version (default: every one)."),
    ] = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
) -> Response:
    model = registry.get(name, version)
    return _json(
        evaluate.evaluate_feedback(
            model,
            services,
            store,
            predictions_of=predictions_of,
            since=as_utc(since),
            until=as_utc(until),
        )
    )
