"""The feedback loop's wire types: what a client posts about a prediction, and the answers of
the feedback endpoints (a logged prediction, a page of judged predictions, the agreement
summary).

``FeedbackRequest`` is the API's request model (unknown fields refused); the answers are
lenient readers like every answer of the contract.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from model_contract.answers import _EveryFieldSent
from model_contract.vocabulary import Scalar

Verdict = Literal["right", "wrong"]
# `<token>-<row>`: 20 lowercase hex characters (one token per request: the second it was made,
# then 56 random bits), then the row (0-based, no leading zeros).
PREDICTION_ID_PATTERN = r"^[0-9a-f]{20}-(0|[1-9][0-9]{0,9})$"
# A name: something besides spaces (the API drops leading and trailing ones).
AUTHOR_PATTERN = r"\S"
PREDICTION_ID_FORM = "<20 lowercase hex characters>-<row>, e.g. 3f9a0c1be27d44a1c9e0-0"
MAX_COMMENT = 2000
MAX_AUTHOR = 100
_PREDICTION_ID = re.compile(PREDICTION_ID_PATTERN)


def is_prediction_id(text: str) -> bool:
    """Whether ``text`` has the form of a prediction id (it may still be unknown)."""
    return _PREDICTION_ID.fullmatch(text) is not None  # (match's "$" would allow a final "\n")


class FeedbackRequest(BaseModel):
    """What someone says about one prediction: a verdict, the actual answer, or both."""

    # The schema says what the validator below checks: a verdict, an actual answer, or both.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [
                {"required": ["verdict"], "properties": {"verdict": {"enum": ["right", "wrong"]}}},
                {"required": ["actual"], "properties": {"actual": {"not": {"type": "null"}}}},
            ]
        },
    )

    prediction_id: str = Field(
        description=f"The id the prediction's answer carried: {PREDICTION_ID_FORM}.",
        examples=["3f9a0c1be27d44a1c9e0-0"],
        # Declared, and checked by the API with a message that shows the form.
        json_schema_extra={"pattern": PREDICTION_ID_PATTERN},
    )
    verdict: Verdict | None = Field(
        None,
        description="Was the prediction right? Omitted with a class label as `actual`, it is "
        "derived (right when the label is the predicted one).",
    )
    actual: str | float | bool | None = Field(
        None,
        description="The true answer when known: one of the model's class labels, or a number "
        "(regression). Ground truth can be posted days later.",
    )
    comment: str | None = Field(None, max_length=MAX_COMMENT, description="Free text.")
    author: str = Field(
        min_length=1,
        max_length=MAX_AUTHOR,
        pattern=AUTHOR_PATTERN,
        description="Who says so (a name; leading and trailing spaces are dropped). One answer "
        "per prediction and author: posting again updates it.",
    )

    @field_validator("author", mode="before")
    @classmethod
    def _trimmed(cls, value: Any) -> Any:
        # ASCII whitespace only: what the schema's pattern (\S) counts as a space everywhere.
        return value.strip(" \t\n\r\f\v") if isinstance(value, str) else value

    @model_validator(mode="after")
    def _says_something(self) -> FeedbackRequest:
        if self.verdict is None and self.actual is None:
            raise ValueError("give a verdict (right or wrong), the actual answer, or both")
        return self


class Feedback(_EveryFieldSent):
    """One person's feedback on one prediction, as stored."""

    prediction_id: str
    model: str
    version: str
    verdict: Verdict | None
    actual: Scalar = Field(description="The true answer given, if any.")
    comment: str | None
    author: str
    created_at: str = Field(json_schema_extra={"format": "date-time"})
    updated_at: str = Field(json_schema_extra={"format": "date-time"})


class FeedbackResponse(_EveryFieldSent):
    """The feedback saved: ``created`` is false when it updated this author's earlier answer."""

    feedback: Feedback
    created: bool


class LoggedPrediction(_EveryFieldSent):
    """A prediction as the log recorded it, with every feedback on it."""

    id: str
    token: str = Field(description="The id's request part: every row of one request shares it.")
    row: int = Field(ge=0, description="The row's index within its request.")
    model: str
    version: str
    created_at: str = Field(json_schema_extra={"format": "date-time"})
    source: str = Field(description="ui (the UI sent it) or api.")
    request_id: str | None
    inputs: dict[str, Scalar] = Field(
        description="Feature values as sent (features left out by the privacy setting absent)."
    )
    output: dict[str, Any] = Field(description="The v1 prediction object (without its id).")
    feedback: list[Feedback]


class FeedbackItem(Feedback):
    """A judged prediction: the feedback, the prediction's inputs and output, when it was made."""

    inputs: dict[str, Scalar]
    output: dict[str, Any]
    predicted_at: str = Field(json_schema_extra={"format": "date-time"})


class FeedbackPage(_EveryFieldSent):
    """Newest first; pass ``next_cursor`` as ``cursor`` for the next page (null: the last)."""

    model: str
    items: list[FeedbackItem]
    next_cursor: str | None


class VersionAgreement(_EveryFieldSent):
    version: str
    judged: int = Field(description="Feedback with a verdict.")
    right: int
    wrong: int
    agreement: float | None = Field(description="right / judged (null: nothing judged).")


class DailyAgreement(_EveryFieldSent):
    day: str = Field(json_schema_extra={"format": "date"})
    version: str
    judged: int
    right: int
    agreement: float | None


class FeedbackSummary(_EveryFieldSent):
    """Agreement (judged right / judged) per version and per day over the last ``days``."""

    model: str
    days: int
    versions: list[VersionAgreement]
    daily: list[DailyAgreement]
    total_feedback: int
