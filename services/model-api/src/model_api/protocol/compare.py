"""v1 compare: two versions of a model (or two models with the same features) judged on the same
labelled CSV file, in one pass over it.

Each row is parsed once and scored by both; a row either cannot score or judge fails for both,
so the two evaluations are of the very same rows. The answer has both evaluations (each stored
as a run, as ``evaluate`` stores one), the difference of their headline metric with a paired
bootstrap interval (``scipy.stats.bootstrap``: the same resampled rows for both), and the rows
where their answers differ.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from model_api.errors import InvalidInputError
from model_api.evaluation.judge import Judge
from model_api.protocol import evaluate as evaluation
from model_api.protocol.messages import Answer, Incoming, Services, StreamedAnswer
from model_api.serving.registry import LoadedModel

CONFIDENCE = 0.95
RESAMPLES = 1000
# Bootstrap resamples drawn at once: each is a row index per judged row, so this many times the
# rows must fit in memory (bounded at about 16 MiB of indexes).
BOOTSTRAP_CELLS = 2_000_000
DISAGREEMENTS_LISTED = 100
# Regression answers further apart than this share of the actual values' spread differ.
DEFAULT_TOLERANCE_SHARE = 0.1
SEED = 0  # the interval of one file is the same on every call


async def compare(
    model: LoadedModel, incoming: Incoming, services: Services
) -> Answer | StreamedAnswer:
    """A labelled CSV in; this model and ``?other_model=`` (default: the same model) at
    ``?other_version=`` (default: its newest version other than this one) judged on its rows."""
    sep = evaluation.checked_request(model, incoming, "compare")
    other = _other(model, incoming, services)
    target, point_output = evaluation.target_of(model, incoming.query("target"))
    _, other_output = evaluation.target_of(other, target)
    tolerance = _tolerance(incoming.query("tolerance"))
    return await evaluation.judge_upload(
        model,
        incoming,
        services,
        sep,
        target,
        point_output,
        [(other, other_output)],
        lambda digest, judged: _comparison(
            model, other, target, digest, judged, tolerance, services
        ),
        "compare",
    )


def _other(model: LoadedModel, incoming: Incoming, services: Services) -> LoadedModel:
    """The model compared with: found, and with the same features and kind of answer."""
    assert services.registry is not None
    name = incoming.query("other_model") or model.name
    version = incoming.query("other_version")
    if version is None and name == model.name:
        # The newest other version that can be compared; this one when there is none.
        registry = services.registry
        others = (registry.get(name, v) for v in registry.versions(name) if v != model.version)
        return next((o for o in others if not _refusal(model, o)), model)
    other = services.registry.get(name, version)
    refusal = _refusal(model, other)
    if refusal is not None:
        raise refusal
    return other


def _refusal(model: LoadedModel, other: LoadedModel) -> InvalidInputError | None:
    """Why ``other`` cannot be compared with ``model`` (None: it can)."""
    refused = other.metadata.spec.not_evaluated
    if refused is not None:
        return InvalidInputError(
            f"{other.name} is not evaluated: its objective {other.metadata.spec.name} is not "
            f"judged by these metrics ({refused})",
            [{"loc": ["query", "other_model"], "msg": "objective not evaluated"}],
        )
    problems = incomparable(model, other)
    if problems:
        return InvalidInputError(
            f"{model.name}@{model.version} and {other.name}@{other.version} cannot be compared "
            f"on one file: {'; '.join(problems)}",
            [{"loc": ["query", "other_model"], "msg": "; ".join(problems)}],
        )
    return None


def incomparable(model: LoadedModel, other: LoadedModel) -> list[str]:
    """Why two models cannot be judged on one file's rows (none: they can)."""
    mine, theirs = model.metadata, other.metadata
    problems = []
    if [_feature(f) for f in mine.features] != [_feature(f) for f in theirs.features]:
        problems.append("their features differ (names, types, categories or order)")
    if mine.task != theirs.task or mine.labels != theirs.labels:
        problems.append("they answer different things (task or classes)")
    return problems


def _feature(feature: Any) -> tuple[Any, ...]:
    return feature.name, feature.type, tuple(feature.categories or ())


