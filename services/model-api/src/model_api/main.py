"""``create_app(settings)``: the FastAPI app; models load in the lifespan, never at import time."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from model_api import __version__, metrics
from model_api.errors import BundleError, ModelAPIError
from model_api.logs import request_id_var
from model_api.middleware import RequestMiddleware, error_body
from model_api.openapi import build_openapi
from model_api.registry import ModelRegistry
from model_api.routes import health, v1, v2
from model_api.settings import Settings

log = logging.getLogger("model_api")

DESCRIPTION = """
Serves every XGBoost model bundle in the model repository.

* **v1**: JSON records or CSV in, labels/probabilities/values out; SHAP explanations.
  Each model has its own typed paths below (tag `model: <name>`) listing its features.
* **v2**: the Open Inference Protocol (KServe / MLServer / Triton clients), JSON and binary tensors.
* **health**: `/healthz` (live), `/readyz` (models loaded), `/metrics` (Prometheus).
"""


GC_YOUNG_THRESHOLD = 50_000


def load_models(registry: ModelRegistry) -> None:
    """Load every bundle, then freeze what exists: it lives as long as the process, so the
    garbage collector need not walk the modules and models again on every full collection."""
    registry.load_all()
    gc.collect()
    gc.freeze()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the registry loads the repository when the app starts."""
    settings = settings or Settings()
    registry = ModelRegistry(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        metrics.MODELS_READY.set(0)
        # A 1,000-row request allocates thousands of small dicts and lists; with CPython's default
        # threshold (700) the collector would run several times per request.
        gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 20)
        if settings.strict_startup:
            load_models(registry)
            if registry.failures:
                problems = "; ".join(registry.failures.values())
                raise BundleError(f"start-up refused (MODEL_API_STRICT_STARTUP): {problems}")
            load_task = None
        else:
            # Load off the event loop so /healthz answers and /readyz says "loading" meanwhile.
            load_task = asyncio.create_task(asyncio.to_thread(load_models, registry))
        try:
            yield
        finally:
            if load_task is not None:
                await load_task
            registry.close()

    app = FastAPI(
        title="Model Serving Stack API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.registry = registry
    app.include_router(health.router)
    app.include_router(v1.router)
    app.include_router(v2.router)
    _add_error_handlers(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["*"],
        )
    app.add_middleware(RequestMiddleware, settings=settings)
    _install_openapi(app, registry)
    return app


def _error_response(
    request: Request, status: int, code: str, message: str, details: list[Any]
) -> Response:
    path = request.url.path
    metrics.ERRORS.labels(code).inc()
    if path.startswith("/v2") and status == 422:
        status = 400  # the Open Inference Protocol reports input errors as 400
    body = error_body(path, code, message, request_id_var.get(), details)
    return Response(body, status_code=status, media_type="application/json")


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ModelAPIError)
    async def domain_error(request: Request, exc: ModelAPIError) -> Response:
        return _error_response(request, exc.status, exc.code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        details = [
            {"loc": [str(p) for p in err.get("loc", [])], "msg": err.get("msg", "invalid")}
            for err in exc.errors()
        ]
        message = (
            "; ".join(f"{'.'.join(d['loc'])}: {d['msg']}" for d in details) or "invalid request"
        )
        return _error_response(request, 422, "invalid_input", message, details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        codes = {404: "not_found", 405: "method_not_allowed"}
        message = str(exc.detail)
        if exc.status_code == 404:
            message = f"no endpoint at {request.url.path}; see /docs"
        response = _error_response(
            request, exc.status_code, codes.get(exc.status_code, "http_error"), message, []
        )
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request: Request, exc: ClientDisconnect) -> Response:
        # Nobody is left to read an answer; 499 (nginx's "client closed request") keeps the
        # metrics honest without calling it a server error.
        metrics.ERRORS.labels("client_disconnected").inc()
        return Response(status_code=499)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", extra={"path": request.url.path})
        return _error_response(
            request, 500, "internal_error", "internal error; see the server log", []
        )


def _install_openapi(app: FastAPI, registry: ModelRegistry) -> None:
    cache: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if "doc" in cache:
            return cache["doc"]  # type: ignore[no-any-return]
        document = build_openapi(app, registry)
        if not registry.loading:
            cache["doc"] = document  # models are known now; before that, do not freeze the doc
        return document

    app.openapi = openapi  # type: ignore[method-assign]
