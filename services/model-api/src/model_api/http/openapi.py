"""The OpenAPI document, with a typed operation per served model, and the docs page that shows it.

The routes are generic (``/v1/models/{name}/predict``) while what a body must hold depends on the
model. So once models are loaded, the document replaces the generic v1 predict and explain
operations by concrete ones per model and version (``/v1/models/penguin-species/predict``), whose
JSON schemas list that model's features: types, float32 bounds, category enums, training ranges,
examples, and for CSV the header. Feature names are JSON object keys there, never Python
identifiers, so any name a DataFrame column can carry (``_x``, ``model_config``, quotes, emoji)
is a property; component names come from the model's name and version, made unique.

With an API key set, the protected operations declare it (``X-API-Key`` header or bearer token).
The docs page and its assets (Swagger UI, from the ``fastapi-offline`` package: no CDN) load
without the key, so that its Authorize button can be used; ``/openapi.json`` without a key is the
public document, which stops at the generic operations: model names, features, categories and
training ranges stay behind the key. The page sends the authorized key with the document's
request and fetches the document again when the key changes.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from copy import deepcopy
from importlib.resources import files
from typing import Any
from urllib.parse import quote

import orjson
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from model_contract import EvaluationProgress, StreamedError
from pydantic import SecretStr
from pydantic.json_schema import models_json_schema
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles

from model_api.codecs.csv import output_header
from model_api.errors import MissingAPIKeyError
from model_api.http.errors import error_shape
from model_api.http.json_schema import (
    FLOAT32_RANGE,
    STRIPPED_LINE_SPACE,
    STRIPPED_SPACE,
    regex_literal,
)
from model_api.http.middleware import (
    DOCS_ASSETS_PATH,
    DOCS_PATH,
    OPENAPI_PATH,
    UNPROTECTED_PATHS,
    api_key_refusal,
)
from model_api.http.openapi_v2 import infer_example, infer_request_schema, shared_schemas
from model_api.protocol.compare import incomparable
from model_api.protocol.evaluate import evaluated_targets
from model_api.protocol.schemas import InferenceRequest, PredictRequest
from model_api.serving.bundle import BundleMetadata, FeatureSpec
from model_api.serving.registry import LoadedModel, ModelRegistry
from model_api.settings import Settings

COMPONENTS = "#/components/schemas/"
JSON_TYPES = {"numeric": "number", "integer": "integer", "boolean": "boolean"}


SECURITY_SCHEMES = {
    "APIKeyHeader": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "The API key (MODEL_API_API_KEY).",
    },
    "BearerToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "The same key as `Authorization: Bearer <key>`.",
    },
}
SECURITY: list[dict[str, list[str]]] = [{"APIKeyHeader": []}, {"BearerToken": []}]
HEAD_TOO_LARGE = (
    "Request line and headers past MODEL_API_MAX_HEADER_BYTES; the connection is closed"
)
BODY_TOO_SLOW = (
    "The body stopped arriving (MODEL_API_BODY_TIMEOUT_SECONDS, "
    "MODEL_API_BODY_MIN_BYTES_PER_SECOND); the connection is closed"
)
NOT_READY_OR_BUSY = (
    "Models not loaded yet (or the bundle failed to load), or busy (`Retry-After: 1`): "
    "MODEL_API_MAX_IN_FLIGHT requests in flight"
)
BUSY_WITH_BODY = (
    ", or request bodies past MODEL_API_MAX_BODY_MEMORY_BYTES (memory) or "
    "MODEL_API_MAX_BODY_DISK_BYTES (CSV spooled to disk)"
)
# fastapi-offline ships the Swagger UI bundle; the page below is ours (it needs the key handling).
SWAGGER_ASSETS = files("fastapi_offline") / "static"


# --------------------------------------------------------------------------- per-model schemas
def feature_schema(feature: FeatureSpec) -> dict[str, Any]:
    """The JSON schema of one feature's value in a v1 record (null = missing)."""
    schema: dict[str, Any]
    if feature.type == "categorical":
        schema = {"type": ["string", "null"], "enum": [*(feature.categories or []), None]}
    else:
        schema = {"type": [JSON_TYPES[feature.type], "null"]}
        if feature.type != "boolean":
            schema.update(FLOAT32_RANGE)
    description = feature.description or feature.type
    if feature.min is not None and feature.max is not None:
        description += f" (training range {feature.min:g} to {feature.max:g})"
        schema["x-training-min"], schema["x-training-max"] = feature.min, feature.max
    schema["description"] = description + "; null = missing"
    schema["examples"] = [feature.default]
    return schema


