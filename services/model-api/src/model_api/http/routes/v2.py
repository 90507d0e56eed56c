"""The Open Inference Protocol (V2) REST API, as spoken by KServe, MLServer and Triton clients:
server and model metadata and health; inference is a model operation (``http.operations``)."""

from __future__ import annotations

from fastapi import APIRouter

from model_api.errors import NotReadyError
from model_api.http.deps import RegistryDep
from model_api.http.operations import (
    V2_ERROR_RESPONSES,
    include_model_reads,
    include_operations,
)
from model_api.http.responses import JSONBytes
from model_api.protocol import v2
from model_api.protocol.messages import Services
from model_api.protocol.schemas import (
    InferenceRequest,
    ModelMetadataV2,
    ReadyResponse,
    ServerMetadata,
)
from model_api.serving.registry import ModelRegistry

router = APIRouter(prefix="/v2", tags=["v2 (Open Inference Protocol)"])


@router.get("", response_model=ServerMetadata, summary="Server metadata")
async def server_metadata() -> JSONBytes:
    return JSONBytes(v2.server_metadata())


@router.get("/health/live", summary="Server live")
async def live() -> JSONBytes:
    return JSONBytes({"live": True})


@router.get(
    "/health/ready",
    response_model=ReadyResponse,
    responses=V2_ERROR_RESPONSES,
    summary="Server ready",
)
async def ready(registry: RegistryDep) -> JSONBytes:
    return JSONBytes({"ready": registry.ready}, status_code=200 if registry.ready else 503)


include_model_reads(
    router,
    "",
    lambda registry, services, name, version: JSONBytes(
        v2.model_metadata_v2(registry, registry.get(name, version))
    ),
    names=("model_metadata", "version_metadata"),
    summaries=("Model metadata", "Model version metadata"),
    response_model=ModelMetadataV2,
    responses=V2_ERROR_RESPONSES,
)


def _model_ready(
    registry: ModelRegistry, services: Services, name: str, version: str | None
) -> JSONBytes:
    try:
        registry.get(name, version)
    except NotReadyError:
        return JSONBytes({"name": name, "ready": False}, status_code=503)
    return JSONBytes({"name": name, "ready": True})


include_model_reads(
    router,
    "/ready",
    _model_ready,
    names=("model_ready", "version_ready"),
    summaries=("Model ready", "Model version ready"),
    response_model=ReadyResponse,
    responses=V2_ERROR_RESPONSES,
)


include_operations(router, "v2")

__all__ = ["InferenceRequest", "router"]
