"""Altair charts of the UI: probabilities, quantiles, feature contributions, importance, monitoring."""

from __future__ import annotations

import altair as alt
import pandas as pd
from model_contract import Output, Scalar

POSITIVE, NEGATIVE, NEUTRAL, HIGHLIGHT = "#c0392b", "#2e86c1", "#b0b7bf", "#0b6e4f"


def probabilities(probs: dict[str, float], predicted: str | None) -> alt.LayerChart:
    """One bar per class, the predicted class highlighted, percentages printed."""
    frame = pd.DataFrame(
        {
            "class": list(probs),
            "probability": list(probs.values()),
            "predicted": [c == predicted for c in probs],
        }
    )
    base = alt.Chart(frame).encode(
        y=alt.Y("class:N", sort=list(probs), title=None),
        x=alt.X("probability:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
        tooltip=["class", alt.Tooltip("probability:Q", format=".2%")],
    )
    bars = base.mark_bar().encode(
        color=alt.condition(alt.datum.predicted, alt.value(HIGHLIGHT), alt.value(NEUTRAL))
    )
    text = base.mark_text(align="left", dx=4).encode(text=alt.Text("probability:Q", format=".1%"))
    chart: alt.LayerChart = (bars + text).properties(height=alt.Step(30))
    return chart


def quantiles(values: dict[str, float], outputs: list[Output]) -> alt.LayerChart:
    """A quantile model's answer on one axis: a bar from the lowest quantile to the highest and
    a labelled point per quantile."""
    frame = pd.DataFrame(
        {"quantile": [o.name for o in outputs], "value": [values[o.name] for o in outputs]}
    )
    base = alt.Chart(frame).encode(
        x=alt.X("value:Q", title=None, scale=alt.Scale(zero=False)),
        tooltip=["quantile", alt.Tooltip("value:Q", format=",.4g")],
    )
    span = base.mark_rule(color=NEUTRAL, strokeWidth=6).encode(
        x="min(value):Q", x2="max(value):Q", tooltip=alt.value(None)
    )
    points = base.mark_point(filled=True, size=90, color=HIGHLIGHT, opacity=1)
    labels = base.mark_text(dy=-14).encode(text="quantile:N")
    chart: alt.LayerChart = (span + points + labels).properties(height=80)
    return chart


def contribution_frame(contributions: dict[str, float], row: dict[str, Scalar]) -> pd.DataFrame:
    """Contributions sorted by size, with the row's value beside each feature."""
    frame = pd.DataFrame(
        {
            "feature": list(contributions),
            "contribution": list(contributions.values()),
            "value": [str(row.get(name, "")) for name in contributions],
        }
    )
    frame["feature = value"] = frame["feature"] + " = " + frame["value"]
    frame["effect"] = frame["contribution"].map(
        lambda v: "raises" if v > 0 else "lowers" if v < 0 else "no effect"
    )
    order = frame["contribution"].abs().sort_values(ascending=False).index
    return frame.loc[order].reset_index(drop=True)


def contributions(frame: pd.DataFrame, axis_title: str) -> alt.LayerChart:
    """Diverging bars: right of zero raises the output, left lowers it; largest effect on top."""
    base = alt.Chart(frame).encode(
        y=alt.Y(
            "feature = value:N",
            sort=list(frame["feature = value"]),
            title=None,
            axis=alt.Axis(labelLimit=320),
        ),
        x=alt.X("contribution:Q", title=axis_title),
        tooltip=["feature", "value", alt.Tooltip("contribution:Q", format="+.4g"), "effect"],
    )
    bars = base.mark_bar().encode(
        color=alt.Color(
            "effect:N",
            scale=alt.Scale(
                domain=["raises", "lowers", "no effect"], range=[POSITIVE, NEGATIVE, NEUTRAL]
            ),
            legend=alt.Legend(orient="bottom", title=None),
        )
    )
    rule = alt.Chart(pd.DataFrame({"zero": [0.0]})).mark_rule(color="#555").encode(x="zero:Q")
    chart: alt.LayerChart = (bars + rule).properties(height=alt.Step(30))
    return chart


def importance(frame: pd.DataFrame) -> alt.Chart:
    """Mean |contribution| per feature, largest first (frame: feature, importance)."""
    chart: alt.Chart = (
        alt.Chart(frame)
        .mark_bar(color=HIGHLIGHT)
        .encode(
            y=alt.Y("feature:N", sort="-x", title=None, axis=alt.Axis(labelLimit=320)),
            x=alt.X("importance:Q", title="mean |contribution|"),
            tooltip=["feature", alt.Tooltip("importance:Q", format=".4g")],
        )
        .properties(height=alt.Step(30))
    )
    return chart


def lines(frame: pd.DataFrame, y_title: str) -> alt.Chart:
    """Time series in long form (time, series, value), one coloured line per series."""
    chart: alt.Chart = (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=alt.X("time:T", title=None, axis=alt.Axis(format="%H:%M:%S")),
            y=alt.Y("value:Q", title=y_title),
            color=alt.Color("series:N", title=None, legend=alt.Legend(orient="bottom")),
            tooltip=[
                "series",
                alt.Tooltip("time:T", format="%H:%M:%S"),
                alt.Tooltip("value:Q", format=".4g"),
            ],
        )
        .properties(height=220)
    )
    return chart


def predicted_classes(frame: pd.DataFrame) -> alt.Chart:
    """Predictions per class (frame: model, label, count), one row of bars per model."""
    chart: alt.Chart = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            y=alt.Y("label:N", title=None),
            x=alt.X("count:Q", title="predictions"),
            color=alt.Color("label:N", legend=None),
            row=alt.Row("model:N", title=None),
            tooltip=["model", "label", alt.Tooltip("count:Q", format=",.0f")],
        )
        .properties(height=alt.Step(22))
    )
    return chart


