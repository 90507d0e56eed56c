"""The v1 answers both sides read: model list, model metadata, predict and explain answers.

These are the API's OpenAPI response models, and what the UI validates answers with. The API
never builds them per request (it writes its answers directly): they cost the serving path
nothing.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from model_contract.vocabulary import (
    NAME_PATTERN,
    FeatureType,
    MarginToValue,
    OutputSpace,
    Scalar,
    Task,
)


class _Answer(BaseModel):
    """A lenient reader: unknown fields are ignored, so an older client reads a newer API."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class _EveryFieldSent(_Answer):
    """An answer the API writes with every field (null where there is nothing).

    The document's response schemas are serialization schemas: there every field is required,
    which is what the API promises. A default is only what a reader assumes when an older API
    did not send the field yet; where that default is None though the API never sends null,
    the type says ``SkipJsonSchema[None]``, keeping null out of the document.
    """

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)


# ------------------------------------------------------------------------------- model list
class ModelSummary(_EveryFieldSent):
    name: str
    version: str = Field(
        description="The version the unversioned paths answer with: the `default` of the "
        "model's aliases.json when that version is served, else the newest."
    )
    versions: list[str] = Field(description="Every version served, newest first.")
    aliases: dict[str, str] = Field(
        default_factory=dict,
        description="Other names of versions (alias -> version), from the model's aliases.json; "
        "a request may name an alias wherever it names a version.",
    )
    task: Task
    description: str | None = None


class ModelList(_EveryFieldSent):
    models: list[ModelSummary]
    failed: dict[str, str] = Field(
        default_factory=dict, description="Bundles that failed to load, with the reason."
    )


# ------------------------------------------------------------------------------- metadata
class Feature(_EveryFieldSent):
    """One input column of the model, in the order the model expects it."""

    name: str = Field(min_length=1)
    type: FeatureType
    categories: list[str] | None = Field(
        None, description="Allowed values of a categorical feature; its code is the list index."
    )
    min: float | None = Field(None, description="Smallest value seen in the training sample.")
    max: float | None = Field(None, description="Largest value seen in the training sample.")
    default: Scalar = Field(
        None, description="A typical value (median or most frequent) used to prefill forms."
    )
    description: str | None = None


class Output(_EveryFieldSent):
    """One output of a multi-output regressor: a target, or a quantile of one target."""

    name: str = Field(min_length=1, description="How answers name it: a target or q<alpha>.")
    quantile: float | None = Field(None, description="reg:quantileerror: the output's alpha.")


class ExplanationSpace(_EveryFieldSent):
    """What the explain endpoint's contributions add up to."""

    # None only from APIs older than explanation spaces: the UI then falls back by task.
    output_space: OutputSpace | SkipJsonSchema[None] = Field(
        None,
        description="What base_value + sum(contributions) is: the served value itself, a "
        "classifier's margin (binary: log-odds of the positive class; hinge: its score; "
        "multiclass: the explained class's softmax score), the log of the value or its log-odds.",
    )
    space_name: str | SkipJsonSchema[None] = Field(
        None, description="That space in words, e.g. 'log of the predicted count'."
    )
    margin_to_value: MarginToValue | SkipJsonSchema[None] = Field(
        None,
        description="How the served value follows from the margin: itself, exp(margin), "
        "1 / (1 + exp(-margin)), softmax over the classes' margins, or label = positive class "
        "when margin > 0.",
    )


class FeedbackLink(_Answer):
    """Whether the model's predictions take feedback (the prediction log is on), and where."""

    enabled: bool
    endpoint: str = "/v1/feedback"


class ModelMetadata(_EveryFieldSent):
    """A bundle's metadata plus where it is served."""

    format_version: int = 1
    name: str = Field(pattern=NAME_PATTERN)
    version: str = Field(pattern=NAME_PATTERN)
    task: Task
    objective: str | None = Field(
        None, description="The model's XGBoost objective (read from the model when absent)."
    )
    description: str | None = None
    features: list[Feature] = Field(min_length=1)
    target: str = "target"
    outputs: list[Output] | None = Field(
        None,
        description="Multi-output regression: each output per row, in model order "
        "(derived from the model when absent: quantiles by alpha, else target_0, target_1, …).",
    )
    class_labels: list[str] | None = None
    target_quantiles: list[float] | None = Field(
        None, description="Regression: deciles of the training target, for drift watching."
    )
    metrics: dict[str, float] = Field(default_factory=dict)
    created_at: str = Field(json_schema_extra={"format": "date-time"})
    xgboost_version: str
    model_file: str
    model_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    versions: list[str]
    aliases: dict[str, str] = Field(
        default_factory=dict, description="The model's aliases (alias -> version)."
    )
    endpoints: dict[str, str]
    # Older APIs sent neither: a classifier then had probabilities, and no explanation space.
    probabilities: bool = Field(
        True,
        description="Whether predictions carry class probabilities (binary:hinge: label only).",
    )
    explanation: ExplanationSpace | SkipJsonSchema[None] = Field(
        None, description="The space /explain answers in by default."
    )
    # Older APIs had no prediction log: no feedback.
    feedback: FeedbackLink = Field(
        default_factory=lambda: FeedbackLink(enabled=False),
        description="Whether predictions carry ids that take feedback (POST to endpoint).",
    )

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


# ------------------------------------------------------------------------------- predict
class RowPrediction(_Answer):
    """One row's prediction: which fields it has depends on the task (absent, not null)."""

    id: str | None = Field(
        None,
        description="The row's prediction id, for feedback and lookup (only when the prediction "
        "log recorded the request).",
    )
    label: str | None = Field(None, description="Predicted class (classifiers).")
    probabilities: dict[str, float] | None = Field(
        None, description="Class probabilities (classifiers that have them; not binary:hinge)."
    )
    value: float | None = Field(None, description="Predicted value (single-output regression).")
    values: dict[str, float] | None = Field(
        None,
        description="Multi-output regression: every output by name (quantiles as q<alpha>, "
        "e.g. q0.05; targets by their names), in the model's order.",
    )


class PredictResponse(_EveryFieldSent):
    model: str
    version: str
    predictions: list[RowPrediction]


# ------------------------------------------------------------------------------- explain
class RowExplanation(_Answer):
    """One row's explanation; like a prediction, its fields depend on the task."""

    label: str | None = Field(None, description="Predicted class (classifiers).")
    value: float | None = Field(None, description="Predicted value (single-output regression).")
    values: dict[str, float] | None = Field(
        None, description="Multi-output regression: every output by name."
    )
    explained_class: str | None = Field(
        None,
        description="Class whose score is explained: multiclass the predicted one, binary always "
        "the positive (second) class, whatever the label.",
    )
    explained_output: str | None = Field(
        None, description="Multi-output regression: the output explained (?output=)."
    )
    margin_output: str | None = Field(
        None,
        description="Quantile models: the output whose trees give the explained value. XGBoost "
        "sorts each row's quantiles; where its trees' outputs cross, the value served as, say, "
        "q0.5 is another alpha's margin, and this names it.",
    )
    explained_value: float | SkipJsonSchema[None] = Field(  # None: from an older API
        None,
        description="The served number the margin maps to (see margin_to_value): the explained "
        "output's value, the explained class's probability, or 1/0 for a hinge classifier.",
    )
    base_value: float = Field(description="Expected margin before any feature is known.")
    contributions: dict[str, float] = Field(
        description="SHAP contribution per feature; base_value + sum = the row's margin, in "
        "output_space."
    )


class ExplainResponse(ExplanationSpace):
    model: str
    version: str
    explanations: list[RowExplanation]
