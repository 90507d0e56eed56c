"""Monitoring: live figures of the API, refreshed on their own.

With ``MODEL_UI_PROMETHEUS_URL`` they come from Prometheus, across every API pod it scrapes;
without it, from the ``/metrics`` of the one API pod that answers each read, and the page says so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import streamlit as st

from model_ui import charts, feedback, layout, prom, state
from model_ui.client import ApiError, PrometheusClient
from model_ui.settings import UISettings
from model_ui.text import md

HISTORY = "monitoring_history"
KEEP = 120  # points per chart: reads kept per session, or steps asked of Prometheus

Read = tuple[prom.Snapshot, prom.Window | None]  # a scrape and the window since the one before


@dataclass(frozen=True)
class Figures:
    """One refresh: where the figures come from, totals, current rates, and the chart series."""

    source: str
    newest: prom.Snapshot
    recent: prom.Window | None
    rates: pd.DataFrame  # time, series, value
    latency: pd.DataFrame  # time, series, value (milliseconds)


def _history(url: str) -> list[Read]:
    stored = st.session_state.get(HISTORY)
    if not isinstance(stored, tuple) or stored[0] != url:
        stored = (url, [])
        st.session_state[HISTORY] = stored
    reads: list[Read] = stored[1]
    return reads


def _ms(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds * 1000:,.1f} ms"


def _series(reads: list[Read]) -> tuple[pd.DataFrame, pd.DataFrame]:
    rates, latency = [], []
    for snapshot, figures in reads:
        if figures is None:
            continue
        at = datetime.fromtimestamp(snapshot.at)
        rates += [
            {"time": at, "series": "requests/s", "value": figures.request_rate},
            {"time": at, "series": "errors/s", "value": figures.error_rate},
        ]
        for q, seconds in figures.latency.items():
            if seconds is not None:
                latency.append({"time": at, "series": f"p{q * 100:g}", "value": seconds * 1000})
    return pd.DataFrame(rates), pd.DataFrame(latency)


def _trend_frames(trend: prom.Trend) -> tuple[pd.DataFrame, pd.DataFrame]:
    def rows(
        name: str, points: list[tuple[float, float]], scale: float = 1.0
    ) -> list[dict[str, object]]:
        return [
            {"time": datetime.fromtimestamp(at), "series": name, "value": v * scale}
            for at, v in points
        ]

    rates = rows("requests/s", trend.request_rate) + rows("errors/s", trend.error_rate)
    latency = [
        r for q, points in trend.latency.items() for r in rows(f"p{q * 100:g}", points, 1000)
    ]
    return pd.DataFrame(rates), pd.DataFrame(latency)


def _from_one_pod() -> Figures | None:
    """The /metrics of whichever API pod answers; rates between this read and the one before."""
    client = state.client()
    try:
        text = client.metrics_text()
    except ApiError as error:
        layout.error_banner(error, "reading the API's /metrics")
        return None
    reads = _history(client.base_url)
    newest = prom.parse(text, time.time())
    recent = prom.window(newest, reads[-1][0]) if reads else None  # once per read, kept
    reads.append((newest, recent))
    del reads[:-KEEP]
    rates, latency = _series(reads)
    source = (
        f"Read from `{client.base_url}/metrics` at {datetime.fromtimestamp(newest.at):%H:%M:%S}. "
        "**These figures come from one API pod**, the one that answered this read: rates and "
        "recent latency are between the last two reads, totals since that pod started. With "
        "several API replicas each read may reach another pod and the rates and percentiles are "
        "wrong; set `MODEL_UI_PROMETHEUS_URL` to read them from Prometheus across all pods."
    )
    return Figures(source, newest, recent, rates, latency)


def _from_prometheus(prometheus: PrometheusClient, settings: UISettings) -> Figures | None:
    """Every pod's series from Prometheus: rate() and histogram_quantile() over the window."""
    queries = prom.Queries(settings.prometheus_selector, settings.prometheus_rate_window)
    step = settings.monitoring_refresh_seconds
    end = time.time()
    try:
        newest = prom.summed_snapshot(prometheus.query, queries, end)
        trend = prom.trend(
            lambda expr: prometheus.query_range(expr, end - KEEP * step, end, step),
            queries,
            end,
            step,
        )
    except ApiError as error:
        layout.error_banner(error, "reading the API's figures from Prometheus")
        return None
    if not newest.pods:
        st.warning(
            f"Prometheus at `{prometheus.base_url}` has no series `{queries.targets}`: check "
            "that it scrapes the API and that `MODEL_UI_PROMETHEUS_SELECTOR` picks its job.",
            icon=":material/search_off:",
        )
        return None
    rates, latency = _trend_frames(trend)
    pods = f"{newest.pods} API pod{'s' if newest.pods != 1 else ''}"
    source = (
        f"From Prometheus at `{prometheus.base_url}`, across the {pods} it scrapes, at "
        f"{datetime.fromtimestamp(end):%H:%M:%S}: rates and latency percentiles over the last "
        f"{settings.prometheus_rate_window}, totals summed over the pods' counters (each since "
        "it started)."
    )
    return Figures(source, newest, trend.now(), rates, latency)


