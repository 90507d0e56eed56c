"""OpenAPI document with a typed request schema per model.

Routes are generic (``/v1/models/{name}/predict``); this adds, for each loaded model, concrete
paths whose request bodies list that model's features with types, category enums, training
ranges and an example, so an integrator sees exactly what to send.
"""

from __future__ import annotations

import re
from copy import deepcopy
from typing import Any, Literal

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field, create_model

from model_api.bundle import FeatureSpec
from model_api.registry import LoadedModel, ModelRegistry

PYTHON_TYPES: dict[str, Any] = {"numeric": float, "integer": int, "boolean": bool}


def schema_name(model_name: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^a-zA-Z0-9]+", model_name) if part)


def example_row(model: LoadedModel) -> dict[str, Any]:
    return {f.name: f.default for f in model.metadata.features}


def _field(feature: FeatureSpec) -> tuple[Any, Any]:
    if feature.type == "categorical":
        kind: Any = Literal[tuple(feature.categories or [])]
    else:
        kind = PYTHON_TYPES[feature.type]
    description = feature.description or feature.name
    if feature.min is not None and feature.max is not None:
        description += f" (training range {feature.min:g} to {feature.max:g})"
    description += "; null = missing"
    return (
        kind | None,
        Field(
            ...,
            description=description,
            examples=[feature.default],
            json_schema_extra={"x-training-min": feature.min, "x-training-max": feature.max}
            if feature.min is not None
            else None,
        ),
    )


def typed_request(model: LoadedModel) -> tuple[type[BaseModel], type[BaseModel]]:
    """Pydantic models of one model's instance and predict request (for documentation)."""
    prefix = schema_name(model.name)
    instance = create_model(  # type: ignore[call-overload]
        f"{prefix}Instance",
        __config__=ConfigDict(extra="forbid"),
        **{f.name: _field(f) for f in model.metadata.features},
    )
    request = create_model(
        f"{prefix}PredictRequest",
        __config__=ConfigDict(
            extra="forbid", json_schema_extra={"example": {"instances": [example_row(model)]}}
        ),
        instances=(list[instance], Field(..., min_length=1)),
    )
    return instance, request


def build_openapi(app: FastAPI, registry: ModelRegistry) -> dict[str, Any]:
    """The app's OpenAPI document plus a typed path per loaded model."""
    document = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    paths = document["paths"]
    for model in registry.all_models():
        if model.version != registry.versions(model.name)[0]:
            continue  # the default version documents the model; versions share the shape
        instance, request = typed_request(model)
        for cls in (instance, request):
            schema = cls.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(schema.pop("$defs", {}))
            schemas[cls.__name__] = schema
        ref = {"$ref": f"#/components/schemas/{request.__name__}"}
        for action in ("predict", "explain"):
            generic = paths[f"/v1/models/{{name}}/{action}"]["post"]
            operation = deepcopy(generic)
            operation["operationId"] = f"{action}_{schema_name(model.name).lower()}"
            operation["summary"] = (
                f"{action.capitalize()} with {model.name} ({model.metadata.task})"
            )
            operation["tags"] = [f"model: {model.name}"]
            operation["parameters"] = [
                p for p in operation.get("parameters", []) if p["name"] != "name"
            ]
            operation["requestBody"]["content"]["application/json"] = {
                "schema": ref,
                "example": {"instances": [example_row(model)]},
            }
            if "text/csv" in operation["requestBody"]["content"]:
                header = ",".join(f.name for f in model.metadata.features)
                values = ",".join(str(f.default) for f in model.metadata.features)
                operation["requestBody"]["content"]["text/csv"]["example"] = f"{header}\n{values}\n"
            description = model.metadata.description or ""
            operation["description"] = f"{description}\n\nFeatures: " + ", ".join(
                f"`{f.name}` ({f.type})" for f in model.metadata.features
            )
            paths[f"/v1/models/{model.name}/{action}"] = {"post": operation}
    return document
