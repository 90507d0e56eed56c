"""The Open Inference Protocol (V2) REST API, as spoken by KServe, MLServer and Triton clients."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from fastapi import APIRouter, Request
from model_contract import V2_DATATYPES
from starlette.responses import Response

from model_api import __version__
from model_api.codecs.v2_tensors import (
    HEADER_LENGTH,
    decode_inputs,
    encode_output,
    split_binary_body,
)
from model_api.errors import BadRequestError, NotReadyError, PayloadTooLargeError
from model_api.http.deps import RegistryDep, SettingsDep
from model_api.http.responses import JSON_OPTIONS, JSONBytes, read_body
from model_api.protocol.schemas import (
    InferenceRequest,
    InferenceResponse,
    ModelMetadataV2,
    ReadyResponse,
    ServerMetadata,
    V2ErrorResponse,
)
from model_api.serving.bundle import BundleMetadata
from model_api.serving.registry import LoadedModel, ModelRegistry
from model_api.settings import Settings

router = APIRouter(prefix="/v2", tags=["v2 (Open Inference Protocol)"])
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": V2ErrorResponse, "description": "Bad request or input"},
    404: {"model": V2ErrorResponse, "description": "Unknown model or version"},
    413: {"model": V2ErrorResponse, "description": "Body past the limit"},
    503: {"model": V2ErrorResponse, "description": "Not ready, or busy (Retry-After)"},
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


@router.get("", response_model=ServerMetadata, summary="Server metadata")
async def server_metadata() -> JSONBytes:
    return JSONBytes(
        {
            "name": "model-serving-stack",
            "version": __version__,
            "extensions": ["binary_tensor_data"],
        }
    )


@router.get("/health/live", summary="Server live")
async def live() -> JSONBytes:
    return JSONBytes({"live": True})


@router.get("/health/ready", response_model=ReadyResponse, responses=ERRORS, summary="Server ready")
async def ready(registry: RegistryDep) -> JSONBytes:
    return JSONBytes({"ready": registry.ready}, status_code=200 if registry.ready else 503)


def model_metadata_v2(registry: ModelRegistry, model: LoadedModel) -> dict[str, Any]:
    metadata = model.metadata
    features = metadata.features
    labels = metadata.labels
    return {
        "name": model.name,
        "versions": registry.versions(model.name),
        "platform": "xgboost",
        "inputs": [
            {"name": f.name, "datatype": V2_DATATYPES[f.type], "shape": [-1]} for f in features
        ],
        "outputs": _output_metadata(metadata),
        "parameters": {
            "task": metadata.task,
            "objective": metadata.objective,
            "class_labels": labels,
            "tensor_input": {
                "description": "alternatively one input of shape [N, F] in this column order; "
                "categorical columns carry the category's index in its list",
                "datatype": "FP32",
                "shape": [-1, len(features)],
                "columns": [f.name for f in features],
                "categories": {f.name: f.categories for f in features if f.categories},
            },
        },
    }


def _output_metadata(metadata: BundleMetadata) -> list[dict[str, Any]]:
    """``predict`` (labels, or values: [N] or [N, T]) and, with probabilities, ``predict_proba``."""
    labels = metadata.labels
    if labels:
        outputs: list[dict[str, Any]] = [{"name": "predict", "datatype": "BYTES", "shape": [-1]}]
        if metadata.spec.probabilities:
            outputs.append(
                {"name": "predict_proba", "datatype": "FP64", "shape": [-1, len(labels)]}
            )
        return outputs
    names = metadata.output_names
    if not names:
        return [{"name": "predict", "datatype": "FP64", "shape": [-1]}]
    columns: dict[str, Any] = {"columns": names}
    if metadata.outputs and metadata.outputs[0].quantile is not None:
        columns["quantiles"] = [o.quantile for o in metadata.outputs]
    return [
        {"name": "predict", "datatype": "FP64", "shape": [-1, len(names)], "parameters": columns}
    ]


@router.get(
    "/models/{name}", response_model=ModelMetadataV2, responses=ERRORS, summary="Model metadata"
)
async def model_metadata(name: str, registry: RegistryDep) -> JSONBytes:
    return JSONBytes(model_metadata_v2(registry, registry.get(name)))


@router.get(
    "/models/{name}/versions/{version}",
    response_model=ModelMetadataV2,
    responses=ERRORS,
    summary="Model version metadata",
)
async def version_metadata(name: str, version: str, registry: RegistryDep) -> JSONBytes:
    return JSONBytes(model_metadata_v2(registry, registry.get(name, version)))


def _model_ready(registry: ModelRegistry, name: str, version: str | None) -> JSONBytes:
    try:
        registry.get(name, version)
    except NotReadyError:
        return JSONBytes({"name": name, "ready": False}, status_code=503)
    return JSONBytes({"name": name, "ready": True})


@router.get(
    "/models/{name}/ready", response_model=ReadyResponse, responses=ERRORS, summary="Model ready"
)
async def model_ready(name: str, registry: RegistryDep) -> JSONBytes:
    return _model_ready(registry, name, None)


@router.get(
    "/models/{name}/versions/{version}/ready",
    response_model=ReadyResponse,
    responses=ERRORS,
    summary="Model version ready",
)
async def version_ready(name: str, version: str, registry: RegistryDep) -> JSONBytes:
    return _model_ready(registry, name, version)


def _matrix(model: LoadedModel, inputs: list[tuple[str, np.ndarray]], max_rows: int) -> np.ndarray:
    """Tensor style (one [N, F] or [F] input) or column style (one [N] or [N, 1] per feature)."""
    encoder = model.encoder
    if len(inputs) == 1 and inputs[0][0] not in encoder.name_set:
        name, tensor = inputs[0]
        width = len(encoder.names)
        if tensor.shape == (width,):
            tensor = tensor.reshape(1, width)  # one row
        if tensor.ndim != 2 or tensor.shape[1] != width:
            raise BadRequestError(
                f"input {name!r} has shape {list(tensor.shape)}, expected [N, {width}] "
                f"(or [{width}] for one row) with columns {', '.join(encoder.names)}"
            )
        _check_rows(tensor.shape[0], max_rows)
        if tensor.dtype == object:  # BYTES: category names, numbers as text
            return encoder.from_bytes_tensor(tensor, name)
        return encoder.from_tensor(tensor, name)
    columns: dict[str, Any] = {}
    rows = -1
    for name, data in inputs:
        if name in columns:
            raise BadRequestError(f"input {name!r} appears twice")
        if data.ndim == 2 and data.shape[1] == 1:
            data = data[:, 0]
        elif data.ndim != 1:
            raise BadRequestError(
                f"input {name!r} has shape {list(data.shape)}; a per-feature input must be [N] or [N, 1]"
            )
        rows = len(data) if rows < 0 else rows
        columns[name] = data
    _check_rows(rows, max_rows)
    return encoder.from_columns(columns, rows)


def _check_rows(rows: int, max_rows: int) -> None:
    if rows > max_rows:
        raise PayloadTooLargeError(f"{rows} rows exceed the limit of {max_rows} per request")
    if rows == 0:
        raise BadRequestError("the request has no rows")


async def serve_infer(request: Request, model: LoadedModel, settings: Settings) -> Response:
    body = await read_body(request, settings.max_request_bytes)
    payload, binary = split_binary_body(body, request.headers.get(HEADER_LENGTH))
    raw_inputs = payload.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise BadRequestError("'inputs' must be a non-empty list of tensors")
    matrix = _matrix(model, decode_inputs(raw_inputs, binary), settings.max_rows_per_request)
    requested, binary_names = _requested_outputs(payload, model)
    model.count_request("v2_infer")
    prediction = await model.predict(matrix)

    produced: dict[str, tuple[Any, str]] = {}
    labels = model.metadata.labels
    if prediction.proba is not None:
        winners = np.argmax(prediction.proba, axis=1)
        produced["predict"] = ([labels[i] for i in winners.tolist()], "BYTES")
        produced["predict_proba"] = (prediction.proba, "FP64")
    elif prediction.classes is not None:
        produced["predict"] = ([labels[i] for i in prediction.classes.tolist()], "BYTES")
    else:
        produced["predict"] = (prediction.values, "FP64")  # [N] or, multi-output, [N, T]
    outputs, blobs = [], []
    for name in requested:
        output, blob = encode_output(
            name, produced[name][0], produced[name][1], name in binary_names
        )
        outputs.append(output)
        blobs.append(blob)
    response: dict[str, Any] = {
        "model_name": model.name,
        "model_version": model.version,
        "outputs": outputs,
    }
    if isinstance(payload.get("id"), str):
        response["id"] = payload["id"]
    header = orjson.dumps(response, option=JSON_OPTIONS)
    if not binary_names:
        return Response(header, media_type="application/json")
    return Response(
        header + b"".join(blobs),
        media_type="application/octet-stream",
        headers={"Inference-Header-Content-Length": str(len(header))},
    )


def _requested_outputs(payload: dict[str, Any], model: LoadedModel) -> tuple[list[str], set[str]]:
    available = ["predict", "predict_proba"] if model.metadata.spec.probabilities else ["predict"]
    parameters = payload.get("parameters") or {}
    binary_all = isinstance(parameters, dict) and parameters.get("binary_data_output") is True
    wanted = payload.get("outputs")
    if wanted is None:
        return available, set(available) if binary_all else set()
    if not isinstance(wanted, list):
        raise BadRequestError("'outputs' must be a list of {name} objects")
    names, binary = [], set()
    for item in wanted:
        name = item.get("name") if isinstance(item, dict) else None
        if name not in available:
            raise BadRequestError(f"unknown output {name!r}; this model has {', '.join(available)}")
        names.append(name)
        params = item.get("parameters") or {}
        if binary_all or (isinstance(params, dict) and params.get("binary_data") is True):
            binary.add(name)
    return names, binary


@router.post(
    "/models/{name}/infer",
    response_model=InferenceResponse,
    responses=ERRORS,
    openapi_extra=INFER_BODY,
    summary="Inference (newest version)",
)
async def infer(
    name: str, request: Request, registry: RegistryDep, settings: SettingsDep
) -> Response:
    # Served by fastpath.FastPathMiddleware; declared here for OpenAPI and for the requests the
    # fast path leaves to FastAPI (an app behind a root_path).
    return await serve_infer(request, registry.get(name), settings)


@router.post(
    "/models/{name}/versions/{version}/infer",
    response_model=InferenceResponse,
    responses=ERRORS,
    openapi_extra=INFER_BODY,
    summary="Inference (one version)",
)
async def infer_version(
    name: str, version: str, request: Request, registry: RegistryDep, settings: SettingsDep
) -> Response:
    return await serve_infer(request, registry.get(name, version), settings)


__all__ = ["InferenceRequest", "router"]
