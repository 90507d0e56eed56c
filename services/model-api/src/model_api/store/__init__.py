"""The prediction log and the feedback on it, in a SQL database (SQLite embedded, PostgreSQL in
clusters) through SQLAlchemy, with Alembic migrations. It imports nothing of the HTTP layer or
the settings: the API builds a ``StoreConfig`` and hands it ``PredictionRecord``s, or its own
items with what groups them into ``RecordBatch``es."""

from model_api.store.database import migrate
from model_api.store.evaluations import new_run_id
from model_api.store.records import (
    DailyAgreement,
    EvaluationRun,
    ExportRow,
    FeedbackIn,
    FeedbackItem,
    FeedbackOut,
    FeedbackPage,
    FeedbackSummary,
    LoggedPrediction,
    PredictionNotFound,
    PredictionRecord,
    RecordBatch,
    ShadowDisagreement,
    StoreConfig,
    StoreError,
    StoreUnavailable,
    VersionAgreement,
)
from model_api.store.store import Store

__all__ = [
    "DailyAgreement",
    "EvaluationRun",
    "ExportRow",
    "FeedbackIn",
    "FeedbackItem",
    "FeedbackOut",
    "FeedbackPage",
    "FeedbackSummary",
    "LoggedPrediction",
    "PredictionNotFound",
    "PredictionRecord",
    "RecordBatch",
    "ShadowDisagreement",
    "Store",
    "StoreConfig",
    "StoreError",
    "StoreUnavailable",
    "VersionAgreement",
    "migrate",
    "new_run_id",
]
