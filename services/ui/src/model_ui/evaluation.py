"""Pure work of the Evaluate page: what an evaluation's numbers say, in words and tables."""

from __future__ import annotations

from model_contract import (
    CompareDifference,
    EvaluationResponse,
    EvaluationSummary,
    Headline,
    ModelMetadata,
    Slice,
)

HEADLINE_NAMES = {"accuracy": "Accuracy", "rmse": "RMSE"}
# The session's latest evaluation, shown on the Evaluate page (the Batch page puts one there
# too): (what was evaluated, EvaluationResponse).
RESULT = "evaluation_result"
WORST_SENTENCES = 5


def metric_text(name: str, value: float | None) -> str:
    """A metric as people read it: accuracy as a percentage, an error as a short number."""
    if value is None:
        return "n/a"
    if name == "accuracy":
        return f"{value:.1%}"
    return f"{value:,.4g}"


def slice_name(found: Slice) -> str:
    """``island = Dream``, ``bill_depth_mm in [18.7, 21.5]``, ``sex missing``."""
    if found.kind == "missing":
        return f"{found.feature} missing"
    if found.kind == "range":
        return f"{found.feature} in {found.value}"
    return f"{found.feature} = {found.value}"


def slice_sentence(found: Slice, headline: Headline) -> str:
    """One line about a slice: "accuracy drops to 61.0% on island = Dream (48 rows)"."""
    name = HEADLINE_NAMES[headline.name]
    worse = (
        (found.difference or 0.0) < 0
        if headline.higher_is_better
        else (found.difference or 0.0) > 0
    )
    if found.difference == 0:
        verb = "stays at"
    elif headline.higher_is_better:
        verb = "drops to" if worse else "rises to"
    else:
        verb = "rises to" if worse else "falls to"
    return (
        f"{name} {verb} {metric_text(headline.name, found.metric)} on {slice_name(found)} "
        f"({found.rows:,} rows)"
    )


def worse_slices(result: EvaluationResponse) -> list[Slice]:
    """The slices where the headline metric is worse than on every row, worst first."""
    higher = result.headline.higher_is_better
    return [
        s
        for s in result.slices
        if s.difference is not None and (s.difference < 0 if higher else s.difference > 0)
    ]


def run_label(run: EvaluationSummary) -> str:
    """A past run in a menu: when, which version, on what, and its headline."""
    when = run.created_at.replace("T", " ")[:16]
    source = "the feedback" if run.source == "feedback" else f"{run.rows:,} rows"
    headline = (
        f"{HEADLINE_NAMES[run.headline.name]} {metric_text(run.headline.name, run.headline.value)}"
    )
    return f"{when} UTC · version {run.version} · {source} · {headline}"


def difference_sentence(difference: CompareDifference, this: str, other: str) -> str:
    """What the difference says, with its interval: "accuracy is 4.4 points higher with
    version 1 (95% interval 2.3 to 6.7 points): version 1 is better"."""
    if difference.value is None:
        return "No row could be judged by both, so there is nothing to compare."
    accuracy = difference.metric == "accuracy"
    scale, unit = (100.0, " points") if accuracy else (1.0, "")
    value = difference.value * scale
    name = "accuracy" if accuracy else "RMSE"
    if value == 0:
        said = f"{name} is the same with {other} and {this}"
    else:
        way = "higher" if value > 0 else "lower"
        said = f"{name} is {abs(value):,.3g}{unit} {way} with {other} than with {this}"
    if difference.lower is None or difference.upper is None:
        return said + "."
    interval = (
        f" ({difference.confidence:.0%} interval {difference.lower * scale:,.3g} to "
        f"{difference.upper * scale:,.3g}{unit})"
    )
    if difference.better is None:
        return said + interval + ": on these rows the two cannot be told apart."
    return said + interval + f": {difference.better} is better."


def same_features(mine: ModelMetadata, theirs: ModelMetadata) -> bool:
    """Whether two models can be compared on one file (the API checks the same)."""

    def features(metadata: ModelMetadata) -> list[tuple[object, ...]]:
        return [(f.name, f.type, tuple(f.categories or ())) for f in metadata.features]

    return features(mine) == features(theirs) and (mine.task, mine.labels) == (
        theirs.task,
        theirs.labels,
    )
