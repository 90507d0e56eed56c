"""Request and response models: they document the API (OpenAPI) and type the handlers."""

from __future__ import annotations

from typing import Annotated, Any, Literal

# The v1 answers the UI reads too (model list, metadata, predict, explain) are the shared
# contract's: re-exported here beside the API's own schemas.
from model_contract import ComparisonResponse as ComparisonResponse
from model_contract import EvaluationList as EvaluationList
from model_contract import EvaluationResponse as EvaluationResponse
from model_contract import ExplainResponse as ExplainResponse
from model_contract import ModelList as ModelList
from model_contract import ModelMetadata as ModelMetadata
from model_contract import PredictResponse as PredictResponse
from model_contract import Scalar
from model_contract import ShadowReport as ShadowReport
from pydantic import BaseModel, ConfigDict, Field


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
class PredictRequest(BaseModel):
    """Rows to score, one object per row mapping feature name to value (null = missing)."""

    model_config = ConfigDict(extra="forbid")

    instances: list[dict[str, Scalar]] = Field(min_length=1)


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
