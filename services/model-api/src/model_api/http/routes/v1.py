"""The simple JSON/CSV API: list models, read metadata, predict and explain."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from model_api.codecs.csv import DELIMITERS, UNKNOWN_DELIMITER, csv_response
from model_api.codecs.rows import explanation_rows, explanation_space, prediction_rows_json
from model_api.errors import BadRequestError, InvalidInputError, PayloadTooLargeError
from model_api.http.deps import RegistryDep, SettingsDep
from model_api.http.responses import (
    CSV_MEDIA_TYPES,
    JSONBytes,
    media_type,
    parse_json,
    read_body,
    require_json_type,
)
from model_api.protocol.schemas import (
    ErrorResponse,
    ExplainResponse,
    ModelList,
    ModelMetadata,
    PredictRequest,
    PredictResponse,
)
from model_api.serving.registry import LoadedModel, ModelRegistry
from model_api.settings import Settings

router = APIRouter(prefix="/v1", tags=["v1"])

ERRORS: dict[int | str, dict[str, Any]] = {
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
CSV_RESPONSE = {
    "text/csv": {
        "schema": {"type": "string"},
        "example": "row,label,proba_a,proba_b,error\n1,a,0.9,0.1,\n",
    }
}


def metadata_body(registry: ModelRegistry, model: LoadedModel) -> dict[str, Any]:
    body = model.metadata.model_dump(mode="json")
    body["name"], body["version"] = model.name, model.version
    body["probabilities"] = model.metadata.spec.probabilities
    body["explanation"] = explanation_space(model.metadata, None)
    body["versions"] = registry.versions(model.name)
    base = f"/v1/models/{model.name}/versions/{model.version}"
    body["endpoints"] = {
        "predict": f"{base}/predict",
        "explain": f"{base}/explain",
        "v2_infer": f"/v2/models/{model.name}/versions/{model.version}/infer",
    }
    return body


@router.get("/models", response_model=ModelList, summary="List the models served")
async def list_models(registry: RegistryDep) -> JSONBytes:
    models = []
    for name in registry.names():
        versions = registry.versions(name)
        newest = registry.get(name)
        models.append(
            {
                "name": name,
                "version": versions[0],
                "versions": versions,
                "task": newest.metadata.task,
                "description": newest.metadata.description,
            }
        )
    return JSONBytes({"models": models, "failed": registry.failures})


@router.get(
    "/models/{name}",
    response_model=ModelMetadata,
    responses=ERRORS,
    summary="Model metadata",
)
async def model_metadata(name: str, registry: RegistryDep) -> JSONBytes:
    return JSONBytes(metadata_body(registry, registry.get(name)))


@router.get(
    "/models/{name}/versions/{version}",
    response_model=ModelMetadata,
    responses=ERRORS,
    summary="Metadata of one model version",
)
async def version_metadata(name: str, version: str, registry: RegistryDep) -> JSONBytes:
    return JSONBytes(metadata_body(registry, registry.get(name, version)))


async def serve_predict(request: Request, model: LoadedModel, settings: Settings) -> Response:
    kind = media_type(request)
    # Most requests have no query string: only those pay for parsing one.
    delimiter = request.query_params.get("delimiter", ",") if request.scope["query_string"] else ","
    sep = DELIMITERS.get(delimiter)
    if sep is None:  # refused on JSON requests too: never silently ignored
        raise BadRequestError(UNKNOWN_DELIMITER.format(delimiter))
    if kind in CSV_MEDIA_TYPES:
        return await csv_response(request, model, settings, sep)
    require_json_type(kind)
    matrix = _matrix_from_json(
        model, settings, await read_body(request, settings.max_request_bytes)
    )
    model.count_request("predict")
    prediction = await model.predict(matrix)
    # {"model": ..., "version": ..., "predictions": [...]}, the rows written straight as JSON.
    head = orjson.dumps({"model": model.name, "version": model.version})
    rows = prediction_rows_json(model.metadata, prediction)
    return Response(head[:-1] + b',"predictions":' + rows + b"}", media_type="application/json")


def _matrix_from_json(model: LoadedModel, settings: Settings, body: bytes) -> Any:
    matrix = model.records.matrix(body, settings.max_rows_per_request)
    if matrix is not None:
        return matrix
    # Not plainly valid: parse it generically and say exactly what is wrong.
    payload = parse_json(body)
    if not isinstance(payload, dict) or "instances" not in payload:
        raise InvalidInputError(
            "body must be an object with an 'instances' array of feature objects",
            [{"loc": ["instances"], "msg": "field required"}],
        )
    extra = [k for k in payload if k != "instances"]
    if extra:
        raise InvalidInputError(
            f"unknown top-level field(s): {', '.join(extra)}; expected only 'instances'",
            [{"loc": [k], "msg": "unknown field"} for k in extra],
        )
    instances = payload["instances"]
    if isinstance(instances, list) and len(instances) > settings.max_rows_per_request:
        raise PayloadTooLargeError(
            f"{len(instances)} rows exceed the limit of {settings.max_rows_per_request} per request; "
            "split the request or send CSV"
        )
    return model.encoder.from_records(instances)


@router.post(
    "/models/{name}/predict",
    response_model=PredictResponse,
    responses={**ERRORS, 200: {"content": CSV_RESPONSE}},
    openapi_extra=PREDICT_BODY,
    summary="Predict with the newest version (JSON records or CSV)",
)
async def predict(
    name: str, request: Request, registry: RegistryDep, settings: SettingsDep
) -> Response:
    # Served by fastpath.FastPathMiddleware; declared here for OpenAPI and for the requests the
    # fast path leaves to FastAPI (an app behind a root_path).
    return await serve_predict(request, registry.get(name), settings)


@router.post(
    "/models/{name}/versions/{version}/predict",
    response_model=PredictResponse,
    responses={**ERRORS, 200: {"content": CSV_RESPONSE}},
    openapi_extra=PREDICT_BODY,
    summary="Predict with one model version (JSON records or CSV)",
)
async def predict_version(
    name: str, version: str, request: Request, registry: RegistryDep, settings: SettingsDep
) -> Response:
    return await serve_predict(request, registry.get(name, version), settings)


async def _explain(request: Request, model: LoadedModel, settings: Settings) -> JSONBytes:
    require_json_type(media_type(request))
    output = _explained_output(model, request.query_params.get("output"))
    matrix = _matrix_from_json(
        model, settings, await read_body(request, settings.max_request_bytes)
    )
    model.count_request("explain")
    prediction = await model.predict(matrix)
    contributions = await run_in_threadpool(
        model.runtime.contributions, matrix, prediction.proba, output
    )
    return JSONBytes(
        {
            "model": model.name,
            "version": model.version,
            **explanation_space(model.metadata, contributions.explained_output),
            "explanations": explanation_rows(model.metadata, prediction, contributions),
        }
    )


def _explained_output(model: LoadedModel, name: str | None) -> int | None:
    """The index of the output named by ``?output=`` (None: the model's default)."""
    if name is None:
        return None
    names = model.metadata.output_names
    if name in names:
        return names.index(name)
    problem = (
        f"output {name!r} is not an output of {model.name}; expected one of {', '.join(names)}"
        if names
        else f"{model.name} has a single output; drop the 'output' parameter"
    )
    raise InvalidInputError(problem, [{"loc": ["query", "output"], "msg": problem}])


@router.post(
    "/models/{name}/explain",
    response_model=ExplainResponse,
    responses=ERRORS,
    openapi_extra=EXPLAIN_BODY,
    summary="Per-feature SHAP contributions (newest version)",
)
async def explain(
    name: str, request: Request, registry: RegistryDep, settings: SettingsDep
) -> JSONBytes:
    return await _explain(request, registry.get(name), settings)


@router.post(
    "/models/{name}/versions/{version}/explain",
    response_model=ExplainResponse,
    responses=ERRORS,
    openapi_extra=EXPLAIN_BODY,
    summary="Per-feature SHAP contributions (one version)",
)
async def explain_version(
    name: str, version: str, request: Request, registry: RegistryDep, settings: SettingsDep
) -> JSONBytes:
    return await _explain(request, registry.get(name, version), settings)


__all__ = ["PredictRequest", "router"]
