"""Typed views of the API's JSON answers; unknown fields are ignored so the API may grow."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Scalar = float | int | bool | str | None
Task = Literal["binary", "multiclass", "regression"]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Feature(_Lenient):
    name: str
    type: Literal["numeric", "integer", "boolean", "categorical"]
    categories: list[str] | None = None
    min: float | None = None
    max: float | None = None
    default: Scalar = None
    description: str | None = None


class ModelSummary(_Lenient):
    name: str
    version: str
    versions: list[str]
    task: Task
    description: str | None = None


class ModelList(_Lenient):
    models: list[ModelSummary]
    failed: dict[str, str] = Field(default_factory=dict)


class Output(_Lenient):
    """One output of a multi-output regressor: a target, or a quantile (``q0.05``) of one."""

    name: str
    quantile: float | None = None


class ExplanationSpace(_Lenient):
    """What the explain endpoint's contributions add up to (see the API's README)."""

    output_space: str | None = None  # older APIs omit it: the pages fall back by task
    space_name: str | None = None
    margin_to_value: str | None = None


class ModelMetadata(_Lenient):
    name: str
    version: str
    versions: list[str] = Field(default_factory=list)
    task: Task
    description: str | None = None
    features: list[Feature]
    target: str = "target"
    objective: str | None = None
    outputs: list[Output] | None = None
    probabilities: bool = True
    explanation: ExplanationSpace | None = None
    class_labels: list[str] | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    created_at: str | None = None
    xgboost_version: str | None = None
    model_file: str | None = None
    model_sha256: str | None = None
    endpoints: dict[str, str] = Field(default_factory=dict)

    @property
    def labels(self) -> list[str]:
        """Class labels of a classifier (binary defaults to "0", "1"); empty for regression."""
        if self.task == "regression":
            return []
        return self.class_labels or ["0", "1"]

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def quantiles(self) -> list[Output]:
        """A quantile model's outputs, lowest alpha first; empty for other models."""
        found = [o for o in self.outputs or [] if o.quantile is not None]
        return sorted(found, key=lambda o: o.quantile or 0.0)


class RowPrediction(_Lenient):
    label: str | None = None
    probabilities: dict[str, float] | None = None
    value: float | None = None
    values: dict[str, float] | None = None  # multi-output regression, by output name


class PredictResponse(_Lenient):
    model: str
    version: str
    predictions: list[RowPrediction]


class RowExplanation(_Lenient):
    label: str | None = None
    value: float | None = None
    values: dict[str, float] | None = None
    explained_class: str | None = None
    explained_output: str | None = None
    margin_output: str | None = None  # quantiles: whose trees gave the explained value
    explained_value: float | None = None  # the number base_value + sum turns into
    base_value: float
    contributions: dict[str, float]


class ExplainResponse(ExplanationSpace):
    model: str
    version: str
    explanations: list[RowExplanation]


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