def instance_schema(metadata: BundleMetadata) -> dict[str, Any]:
    """One row: every feature by name, nothing else."""
    return {
        "type": "object",
        "description": "One row: every feature of the model by name (null = missing).",
        "properties": {f.name: feature_schema(f) for f in metadata.features},
        "required": [f.name for f in metadata.features],
        "additionalProperties": False,
    }


def predict_request_schema(instance_key: str, max_rows: int) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "instances": {
                "type": "array",
                "items": {"$ref": COMPONENTS + instance_key},
                "minItems": 1,
                "maxItems": max_rows,
                "description": f"Rows to score (at most {max_rows}, MODEL_API_MAX_ROWS_PER_REQUEST).",
            }
        },
        "required": ["instances"],
        "additionalProperties": False,
    }


def example_row(metadata: BundleMetadata) -> dict[str, Any]:
    return {f.name: f.default for f in metadata.features}


def _csv_line(values: Iterable[Any]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(values)
    return out.getvalue()


def csv_header(metadata: BundleMetadata) -> str:
    """The header line naming every feature, quoted where CSV needs it, without its newline."""
    return _csv_line(f.name for f in metadata.features)[:-1]


def csv_example(metadata: BundleMetadata) -> str:
    values = ("" if f.default is None else f.default for f in metadata.features)
    return f"{csv_header(metadata)}\n{_csv_line(values)}"


# A CSV field: quoted (a quote inside is doubled; line breaks allowed), or up to the next comma
# or line break; and the end of one: a comma, a line break or the end of the body.
CSV_FIELD = r'(?:"(?:[^"]|"")*"|[^",\r\n]*)'
CSV_FIELD_END = r"(?![^,\r\n])"
CSV_SPACE, CSV_LINE_SPACE = STRIPPED_SPACE, STRIPPED_LINE_SPACE


def csv_name_forms(name: str) -> tuple[str, str]:
    """Regular expressions of a header field naming the feature ``name``: as written (the name,
    quoted if it holds a comma: it cannot hold quotes, control characters or outer spaces), and
    any field the API reads as it (header names are stripped of whitespace)."""
    literal = regex_literal(name)
    quoted = f'"{CSV_SPACE}*{literal}{CSV_SPACE}*"'
    if "," in name:
        return f'"{literal}"', quoted
    return f'(?:{literal}|"{literal}")', f"(?:{CSV_LINE_SPACE}*{literal}{CSV_LINE_SPACE}*|{quoted})"


def csv_pattern(metadata: BundleMetadata, also: Sequence[str] = ()) -> str:
    """The CSV bodies the API scores: a header naming every feature (and every column of
    ``also``) once, in any order, among any other columns, then any rows (a bad row is reported
    in-band).

    Each name is one lookahead at the start: "the header has a field naming it", written as
    ``(?!(?!...))`` (what ``(?=...)`` says) because test generators such as hypothesis emit a
    positive lookahead's text; and one "no two fields name it". Then the header is any fields:
    first the features (and ``also``) in their order with other columns after them (what
    generators then produce), else in any order."""
    field, fields_before = CSV_FIELD, f"(?:{CSV_FIELD},)*"
    checks = []
    for name in [*(f.name for f in metadata.features), *also]:
        written, read = csv_name_forms(name)
        checks.append(f"(?!(?!{fields_before}{written}{CSV_FIELD_END}))")
        checks.append(f"(?!{fields_before}{read},{fields_before}{read}{CSV_FIELD_END})")
    named = csv_header(metadata) + "".join("," + _csv_line([name])[:-1] for name in also)
    in_order = regex_literal(named) + f"(?:,{field})*"
    header = f"(?:{in_order}|{field}(?:,{field})*)"
    # No byte order mark: the API drops one, and a name after it would count twice.
    return rf"^(?!\ufeff){''.join(checks)}{header}(?:\r?\n[\s\S]*)?$"


EXAMPLE_PREDICTION_ID = "3f9a0c1be27d44a1c9e0-0"


def csv_output_example(model: LoadedModel, ids: bool = False) -> str:
    """The scored CSV of one row: ``output_header``'s columns (with ``ids``, the prediction log
    on, ``prediction_id`` too), a cell for each."""
    header = output_header(model, ids=ids)
    start: list[Any] = [1, EXAMPLE_PREDICTION_ID] if ids else [1]
    labels = model.metadata.labels
    width = len(header) - len(start) - 1  # the prediction's cells
    # The label, then the probabilities (none for binary:hinge); else a value per output.
    probability = round(1 / len(labels), 4) if labels else 0.0
    cells: list[Any] = [labels[0], *[probability] * (width - 1)] if labels else [0.0] * width
    return _csv_line(header) + _csv_line([*start, *cells, ""])


# --------------------------------------------------------------------------- the document
class Names:
    """Unique names: the wanted one, else with a counter (only for names that would collide)."""

    def __init__(self, taken: Iterable[str] = ()) -> None:
        self.taken = set(taken)

    def claim(self, wanted: str, separator: str) -> str:
        name, count = wanted, 1
        while name in self.taken:
            count += 1
            name = f"{wanted}{separator}{count}"
        self.taken.add(name)
        return name


def build_openapi(
    app: FastAPI, registry: ModelRegistry, settings: Settings, *, with_models: bool
) -> dict[str, Any]:
    """The app's document; with ``with_models``, the typed operations of every loaded model."""
    document = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(_generic_request_schemas(settings.max_rows_per_request))
    paths: dict[str, Any] = document["paths"]
    _drop_v2_validation_errors(paths, schemas)
    models = registry.all_models() if with_models else []
    if models:
        schemas.update(shared_schemas(settings.max_rows_per_request))
        _add_model_operations(paths, schemas, models, registry, settings)
    _document_refusals(paths, settings.api_key is not None)
    if settings.api_key is not None:
        document["components"]["securitySchemes"] = deepcopy(SECURITY_SCHEMES)
    return document


def _generic_request_schemas(max_rows: int) -> dict[str, Any]:
    """The request bodies the generic routes name (their routes read raw bytes, so FastAPI
    does not list them), and the lines of the evaluations' progress stream."""
    _, top = models_json_schema(
        [
            (PredictRequest, "validation"),
            (InferenceRequest, "validation"),
            (EvaluationProgress, "serialization"),
            (StreamedError, "serialization"),
        ],
        ref_template=COMPONENTS + "{model}",
    )
    defs: dict[str, Any] = top["$defs"]
    defs["PredictRequest"]["properties"]["instances"]["maxItems"] = max_rows
    return defs


def _drop_v2_validation_errors(paths: dict[str, Any], schemas: dict[str, Any]) -> None:
    """V2 answers every input error with 400 (the protocol's rule): FastAPI's 422 never comes."""
    for path, item in paths.items():
        if path == "/v2" or path.startswith("/v2/"):
            for operation in item.values():
                operation["responses"].pop("422", None)
    if "HTTPValidationError" not in json.dumps(paths):
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)


