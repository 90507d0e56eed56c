"""The UI's own typed views; the API's answers it reads are the shared contract's (model_contract)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Readiness(_Lenient):
    """What /readyz says; ``reachable`` is False when no answer came at all."""

    reachable: bool
    ready: bool
    status: str
    models: dict[str, list[str]] = Field(default_factory=dict)
    failed: dict[str, str] = Field(default_factory=dict)
    problem: str | None = None


class CsvScores(_Lenient):
    """The scored CSV of one chunk and the columns the API said it ignored."""

    text: str
    ignored_columns: list[str] = Field(default_factory=list)
