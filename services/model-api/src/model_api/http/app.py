"""``create_app(settings)``: the FastAPI app; models load in the lifespan, never at import time."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from model_api import __version__
from model_api.errors import BundleError
from model_api.http import errors as error_handlers
from model_api.http.fastpath import FastPathMiddleware
from model_api.http.middleware import RequestMiddleware
from model_api.http.openapi import install_docs
from model_api.http.routes import admin, evaluations, feedback, health, shadow, v1, v2
from model_api.observability import metrics
from model_api.protocol.messages import Services
from model_api.protocol.prediction_log import PredictionLog
from model_api.protocol.shadow import ShadowScoring
from model_api.serving.mlflow_source import MlflowSync
from model_api.serving.registry import Changes, ModelRegistry
from model_api.serving.watcher import RepositoryWatcher
from model_api.settings import Settings
from model_api.store import Store, StoreConfig

log = logging.getLogger("model_api")

DESCRIPTION = """
Serves every XGBoost model bundle in the model repository.

* **v1**: JSON records or CSV in, labels/probabilities/values out; SHAP explanations.
  Each model version has its own typed operations below (tag `model: <name>`) listing its
  features. When the API needs a key, press **Authorize** first: the document then lists them.
* **v2**: the Open Inference Protocol (KServe / MLServer / Triton clients), JSON and binary tensors.
* **feedback**: the prediction log: say whether a prediction (by the id its answer carried) was
  right and what it should have been; read a model's judged predictions, export them as CSV.
* **health**: `/healthz` (live), `/readyz` (models loaded), `/metrics` (Prometheus).
"""


GC_YOUNG_THRESHOLD = 50_000


def load_models(
    registry: ModelRegistry,
    shadow: ShadowScoring | None = None,
    watcher: RepositoryWatcher | None = None,
) -> None:
    """Load every bundle (and pair the shadows with them), then freeze what exists: it lives as
    long as the process, so the garbage collector need not walk the modules and models again on
    every full collection. Then the watcher, if any, starts following the repository."""
    if watcher is not None and watcher.mlflow is not None:
        watcher.mlflow.sync()  # a fresh pod's repository gets its MLflow versions before loading
    registry.load_all()
    if shadow is not None:
        shadow.attach(registry)
    gc.collect()
    gc.freeze()
    if watcher is not None:
        watcher.start()


def repository_watcher(
    registry: ModelRegistry, settings: Settings, shadow: ShadowScoring | None
) -> RepositoryWatcher | None:
    """The watcher of the repository (None when ``MODEL_API_REPOSITORY_POLL_SECONDS`` is 0 and
    no MLflow source is set)."""
    mlflow = MlflowSync(registry, settings) if settings.mlflow_models else None
    intervals = [settings.repository_poll_seconds] if settings.repository_poll_seconds else []
    if mlflow is not None:
        intervals.append(settings.mlflow_poll_seconds)
    if not intervals:
        return None

    def changed(changes: Changes) -> None:
        if shadow is not None:
            shadow.attach(registry)  # the default or the shadow version may have changed

    return RepositoryWatcher(registry, min(intervals), changed, mlflow)


def store_config(settings: Settings) -> StoreConfig:
    """The store's configuration from the API's settings (the store never reads them)."""
    return StoreConfig(
        url=settings.database_url_value,
        migrate=settings.database_migrate,
        queue_rows=settings.prediction_log_queue_rows,
        flush_seconds=settings.prediction_log_flush_seconds,
        retention_days=settings.prediction_log_retention_days,
        exclude_features=frozenset(settings.prediction_log_exclude_features),
    )


def masked_url(url: str) -> str:
    """A database URL fit for a log line: its password masked."""
    try:
        from sqlalchemy.engine import make_url

        rendered: str = make_url(url).render_as_string(hide_password=True)
        return rendered
    except Exception:  # not a URL SQLAlchemy reads: say nothing of it
        return "<unreadable database URL>"


def open_store(settings: Settings) -> Store:
    """Open the prediction log's database (SQLite: its data folder is made first)."""
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    config = store_config(settings)
    store = Store.open(config)
    log.info(
        "prediction log on",
        extra={
            "database": masked_url(config.url),
            "sample_rate": settings.prediction_log_sample_rate,
            "retention_days": settings.prediction_log_retention_days,
            "excluded_features": sorted(config.exclude_features),
        },
    )
    return store


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the registry loads the repository when the app starts."""
    settings = settings or Settings()
    registry = ModelRegistry(settings)
    services = Services(settings, registry=registry)
    if settings.shadow:
        services.shadow = ShadowScoring(services)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        metrics.MODELS_READY.set(0)
        # A 1,000-row request allocates thousands of small dicts and lists; with CPython's default
        # threshold (700) the collector would run several times per request.
        gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 20)
        watcher = repository_watcher(registry, settings, services.shadow)
        if settings.strict_startup:
            load_models(registry, services.shadow, watcher)
            if registry.failures:
                problems = "; ".join(registry.failures.values())
                raise BundleError(f"start-up refused (MODEL_API_STRICT_STARTUP): {problems}")
            load_task = None
        else:
            # Load off the event loop so /healthz answers and /readyz says "loading" meanwhile.
            load_task = asyncio.create_task(
                asyncio.to_thread(load_models, registry, services.shadow, watcher)
            )
        store = None
        try:
            if settings.prediction_log:
                store = await asyncio.to_thread(open_store, settings)
                services.log = PredictionLog(store, settings.prediction_log_sample_rate)
                registry.hand_scored_batches(services.log.record_batch)
                # Opening it imported SQLAlchemy and Alembic and ran the migrations: freeze
                # that too, or every full collection walks it again (a cost per request).
                gc.collect()
                gc.freeze()
            yield
        finally:
            registry.hand_scored_batches(None)
            if services.shadow is not None:
                services.shadow.close()
            services.log = None
            if store is not None:
                await asyncio.to_thread(store.close)
            if load_task is not None:
                await load_task
            if watcher is not None:
                await asyncio.to_thread(watcher.close)
            registry.close()

    app = FastAPI(
        title="Model Serving Stack API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # openapi.install_docs serves the document and the docs page (offline, key-aware).
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.registry = registry
    app.state.services = services
    app.include_router(health.router)
    app.include_router(v1.router)
    app.include_router(feedback.router)
    app.include_router(evaluations.router)
    app.include_router(shadow.router)
    app.include_router(v2.router)
    app.include_router(admin.router)
    error_handlers.install(app)
    # The app's own route list (it is built before the first request): the fast path checks the
    # operations' routes there as the app serves them, app-wide dependencies included.
    app.add_middleware(FastPathMiddleware, routes=app.routes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["*"],
        )
    app.add_middleware(RequestMiddleware, settings=settings)
    install_docs(app, registry, settings)
    return app