def _add_model_operations(
    paths: dict[str, Any],
    schemas: dict[str, Any],
    models: list[LoadedModel],
    registry: ModelRegistry,
    settings: Settings,
) -> None:
    """Replace the generic v1 predict and explain and V2 infer operations by typed ones per
    model version."""
    generic = {
        (action, versioned): paths.pop(_generic_path(action, versioned))["post"]
        for action in ("predict", "explain", "infer", "evaluate", "compare")
        for versioned in (False, True)
    }
    keys = Names(schemas)
    operation_ids = Names(
        op["operationId"] for item in paths.values() for op in item.values() if "operationId" in op
    )
    for model in models:
        base = keys.claim(re.sub(r"[^A-Za-z0-9._-]", "_", f"{model.name}.{model.version}"), ".")
        schemas[f"{base}.Instance"] = instance_schema(model.metadata)
        schemas[f"{base}.PredictRequest"] = predict_request_schema(
            f"{base}.Instance", settings.max_rows_per_request
        )
        schemas[f"{base}.InferenceRequest"] = infer_request_schema(
            model.metadata, settings.max_rows_per_request
        )
        # The unversioned paths are typed as the version that answers them.
        default = model is registry.get(model.name)
        for versioned in (True, False) if default else (True,):
            segment = quote(model.name, safe="")
            if versioned:
                segment += f"/versions/{quote(model.version, safe='')}"
            infer = _typed_infer_operation(generic["infer", versioned], model, versioned, base)
            wanted = f"infer_{model.name}" + (f"_{model.version}" if versioned else "")
            infer["operationId"] = operation_ids.claim(re.sub(r"[^A-Za-z0-9_]+", "_", wanted), "_")
            paths[f"/v2/models/{segment}/infer"] = {"post": infer}
            for action in ("predict", "explain"):
                operation = _typed_operation(
                    generic[action, versioned],
                    action,
                    model,
                    versioned,
                    base,
                    ids=settings.prediction_log,
                )
                wanted = f"{action}_{model.name}" + (f"_{model.version}" if versioned else "")
                operation["operationId"] = operation_ids.claim(
                    re.sub(r"[^A-Za-z0-9_]+", "_", wanted), "_"
                )
                paths[f"/v1/models/{segment}/{action}"] = {"post": operation}
            if model.metadata.spec.not_evaluated is None:  # else the generic route's 422 only
                for action in ("evaluate", "compare"):
                    operation = _typed_evaluate_operation(
                        generic[action, versioned], action, model, versioned, models
                    )
                    wanted = f"{action}_{model.name}" + (f"_{model.version}" if versioned else "")
                    operation["operationId"] = operation_ids.claim(
                        re.sub(r"[^A-Za-z0-9_]+", "_", wanted), "_"
                    )
                    paths[f"/v1/models/{segment}/{action}"] = {"post": operation}


