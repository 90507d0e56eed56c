"""Runtime configuration of the UI, read from ``MODEL_UI_*`` environment variables."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class UISettings(BaseSettings):
    """Every knob of the UI; each field maps to ``MODEL_UI_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="MODEL_UI_", env_file=None, extra="ignore")

    api_url: str = Field(
        "http://localhost:8000",
        description="Base URL of the model API (in a cluster: its Service).",
    )
    api_key: SecretStr | None = Field(
        None, description="API key sent as X-API-Key on every call, when the API requires one."
    )
    admin_key: SecretStr | None = Field(
        None,
        description="The API's admin key (MODEL_API_ADMIN_KEY): when set, the Model and Compare "
        "pages let whoever uses the UI move a model's default version and aliases.",
    )
    public_api_url: str | None = Field(
        None,
        description="API URL shown in snippets and links, when users reach it by another name.",
    )
    connect_timeout_seconds: float = Field(
        3.0, gt=0, description="How long to wait for a TCP connection to the API."
    )
    timeout_seconds: float = Field(
        15.0, gt=0, description="How long one JSON call (metadata, predict, explain) may take."
    )
    batch_timeout_seconds: float = Field(
        120.0, gt=0, description="How long one CSV chunk may take to score."
    )
    read_retries: int = Field(
        2,
        ge=0,
        le=10,
        description="Extra attempts for GET calls that fail on the network or a 502-504.",
    )
    retry_backoff_seconds: float = Field(
        0.25, ge=0, description="First pause before a retry; it doubles with each attempt."
    )
    metadata_ttl_seconds: float = Field(
        30.0, ge=0, description="How long model lists and metadata are cached (read at start-up)."
    )
    batch_chunk_rows: int = Field(
        2000, ge=1, description="Rows sent to the API's CSV endpoint per request on the Batch page."
    )
    importance_rows: int = Field(
        256,
        ge=8,
        le=10_000,
        description="Synthetic rows explained for the Model page's importance chart.",
    )
    monitoring_refresh_seconds: float = Field(
        5.0, ge=1, description="How often the Monitoring page re-reads its figures."
    )
    feedback_page_rows: int = Field(
        100,
        ge=1,
        le=1000,
        description="Judged predictions the Feedback page reads per page (the API's limit).",
    )
    feedback_days: int = Field(
        30,
        ge=1,
        le=3650,
        description="Days of agreement the Feedback and Monitoring pages chart, and the Feedback "
        "page's default time filter.",
    )
    prometheus_url: str | None = Field(
        None,
        description="Prometheus that scrapes the API: the Monitoring page then reads rates and "
        "percentiles across every API pod from it, instead of one pod's /metrics.",
    )
    prometheus_selector: str = Field(
        "",
        description='PromQL label matchers that pick the API\'s series, e.g. job="model-api"; '
        "empty = every model_api_* series Prometheus has.",
    )
    prometheus_rate_window: str = Field(
        "2m",
        pattern=r"^[1-9][0-9]*(ms|s|m|h)$",
        description="Range of rate() and histogram_quantile() on the Monitoring page (at least "
        "four scrape intervals, so every pod has samples in it).",
    )

    @property
    def base_url(self) -> str:
        """The API URL without a trailing slash."""
        return self.api_url.rstrip("/")

    @property
    def prometheus_base_url(self) -> str | None:
        """The Prometheus URL without a trailing slash; None when none is configured."""
        return self.prometheus_url.rstrip("/") if self.prometheus_url else None

    @property
    def shown_url(self) -> str:
        """The API URL to print in snippets and links."""
        return (self.public_api_url or self.api_url).rstrip("/")
