"""The Open Inference Protocol (V2) semantics: tensors in, named outputs out; model metadata."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import orjson
from model_contract import V2_DATATYPES

from model_api import __version__
from model_api.codecs.features import FeatureEncoder
from model_api.codecs.v2_tensors import (
    HEADER_LENGTH,
    decode_inputs,
    encode_output,
    parameters_of,
    split_binary_body,
)
from model_api.errors import BadRequestError, PayloadTooLargeError
from model_api.protocol.messages import JSON_OPTIONS, Answer, Incoming, Services
from model_api.serving.bundle import BundleMetadata
from model_api.serving.registry import LoadedModel, ModelRegistry
from model_api.store.ids import prediction_ids

# The datatypes a feature's own input takes (column style), by feature type: the metadata's
# (model_contract.V2_DATATYPES), the other common float and integer widths, and BYTES (text, as
# tritonclient sends numbers from object columns). Tensor style takes every datatype.
COLUMN_DATATYPES: dict[str, tuple[str, ...]] = {
    "numeric": ("FP32", "FP64", "INT32", "INT64", "BYTES"),
    "integer": ("FP32", "FP64", "INT32", "INT64", "BYTES"),
    "boolean": ("BOOL", "FP32", "FP64", "INT32", "INT64", "BYTES"),
    "categorical": ("BYTES", "FP32", "FP64", "INT32", "INT64"),
}


def server_metadata() -> dict[str, Any]:
    return {
        "name": "model-serving-stack",
        "version": __version__,
        "extensions": ["binary_tensor_data"],
    }


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


def _matrix(
    model: LoadedModel, inputs: list[tuple[str, str, np.ndarray]], max_rows: int
) -> np.ndarray:
    """Tensor style (one [N, F] or [F] input) or column style (one [N] or [N, 1] per feature)."""
    encoder = model.encoder
    if len(inputs) == 1 and inputs[0][0] not in encoder.name_set:
        name, _, tensor = inputs[0]
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
    takes = _column_datatypes(encoder)
    for name, datatype, data in inputs:
        if name in columns:
            raise BadRequestError(f"input {name!r} appears twice")
        feature = takes.get(name)  # None: not a feature, refused by name below
        if feature is not None and datatype not in feature[1]:
            raise BadRequestError(
                f"input {name!r} ({feature[0]}) has datatype {datatype}; a feature's input "
                f"takes {', '.join(feature[1])}"
            )
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


@functools.lru_cache(maxsize=64)
def _column_datatypes(encoder: FeatureEncoder) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Each feature's type and datatypes (``COLUMN_DATATYPES``), built once per loaded model."""
    return {f.name: (f.type, COLUMN_DATATYPES[f.type]) for f in encoder.features}


def _check_rows(rows: int, max_rows: int) -> None:
    if rows > max_rows:
        raise PayloadTooLargeError(f"{rows} rows exceed the limit of {max_rows} per request")
    if rows == 0:
        raise BadRequestError("the request has no rows")


async def infer(model: LoadedModel, incoming: Incoming, services: Services) -> Answer:
    """An inference request (JSON, or JSON then binary tensors) in; the requested outputs out.

    A request recorded in the prediction log answers with its rows' ids in
    ``parameters.prediction_ids`` and, when the request gave no ``id``, the token as its ``id``.
    """
    settings = services.settings
    body = await incoming.read(settings.max_request_bytes)
    payload, binary = split_binary_body(body, incoming.header(HEADER_LENGTH))
    request_id = payload.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise BadRequestError(f"'id' must be a string, got {type(request_id).__name__}")
    raw_inputs = payload.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise BadRequestError("'inputs' must be a non-empty list of tensors")
    matrix = _matrix(model, decode_inputs(raw_inputs, binary), settings.max_rows_per_request)
    requested, binary_names = _requested_outputs(payload, model)
    model.count_request("v2_infer")
    log = services.log
    logged = None if log is None else log.begin(incoming)
    prediction = await model.predict(matrix, logged)  # recorded with its batch, if logged
    token = None if logged is None else logged.token

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
    if request_id is not None:
        response["id"] = request_id
    if token is not None:
        response.setdefault("id", token)
        response["parameters"] = {"prediction_ids": prediction_ids(token, len(matrix))}
    header = orjson.dumps(response, option=JSON_OPTIONS)
    if not binary_names:
        return Answer(header)
    return Answer(
        header + b"".join(blobs),
        "application/octet-stream",
        {"Inference-Header-Content-Length": str(len(header))},
    )


def output_names(metadata: BundleMetadata) -> list[str]:
    """The outputs a request can ask for: ``predict``, and ``predict_proba`` with probabilities."""
    return ["predict", "predict_proba"] if metadata.spec.probabilities else ["predict"]


def _requested_outputs(payload: dict[str, Any], model: LoadedModel) -> tuple[list[str], set[str]]:
    available = output_names(model.metadata)
    binary_all = parameters_of(payload, "request").get("binary_data_output") is True
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
        params = parameters_of(item, f"output {name!r}")
        if binary_all or params.get("binary_data") is True:
            binary.add(name)
    return names, binary
