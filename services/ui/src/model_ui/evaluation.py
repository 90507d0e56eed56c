"""Pure work of the Evaluate page: what an evaluation's numbers say, in words and tables."""

from __future__ import annotations

from model_contract import EvaluationResponse, EvaluationSummary, Headline, Slice

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