def _ready(snapshot: prom.Snapshot) -> str:
    if snapshot.pods is not None:
        return f"{snapshot.ready or 0:.0f} of {snapshot.pods}"
    return {None: "?", 1.0: "yes"}.get(snapshot.ready, "no")


def _headline(figures: Figures) -> None:
    newest, recent = figures.newest, figures.recent
    cols = st.columns(4)
    cols[0].metric("Requests/s", "–" if recent is None else f"{recent.request_rate:.2f}")
    cols[1].metric("Errors/s (4xx+5xx)", "–" if recent is None else f"{recent.error_rate:.2f}")
    cols[2].metric("In flight", f"{newest.in_flight:.0f}")
    cols[3].metric("Ready" if newest.pods is None else "Pods ready", _ready(newest))
    cols = st.columns(4)
    cols[0].metric("Requests (total)", f"{newest.total_requests:,.0f}")
    cols[1].metric("Errors (total)", f"{newest.failed_requests:,.0f}")
    overall = newest.all_latency()
    for col, q in zip(cols[2:], (0.5, 0.95), strict=True):
        now = recent.latency.get(q) if recent else None
        col.metric(
            f"p{q * 100:g} latency",
            _ms(now if now is not None else prom.quantile(q, overall)),
            help="Recent when there was traffic, else since the API started.",
        )


def _charts(figures: Figures) -> None:
    left, right = st.columns(2)
    with left:
        st.markdown("**Request and error rate**")
        if figures.rates.empty:
            st.caption("The chart starts with the next refresh.")
        else:
            st.altair_chart(charts.lines(figures.rates, "per second"), width="stretch")
    with right:
        st.markdown("**Latency percentiles**")
        if figures.latency.empty:
            st.caption("No requests to time yet.")
        else:
            st.altair_chart(charts.lines(figures.latency, "milliseconds"), width="stretch")


def _predictions(snapshot: prom.Snapshot, name: str, version: str) -> pd.DataFrame:
    """Predicted classes of one model version (each model has its own classes)."""
    return pd.DataFrame(
        [
            {"model": f"{model} v{ver}", "label": label, "count": count}
            for (model, ver, label), count in sorted(snapshot.predictions.items())
            if model == name and ver == version
        ],
        columns=["model", "label", "count"],
    )


def _classes(snapshot: prom.Snapshot) -> None:
    frame = layout.selection()
    if frame.name is None or frame.version is None:
        return
    model = f"{md(frame.name)} version {md(frame.version)}"
    st.markdown(f"**Predictions by class of {model}** (since the API started)")
    predictions = _predictions(snapshot, frame.name, frame.version)
    if predictions.empty:
        st.caption("No class predictions of this model version yet (regression models have none).")
    else:
        st.altair_chart(charts.predicted_classes(predictions), width="stretch")


def _routes(snapshot: prom.Snapshot) -> pd.DataFrame:
    rows = []
    for (route, method, status), count in sorted(snapshot.requests.items()):
        buckets = snapshot.latency.get(route, {})
        rows.append(
            {
                "route": route,
                "method": method,
                "status": status,
                "requests": int(count),
                "p50 (all statuses)": _ms(prom.quantile(0.5, buckets)),
                "p95 (all statuses)": _ms(prom.quantile(0.95, buckets)),
            }
        )
    return pd.DataFrame(rows)


def _tables(newest: prom.Snapshot) -> None:
    if newest.rows:
        st.markdown("**Rows scored per model**")
        st.dataframe(
            pd.DataFrame(
                [{"model": f"{m} v{v}", "rows": int(n)} for (m, v), n in newest.rows.items()]
            ),
            hide_index=True,
        )
    st.markdown("**Errors by kind**")
    if newest.errors:
        st.dataframe(
            pd.DataFrame([{"kind": k, "count": int(n)} for k, n in sorted(newest.errors.items())]),
            hide_index=True,
        )
    else:
        st.caption("No errors.")
    with st.expander("Requests by route and status"):
        st.dataframe(_routes(newest), hide_index=True)


