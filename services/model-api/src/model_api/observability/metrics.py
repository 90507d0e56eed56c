"""Every Prometheus metric of the API, declared once; labels only take bounded values."""

from __future__ import annotations

import contextlib

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
)

# The API's own registry, which /metrics exposes: the series declared here and the process's
# own (CPU, memory, GC), and nothing a library may register on prometheus_client's default one.
REGISTRY = CollectorRegistry()
for _collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    REGISTRY.register(_collector)

# Fine buckets at the bottom: a single-row XGBoost prediction takes well under a millisecond.
LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
)  # fmt: skip
ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384, 65536)
VALUE_BUCKETS = tuple(sign * m * 10.0**e for sign in (1,) for e in range(-3, 7) for m in (1, 2, 5))

HTTP_REQUESTS = Counter(
    "model_api_http_requests_total",
    "HTTP requests answered, by route template, method and status code.",
    ["route", "method", "status"],
    registry=REGISTRY,
)
HTTP_DURATION = Histogram(
    "model_api_http_request_duration_seconds",
    "Time from request start to the last byte of the response, by route template and method.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
HTTP_IN_FLIGHT = Gauge(
    "model_api_http_requests_in_flight",
    "HTTP requests being served right now, counted once their body has arrived (health "
    "excluded); MODEL_API_MAX_IN_FLIGHT bounds it.",
    registry=REGISTRY,
)
HTTP_BODIES_RECEIVING = Gauge(
    "model_api_http_bodies_receiving",
    "Requests whose body is still arriving (bounded by the body budgets and deadlines).",
    registry=REGISTRY,
)
HTTP_BODY_BYTES = Gauge(
    "model_api_http_body_bytes",
    "Bytes of request bodies held right now, in memory or spooled to disk (CSV uploads).",
    ["where"],
    registry=REGISTRY,
)
HTTP_CONNECTIONS_CLOSED = Counter(
    "model_api_http_connections_closed_total",
    "Connections closed before a request's headers arrived in full, by reason "
    "(header_timeout, header_too_large).",
    ["reason"],
    registry=REGISTRY,
)
# Both reasons exist from the start, so a rate over them reads 0, not "no data".
for _reason in ("header_timeout", "header_too_large"):
    HTTP_CONNECTIONS_CLOSED.labels(_reason)
INFERENCE_REQUESTS = Counter(
    "model_api_inference_requests_total",
    "Prediction and explanation requests that reached a model, by protocol and endpoint.",
    ["model", "version", "endpoint"],
    registry=REGISTRY,
)
INFERENCE_ROWS = Counter(
    "model_api_inference_rows_total",
    "Rows scored, by model and version.",
    ["model", "version"],
    registry=REGISTRY,
)
INFERENCE_DURATION = Histogram(
    "model_api_inference_duration_seconds",
    "Time of one XGBoost call (one micro-batch), by model and version.",
    ["model", "version"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
BATCH_ROWS = Histogram(
    "model_api_batch_rows",
    "Rows per XGBoost call after micro-batching, by model and version.",
    ["model", "version"],
    buckets=ROW_BUCKETS,
    registry=REGISTRY,
)
ERRORS = Counter(
    "model_api_errors_total",
    "Requests answered with an error, by kind (invalid_input, model_not_found, ...).",
    ["kind"],
    registry=REGISTRY,
)
CSV_ROWS_REJECTED = Counter(
    "model_api_csv_rows_rejected_total",
    "CSV rows answered with an error instead of a prediction (the file itself was accepted).",
    ["model", "version"],
    registry=REGISTRY,
)
MODEL_INFO = Gauge(
    "model_api_model_info",
    "1 for every loaded model, with its identity as labels.",
    ["model", "version", "task", "sha256", "xgboost_version"],
    registry=REGISTRY,
)
MODEL_LOAD_FAILURES = Gauge(
    "model_api_model_load_failed",
    "1 for every bundle in the repository that failed to load.",
    ["bundle"],
    registry=REGISTRY,
)
REPOSITORY_CHANGES = Counter(
    "model_api_repository_changes_total",
    "What the repository watcher did: bundles loaded, replaced, removed or refused (failed), "
    "and models whose aliases changed (aliases).",
    ["outcome"],
    registry=REGISTRY,
)
MLFLOW_SYNCS = Counter(
    "model_api_mlflow_syncs_total",
    "Looks at an MLflow alias: a new version brought (synced), nothing new (unchanged), or the "
    "registry unreachable or the version refused (failed).",
    ["model", "outcome"],
    registry=REGISTRY,
)
MODELS_READY = Gauge(
    "model_api_ready",
    "1 when the models are loaded and serving (every bundle that failed at start-up fixed or "
    "removed since), else 0.",
    registry=REGISTRY,
)
PREDICTED_CLASS = Counter(
    "model_api_predictions_total",
    "Predicted labels of classifiers, by model, version and class.",
    ["model", "version", "label"],
    registry=REGISTRY,
)
PREDICTED_VALUE = Histogram(
    "model_api_predicted_value",
    "Predicted values of regression models.",
    ["model", "version"],
    buckets=VALUE_BUCKETS,
    registry=REGISTRY,
)
PREDICTED_DECILE = Counter(
    "model_api_predicted_value_decile_total",
    "Regression predictions by decile of the training target (d1..d10); a shift means drift.",
    ["model", "version", "decile"],
    registry=REGISTRY,
)
FEATURE_MISSING = Counter(
    "model_api_feature_missing_total",
    "Values sent as missing (null, empty), by model, version and feature.",
    ["model", "version", "feature"],
    registry=REGISTRY,
)
FEATURE_OUT_OF_RANGE = Counter(
    "model_api_feature_out_of_range_total",
    "Values outside the range seen in training, by model, version and feature.",
    ["model", "version", "feature"],
    registry=REGISTRY,
)

# The prediction log (model_api.store): its writer reports here, off the request path.
PREDICTION_LOG_ROWS = Counter(
    "model_api_prediction_log_rows_total",
    "Scored rows handed to the prediction log: written to its database, or dropped (queue full "
    "or database unreachable; predictions never wait for the log).",
    ["outcome"],
    registry=REGISTRY,
)
PREDICTION_LOG_QUEUE_ROWS = Gauge(
    "model_api_prediction_log_queue_rows",
    "Scored rows waiting to be written to the prediction log "
    "(MODEL_API_PREDICTION_LOG_QUEUE_ROWS bounds it).",
    registry=REGISTRY,
)
# Registered only once a store opens (expose_database_up): with the log off there is no
# database, and a 0 would page someone for nothing.
DATABASE_UP = Gauge(
    "model_api_database_up",
    "1 when the prediction log's database answered its last statement, 0 when it did not.",
    registry=None,
)


def expose_database_up() -> None:
    """Add model_api_database_up to /metrics (the prediction log is on)."""
    with contextlib.suppress(ValueError):  # already there (a second store in one process)
        REGISTRY.register(DATABASE_UP)


FEEDBACK = Counter(
    "model_api_feedback_total",
    "Feedback received, by model, version and verdict (right, wrong, or none: an actual value "
    "without a verdict); a changed verdict counts again under the new one.",
    ["model", "version", "verdict"],
    registry=REGISTRY,
)
FEEDBACK_AGREEMENT = Gauge(
    "model_api_feedback_agreement_ratio",
    "Judged right / judged over the last 7 days, by model and version, read from the database "
    "(every replica reports the same value).",
    ["model", "version"],
    registry=REGISTRY,
)

# Shadow scoring (protocol.shadow): its thread reports here, off the request path.
SHADOW_ROWS = Counter(
    "model_api_shadow_rows_total",
    "Rows a model's default version answered that its shadow version also scored: agreed or "
    "disagreed (the class, or the primary output beyond the tolerance); dropped when the "
    "shadow's queue was full or it failed (the answers were never affected).",
    ["model", "version", "shadow_version", "outcome"],
    registry=REGISTRY,
)
SHADOW_ACTIVE = Gauge(
    "model_api_shadow_active",
    "1 while the shadow version named for a model (MODEL_API_SHADOW) scores its traffic, 0 "
    "when it cannot (its problem is in GET /v1/models/{name}/shadow and the log).",
    ["model", "shadow_version"],
    registry=REGISTRY,
)
