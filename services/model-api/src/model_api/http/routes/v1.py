"""The simple JSON/CSV API: list models and read their metadata; predict and explain are model
operations (``http.operations``)."""

from __future__ import annotations

from fastapi import APIRouter

from model_api.http.deps import RegistryDep
from model_api.http.operations import (
    V1_ERROR_RESPONSES,
    include_model_reads,
    include_operations,
)
from model_api.http.responses import JSONBytes
from model_api.protocol import v1
from model_api.protocol.schemas import ModelList, ModelMetadata, PredictRequest

router = APIRouter(prefix="/v1", tags=["v1"])


@router.get("/models", response_model=ModelList, summary="List the models served")
async def list_models(registry: RegistryDep) -> JSONBytes:
    return JSONBytes(v1.model_list(registry))


include_model_reads(
    router,
    "",
    lambda registry, services, name, version: JSONBytes(
        v1.metadata_body(registry, registry.get(name, version), services.log is not None)
    ),
    names=("model_metadata", "version_metadata"),
    summaries=("Model metadata", "Metadata of one model version"),
    response_model=ModelMetadata,
    responses=V1_ERROR_RESPONSES,
)
include_operations(router, "v1")

__all__ = ["PredictRequest", "router"]