def _tolerance(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not np.isfinite(value) or value < 0:
        problem = f"tolerance {text!r} is not a number at least 0"
        raise InvalidInputError(problem, [{"loc": ["query", "tolerance"], "msg": problem}])
    return value


def _comparison(
    model: LoadedModel,
    other: LoadedModel,
    target: str,
    digest: str,
    judged: evaluation.Judged,
    tolerance: float | None,
    services: Services,
) -> dict[str, Any]:
    mine, theirs = judged.judges
    actual, answers = mine.points()
    _, other_answers = theirs.points()
    rows = np.concatenate(judged.scored_rows) if judged.scored_rows else np.empty(0, np.int64)
    labels = model.metadata.labels
    difference = _difference(mine, actual, answers, other_answers, model, other)
    disagreements = _disagreements(actual, answers, other_answers, rows, labels, tolerance)
    results = []
    for scorer, judge in ((model, mine), (other, theirs)):
        one = evaluation.Judged([judge], judged.rows, judged.failed, judged.failed_rows, [])
        results.append(evaluation.finish(scorer, target, digest, one, services))
    return {
        "model": model.name,
        "version": model.version,
        "other_model": other.name,
        "other_version": other.version,
        "target": target,
        "data_sha256": digest,
        "rows": judged.rows,
        "scored": mine.rows,
        "failed": judged.failed,
        "failed_rows": judged.failed_rows,
        "evaluations": results,
        "difference": difference,
        "disagreements": disagreements,
    }


def _difference(
    judge: Judge,
    actual: np.ndarray,
    answers: np.ndarray,
    other_answers: np.ndarray,
    model: LoadedModel,
    other: LoadedModel,
) -> dict[str, Any]:
    """The other's headline metric minus this one's, and its paired bootstrap interval."""
    classifier = bool(judge.labels)
    metric = "accuracy" if classifier else "rmse"
    found: dict[str, Any] = {
        "metric": metric,
        "value": None,
        "lower": None,
        "upper": None,
        "confidence": CONFIDENCE,
        "resamples": RESAMPLES,
        "better": None,
    }
    if not len(actual):
        return found
    if classifier:
        # Per row: right (1) or wrong (0); accuracy is their mean.
        mine = (answers == actual).astype(np.float64)
        theirs = (other_answers == actual).astype(np.float64)

        def statistic(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
            return np.asarray(np.mean(b, axis=axis) - np.mean(a, axis=axis))
    else:
        # Per row: the squared error; RMSE is the root of their mean.
        mine = (answers - actual) ** 2
        theirs = (other_answers - actual) ** 2

        def statistic(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
            return np.asarray(np.sqrt(np.mean(b, axis=axis)) - np.sqrt(np.mean(a, axis=axis)))

    value = float(statistic(mine, theirs))
    found["value"] = value
    if len(actual) < 2:
        return found
    interval = stats.bootstrap(
        (mine, theirs),
        statistic,
        paired=True,
        vectorized=True,
        n_resamples=RESAMPLES,
        batch=max(1, BOOTSTRAP_CELLS // len(actual)),
        confidence_level=CONFIDENCE,
        method="percentile",
        rng=np.random.default_rng(SEED),
    ).confidence_interval
    lower, upper = float(interval.low), float(interval.high)
    found["lower"], found["upper"] = lower, upper
    if lower > 0 or upper < 0:
        other_better = (lower > 0) == classifier  # accuracy up, or RMSE down
        winner = other if other_better else model
        found["better"] = f"{winner.name}@{winner.version}"
    return found


def _disagreements(
    actual: np.ndarray,
    answers: np.ndarray,
    other_answers: np.ndarray,
    rows: np.ndarray,
    labels: list[str],
    tolerance: float | None,
) -> dict[str, Any]:
    if labels:
        differ = answers != other_answers
        tolerance = None
    else:
        if tolerance is None:
            spread = float(np.std(actual)) if len(actual) else 0.0
            tolerance = DEFAULT_TOLERANCE_SHARE * spread
        differ = np.abs(answers - other_answers) > tolerance
    where = np.flatnonzero(differ)
    listed = []
    for i in where[:DISAGREEMENTS_LISTED].tolist():
        if labels:
            shown: list[Any] = [labels[int(actual[i])], labels[int(answers[i])]]
            shown.append(labels[int(other_answers[i])])
        else:
            shown = [float(actual[i]), float(answers[i]), float(other_answers[i])]
        listed.append({"row": int(rows[i]), "actual": shown[0], "answers": shown[1:]})
    return {
        "rows": len(where),
        "share": float(len(where) / len(actual)) if len(actual) else None,
        "tolerance": tolerance,
        "listed": listed,
    }