def _generic_path(action: str, versioned: bool) -> str:
    api = "v2" if action == "infer" else "v1"
    return f"/{api}/models/{{name}}" + ("/versions/{version}" if versioned else "") + f"/{action}"


def _model_operation(
    generic: dict[str, Any], action: str, model: LoadedModel, versioned: bool
) -> dict[str, Any]:
    """A copy of ``generic`` named for one model version, under the model's tag."""
    operation = deepcopy(generic)
    which = f"version {model.version}" if versioned else f"newest version, {model.version}"
    task = model.metadata.task
    operation["summary"] = f"{action.capitalize()} with {model.name} ({which}; {task})"
    operation["tags"] = [f"model: {model.name}"]
    return operation


def _typed_infer_operation(
    generic: dict[str, Any], model: LoadedModel, versioned: bool, base: str
) -> dict[str, Any]:
    """One model's typed V2 inference: a JSON request with an input per feature."""
    operation = _model_operation(generic, "infer", model, versioned)
    operation.pop("parameters", None)  # the path fixes name and version
    operation["requestBody"] = {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"$ref": f"{COMPONENTS}{base}.InferenceRequest"},
                "example": infer_example(model.metadata),
            }
        },
    }
    operation["description"] = (
        "One input per feature (listed in the features' order; any order is read): `shape` "
        "[N] or [N, 1] with N values in `data` (flat, or N rows of one value), the same N for "
        "every input; each feature takes every datatype listed. Alternatively one input of shape [N, F] holding the features in "
        "order (see the model's V2 metadata, `parameters.tensor_input`). With the binary "
        "tensor extension the JSON part is followed by the tensors' bytes "
        "(`Inference-Header-Content-Length` header, `parameters.binary_data_size` per input); "
        "`binary_data_output` (request parameters) or `binary_data` (an output's) answers "
        "`application/octet-stream` likewise."
    )
    return operation


def _typed_operation(
    generic: dict[str, Any],
    action: str,
    model: LoadedModel,
    versioned: bool,
    base: str,
    *,
    ids: bool = False,
) -> dict[str, Any]:
    """One model's typed operation (``ids``: its CSV answer has a prediction_id column)."""
    metadata = model.metadata
    operation = _model_operation(generic, action, model, versioned)
    parameters = _typed_parameters(operation.pop("parameters", []), metadata)
    if parameters:
        operation["parameters"] = parameters
    content: dict[str, Any] = {
        "application/json": {
            "schema": {"$ref": f"{COMPONENTS}{base}.PredictRequest"},
            "example": {"instances": [example_row(metadata)]},
        }
    }
    description = metadata.description or ""
    if action == "predict":
        content["text/csv"] = {
            "schema": {"type": "string", "pattern": csv_pattern(metadata)},
            "example": csv_example(metadata),
        }
        operation["responses"]["200"]["content"]["text/csv"]["example"] = csv_output_example(
            model, ids=ids
        )
        description += (
            "\n\nCSV: a header naming every feature (shown in the features' order; any order "
            "works, extra columns are ignored and listed in `X-Ignored-Columns`), then one row "
            "per line; a bad row gets its reason in the `error` column. For `;`, tab or `|` "
            "separated files add `?delimiter=;` (`tab`, `|`)."
        )
    operation["requestBody"] = {"required": True, "content": content}
    operation["description"] = description.strip()
    return operation


