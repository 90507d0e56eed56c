"""The model operations, in one table: from it come both the FastAPI routes (OpenAPI, and the
requests the fast path leaves to FastAPI) and the fast path (``fastpath.FastPathMiddleware``).

Each operation is a protocol function, served on the newest path ``/{api}/models/{name}/{verb}``
and the versioned path ``/{api}/models/{name}/versions/{version}/{verb}``. Their routes are
generated here, with no body of their own: a route takes nothing but the request and the path
parameters, so whatever serves it does exactly what the fast path does. ``check_served_alike``
refuses a route that gained a dependency or parameter (the fast path would not run it).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.responses import Response
from starlette.routing import BaseRoute

from model_api.codecs.csv import DELIMITERS
from model_api.http.deps import RegistryDep, ServicesDep
from model_api.http.responses import ModelRequest, response_of
from model_api.protocol import compare, evaluate, v1, v2
from model_api.protocol.messages import ModelOperation, Services
from model_api.protocol.schemas import (
    ComparisonResponse,
    ErrorResponse,
    EvaluationResponse,
    ExplainResponse,
    InferenceResponse,
    PredictResponse,
    V2ErrorResponse,
)
from model_api.serving.registry import ModelRegistry

V1_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in {
        400: "Malformed body (not JSON, bad CSV), or an unknown delimiter",
        404: "Unknown model or version",
        413: "Body or row count past the limit",
        415: "Unsupported content type",
        422: "Input does not match the model's features; details name each field",
        503: "Models not loaded yet, or busy (Retry-After)",
    }.items()
}
V2_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": V2ErrorResponse, "description": "Bad request or input"},
    404: {"model": V2ErrorResponse, "description": "Unknown model or version"},
    413: {"model": V2ErrorResponse, "description": "Body past the limit"},
    503: {"model": V2ErrorResponse, "description": "Not ready, or busy (Retry-After)"},
}
PREDICT_BODY: dict[str, Any] = {
    "parameters": [
        {
            "name": "delimiter",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "enum": list(DELIMITERS), "default": ","},
            "description": "CSV only: the field separator (a tab as `tab` or as itself, `%09`). "
            "Checked on JSON requests too.",
        }
    ],
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/PredictRequest"}},
            "text/csv": {"schema": {"type": "string", "minLength": 1}},
        },
        "description": "JSON records, or a CSV file with a header naming the features. "
        "Each model's own operations (tag `model: <name>`) list its exact fields.",
    },
}
EXPLAIN_BODY: dict[str, Any] = {
    "parameters": [
        {
            "name": "output",
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "description": "Multi-output models: the output to explain (e.g. q0.95); default the "
            "median quantile, else the first output. See the model metadata's outputs.",
        }
    ],
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/PredictRequest"}}
        },
    },
}
INFER_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "An inference request: one [N, F] tensor, or one [N] (or [N, 1]) input "
        "per feature, named and typed as the model's V2 metadata lists them; `shape` must match "
        "the number of values in `data`. With the binary tensor extension the JSON part is "
        "followed by the tensors' bytes (`Inference-Header-Content-Length` header).",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/InferenceRequest"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}
EVALUATE_BODY: dict[str, Any] = {
    "parameters": [
        {
            "name": "target",
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "description": "The column of actual values (default: the bundle's `target`, as the "
            "model metadata names it; a multi-target model: one of its outputs).",
        },
        PREDICT_BODY["parameters"][0],
    ],
    "requestBody": {
        "required": True,
        "content": {"text/csv": {"schema": {"type": "string", "minLength": 1}}},
        "description": "A CSV file with a header naming the features and the target column. "
        "A row that cannot be scored or whose target cannot be read is counted and listed, "
        "not fatal.",
    },
}
COMPARE_BODY: dict[str, Any] = {
    "parameters": [
        *EVALUATE_BODY["parameters"],
        {
            "name": "other_model",
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "description": "The model compared with (default: this one); it must have the same "
            "features and answers.",
        },
        {
            "name": "other_version",
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "description": "Its version (default: for this model, its newest other version; for "
            "another model, its newest).",
        },
        {
            "name": "tolerance",
            "in": "query",
            "required": False,
            "schema": {"type": "number", "minimum": 0},
            "description": "Regression: answers further apart than this disagree (default: a "
            "tenth of the actual values' standard deviation).",
        },
    ],
    "requestBody": EVALUATE_BODY["requestBody"],
}
BINARY_RESPONSE = {
    "application/octet-stream": {
        "schema": {
            "type": "string",
            "format": "binary",
            "description": "Binary tensor extension (outputs asked for as binary data): the "
            "JSON answer, then the outputs' bytes; `Inference-Header-Content-Length` gives the "
            "JSON's length.",
        }
    }
}
CSV_RESPONSE = {
    "text/csv": {
        "schema": {"type": "string"},
        "example": "row,label,proba_a,proba_b,error\n1,a,0.9,0.1,\n",
    }
}

# Sent for ``Accept: application/x-ndjson`` (protocol/progress.py).
PROGRESS_RESPONSE = {
    "application/x-ndjson": {
        "schema": {
            "type": "string",
            "description": "Progress while the file is judged, one JSON object per line: "
            '`{"progress": EvaluationProgress}` a few times a second, then `{"result": ...}` '
            "(the application/json answer) or, for an error found once the stream has "
            'started, `{"error": StreamedError}` with the status the plain request answers.',
        },
        "example": '{"progress":{"rows":0,"fraction":0.0,"stage":"scoring"}}\n'
        '{"progress":{"rows":73728,"fraction":0.36,"stage":"scoring"}}\n'
        '{"progress":{"rows":205200,"fraction":1.0,"stage":"metrics"}}\n'
        '{"result":{"model":"penguin-species","version":"1","...":"..."}}\n',
    }
}


@dataclass(frozen=True)
class Operation:
    """One model operation: what serves it (a protocol function) and how OpenAPI shows it."""

    api: str
    verb: str
    serve: ModelOperation
    summaries: tuple[str, str]  # the newest path's, the versioned path's
    response_model: type[BaseModel]
    responses: dict[int | str, dict[str, Any]]
    openapi_extra: dict[str, Any] = field(default_factory=dict)

    def path(self, versioned: bool) -> str:
        middle = "/versions/{version}" if versioned else ""
        return f"/{self.api}/models/{{name}}{middle}/{self.verb}"


OPERATIONS = (
    Operation(
        "v1",
        "predict",
        v1.predict,
        (
            "Predict with the newest version (JSON records or CSV)",
            "Predict with one model version (JSON records or CSV)",
        ),
        PredictResponse,
        {**V1_ERROR_RESPONSES, 200: {"content": CSV_RESPONSE}},
        PREDICT_BODY,
    ),
    Operation(
        "v1",
        "explain",
        v1.explain,
        (
            "Per-feature SHAP contributions (newest version)",
            "Per-feature SHAP contributions (one version)",
        ),
        ExplainResponse,
        V1_ERROR_RESPONSES,
        EXPLAIN_BODY,
    ),
    Operation(
        "v1",
        "evaluate",
        evaluate.evaluate,
        (
            "Evaluate the newest version on a labelled CSV file",
            "Evaluate one version on a labelled CSV file",
        ),
        EvaluationResponse,
        {**V1_ERROR_RESPONSES, 200: {"content": PROGRESS_RESPONSE}},
        EVALUATE_BODY,
    ),
    Operation(
        "v1",
        "compare",
        compare.compare,
        (
            "Compare the newest version with another on a labelled CSV file",
            "Compare one version with another on a labelled CSV file",
        ),
        ComparisonResponse,
        {**V1_ERROR_RESPONSES, 200: {"content": PROGRESS_RESPONSE}},
        COMPARE_BODY,
    ),
    Operation(
        "v2",
        "infer",
        v2.infer,
        ("Inference (newest version)", "Inference (one version)"),
        InferenceResponse,
        {**V2_ERROR_RESPONSES, 200: {"content": BINARY_RESPONSE}},
        INFER_BODY,
    ),
)
# What a route of an operation may take: the request and its path's parameters, no more.
SERVED_PARAMETERS = {False: ["name"], True: ["name", "version"]}


async def serve(
    operation: Operation, request: ModelRequest, name: str, version: str | None
) -> Response:
    """Answer one request to ``operation`` (the fast path and the routes alike)."""
    state = request.app.state
    model = state.registry.get(name, version)
    return response_of(await operation.serve(model, request, state.services))


def _endpoint(
    operation: Operation, versioned: bool
) -> Callable[..., Coroutine[Any, Any, Response]]:
    """The route's endpoint: the path parameters FastAPI documents, then ``serve``."""
    if versioned:

        async def versioned_endpoint(request: Request, name: str, version: str) -> Response:
            return await serve(
                operation, ModelRequest(request.scope, request.receive), name, version
            )

        return versioned_endpoint

    async def endpoint(request: Request, name: str) -> Response:
        return await serve(operation, ModelRequest(request.scope, request.receive), name, None)

    return endpoint


