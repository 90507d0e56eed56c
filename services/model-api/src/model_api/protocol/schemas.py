"""Request and response models: they document the API (OpenAPI) and type the handlers."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from model_api.serving.bundle import BundleMetadata
from model_api.serving.objectives import MarginToValue, OutputSpace

Scalar = float | int | bool | str | None


# ------------------------------------------------------------------------------- errors
class ErrorDetail(BaseModel):
    loc: list[str | int] = Field(description="Where the problem is, e.g. ['instances', 0, 'sex'].")
    msg: str = Field(description="What is wrong and what was expected.")


class ErrorBody(BaseModel):
    code: str = Field(description="Machine-readable kind: invalid_input, model_not_found, ...")
    message: str = Field(description="Human-readable summary naming the field and the expectation.")
    details: list[ErrorDetail] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    """The one error shape of every /v1 endpoint."""

    error: ErrorBody
    request_id: str | None = None


class V2ErrorResponse(BaseModel):
    """The Open Inference Protocol's error shape."""

    error: str


# ------------------------------------------------------------------------------- v1
class ModelSummary(BaseModel):
    name: str
    version: str = Field(description="Default (newest) version.")
    versions: list[str] = Field(description="Every version served, newest first.")
    task: Literal["binary", "multiclass", "regression"]
    description: str | None = None


class ModelList(BaseModel):
    models: list[ModelSummary]
    failed: dict[str, str] = Field(
        default_factory=dict, description="Bundles that failed to load, with the reason."
    )


class ExplanationSpace(BaseModel):
    output_space: OutputSpace = Field(
        description="What base_value + sum(contributions) is: the served value itself, a "
        "classifier's margin (binary: log-odds of the positive class; hinge: its score; "
        "multiclass: the explained class's softmax score), the log of the value or its log-odds."
    )
    space_name: str = Field(description="That space in words, e.g. 'log of the predicted count'.")
    margin_to_value: MarginToValue = Field(
        description="How the served value follows from the margin: itself, exp(margin), "
        "1 / (1 + exp(-margin)), softmax over the classes' margins, or label = positive class "
        "when margin > 0."
    )


class ModelMetadataResponse(BundleMetadata):
    """A bundle's metadata plus where it is served."""

    versions: list[str]
    endpoints: dict[str, str]
    probabilities: bool = Field(
        description="Whether predictions carry class probabilities (binary:hinge: label only)."
    )
    explanation: ExplanationSpace = Field(description="The space /explain answers in by default.")


class PredictRequest(BaseModel):
    """Rows to score, one object per row mapping feature name to value (null = missing)."""

    model_config = ConfigDict(extra="forbid")

    instances: list[dict[str, Scalar]] = Field(min_length=1)


class RowPrediction(BaseModel):
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


class PredictResponse(BaseModel):
    model: str
    version: str
    predictions: list[RowPrediction]


class RowExplanation(BaseModel):
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
    explained_value: float = Field(
        description="The served number the margin maps to (see margin_to_value): the explained "
        "output's value, the explained class's probability, or 1/0 for a hinge classifier."
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


class Health(BaseModel):
    status: Literal["ok", "loading", "not_ready"]
    models: dict[str, list[str]] = Field(default_factory=dict)
    failed: dict[str, str] = Field(default_factory=dict)


# ------------------------------------------------------------------------------- v2 (OIP)
Datatype = Literal[
    "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
    "FP16", "FP32", "FP64", "BYTES",
]  # fmt: skip


class TensorMetadata(BaseModel):
    name: str
    datatype: Datatype
    shape: list[int]
    parameters: dict[str, Any] | None = None


class RequestInput(BaseModel):
    name: str = Field(min_length=1)
    shape: list[Annotated[int, Field(ge=0)]]
    datatype: Datatype
    parameters: dict[str, Any] | None = None
    data: list[Any]


class RequestOutput(BaseModel):
    name: str
    parameters: dict[str, Any] | None = None


class InferenceRequest(BaseModel):
    """Either one input of shape [N, F] or one input per feature of shape [N] (or [N, 1])."""

    id: str | None = None
    parameters: dict[str, Any] | None = None
    inputs: list[RequestInput] = Field(min_length=1)
    outputs: list[RequestOutput] | None = None


class ResponseOutput(BaseModel):
    name: str
    shape: list[int]
    datatype: Datatype
    parameters: dict[str, Any] | None = None
    data: list[Any]


class InferenceResponse(BaseModel):
    model_name: str
    model_version: str | None = None
    id: str | None = None
    parameters: dict[str, Any] | None = None
    outputs: list[ResponseOutput]


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class ModelMetadataV2(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]
    parameters: dict[str, Any] | None = None


class ReadyResponse(BaseModel):
    name: str | None = None
    ready: bool