def _typed_evaluate_operation(
    generic: dict[str, Any],
    action: str,
    model: LoadedModel,
    versioned: bool,
    models: list[LoadedModel],
) -> dict[str, Any]:
    """One model's typed evaluation or comparison: a CSV with its features and its target
    column (compare: with the models and versions it can be compared with)."""
    metadata = model.metadata
    operation = _model_operation(generic, action, model, versioned)
    comparable = [m for m in models if _comparable(model, m)]
    targets, default = evaluated_targets(metadata)
    parameters = []
    for parameter in operation.pop("parameters", []):
        if parameter["in"] == "path":
            continue
        if parameter["name"] == "target":
            parameter["schema"] = {"type": "string", "enum": targets}
            if default is None:
                parameter["required"] = True
                parameter["description"] = "The output to evaluate (its actual values in the "
                parameter["description"] += "column of that name)."
            else:
                parameter["schema"]["default"] = default
                parameter["description"] = f"The column of actual values: {default}."
        elif parameter["name"] == "other_model":
            parameter["schema"] = {
                "type": "string",
                "enum": sorted({m.name for m in comparable}),
                "default": model.name,
            }
        elif parameter["name"] == "other_version":
            parameter["schema"] = {
                "type": "string",
                "enum": sorted({m.version for m in comparable}),
            }
        parameters.append(parameter)
    operation["parameters"] = parameters
    labels = metadata.labels
    actual = labels[0] if labels else 0.0
    values = ["" if f.default is None else f.default for f in metadata.features]
    example = f"{csv_header(metadata)},{_csv_line(targets)[:-1]}\n"
    example += _csv_line([*values, *([actual] * len(targets))])
    operation["requestBody"] = {
        "required": True,
        "content": {
            "text/csv": {
                "schema": {"type": "string", "pattern": csv_pattern(metadata, targets)},
                "example": example,
            }
        },
    }
    what = f"its actual class ({', '.join(labels)})" if labels else "its actual value"
    operation["description"] = (
        f"A CSV file: a header naming every feature and the target column, then one row per "
        f"line with {what}. A row that cannot be scored or judged is counted and listed in "
        "`failed_rows`; the metrics are scikit-learn's, on every judged row and on slices."
    )
    if action == "compare":
        operation["description"] += (
            " Both are judged on the same rows; the difference of their headline metric comes "
            "with a paired bootstrap interval, and the rows where they disagree are listed."
        )
    return operation


def _comparable(model: LoadedModel, other: LoadedModel) -> bool:
    """Whether ``other`` can be compared with ``model`` on one file (what compare checks)."""
    return other.metadata.spec.not_evaluated is None and not incomparable(model, other)


def _typed_parameters(
    generic: list[dict[str, Any]], metadata: BundleMetadata
) -> list[dict[str, Any]]:
    """The generic operation's query parameters (the typed path fixes name and version), with
    explain's ``output`` naming the model's outputs; a single-output model refuses ``output``,
    so its operation has none."""
    parameters = []
    for parameter in generic:
        if parameter["in"] == "path":
            continue
        if parameter["name"] == "output":
            names = metadata.output_names
            if not names:
                continue
            default = names[metadata.primary_output]
            parameter["schema"] = {"type": "string", "enum": names, "default": default}
            parameter["description"] = f"The output to explain; by default {default}."
        parameters.append(parameter)
    return parameters


def _document_refusals(paths: dict[str, Any], keyed: bool) -> None:
    """Answers an operation can get whatever its route does: request line and headers past
    MODEL_API_MAX_HEADER_BYTES (431, from ``server.BoundedHeadProtocol``) on any operation; from
    ``RequestMiddleware`` on the protected ones, busy (503), a body that stopped arriving (408),
    and with a key set, a missing or wrong key (401) - and the security requirement itself."""
    for path, item in paths.items():
        shape = error_shape(path).schema
        for operation in item.values():
            responses = operation["responses"]
            responses["431"] = _error(shape, HEAD_TOO_LARGE)
            if path in UNPROTECTED_PATHS:
                continue
            has_body = "requestBody" in operation
            if has_body:
                responses["408"] = _error(shape, BODY_TOO_SLOW)
            busy = responses.setdefault("503", _error(shape, ""))
            busy["description"] = NOT_READY_OR_BUSY + (BUSY_WITH_BODY if has_body else "")
            if keyed:
                operation["security"] = deepcopy(SECURITY)
                responses["401"] = _error(shape, "Missing or wrong API key")