def include_operations(router: APIRouter, api: str) -> None:
    """Register each operation of ``api`` on its newest and its versioned path."""
    for operation in OPERATIONS:
        if operation.api != api:
            continue
        for versioned in (False, True):
            router.add_api_route(
                operation.path(versioned).removeprefix(router.prefix),
                _endpoint(operation, versioned),
                methods=["POST"],
                name=operation.verb + ("_version" if versioned else ""),
                summary=operation.summaries[versioned],
                response_model=operation.response_model,
                responses=operation.responses,
                openapi_extra=operation.openapi_extra,
            )


def include_model_reads(
    router: APIRouter,
    suffix: str,
    read: Callable[[ModelRegistry, Services, str, str | None], Response],
    *,
    names: tuple[str, str],
    summaries: tuple[str, str],
    response_model: type[BaseModel],
    responses: dict[int | str, dict[str, Any]],
) -> None:
    """Register a GET read of one model (its metadata, its readiness) on the newest path
    ``/models/{name}<suffix>`` and the versioned path ``/models/{name}/versions/{version}<suffix>``,
    both answered by ``read(registry, services, name, version)`` (version None: the newest)."""

    async def newest(name: str, registry: RegistryDep, services: ServicesDep) -> Response:
        return read(registry, services, name, None)

    async def versioned(
        name: str, version: str, registry: RegistryDep, services: ServicesDep
    ) -> Response:
        return read(registry, services, name, version)

    endpoints: tuple[Callable[..., Coroutine[Any, Any, Response]], ...] = (newest, versioned)
    paths = (f"/models/{{name}}{suffix}", f"/models/{{name}}/versions/{{version}}{suffix}")
    for endpoint, path, name, summary in zip(endpoints, paths, names, summaries, strict=True):
        router.add_api_route(
            path,
            endpoint,
            methods=["GET"],
            name=name,
            summary=summary,
            response_model=response_model,
            responses=responses,
        )


