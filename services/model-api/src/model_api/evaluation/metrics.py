"""Metrics of a model's answers against the actual ones, by scikit-learn's definitions.

Each function takes whole arrays (the rows that could be scored and judged) and returns the
JSON-ready dict of ``model_contract.evaluation``'s matching model. scikit-learn computes every
metric it has; what it has not (the reliability table's counts, interval coverage, residual
quantiles) is a line of numpy, binned the way scikit-learn bins.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn import metrics as sk
from sklearn.exceptions import UndefinedMetricWarning

CALIBRATION_BINS = 10
# Log loss is a mean over rows: computed on blocks of this many (and weighted by their rows), it
# is the same number without scikit-learn's float64 copies of every row's probabilities at once.
LOG_LOSS_BLOCK_ROWS = 65_536
RESIDUAL_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def number(value: Any) -> float | None:
    """A metric as JSON takes it: a float, or None where it is not a finite number."""
    result = float(value)
    return result if math.isfinite(result) else None


def classification(
    actual: np.ndarray,
    predicted: np.ndarray,
    proba: np.ndarray | None,
    labels: Sequence[str],
    notes: list[str],
) -> dict[str, Any]:
    """``actual`` and ``predicted``: class indexes [N]; ``proba``: [N, K] (the served float32
    probabilities) or None (a model without probabilities). Needs N >= 1."""
    k = len(labels)
    codes = list(range(k))
    precision, recall, f1, support = sk.precision_recall_fscore_support(
        actual, predicted, labels=codes, zero_division=0.0
    )
    with warnings.catch_warnings():
        # A class never actual: its recall is undefined; sklearn warns and leaves it out.
        warnings.simplefilter("ignore", UserWarning)
        balanced = sk.balanced_accuracy_score(actual, predicted)
    log_loss = roc_auc = None
    calibration = None
    if proba is None:
        notes.append("log loss, ROC AUC and calibration need probabilities; this model has none")
    else:
        log_loss = number(_log_loss(actual, proba, codes))
        roc_auc = _roc_auc(actual, proba, k, notes)
        calibration = _calibration(actual, predicted, proba, labels)
    return {
        "labels": list(labels),
        "accuracy": float(sk.accuracy_score(actual, predicted)),
        "balanced_accuracy": float(balanced),
        "log_loss": log_loss,
        "roc_auc": roc_auc,
        "per_class": [
            {
                "label": labels[j],
                "precision": float(precision[j]),
                "recall": float(recall[j]),
                "f1": float(f1[j]),
                "support": int(support[j]),
            }
            for j in codes
        ],
        "confusion_matrix": sk.confusion_matrix(actual, predicted, labels=codes).tolist(),
        "calibration": calibration,
    }


def _log_loss(actual: np.ndarray, proba: np.ndarray, codes: list[int]) -> float:
    total = 0.0
    for start in range(0, len(actual), LOG_LOSS_BLOCK_ROWS):
        block = proba[start : start + LOG_LOSS_BLOCK_ROWS].astype(np.float64)
        # The served float32 probabilities sum to 1 within float32's precision; log loss
        # wants them to within float64's.
        block /= block.sum(axis=1, keepdims=True)
        part = actual[start : start + LOG_LOSS_BLOCK_ROWS]
        total += sk.log_loss(part, block, labels=codes) * len(part)
    return total / len(actual)


def _roc_auc(actual: np.ndarray, proba: np.ndarray, k: int, notes: list[str]) -> float | None:
    present = np.unique(actual)
    if k == 2:
        if len(present) < 2:
            notes.append("ROC AUC needs both classes among the actual values")
            return None
        return number(sk.roc_auc_score(actual, proba[:, 1]))
    if len(present) < k:
        # One-vs-rest needs every class to occur (each class's curve needs positives).
        notes.append("ROC AUC (one-vs-rest) needs every class among the actual values")
        return None
    return number(sk.roc_auc_score(actual, proba, multi_class="ovr", labels=list(range(k))))


def _calibration(
    actual: np.ndarray, predicted: np.ndarray, proba: np.ndarray, labels: Sequence[str]
) -> dict[str, Any]:
    """Binary: P(positive) against the positive class's frequency; multiclass: the predicted
    class's probability against how often it was right."""
    if len(labels) == 2:
        kind, label = "positive_class", labels[1]
        scores, hits = proba[:, 1], actual == 1
    else:
        kind, label = "top_label", None
        scores, hits = proba[np.arange(len(predicted)), predicted], actual == predicted
    # sklearn.calibration.calibration_curve's uniform bins, with their row counts.
    edges = np.linspace(0.0, 1.0, CALIBRATION_BINS + 1)
    bin_of = np.searchsorted(edges[1:-1], scores)
    rows = np.bincount(bin_of, minlength=CALIBRATION_BINS)
    score_sums = np.bincount(bin_of, weights=scores, minlength=CALIBRATION_BINS)
    hit_sums = np.bincount(bin_of, weights=hits, minlength=CALIBRATION_BINS)
    bins = [
        {
            "lower": float(edges[b]),
            "upper": float(edges[b + 1]),
            "rows": int(rows[b]),
            "mean_predicted": float(score_sums[b] / rows[b]),
            "observed": float(hit_sums[b] / rows[b]),
        }
        for b in range(CALIBRATION_BINS)
        if rows[b]
    ]
    return {"kind": kind, "label": label, "bins": bins}