def agreement(frame: pd.DataFrame) -> alt.Chart:
    """Agreement (judged right / judged) per day, one line per version (frame: day, version,
    agreement, judged, right)."""
    chart: alt.Chart = (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=alt.X("day:T", title=None, axis=alt.Axis(format="%b %d")),
            y=alt.Y(
                "agreement:Q",
                title="judged right / judged",
                scale=alt.Scale(domain=[0, 1]),
                axis=alt.Axis(format="%"),
            ),
            color=alt.Color("version:N", title="version", legend=alt.Legend(orient="bottom")),
            tooltip=[
                "version",
                alt.Tooltip("day:T", format="%Y-%m-%d"),
                alt.Tooltip("agreement:Q", format=".0%"),
                alt.Tooltip("judged:Q", title="judged"),
                alt.Tooltip("right:Q", title="right"),
            ],
        )
        .properties(height=240)
    )
    return chart


def confusion(matrix: list[list[int]], labels: list[str]) -> alt.LayerChart:
    """The confusion matrix as a heatmap: actual class down, predicted across, counts printed
    (the diagonal, what was right, in the highlight colour's scale)."""
    cells = [
        {"actual": labels[i], "predicted": labels[j], "rows": count, "right": i == j}
        for i, row in enumerate(matrix)
        for j, count in enumerate(row)
    ]
    frame = pd.DataFrame(cells)
    base = alt.Chart(frame).encode(
        y=alt.Y("actual:N", sort=labels, title="actual"),
        x=alt.X("predicted:N", sort=labels, title="predicted", axis=alt.Axis(labelAngle=0)),
        tooltip=["actual", "predicted", alt.Tooltip("rows:Q", format=",")],
    )
    heat = base.mark_rect().encode(
        color=alt.Color("rows:Q", scale=alt.Scale(scheme="teals"), legend=None)
    )
    text = base.mark_text(fontSize=14).encode(
        text=alt.Text("rows:Q", format=","),
        color=alt.condition(
            alt.datum.rows > max(map(max, matrix)) / 2, alt.value("white"), alt.value("black")
        ),
    )
    chart: alt.LayerChart = (heat + text).properties(height=alt.Step(48), width=alt.Step(72))
    return chart


def calibration(bins: list[dict[str, float]], x_title: str, y_title: str) -> alt.LayerChart:
    """Predicted probability against how often it came true, per bin, beside the diagonal a
    calibrated model follows (frame rows: mean_predicted, observed, rows)."""
    frame = pd.DataFrame(bins)
    axis = alt.Scale(domain=[0, 1])
    diagonal = (
        alt.Chart(pd.DataFrame({"mean_predicted": [0.0, 1.0], "observed": [0.0, 1.0]}))
        .mark_line(color=NEUTRAL, strokeDash=[4, 4])
        .encode(x=alt.X("mean_predicted:Q", scale=axis), y=alt.Y("observed:Q", scale=axis))
    )
    curve = (
        alt.Chart(frame)
        .mark_line(point=alt.OverlayMarkDef(size=80, filled=True), color=HIGHLIGHT)
        .encode(
            x=alt.X("mean_predicted:Q", title=x_title, scale=axis, axis=alt.Axis(format="%")),
            y=alt.Y("observed:Q", title=y_title, scale=axis, axis=alt.Axis(format="%")),
            tooltip=[
                alt.Tooltip("mean_predicted:Q", title="predicted", format=".1%"),
                alt.Tooltip("observed:Q", title="observed", format=".1%"),
                alt.Tooltip("rows:Q", format=","),
            ],
        )
    )
    chart: alt.LayerChart = (diagonal + curve).properties(height=280)
    return chart


def residuals(quantiles: dict[str, float]) -> alt.LayerChart:
    """Quantiles of actual minus predicted on one axis, around zero: how far and to which side
    the model errs."""
    frame = pd.DataFrame({"quantile": list(quantiles), "residual": list(quantiles.values())})
    base = alt.Chart(frame).encode(
        x=alt.X("residual:Q", title="actual − predicted"),
        tooltip=["quantile", alt.Tooltip("residual:Q", format=",.4g")],
    )
    span = base.mark_rule(color=NEUTRAL, strokeWidth=6).encode(
        x="min(residual):Q", x2="max(residual):Q", tooltip=alt.value(None)
    )
    points = base.mark_point(filled=True, size=90, color=HIGHLIGHT, opacity=1)
    labels = base.mark_text(dy=-14).encode(text="quantile:N")
    zero = alt.Chart(pd.DataFrame({"zero": [0.0]})).mark_rule(color="#555").encode(x="zero:Q")
    chart: alt.LayerChart = (span + zero + points + labels).properties(height=90)
    return chart


def slices(frame: pd.DataFrame, metric: str, overall: float) -> alt.LayerChart:
    """The headline metric per slice, worst on top, beside its value on every row (frame:
    slice, metric, rows)."""
    base = alt.Chart(frame).encode(
        y=alt.Y("slice:N", sort=list(frame["slice"]), title=None, axis=alt.Axis(labelLimit=320)),
        x=alt.X("metric:Q", title=metric),
        tooltip=["slice", alt.Tooltip("metric:Q", format=".4g"), alt.Tooltip("rows:Q", format=",")],
    )
    bars = base.mark_bar(color=NEGATIVE)
    rule = (
        alt.Chart(pd.DataFrame({"overall": [overall]}))
        .mark_rule(color="#555", strokeDash=[4, 4])
        .encode(x="overall:Q")
    )
    chart: alt.LayerChart = (bars + rule).properties(height=alt.Step(26))
    return chart
