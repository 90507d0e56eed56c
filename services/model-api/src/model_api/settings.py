"""Runtime configuration of the model API, read from ``MODEL_API_*`` environment variables."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MiB = 1024 * 1024
# A CSV upload is spooled in memory up to this size, then moved to the temporary folder (/tmp);
# codecs.csv spools this way and the middleware's byte budgets count the bytes the same way.
CSV_SPOOL_MEMORY_BYTES = 8 * MiB
# The embedded database's file in MODEL_API_DATA_DIR.
DATABASE_FILE = "model-api.db"


class ShadowSpec(BaseModel):
    """A model's shadow: the version that also scores the traffic its default version answers,
    and (regression) how far apart two answers may be and still agree."""

    model_config = ConfigDict(extra="forbid")

    version: str = Field(min_length=1, max_length=64)
    tolerance: float | None = Field(None, ge=0.0, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _version_alone(cls, data: object) -> object:
        """``"1"`` is short for ``{"version": "1"}``."""
        return {"version": data} if isinstance(data, str) else data


# What MODEL_API_MLFLOW_MODELS names: a registered model's alias.
MLFLOW_MODELS_URI = re.compile(r"^models:/(?P<registered>[^/@]+)@(?P<alias>[A-Za-z0-9_-]+)$")
# An admin key guards writes to the model repository: long enough not to be guessed.
MIN_ADMIN_KEY_CHARACTERS = 16


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
        8 * MiB, ge=1024, description="Largest JSON request body accepted (413 beyond)."
    )
    max_csv_bytes: int = Field(
        512 * MiB, ge=1024, description="Largest CSV upload accepted (413 beyond)."
    )
    max_body_memory_bytes: int | None = Field(
        None,
        ge=1024,
        description="Request bodies held in memory by all requests together (JSON bodies, and CSV "
        "uploads up to 8 MiB each); a body that would pass it gets a 503 with Retry-After "
        "(unset = 32 x the larger of MODEL_API_MAX_REQUEST_BYTES and the 8 MiB a CSV upload holds "
        "before it is spooled: 256 MiB by default).",
    )
    max_body_disk_bytes: int | None = Field(
        None,
        ge=0,
        description="CSV uploads spooled to the temporary folder (/tmp) by all requests together; "
        "an upload that would pass it gets a 503 with Retry-After "
        "(unset = 2 x MODEL_API_MAX_CSV_BYTES).",
    )
    body_timeout_seconds: float = Field(
        30.0,
        gt=0.0,
        description="A request body must keep arriving: each period of this length must bring at "
        "least MODEL_API_BODY_MIN_BYTES_PER_SECOND x the period (and at least one byte), else "
        "408 and the connection is closed.",
    )
    body_min_bytes_per_second: int = Field(
        1024,
        ge=0,
        description="Slowest average rate a request body may arrive at, checked per "
        "MODEL_API_BODY_TIMEOUT_SECONDS period.",
    )
    header_timeout_seconds: float = Field(
        20.0,
        gt=0.0,
        description="A request's line and headers must arrive in full within this time of the "
        "connection opening or the previous response ending, else the connection is closed.",
    )
    max_header_bytes: int = Field(
        64 * 1024,
        ge=1024,
        description="Largest request line plus headers; past it 431 and the connection is closed.",
    )
    max_rows_per_request: int = Field(
        100_000, ge=1, description="Most rows one JSON or V2 request may carry (413 beyond)."
    )
    max_in_flight: int = Field(
        256,
        ge=0,
        description="Requests served at once, counted once their body has arrived; past it a fast "
        "503 with Retry-After (0 = no limit).",
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
    max_evaluate_rows: int = Field(
        2_000_000,
        ge=1,
        description="Evaluation: most data rows of one labelled file (413 beyond). Each row "
        "keeps a few numbers until the metrics are computed: about 150 bytes per row at the "
        "peak, so 2,000,000 rows take some 300 MiB.",
    )
    max_concurrent_evaluations: int = Field(
        1,
        ge=1,
        description="Evaluations one API process runs at once; another one meanwhile gets a 503 "
        "with Retry-After (each takes a CPU and up to about 150 bytes per row of its file).",
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
    native_codecs: bool = Field(
        True,
        description="Read v1 JSON records of all-numeric models with the compiled parser when it "
        "is built (false = msgspec for every body; the answers are the same, only slower).",
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
    admin_key: SecretStr | None = Field(
        None,
        description="When set, the admin API (/v1/admin: aliases, bundle uploads) is on and "
        "needs this key in X-Admin-Key; it must differ from MODEL_API_API_KEY (unset: off).",
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="Origins allowed by CORS (empty = CORS off)."
    )
    strict_startup: bool = Field(
        False, description="Exit at start-up when any bundle fails to load (else serve the rest)."
    )
    repository_poll_seconds: float = Field(
        5.0,
        ge=0.0,
        description="How often the model repository is looked at for bundles added, changed or "
        "removed, which are then served without a restart (0: never; the repository is read "
        "once, at start-up).",
    )
    mlflow_models: dict[str, str] = Field(
        default_factory=dict,
        description="Models served from an MLflow model registry, by the alias they follow: "
        '{"<served name>": "models:/<registered model>@<alias>"} (JSON). The versions are '
        "downloaded into the model repository, which must be writable.",
    )
    mlflow_tracking_uri: str | None = Field(
        None,
        description="The MLflow tracking server (its registry) of MODEL_API_MLFLOW_MODELS "
        "(unset: MLflow's own MLFLOW_TRACKING_URI).",
    )
    mlflow_poll_seconds: float = Field(
        30.0, gt=0.0, description="How often the MLflow aliases are resolved again."
    )
    mlflow_keep_versions: int = Field(
        2,
        ge=1,
        description="Versions downloaded from MLflow kept per model (served, ready for a "
        "rollback); older ones are taken out.",
    )
    retired_model_seconds: float = Field(
        60.0,
        gt=0.0,
        description="How long a replaced or removed model version stays in memory for the "
        "requests that were already using it.",
    )
    graceful_shutdown_seconds: float = Field(
        20.0, ge=0.0, description="How long SIGTERM waits for in-flight requests to finish."
    )
    prediction_log: bool = Field(
        True,
        description="Record predictions in the database and accept feedback on them (false = "
        "no prediction ids in answers, feedback answers 503).",
    )
    data_dir: Path = Field(
        Path("data"),
        description="Folder of the embedded SQLite database (model-api.db) when "
        "MODEL_API_DATABASE_URL is unset.",
    )
    database_url: SecretStr | None = Field(
        None,
        description="SQLAlchemy URL of the database, e.g. "
        "`postgresql+psycopg://user:password@host:5432/db` (unset = SQLite in MODEL_API_DATA_DIR); "
        "never logged (its password is masked).",
    )
    database_migrate: bool = Field(
        True,
        description="Apply the database migrations at start-up (false when `model-api migrate` "
        "runs them once per release, as the chart's hook Job does).",
    )
    prediction_log_sample_rate: float = Field(
        1.0,
        ge=0.0,
        le=1.0,
        description="Fraction of API clients' requests recorded (their answers carry ids only "
        "then); requests with `X-Prediction-Source: ui` are always recorded.",
    )
    prediction_log_retention_days: int = Field(
        30,
        ge=0,
        description="Predictions older than this without feedback are purged hourly (judged "
        "ones are kept: they are the training data; 0 = keep forever).",
    )
    prediction_log_exclude_features: list[str] = Field(
        default_factory=list,
        description="Feature names whose values are never stored (privacy): absent from the "
        "log, empty in the feedback export.",
    )
    prediction_log_queue_rows: int = Field(
        200_000,
        ge=1,
        description="Rows waiting to be written to the database; past it records are dropped "
        "(counted in model_api_prediction_log_rows_total), never blocking a request.",
    )
    prediction_log_flush_seconds: float = Field(
        0.2,
        gt=0.0,
        le=60.0,
        description="Longest time the log writer waits before writing a batch.",
    )

    shadow: dict[str, ShadowSpec] = Field(
        default_factory=dict,
        description="Shadow scoring, per model: a JSON object of model name -> the version that "
        'also scores what the default version answers, e.g. `{"penguin-species": "1"}`, or '
        '`{"house-prices": {"version": "1", "tolerance": 5000}}` (regression: answers further '
        "apart than the tolerance disagree; default a tenth of the training target's spread). "
        "Scored off the request path; disagreements are counted and stored for review.",
    )
    shadow_queue_rows: int = Field(
        100_000,
        ge=1,
        description="Rows waiting for their shadow scoring; past it rows are not shadowed "
        "(counted as dropped in model_api_shadow_rows_total), never delaying an answer.",
    )

    @property
    def database_url_value(self) -> str:
        """The database's SQLAlchemy URL: MODEL_API_DATABASE_URL, or SQLite in the data folder."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{(self.data_dir / DATABASE_FILE).as_posix()}"

    @property
    def largest_body_in_memory(self) -> int:
        """The most memory one body within the size limits holds (JSON, or a CSV's spool)."""
        return max(self.max_request_bytes, min(self.max_csv_bytes, CSV_SPOOL_MEMORY_BYTES))

    @property
    def body_memory_budget(self) -> int:
        """MODEL_API_MAX_BODY_MEMORY_BYTES, or its default."""
        return self.max_body_memory_bytes or 32 * self.largest_body_in_memory

    @property
    def body_memory_reserve(self) -> int:
        """The part of the memory budget only bodies up to 64 KiB may use (16 MiB: 256 of
        them), so that uploads filling the rest never refuse a small prediction; never so much
        that the largest body would not fit the rest."""
        return max(0, min(16 * MiB, self.body_memory_budget - self.largest_body_in_memory))

    @property
    def body_disk_budget(self) -> int:
        """MODEL_API_MAX_BODY_DISK_BYTES, or its default."""
        if self.max_body_disk_bytes is None:
            return 2 * self.max_csv_bytes
        return self.max_body_disk_bytes

    @model_validator(mode="after")
    def _mlflow_models_name_aliases(self) -> Settings:
        for name, uri in self.mlflow_models.items():
            if MLFLOW_MODELS_URI.match(uri) is None:
                raise ValueError(
                    f"MODEL_API_MLFLOW_MODELS: {name}: {uri!r} is not "
                    "models:/<registered model>@<alias>"
                )
        return self

    @model_validator(mode="after")
    def _admin_key_is_its_own(self) -> Settings:
        """A client key must never open the admin API."""
        if self.admin_key is not None:
            admin = self.admin_key.get_secret_value()
            if len(admin) < MIN_ADMIN_KEY_CHARACTERS:
                raise ValueError(
                    f"MODEL_API_ADMIN_KEY must be at least {MIN_ADMIN_KEY_CHARACTERS} characters"
                )
            if self.api_key is not None and admin == self.api_key.get_secret_value():
                raise ValueError("MODEL_API_ADMIN_KEY must differ from MODEL_API_API_KEY")
        return self

    @model_validator(mode="after")
    def _one_body_fits_the_budgets(self) -> Settings:
        """A body within the size limits must fit the budgets alone, or it would never be served."""
        memory_needed = self.largest_body_in_memory
        if self.body_memory_budget < memory_needed:
            raise ValueError(
                f"MODEL_API_MAX_BODY_MEMORY_BYTES ({self.body_memory_budget}) must be at least "
                f"{memory_needed}: MODEL_API_MAX_REQUEST_BYTES, and the {CSV_SPOOL_MEMORY_BYTES} "
                "bytes a CSV upload holds in memory before it is spooled to disk"
            )
        if (
            self.max_csv_bytes > CSV_SPOOL_MEMORY_BYTES
            and self.body_disk_budget < self.max_csv_bytes
        ):
            raise ValueError(
                f"MODEL_API_MAX_BODY_DISK_BYTES ({self.body_disk_budget}) must be at least "
                f"MODEL_API_MAX_CSV_BYTES ({self.max_csv_bytes}): larger CSV uploads are spooled to disk"
            )
        return self
