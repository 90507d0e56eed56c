"""The store's plain data classes: its configuration, what it records, what it answers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np

from model_api.errors import FeedbackUnavailableError, PredictionNotFoundError


class StoreError(RuntimeError):
    """The database cannot be opened or migrated (a start-up error)."""


class PredictionNotFound(PredictionNotFoundError):  # noqa: N818 (the spec's name)
    """No logged prediction has that id (never made, not sampled, or purged): 404."""


class StoreUnavailable(FeedbackUnavailableError):  # noqa: N818 (the spec's name)
    """The database cannot be reached right now: 503 ``feedback_unavailable``."""


@dataclass(frozen=True)
class StoreConfig:
    """How to open the store (the API builds it from its settings; the store never reads them)."""

    url: str
    migrate: bool = True
    queue_rows: int = 200_000
    flush_seconds: float = 0.2
    retention_days: int = 30
    exclude_features: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class EvaluationRun:
    """One evaluation to save: its summary (listed and filtered on) and the whole answer."""

    id: str
    model: str
    version: str
    created_at: datetime
    source: str
    target: str
    data_sha256: str
    rows: int
    scored: int
    failed: int
    headline: str
    headline_value: float | None
    result: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ShadowDisagreement:
    """A row of live traffic on which a model's shadow version answered otherwise."""

    created_at: datetime
    model: str
    version: str  # the version that answered
    shadow_version: str
    prediction_id: str | None  # the id the answer carried (None: the request was not recorded)
    inputs: dict[str, Any]  # feature -> value, as the user means it (privacy exclusions out)
    answer: dict[str, Any]  # the v1 prediction object answered
    shadow_answer: dict[str, Any]  # the shadow version's, for the same row


@dataclass(slots=True)
class PredictionRecord:
    """One scored matrix, built on the request path: cheap, nothing serialised yet."""

    token: str
    created_at: float  # time.time()
    model: str
    version: str
    source: str  # "ui" | "api"
    request_id: str | None
    columns: Sequence[str]  # feature names, in the matrix's column order
    matrix: np.ndarray  # float32 [n_rows, n_features], as fed to XGBoost
    categories: Mapping[int, Sequence[str]]  # column index -> labels (codes index them)
    booleans: frozenset[int]  # column indexes of boolean features (1.0 -> true)
    # The model's answer, as the v1 prediction objects are made from it: "proba" [N, K] with
    # the class labels as names, "classes" [N] (label indexes), "value" [N], or "values"
    # [N, T] with the outputs' names.
    output_kind: str
    output: np.ndarray
    output_names: Sequence[str]

    @property
    def output_dtype(self) -> np.dtype[Any]:
        return self.output.dtype


@dataclass(slots=True)
class RecordBatch:
    """Requests of one model version with one kind of answer, whose tokens share their second:
    what the writer writes, a database row or a few.

    The writer's unit of work: the API groups what its requests queued into these in the
    writer thread (a single-row request is then a few list appends there, not an object of its
    own), and a ``PredictionRecord`` queued as it is becomes a batch of one request.
    """

    model: str
    version: str
    columns: Sequence[str]
    categories: Mapping[int, Sequence[str]]
    booleans: frozenset[int]
    output_kind: str
    output_names: Sequence[str]
    output_dtype: np.dtype[Any]
    # One entry per request, in the order they were queued.
    tokens: list[str] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # time.time()
    sources: list[str] = field(default_factory=list)
    request_ids: list[str | None] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    # The requests' rows in the same order, in as many arrays as came (a micro-batch's matrix
    # holds several requests).
    matrices: list[np.ndarray] = field(default_factory=list)
    outputs: list[np.ndarray] = field(default_factory=list)

    @classmethod
    def of(cls, record: PredictionRecord) -> RecordBatch:
        return cls(
            record.model,
            record.version,
            record.columns,
            record.categories,
            record.booleans,
            record.output_kind,
            record.output_names,
            record.output.dtype,
            [record.token],
            [record.created_at],
            [record.source],
            [record.request_id],
            [len(record.matrix)],
            [record.matrix],
            [record.output],
        )

    def extend(self, other: RecordBatch) -> None:
        """Append ``other``'s requests (same model version and answer kind)."""
        self.tokens += other.tokens
        self.times += other.times
        self.sources += other.sources
        self.request_ids += other.request_ids
        self.rows += other.rows
        self.matrices += other.matrices
        self.outputs += other.outputs

    def part(self, start: int, stop: int) -> RecordBatch:
        """Requests ``start`` to ``stop`` (not included) as a batch of their own (views of
        this batch's rows, joined into one array the first time)."""
        if len(self.matrices) > 1:
            self.matrices = [np.concatenate(self.matrices)]
            self.outputs = [np.concatenate(self.outputs)]
        first = sum(self.rows[:start])
        last = first + sum(self.rows[start:stop])
        matrix, output = self.matrices[0], self.outputs[0]
        return RecordBatch(
            self.model,
            self.version,
            self.columns,
            self.categories,
            self.booleans,
            self.output_kind,
            self.output_names,
            self.output_dtype,
            self.tokens[start:stop],
            self.times[start:stop],
            self.sources[start:stop],
            self.request_ids[start:stop],
            self.rows[start:stop],
            [matrix[first:last]],
            [output[first:last]],
        )


@dataclass(frozen=True)
class FeedbackIn:
    prediction_id: str
    verdict: str | None  # "right" | "wrong" | None
    actual: str | float | bool | None
    comment: str | None
    author: str


@dataclass(frozen=True)
class FeedbackOut:
    prediction_id: str
    model: str
    version: str
    verdict: str | None
    actual: Any
    comment: str | None
    author: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class FeedbackItem(FeedbackOut):
    """A feedback with the prediction it judges."""

    inputs: dict[str, Any]
    output: dict[str, Any]
    predicted_at: datetime


@dataclass(frozen=True)
class FeedbackPage:
    items: list[FeedbackItem]
    next_cursor: str | None


@dataclass(frozen=True)
class LoggedPrediction:
    id: str
    token: str
    row: int
    created_at: datetime
    model: str
    version: str
    source: str
    request_id: str | None
    inputs: dict[str, Any]  # feature -> value; excluded features absent
    output: dict[str, Any]  # the v1 prediction object (without "id")
    feedback: list[FeedbackOut]


@dataclass(frozen=True)
class ExportRow:
    prediction_id: str
    predicted_at: datetime
    version: str
    inputs: dict[str, Any]
    output: dict[str, Any]
    verdict: str | None
    actual: Any
    comment: str | None
    author: str
    judged_at: datetime


@dataclass(frozen=True)
class VersionAgreement:
    version: str
    judged: int
    right: int
    wrong: int
    agreement: float | None


@dataclass(frozen=True)
class DailyAgreement:
    day: date
    version: str
    judged: int
    right: int
    agreement: float | None


@dataclass(frozen=True)
class FeedbackSummary:
    model: str
    days: int
    versions: list[VersionAgreement]
    daily: list[DailyAgreement]
    total_feedback: int