def served_routes(routes: Iterable[BaseRoute]) -> Iterator[Any]:
    """Every route as the app serves it: FastAPI keeps an included router as one entry, whose
    effective routes carry what including it added (its prefix, its dependencies)."""
    for route in routes:
        effective = getattr(route, "effective_candidates", None)
        if effective is not None:
            yield from served_routes(effective())
        else:
            yield route


def check_served_alike(routes: Iterable[BaseRoute]) -> None:
    """Refuse routes of the operations that take more than the fast path gives them (a
    dependency, a query or header parameter, a body): the fast path would skip it unseen."""
    paths = {operation.path(v): v for operation in OPERATIONS for v in (False, True)}
    for route in served_routes(routes):
        dependant = getattr(route, "dependant", None)
        if dependant is None or getattr(route, "path", None) not in paths:
            continue
        taken = [p.name for p in dependant.path_params]
        extra = [
            *(getattr(d.call, "__name__", repr(d.call)) for d in dependant.dependencies),
            *(p.name for p in dependant.query_params + dependant.header_params),
            *(p.name for p in dependant.cookie_params + dependant.body_params),
        ]
        if extra or taken != SERVED_PARAMETERS[paths[route.path]]:
            raise RuntimeError(
                f"route {route.path} takes {', '.join(extra + taken)}; an operation's route "
                "takes only its path parameters (the fast path serves it: see http/operations.py)"
            )
