"""A model judged on labelled rows: the answers and actual values gathered chunk by chunk, then
the metrics on every row and on slices of them.

What is kept per row is what the metrics need, as compact arrays (the actual value, the answer,
and the columns slices are cut by): a file of a million rows costs tens of megabytes here, never
its text. ROC AUC and quantiles need every row's numbers, so nothing smaller would do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from model_api.evaluation import metrics
from model_api.serving.runtime import Prediction

# A slice before its metric: (kind, value, which rows, lower bound, upper bound).
Group = tuple[str, str, np.ndarray, float | None, float | None]
# A slice of fewer rows says little, and would crowd out the telling ones.
MIN_SLICE_ROWS = 10
MAX_SLICES = 50
# Numeric features sliced by range: the most important ones by the model's total gain.
RANGED_FEATURES = 3
RANGE_QUANTILES = (0.25, 0.5, 0.75)


@dataclass(frozen=True)
class SliceFeature:
    """A feature the rows are sliced by: its column, and its category labels (categorical),
    ("false", "true") (boolean), or None (numeric: sliced by quartile ranges)."""

    name: str
    column: int
    labels: Sequence[str] | None


def gain_by_feature(
    scores: Mapping[str, Any], names: Sequence[str], *, named: bool
) -> dict[str, float]:
    """XGBoost's ``get_score`` by feature name. A booster trained without feature names keys
    them ``f0``, ``f1``, ... by column (``named`` False); a multi-output model's score is a list,
    summed."""
    keys = {name: name for name in names} if named else {f"f{j}": n for j, n in enumerate(names)}
    return {keys[key]: float(np.sum(score)) for key, score in scores.items() if key in keys}


def slice_features(features: Sequence[Any], importance: Mapping[str, float]) -> list[SliceFeature]:
    """Every categorical and boolean feature, and the most important numeric ones
    (``features``: the bundle's feature specs, in column order)."""
    chosen = []
    numeric = []
    for j, feature in enumerate(features):
        if feature.categories:
            chosen.append(SliceFeature(feature.name, j, list(feature.categories)))
        elif feature.type == "boolean":
            chosen.append(SliceFeature(feature.name, j, ["false", "true"]))
        elif importance.get(feature.name, 0.0) > 0.0:
            numeric.append((importance[feature.name], j, feature.name))
    numeric.sort(key=lambda item: -item[0])
    chosen += [SliceFeature(name, j, None) for _, j, name in numeric[:RANGED_FEATURES]]
    return chosen


@dataclass
class Judge:
    """Gathers a file's scored rows (``add``), then computes the evaluation (``result``).

    ``labels``: a classifier's classes (the actual values are their indexes), empty for
    regression; ``point_output``: the column of a multi-output answer the point metrics are of.
    """

    labels: Sequence[str]
    output_names: Sequence[str]
    point_output: int
    alphas: Sequence[float] | None
    slices: Sequence[SliceFeature]
    _actual: list[np.ndarray] = field(default_factory=list)
    _answers: list[np.ndarray] = field(default_factory=list)  # proba, classes or values
    _columns: list[np.ndarray] = field(default_factory=list)  # the slice columns
    rows: int = 0

    def add(self, actual: np.ndarray, prediction: Prediction, matrix: np.ndarray) -> None:
        """The actual values of the scored rows of ``matrix`` and the model's answer for them."""
        answer = next(
            a for a in (prediction.proba, prediction.classes, prediction.values) if a is not None
        )
        self._actual.append(actual)
        self._answers.append(
            np.asarray(answer, dtype=np.float32 if answer.dtype.kind == "f" else answer.dtype)
        )
        self._columns.append(matrix[:, [s.column for s in self.slices]].astype(np.float32))
        self.rows += len(actual)

    def points(self) -> tuple[np.ndarray, np.ndarray]:
        """The actual values and the model's point answers (class indexes, or the point output's
        values) of every row added so far, in order."""
        actual = np.concatenate(self._actual) if self._actual else np.empty(0)
        if not self._answers:
            return actual, np.empty(0)
        answers = np.concatenate(self._answers)
        if self.labels:
            return actual, np.argmax(answers, axis=1) if answers.ndim == 2 else answers
        return actual, answers.reshape(len(answers), -1)[:, self.point_output].astype(np.float64)

    def result(self) -> dict[str, Any]:
        """headline, classification or regression, slices and notes."""
        notes: list[str] = []
        if not self.rows:
            notes.append("no row could be scored and judged: see failed_rows")
            name = "accuracy" if self.labels else "rmse"
            return {
                "headline": {"name": name, "value": None, "higher_is_better": bool(self.labels)},
                "classification": None,
                "regression": None,
                "slices": [],
                "notes": notes,
            }
        actual = np.concatenate(self._actual)
        answers = np.concatenate(self._answers)
        columns = np.concatenate(self._columns) if self.slices else np.empty((len(actual), 0))
        self._actual, self._answers, self._columns = [], [], []
        if self.labels:
            proba = answers if answers.ndim == 2 else None
            predicted = (
                np.argmax(answers, axis=1).astype(np.int32)
                if proba is not None
                else answers.astype(np.int32)
            )
            judged = metrics.classification(actual, predicted, proba, self.labels, notes)
            headline = {"name": "accuracy", "value": judged["accuracy"], "higher_is_better": True}
            worst = self._slices(
                columns,
                lambda rows: metrics.accuracy(actual[rows], predicted[rows]),
                judged["accuracy"],
                True,
            )
            return {
                "headline": headline,
                "classification": judged,
                "regression": None,
                "slices": worst,
                "notes": notes,
            }
        values = answers.astype(np.float64)
        judged = metrics.regression(
            actual, values, self.output_names, self.point_output, self.alphas
        )
        point = values.reshape(len(values), -1)[:, self.point_output]
        headline = {"name": "rmse", "value": judged["rmse"], "higher_is_better": False}
        worst = self._slices(
            columns, lambda rows: metrics.rmse(actual[rows], point[rows]), judged["rmse"], False
        )
        return {
            "headline": headline,
            "classification": None,
            "regression": judged,
            "slices": worst,
            "notes": notes,
        }

    def _slices(
        self,
        columns: np.ndarray,
        metric: Any,
        overall: float,
        higher_is_better: bool,
    ) -> list[dict[str, Any]]:
        found = []
        for k, feature in enumerate(self.slices):
            column = columns[:, k]
            missing = np.isnan(column)
            groups: list[Group] = []
            if feature.labels is not None:
                for code, label in enumerate(feature.labels):
                    groups.append(("category", label, column == code, None, None))
            else:
                groups += _ranges(column[~missing], column)
            groups.append(("missing", "missing", missing, None, None))
            for kind, value, rows, lower, upper in groups:
                count = int(np.count_nonzero(rows))
                if count < MIN_SLICE_ROWS:
                    continue
                score = metric(rows)
                found.append(
                    {
                        "feature": feature.name,
                        "kind": kind,
                        "value": value,
                        "lower": lower,
                        "upper": upper,
                        "rows": count,
                        "metric": score,
                        "difference": score - overall,
                    }
                )
        found.sort(key=lambda s: s["metric"] if higher_is_better else -s["metric"])
        return found[:MAX_SLICES]


def _ranges(present: np.ndarray, column: np.ndarray) -> list[Group]:
    """The quartile ranges of a numeric column's values, [lower, upper), the last one closed.
    The bounds are short decimals (float32 quartiles have tails of digits that say nothing); the
    first range takes every value below its upper bound and the last every value from its lower
    one, so that rounding the outer bounds loses no row."""
    if not len(present):
        return []
    values = present.astype(np.float64)
    quartiles = np.quantile(values, RANGE_QUANTILES)
    bounds = sorted({_short(v) for v in (values.min(), *quartiles, values.max())})
    if len(bounds) == 1:  # one value throughout
        return [("range", f"[{bounds[0]:g}]", ~np.isnan(column), bounds[0], bounds[0])]
    ranges: list[Group] = []
    for i in range(len(bounds) - 1):
        lower, upper = bounds[i], bounds[i + 1]
        last = i == len(bounds) - 2
        rows = ~np.isnan(column)
        if i > 0:
            rows &= column >= lower
        if not last:
            rows &= column < upper
        text = f"[{lower:g}, {upper:g}{']' if last else ')'}"
        ranges.append(("range", text, rows, lower, upper))
    return ranges


def _short(value: float) -> float:
    """``value`` to 6 significant digits."""
    return float(f"{value:.6g}")
