"""Monitoring: live figures from the API's /metrics, refreshed on their own."""

from __future__ import annotations

import time
from datetime import datetime

import pandas as pd
import streamlit as st

from model_ui import charts, layout, prom, state
from model_ui.client import ApiError

HISTORY = "monitoring_history"
KEEP = 120  # scrapes kept per session for the charts

Read = tuple[prom.Snapshot, prom.Window | None]  # a scrape and the window since the one before


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


def _predictions(snapshot: prom.Snapshot) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"model": f"{model} v{version}", "label": label, "count": count}
            for (model, version, label), count in sorted(snapshot.predictions.items())
        ],
        columns=["model", "label", "count"],
    )


def live() -> None:
    client = state.client()
    try:
        text = client.metrics_text()
    except ApiError as error:
        layout.error_banner(error, "reading the API's /metrics")
        return
    reads = _history(client.base_url)
    newest = prom.parse(text, time.time())
    recent = prom.window(newest, reads[-1][0]) if reads else None  # once per read, kept
    reads.append((newest, recent))
    del reads[:-KEEP]
    overall = newest.all_latency()

    st.caption(
        f"Read from {client.base_url}/metrics at {datetime.fromtimestamp(newest.at):%H:%M:%S}; "
        "rates and recent latency are between the last two reads; totals since the API started."
    )
    cols = st.columns(4)
    cols[0].metric("Requests/s", "–" if recent is None else f"{recent.request_rate:.2f}")
    cols[1].metric("Errors/s (4xx+5xx)", "–" if recent is None else f"{recent.error_rate:.2f}")
    cols[2].metric("In flight", f"{newest.in_flight:.0f}")
    cols[3].metric("Ready", {None: "?", 1.0: "yes"}.get(newest.ready, "no"))
    cols = st.columns(4)
    cols[0].metric("Requests (total)", f"{newest.total_requests:,.0f}")
    cols[1].metric("Errors (total)", f"{newest.failed_requests:,.0f}")
    for col, q in zip(cols[2:], (0.5, 0.95), strict=True):
        now = recent.latency.get(q) if recent else None
        col.metric(
            f"p{q * 100:g} latency",
            _ms(now if now is not None else prom.quantile(q, overall)),
            help="Between the last two reads when there was traffic, else since the API started.",
        )

    rates, latency = _series(reads)
    left, right = st.columns(2)
    with left:
        st.markdown("**Request and error rate**")
        if rates.empty:
            st.caption("The chart starts after the next refresh.")
        else:
            st.altair_chart(charts.lines(rates, "per second"), width="stretch")
    with right:
        st.markdown("**Latency percentiles**")
        if latency.empty:
            st.caption("No requests between reads yet.")
        else:
            st.altair_chart(charts.lines(latency, "milliseconds"), width="stretch")

    st.markdown("**Predictions by class** (since the API started)")
    predictions = _predictions(newest)
    if predictions.empty:
        st.caption("No classifier predictions yet.")
    else:
        st.altair_chart(charts.predicted_classes(predictions), width="stretch")
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


st.title("Monitoring")
refresh = state.settings().monitoring_refresh_seconds
st.markdown(f"Live figures from the model API's Prometheus metrics, refreshed every {refresh:g} s.")
st.fragment(run_every=refresh)(live)()
