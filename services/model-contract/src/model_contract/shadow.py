"""Shadow scoring's wire types: a model's shadow version on live traffic, what it found, and
the rows where it answered otherwise (``GET /v1/models/{name}/shadow``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from model_contract.answers import _EveryFieldSent
from model_contract.vocabulary import Scalar


class ShadowStatus(_EveryFieldSent):
    """The version named to shadow a model (MODEL_API_SHADOW) and what it did in this API
    process (each replica counts its own; model_api_shadow_rows_total sums them)."""

    version: str = Field(description="The shadow version.")
    serving_version: str | None = Field(
        description="The default version it shadows (null while it is not active)."
    )
    active: bool = Field(description="Whether the shadow scores the traffic now.")
    problem: str | None = Field(description="Why it does not (null when active).")
    tolerance: float | None = Field(
        description="Regression: answers further apart than this disagree (null for "
        "classifiers: a different class disagrees)."
    )
    compared: int = Field(description="Rows scored by both since `since`.")
    disagreed: int = Field(description="Of them, rows where the answers differ.")
    disagreement_rate: float | None = Field(description="disagreed / compared.")
    dropped: int = Field(
        description="Rows not shadowed: the shadow's queue was full or it failed (their answers "
        "were never affected)."
    )
    since: str | None = Field(json_schema_extra={"format": "date-time"})


class ShadowDisagreement(_EveryFieldSent):
    """A row of live traffic on which the shadow answered otherwise."""

    created_at: str = Field(json_schema_extra={"format": "date-time"})
    version: str = Field(description="The version that answered.")
    shadow_version: str
    prediction_id: str | None = Field(
        description="The id the answer carried (null when the request was not recorded in the "
        "prediction log): look it up, or give feedback on it, by this id."
    )
    inputs: dict[str, Scalar] = Field(
        description="Feature values (features left out by the privacy setting absent)."
    )
    answer: dict[str, Any] = Field(description="The v1 prediction object that was answered.")
    shadow_answer: dict[str, Any] = Field(description="The shadow version's, for the same row.")


class ShadowReport(_EveryFieldSent):
    """A model's shadow and its stored disagreements, newest first; pass ``next_cursor`` as
    ``cursor`` for the next page (null: the last)."""

    model: str
    shadow: ShadowStatus | None = Field(description="Null: no shadow is configured for it.")
    stored: bool = Field(description="Whether disagreements are stored (the prediction log is on).")
    disagreements: list[ShadowDisagreement]
    next_cursor: str | None