def _error(shape: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": COMPONENTS + shape}}},
    }


# --------------------------------------------------------------------------- serving it
DOCS_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
<link rel="icon" type="image/png" href="{assets}/favicon.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script>
const specUrl = {spec_url};
// The document holds each model's typed operations only for a caller with the key: send the
// key the Authorize dialog holds with the document's request, and fetch it again on a change.
function withKey(request) {{
  if (request.loadSpec && window.ui) {{
    const authorized = window.ui.authSelectors.authorized().toJS();
    for (const scheme of Object.values(authorized)) {{
      if (scheme.schema.type === "apiKey") request.headers["X-API-Key"] = scheme.value;
      if (scheme.schema.type === "http") request.headers["Authorization"] = "Bearer " + scheme.value;
    }}
  }}
  return request;
}}
const reload = (action, system) => (payload) => {{
  const result = action(payload);
  system.specActions.download(specUrl);
  return result;
}};
const reloadOnKeyChange = () => ({{
  statePlugins: {{ auth: {{ wrapActions: {{ authorize: reload, logout: reload }} }} }},
}});
window.ui = SwaggerUIBundle({{
  url: specUrl,
  dom_id: "#swagger-ui",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  validatorUrl: null,
  requestInterceptor: withKey,
  plugins: [reloadOnKeyChange],
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  layout: "BaseLayout",
}});
</script>
</body>
</html>
"""


def docs_page(title: str, root_path: str) -> str:
    spec_url = orjson.dumps(root_path + OPENAPI_PATH).decode().replace("<", "\\u003c")
    return DOCS_PAGE.format(
        title=title.replace("<", "&lt;"), assets=root_path + DOCS_ASSETS_PATH, spec_url=spec_url
    )


def has_valid_key(headers: Mapping[str, str], key: SecretStr) -> bool:
    """Whether the request carries the API key (none: the public document); a wrong key is
    refused (401) as anywhere."""
    refusal = api_key_refusal(headers, key.get_secret_value().encode())
    if isinstance(refusal, MissingAPIKeyError):
        return False
    if refusal is not None:
        raise refusal
    return True


def install_docs(app: FastAPI, registry: ModelRegistry, settings: Settings) -> None:
    """Serve ``/openapi.json`` (public or full), ``/docs`` and the Swagger UI assets."""
    # Per (full or public, the registry's generation): a model added, replaced or removed
    # makes a new document.
    cache: dict[tuple[bool, int], tuple[dict[str, Any], bytes]] = {}

    def document(with_models: bool) -> tuple[dict[str, Any], bytes]:
        key = (with_models, registry.generation)
        if key in cache:
            return cache[key]
        built = build_openapi(app, registry, settings, with_models=with_models)
        # json, not orjson: the float32 bounds are integers past 64 bits.
        answer = built, json.dumps(built, ensure_ascii=False).encode()
        if not registry.loading:  # models are known now; before that, do not freeze the document
            for old in [k for k in cache if k[0] == with_models]:
                del cache[old]
            cache[key] = answer
        return answer

    app.openapi = lambda: document(with_models=True)[0]  # type: ignore[method-assign]

    @app.get(OPENAPI_PATH, include_in_schema=False)
    async def openapi_json(request: Request) -> Response:
        full = settings.api_key is None or has_valid_key(request.headers, settings.api_key)
        served, body = document(with_models=full)
        root_path = request.scope.get("root_path", "").rstrip("/")
        if root_path:  # behind a proxy's path prefix: say where the operations are
            body = json.dumps({**served, "servers": [{"url": root_path}]}).encode()
        return Response(body, media_type="application/json")

    @app.get(DOCS_PATH, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root_path = request.scope.get("root_path", "").rstrip("/")
        return HTMLResponse(docs_page(f"{app.title} - docs", root_path))

    app.mount(
        DOCS_ASSETS_PATH, StaticFiles(directory=str(SWAGGER_ASSETS)), name="swagger-ui-assets"
    )
