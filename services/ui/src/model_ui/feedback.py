"""Pure work of the feedback loop in the UI: verdicts, what was saved, tables, ground truth.

Comments and author names are untrusted text: tables get them raw (data frames show text), and
sentences go through ``model_ui.text.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd
from model_contract import ModelMetadata

from model_ui.csvbatch import Upload
from model_ui.schemas import Actual, Feedback, FeedbackItem, FeedbackSummary
from model_ui.text import md

# st.feedback("thumbs") gives 0 for thumbs down and 1 for thumbs up.
VERDICTS = {0: "wrong", 1: "right"}
MAX_COMMENT = 2000
MAX_AUTHOR = 100


def verdict_of(thumbs: int | None) -> str | None:
    """The API's verdict for the thumbs widget's value (None: not given)."""
    return None if thumbs is None else VERDICTS.get(thumbs)


def takes_actual(metadata: ModelMetadata) -> bool:
    """Whether the model has one answer a colleague can correct: a class, or a single value."""
    if metadata.task != "regression":
        return True
    return not metadata.quantiles and len(metadata.outputs or []) <= 1


def clean_author(name: object) -> str:
    """A name as the API stores it: trimmed, at most 100 characters."""
    return str(name or "").strip()[:MAX_AUTHOR]


def actual_text(actual: Actual) -> str:
    if actual is None:
        return "not given"
    if isinstance(actual, float):
        return f"{actual:,.6g}"
    return str(actual)


def confirmation(saved: Feedback, created: bool) -> str:
    """What the API says it stored, as one Markdown sentence (its text escaped)."""
    verdict = saved.verdict or "none"
    comment = f"“{md(saved.comment)}”" if saved.comment else "none"
    action = "Saved" if created else "Updated your earlier feedback"
    return (
        f"{action}: verdict **{verdict}**, actual **{md(actual_text(saved.actual))}**, "
        f"comment {comment}, as {md(saved.author)}."
    )


def predicted(output: dict[str, object]) -> str:
    """The model's answer of a logged prediction, as text: label, value or values."""
    if output.get("label") is not None:
        return str(output["label"])
    if output.get("value") is not None:
        return actual_text(float(str(output["value"])))
    values = output.get("values")
    if isinstance(values, dict):
        return ", ".join(f"{k} {actual_text(float(v))}" for k, v in values.items())
    return ""


def inputs_text(inputs: dict[str, object], features: list[str]) -> str:
    """A prediction's inputs on one line, the model's features first ("missing" for null)."""
    names = [*(f for f in features if f in inputs), *sorted(set(inputs) - set(features))]
    shown = ("missing" if inputs[n] is None else inputs[n] for n in names)
    return " · ".join(f"{name} {value}" for name, value in zip(names, shown, strict=True))


def items_frame(items: list[FeedbackItem], features: list[str]) -> pd.DataFrame:
    """One line per judged prediction: when, version, answer, verdict, actual, who, comment,
    then the inputs (the model's features first, in its order, then any others the API sent)."""
    extra = sorted({k for item in items for k in item.inputs} - set(features))
    columns = [
        "judged at",
        "version",
        "predicted",
        "verdict",
        "actual",
        "author",
        "comment",
        *features,
        *extra,
        "prediction id",
        "predicted at",
    ]
    rows = [
        {
            "judged at": item.updated_at or item.created_at,
            "version": item.version,
            "predicted": predicted(item.output),
            "verdict": item.verdict or "",
            "actual": "" if item.actual is None else actual_text(item.actual),
            "author": item.author,
            "comment": item.comment or "",
            **{name: item.inputs.get(name) for name in [*features, *extra]},
            "prediction id": item.prediction_id,
            "predicted at": item.predicted_at,
        }
        for item in items
    ]
    return pd.DataFrame(rows, columns=columns)


def versions_frame(summary: FeedbackSummary) -> pd.DataFrame:
    """Agreement per version: judged, right, wrong, and right / judged."""
    return pd.DataFrame(
        [
            {
                "version": v.version,
                "judged": v.judged,
                "right": v.right,
                "wrong": v.wrong,
                "agreement": v.agreement,
            }
            for v in summary.versions
        ],
        columns=["version", "judged", "right", "wrong", "agreement"],
    )


def daily_frame(summary: FeedbackSummary) -> pd.DataFrame:
    """Agreement per version and day, for the chart (days without a verdict left out)."""
    return pd.DataFrame(
        [
            {
                "day": pd.Timestamp(d.day),
                "version": d.version,
                "agreement": d.agreement,
                "judged": d.judged,
                "right": d.right,
            }
            for d in summary.daily
            if d.agreement is not None
        ],
        columns=["day", "version", "agreement", "judged", "right"],
    )


def agreement_text(agreement: float | None) -> str:
    return "–" if agreement is None else f"{agreement:.0%}"


@dataclass(frozen=True)
class GroundTruth:
    """The rows of a scored file that can be sent as ground truth, and why the others cannot."""

    rows: list[tuple[str, Actual]] = field(default_factory=list)  # (prediction id, actual)
    blank: int = 0  # no actual in the column
    unscored: int = 0  # rejected by the API, or scored without an id
    not_numbers: int = 0  # regression: the cell is not a finite number


def ground_truth(
    upload: Upload, scored: pd.DataFrame, column: str, metadata: ModelMetadata
) -> GroundTruth:
    """(prediction id, actual) per scored row, the actual read from ``column`` of the upload.

    ``scored`` is the Batch page's frame: ``row`` (1-based line of the upload) and the API's
    ``prediction_id``. A classifier's actual is the cell's text (the API checks it is a class);
    a regressor's must be a finite number."""
    index = upload.header.index(column)
    rows: list[tuple[str, Actual]] = []
    blank = unscored = not_numbers = 0
    ids = scored["prediction_id"] if "prediction_id" in scored.columns else None
    for position, number in enumerate(scored["row"]):
        prediction_id = "" if ids is None else str(ids.iloc[position] or "")
        if prediction_id in ("", "nan") or number is None or number != number:
            unscored += 1
            continue
        line = upload.rows[int(number) - 1] if 0 < int(number) <= len(upload.rows) else []
        cell = line[index].strip() if index < len(line) else ""
        if not cell:
            blank += 1
            continue
        if metadata.task == "regression":
            try:
                value = float(cell)
            except ValueError:
                value = math.nan
            if not math.isfinite(value):
                not_numbers += 1
                continue
            rows.append((prediction_id, value))
        else:
            rows.append((prediction_id, cell))
    return GroundTruth(rows, blank, unscored, not_numbers)
