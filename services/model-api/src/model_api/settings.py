"""Runtime configuration of the model API, read from ``MODEL_API_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of the model API; each field maps to ``MODEL_API_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="MODEL_API_", env_file=None, extra="ignore")

    model_repository: Path = Field(
        Path("models"), description="Folder holding model bundles: <name>/ or <name>/<version>/."
    )
    host: str = Field(
        "127.0.0.1", description="Interface uvicorn binds to (0.0.0.0 in containers)."
    )
    port: int = Field(8000, ge=1, le=65535, description="TCP port uvicorn listens on.")
    max_request_bytes: int = Field(
        8 * 1024 * 1024, ge=1024, description="Largest JSON request body accepted (413 beyond)."
    )
    max_csv_bytes: int = Field(
        512 * 1024 * 1024, ge=1024, description="Largest CSV upload accepted (413 beyond)."
    )
    max_rows_per_request: int = Field(
        100_000, ge=1, description="Most rows one JSON or V2 request may carry (413 beyond)."
    )
    max_in_flight: int = Field(
        256,
        ge=0,
        description="Requests served at once; past it a fast 503 with Retry-After (0 = no limit).",
    )
    batch_max_rows: int = Field(
        4096, ge=1, description="Micro-batching: most rows combined into one XGBoost call."
    )
    batch_max_wait_ms: float = Field(
        0.0,
        ge=0.0,
        le=1000.0,
        description="Micro-batching: how long a lone request waits for company (0 = flush at once).",
    )
    batch_inline_max_rows: int | None = Field(
        None,
        ge=0,
        description="Micro-batching: batches up to this many rows are scored on the event loop, "
        "larger ones in a worker thread (unset = 64 when more than one CPU is usable, else all).",
    )
    csv_chunk_rows: int = Field(
        8192, ge=1, description="CSV scoring: rows parsed and predicted per chunk."
    )
    max_csv_header_bytes: int = Field(
        64 * 1024,
        ge=256,
        description="Longest CSV header (the column names) accepted (413 beyond).",
    )
    max_csv_columns: int = Field(
        2000, ge=1, description="Most columns a CSV header may name (413 beyond)."
    )
    max_csv_row_bytes: int = Field(
        128 * 1024,
        ge=256,
        description="Longest CSV row; a longer row fails with an error on its line, the rest are scored.",
    )
    xgboost_threads: int = Field(
        1, ge=0, description="Threads per XGBoost call (0 = all cores); one is best per replica."
    )
    direct_predict: bool = Field(
        True,
        description="Call XGBoost's C predict directly (checked against inplace_predict at load; "
        "false = always use Booster.inplace_predict).",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Log level of the JSON logs."
    )
    access_log: bool = Field(
        False,
        description="Log every request at info level (errors are always logged).",
    )
    api_key: SecretStr | None = Field(
        None, description="When set, every endpoint but health and metrics needs this key."
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="Origins allowed by CORS (empty = CORS off)."
    )
    strict_startup: bool = Field(
        False, description="Exit at start-up when any bundle fails to load (else serve the rest)."
    )
    graceful_shutdown_seconds: float = Field(
        20.0, ge=0.0, description="How long SIGTERM waits for in-flight requests to finish."
    )
