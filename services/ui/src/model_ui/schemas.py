"""The UI's own typed views; the API's answers it reads are the shared contract's (model_contract)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from model_contract import PredictResponse, RowPrediction
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


# ------------------------------------------------------------------------------- feedback
# The UI's lenient views of the API's feedback answers (spec of issue 14): a field the API adds
# later is ignored, one it leaves out takes the default.
class IdentifiedRow(RowPrediction):
    """A prediction with the id the API gives it when it records predictions (else None)."""

    id: str | None = None


class IdentifiedPredictions(PredictResponse):
    """A v1 predict answer whose rows keep their prediction ids."""

    predictions: list[IdentifiedRow]  # type: ignore[assignment]

    @property
    def ids(self) -> list[str | None]:
        return [row.id for row in self.predictions]


Actual = str | float | bool | None


class Feedback(_Lenient):
    """One colleague's judgement of one prediction (POST /v1/feedback answers it)."""

    prediction_id: str
    model: str = ""
    version: str = ""
    verdict: str | None = None
    actual: Actual = None
    comment: str | None = None
    author: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None


class SavedFeedback(_Lenient):
    """The answer of POST /v1/feedback: what was stored and whether it is new."""

    feedback: Feedback
    created: bool = True


class LoggedPrediction(_Lenient):
    """GET /v1/predictions/{id}: a recorded prediction, its inputs and its feedback."""

    id: str
    model: str
    version: str
    created_at: datetime | None = None
    source: str | None = None
    request_id: str | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    output: dict[str, Any] = Field(default_factory=dict)
    feedback: list[Feedback] = Field(default_factory=list)


class FeedbackItem(Feedback):
    """A judged prediction on the Feedback page: the judgement, the inputs and the answer."""

    inputs: dict[str, Any] = Field(default_factory=dict)
    output: dict[str, Any] = Field(default_factory=dict)
    predicted_at: datetime | None = None


class FeedbackPage(_Lenient):
    """GET /v1/models/{name}/feedback: newest first; ``next_cursor`` reads on."""

    model: str = ""
    items: list[FeedbackItem] = Field(default_factory=list)
    next_cursor: str | None = None


class VersionAgreement(_Lenient):
    version: str
    judged: int = 0
    right: int = 0
    wrong: int = 0
    agreement: float | None = None


class DailyAgreement(_Lenient):
    day: date
    version: str
    judged: int = 0
    right: int = 0
    agreement: float | None = None


class FeedbackSummary(_Lenient):
    """GET /v1/models/{name}/feedback/summary: agreement (right / judged) per version and day."""

    model: str = ""
    days: int = 30
    versions: list[VersionAgreement] = Field(default_factory=list)
    daily: list[DailyAgreement] = Field(default_factory=list)
    total_feedback: int = 0
