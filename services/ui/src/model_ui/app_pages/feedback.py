"""Feedback: what colleagues said about the selected model's answers, and the file to retrain on."""

from __future__ import annotations

from datetime import date, timedelta

import streamlit as st
from model_contract import ModelMetadata

from model_ui import charts, feedback, layout, state
from model_ui.client import ApiError
from model_ui.schemas import FeedbackPage, FeedbackSummary
from model_ui.text import md

ALL_VERSIONS = "All versions"
VERDICTS = {"Any verdict": None, "Right": "right", "Wrong": "wrong"}
CURSORS = "feedback_cursors"  # (filters, [cursor of each page read so far])


def unavailable(error: ApiError) -> bool:
    """The API records no predictions (log off) or its database is down: say so, calmly."""
    if not error.feedback_off:
        return False
    st.info(
        f"**Feedback is not available now:** {md(error.message)}",
        icon=":material/cloud_off:",
    )
    return True


def _filters(metadata: ModelMetadata) -> tuple[str | None, str | None, date | None, date | None]:
    days = state.settings().feedback_days
    today = date.today()
    listing = layout.selection().listing
    models = listing.models if listing is not None else []
    served = next((m.versions for m in models if m.name == metadata.name), metadata.versions)
    cols = st.columns([1, 1, 2])
    version = cols[0].selectbox("Version", [ALL_VERSIONS, *served], key="feedback_version")
    verdict = cols[1].selectbox("Verdict", list(VERDICTS), key="feedback_verdict")
    picked = cols[2].date_input(
        "Judged between",
        value=(today - timedelta(days=days - 1), today),
        max_value=today,
        key="feedback_judged_between",
        help="Days (UTC) on which the feedback was given or last changed.",
    )
    span = list(picked) if isinstance(picked, tuple | list) else [picked]
    since = span[0] if span else None
    until = span[1] if len(span) > 1 else since
    return (None if version == ALL_VERSIONS else version), VERDICTS[verdict], since, until


def _agreement(metadata: ModelMetadata, version: str | None) -> bool:
    """Agreement per version and its course over the days; False when feedback is off."""
    days = state.settings().feedback_days
    try:
        summary: FeedbackSummary = state.client().feedback_summary(
            metadata.name, version=version, days=days
        )
    except ApiError as error:
        if not unavailable(error):
            layout.error_banner(error, f"reading the feedback summary of {metadata.name}")
        return False
    st.subheader("Agreement: judged right / judged")
    if not summary.versions:
        st.caption(f"No verdicts in the last {days} days.")
        return True
    cols = st.columns(min(len(summary.versions), 4) + 1)
    cols[0].metric(f"Feedback ({days} days)", f"{summary.total_feedback:,}")
    for col, line in zip(cols[1:], summary.versions, strict=False):
        col.metric(
            f"Version {md(line.version)}",
            feedback.agreement_text(line.agreement),
            f"{line.judged:,} judged",
            delta_color="off",
            delta_arrow="off",
        )
    daily = feedback.daily_frame(summary)
    if not daily.empty:
        st.altair_chart(charts.agreement(daily), width="stretch")
    return True


def _page(
    metadata: ModelMetadata,
    version: str | None,
    verdict: str | None,
    since: date | None,
    until: date | None,
) -> FeedbackPage | None:
    """The page of judged predictions the Previous / Next buttons are on (newest first)."""
    filters = (metadata.name, version, verdict, since, until)
    stored = st.session_state.get(CURSORS)
    if not isinstance(stored, tuple) or stored[0] != filters:
        stored = (filters, [None])
        st.session_state[CURSORS] = stored
    cursors: list[str | None] = stored[1]
    try:
        page = state.client().feedback_page(
            metadata.name,
            version=version,
            verdict=verdict,
            since=since,
            until=until,
            limit=state.settings().feedback_page_rows,
            cursor=cursors[-1],
        )
    except ApiError as error:
        if not unavailable(error):
            layout.error_banner(error, f"reading the feedback on {metadata.name}")
        return None
    return page


def _judged(metadata: ModelMetadata, page: FeedbackPage) -> None:
    cursors: list[str | None] = st.session_state[CURSORS][1]
    st.subheader("Judged predictions")
    if not page.items:
        st.info(
            "No feedback matches these filters yet. Colleagues give it on the Predict page; "
            "applications post it to `/v1/feedback` with a prediction id.",
            icon=":material/inbox:",
        )
    else:
        first = (len(cursors) - 1) * state.settings().feedback_page_rows
        st.caption(f"Feedback {first + 1:,} to {first + len(page.items):,}, newest first.")
        st.dataframe(
            feedback.items_frame(page.items, metadata.feature_names),
            hide_index=True,
        )
    back, forward, _ = st.columns([1, 1, 4])
    if back.button("Newer", disabled=len(cursors) < 2, icon=":material/chevron_left:"):
        cursors.pop()
        st.rerun()
    if forward.button("Older", disabled=page.next_cursor is None, icon=":material/chevron_right:"):
        cursors.append(page.next_cursor)
        st.rerun()
    features = metadata.feature_names
    comments = [item for item in page.items if item.comment]
    if comments:
        st.subheader("Comments")
        for item in comments:
            with st.container(border=True):
                when = item.updated_at or item.created_at
                stamp = f" · {when:%Y-%m-%d %H:%M} UTC" if when else ""
                st.caption(
                    f"{md(item.author)} on version {md(item.version)} · predicted "
                    f"{md(feedback.predicted(item.output))} · verdict {item.verdict or 'none'} · "
                    f"actual {md(feedback.actual_text(item.actual))}"
                    f"{stamp}"
                )
                st.markdown(md(item.comment))
                st.caption("Inputs: " + md(feedback.inputs_text(item.inputs, features)))


def _export(
    metadata: ModelMetadata,
    version: str | None,
    verdict: str | None,
    since: date | None,
    until: date | None,
) -> None:
    try:
        data = state.client().feedback_export(
            metadata.name, version=version, verdict=verdict, since=since, until=until
        )
    except ApiError as error:
        layout.error_banner(error, f"exporting the feedback on {metadata.name}", retry=False)
        return
    st.download_button(
        "Download the feedback as CSV (training-set shape)",
        data,
        file_name=f"{metadata.name}-feedback.csv",
        mime="text/csv",
        type="primary",
        icon=":material/download:",
        help="Each judged prediction's inputs, the actual answer in the target column, the "
        "model's answer, the verdict and the comment: it appends to the training set as is.",
    )


metadata = layout.selected_model()
st.title(f"Feedback · {md(metadata.name)}")
st.caption(
    "What colleagues and applications said about this model's answers: judged predictions with "
    "their inputs, the agreement per version, the comments, and the file to retrain on."
)
version, verdict, since, until = _filters(metadata)
if _agreement(metadata, version):
    page = _page(metadata, version, verdict, since, until)
    if page is not None:
        _export(metadata, version, verdict, since, until)
        _judged(metadata, page)
