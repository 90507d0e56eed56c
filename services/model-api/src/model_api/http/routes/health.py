"""Liveness, readiness and the Prometheus scrape endpoint."""

from __future__ import annotations

from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from model_api.http.deps import RegistryDep
from model_api.http.responses import JSONBytes
from model_api.observability import metrics
from model_api.protocol.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="Liveness: the process answers")
async def healthz() -> JSONBytes:
    return JSONBytes({"status": "ok"})


@router.get(
    "/readyz",
    response_model=Health,
    responses={
        503: {
            "model": Health,
            "description": "Loading, or a bundle that failed to load at start-up is not fixed or "
            "removed yet",
        }
    },
    summary="Readiness: every model bundle is loaded",
)
async def readyz(registry: RegistryDep) -> JSONBytes:
    models = {name: registry.versions(name) for name in registry.names()}
    if registry.ready:
        # Failures the watcher found while serving are reported; they leave the rest serving.
        failed = registry.failures
        return JSONBytes(
            {"status": "ok", "models": models, **({"failed": failed} if failed else {})}
        )
    status = "loading" if registry.loading else "not_ready"
    return JSONBytes(
        {"status": status, "models": models, "failed": registry.failures}, status_code=503
    )


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics_endpoint() -> Response:
    return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)