def _agreement() -> None:
    """How often colleagues and applications judged the selected model right, per version."""
    frame = layout.selection()
    if frame.name is None:
        return
    days = state.settings().feedback_days
    st.markdown(f"**Feedback on {md(frame.name)}** (last {days} days, from the API's database)")
    try:
        summary = state.client().feedback_summary(frame.name, days=days)
    except ApiError as error:
        if error.feedback_off:
            st.caption(f"No feedback: {md(error.message)}")
        else:
            layout.error_banner(error, f"reading the feedback summary of {frame.name}")
        return
    versions = feedback.versions_frame(summary)
    judged = int(versions["judged"].sum()) if not versions.empty else 0
    right = int(versions["right"].sum()) if not versions.empty else 0
    cols = st.columns(4)
    cols[0].metric("Feedback given", f"{summary.total_feedback:,}")
    cols[1].metric("Judged (with a verdict)", f"{judged:,}")
    cols[2].metric("Judged wrong", f"{judged - right:,}")
    cols[3].metric(
        "Agreement (right / judged)", feedback.agreement_text(right / judged if judged else None)
    )
    if versions.empty:
        st.caption("No verdicts yet: colleagues give them on the Predict page.")
        return
    left, right_col = st.columns(2)
    with left:
        shown = versions.assign(agreement=versions["agreement"].map(feedback.agreement_text))
        st.dataframe(shown, hide_index=True)
    daily = feedback.daily_frame(summary)
    if not daily.empty:
        with right_col:
            st.altair_chart(charts.agreement(daily), width="stretch")


def _answer_text(answer: dict[str, object]) -> str:
    """A v1 prediction object in a few characters: its label, or its value(s)."""
    if "label" in answer:
        return str(answer["label"])
    if "value" in answer:
        return (
            f"{answer['value']:,.4g}"
            if isinstance(answer["value"], float)
            else str(answer["value"])
        )
    values = answer.get("values")
    if isinstance(values, dict):
        return ", ".join(f"{k} {v:,.4g}" for k, v in values.items() if isinstance(v, float))
    return str(answer)


def _shadow() -> None:
    """The selected model's shadow version on live traffic: how often it disagrees, and where."""
    frame = layout.selection()
    if frame.name is None:
        return
    try:
        report = state.client().shadow(frame.name)
    except ApiError as error:
        layout.error_banner(error, f"reading the shadow report of {frame.name}")
        return
    shadow = report.shadow
    st.markdown(f"**Shadow scoring of {md(frame.name)}** (this API pod, since it started)")
    if shadow is None:
        st.caption(
            "No other version scores this model's traffic. Name one with `MODEL_API_SHADOW` "
            "(the chart's `api.shadow`) to see where it would answer otherwise."
        )
        return
    if not shadow.active:
        st.warning(
            f"Version {md(shadow.version)} does not shadow this model: {md(shadow.problem or '')}",
            icon=":material/warning:",
        )
        return
    cols = st.columns(4)
    cols[0].metric("Shadow version", f"{md(shadow.version)} beside {md(shadow.serving_version)}")
    cols[1].metric("Rows compared", f"{shadow.compared:,}")
    cols[2].metric("Disagreed", f"{shadow.disagreed:,}")
    cols[3].metric(
        "Disagreement rate",
        feedback.agreement_text(shadow.disagreement_rate),
        help="A different class, or (regression) answers further apart than "
        + ("the tolerance" if shadow.tolerance is None else f"{shadow.tolerance:,.4g}"),
    )
    if not report.disagreements:
        st.caption("No disagreement stored yet.")
        return
    rows = [
        {
            "time": row.created_at,
            "prediction id": row.prediction_id or "(not recorded)",
            f"answer (v{row.version})": _answer_text(row.answer),
            f"shadow (v{row.shadow_version})": _answer_text(row.shadow_answer),
            **{f"input: {k}": v for k, v in row.inputs.items()},
        }
        for row in report.disagreements
    ]
    st.markdown("Newest disagreements (look a prediction id up on the Feedback page):")
    st.dataframe(pd.DataFrame(rows), hide_index=True)


def live() -> None:
    settings = state.settings()
    prometheus = state.prometheus()
    figures = _from_one_pod() if prometheus is None else _from_prometheus(prometheus, settings)
    if figures is None:
        return
    st.caption(figures.source)
    _headline(figures)
    _charts(figures)
    _classes(figures.newest)
    _agreement()
    _shadow()
    _tables(figures.newest)


st.title("Monitoring")
refresh = state.settings().monitoring_refresh_seconds
source = "Prometheus" if state.settings().prometheus_base_url else "the model API's /metrics"
st.markdown(f"Live figures of the model API from {source}, refreshed every {refresh:g} s.")
st.fragment(run_every=refresh)(live)()
