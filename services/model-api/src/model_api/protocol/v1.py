"""The v1 API's semantics: JSON records or CSV in; predictions, explanations and metadata out."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
import orjson

from model_api.codecs.csv import CSV_MEDIA_TYPES, DELIMITERS, UNKNOWN_DELIMITER
from model_api.codecs.rows import explanation_rows, explanation_space, prediction_rows_json
from model_api.errors import BadRequestError, InvalidInputError, PayloadTooLargeError
from model_api.protocol.csv_scoring import score_csv
from model_api.protocol.messages import (
    JSON_OPTIONS,
    Answer,
    Incoming,
    Services,
    StreamedAnswer,
    require_json_type,
)
from model_api.serving.registry import LoadedModel, ModelRegistry
from model_api.settings import Settings

FEEDBACK_ENDPOINT = "/v1/feedback"


def model_list(registry: ModelRegistry) -> dict[str, Any]:
    models = []
    for name in registry.names():
        versions = registry.versions(name)
        default = registry.get(name)
        models.append(
            {
                "name": name,
                "version": default.version,
                "versions": versions,
                "aliases": registry.aliases(name).aliases,
                "task": default.metadata.task,
                "description": default.metadata.description,
            }
        )
    return {"models": models, "failed": registry.failures}


def metadata_body(
    registry: ModelRegistry, model: LoadedModel, feedback: bool = False
) -> dict[str, Any]:
    """The bundle's metadata, where it is served, and whether its predictions take feedback
    (the prediction log is on)."""
    body = model.metadata.model_dump(mode="json")
    body["name"], body["version"] = model.name, model.version
    body["probabilities"] = model.metadata.spec.probabilities
    body["explanation"] = explanation_space(model.metadata, None)
    body["versions"] = registry.versions(model.name)
    body["aliases"] = registry.aliases(model.name).aliases
    base = f"/v1/models/{model.name}/versions/{model.version}"
    body["endpoints"] = {
        "predict": f"{base}/predict",
        "explain": f"{base}/explain",
        "v2_infer": f"/v2/models/{model.name}/versions/{model.version}/infer",
    }
    body["feedback"] = {"enabled": feedback, "endpoint": FEEDBACK_ENDPOINT}
    return body


async def predict(
    model: LoadedModel, incoming: Incoming, services: Services
) -> Answer | StreamedAnswer:
    """JSON records, or a CSV file (scored as it streams), in; predictions out (with an id per
    row when the request is recorded in the prediction log)."""
    settings = services.settings
    kind = incoming.content_type
    delimiter = incoming.query("delimiter")
    sep = DELIMITERS.get("," if delimiter is None else delimiter)
    if sep is None:  # refused on JSON requests too: never silently ignored
        raise BadRequestError(UNKNOWN_DELIMITER.format(delimiter))
    if kind in CSV_MEDIA_TYPES:
        return await score_csv(model, incoming, services, sep)
    require_json_type(kind)
    matrix = _matrix_from_json(model, settings, await incoming.read(settings.max_request_bytes))
    model.count_request("predict")
    log = services.log
    logged = None if log is None else log.begin(incoming)
    prediction = await model.predict(matrix, logged)  # recorded with its batch, if logged
    # {"model": ..., "version": ..., "predictions": [...]}, the rows written straight as JSON.
    head = orjson.dumps({"model": model.name, "version": model.version})
    rows = prediction_rows_json(
        model.metadata, prediction, None if logged is None else logged.token
    )
    return Answer(head[:-1] + b',"predictions":' + rows + b"}")


async def explain(model: LoadedModel, incoming: Incoming, services: Services) -> Answer:
    """JSON records in; per-feature SHAP contributions out (never recorded in the log)."""
    settings = services.settings
    require_json_type(incoming.content_type)
    output = _explained_output(model, incoming.query("output"))
    matrix = _matrix_from_json(model, settings, await incoming.read(settings.max_request_bytes))
    model.count_request("explain")
    prediction = await model.predict(matrix)
    # SHAP takes far longer than a prediction: off the event loop, in the worker threads.
    contributions = await anyio.to_thread.run_sync(
        model.runtime.contributions, matrix, prediction.proba, output
    )
    explained = {
        "model": model.name,
        "version": model.version,
        **explanation_space(model.metadata, contributions.explained_output),
        "explanations": explanation_rows(model.metadata, prediction, contributions),
    }
    return Answer(orjson.dumps(explained, option=JSON_OPTIONS))


def parse_json(body: bytes) -> Any:
    """Parse a JSON body; 400 with the parser's position on malformed JSON."""
    if not body:
        raise BadRequestError("request body is empty; expected a JSON object")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(f"request body is not valid JSON: {exc}") from None


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