def regression(
    actual: np.ndarray,
    values: np.ndarray,
    output_names: Sequence[str],
    point_output: int,
    alphas: Sequence[float] | None,
) -> dict[str, Any]:
    """``values``: [N] (one output) or [N, T]; ``point_output``: the column the point metrics
    are of; ``alphas``: a quantile model's, in output order (else None)."""
    table = values.reshape(len(values), -1)
    point = table[:, point_output]
    residuals = actual - point
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)  # R² of one row
        r2 = number(sk.r2_score(actual, point)) if np.ptp(actual) > 0 else None
    result: dict[str, Any] = {
        "output": output_names[point_output] if output_names else None,
        "rmse": float(sk.root_mean_squared_error(actual, point)),
        "mae": float(sk.mean_absolute_error(actual, point)),
        "r2": r2,
        "residual_quantiles": {
            f"q{q:g}": float(v)
            for q, v in zip(
                RESIDUAL_QUANTILES, np.quantile(residuals, RESIDUAL_QUANTILES), strict=True
            )
        },
        "quantiles": None,
        "intervals": None,
    }
    if alphas:
        result["quantiles"] = [
            {
                "output": output_names[j],
                "alpha": float(alpha),
                "coverage": float(np.mean(actual <= table[:, j])),
                "pinball_loss": float(sk.mean_pinball_loss(actual, table[:, j], alpha=alpha)),
            }
            for j, alpha in enumerate(alphas)
        ]
        result["intervals"] = _intervals(actual, table, output_names, alphas)
    return result


def _intervals(
    actual: np.ndarray, table: np.ndarray, names: Sequence[str], alphas: Sequence[float]
) -> list[dict[str, Any]]:
    """The central intervals: the lowest alpha with the highest, and so inwards, while the lower
    is below 0.5 and the upper above it."""
    order = sorted(range(len(alphas)), key=lambda j: alphas[j])
    intervals = []
    for i in range(len(order) // 2):
        low, high = order[i], order[-1 - i]
        if not alphas[low] < 0.5 < alphas[high]:
            break
        inside = (table[:, low] <= actual) & (actual <= table[:, high])
        intervals.append(
            {
                "lower": names[low],
                "upper": names[high],
                "nominal": round(float(alphas[high] - alphas[low]), 10),
                "coverage": float(np.mean(inside)),
            }
        )
    return intervals


def accuracy(actual: np.ndarray, predicted: np.ndarray) -> float:
    return float(sk.accuracy_score(actual, predicted))


def rmse(actual: np.ndarray, predicted: np.ndarray) -> float:
    return float(sk.root_mean_squared_error(actual, predicted))
