"""Evaluate: the selected model judged on a labelled file, or on the feedback so far; the
headline, the confusion matrix or the residuals, calibration, per-class metrics, the worst
slices in words, and the runs stored before."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from model_contract import EvaluationResponse, ModelMetadata

from model_ui import charts, csvbatch, evaluation, layout, progress, state
from model_ui.client import ApiError
from model_ui.text import md

RESULT = evaluation.RESULT
FILE, FEEDBACK = "A labelled CSV file", "The feedback so far"


def _show(result: EvaluationResponse) -> None:
    headline = result.headline
    name = evaluation.HEADLINE_NAMES[headline.name]
    cols = st.columns(4)
    cols[0].metric(name, evaluation.metric_text(headline.name, headline.value), border=True)
    cols[1].metric("Rows judged", f"{result.scored:,}", border=True)
    cols[2].metric("Rows that failed", f"{result.failed:,}", border=True)
    source = "the feedback so far" if result.source == "feedback" else "the file"
    cols[3].metric("Version", md(result.version), border=True)
    st.caption(
        f"Version {md(result.version)} of {md(result.model)} on {source} "
        f"(target {md(result.target)}; {result.rows:,} rows read). Metrics by scikit-learn."
        + ("" if result.id is None else f" Stored as run {md(result.id)}.")
    )
    for note in result.notes:
        st.info(md(note), icon=":material/info:")
    worse = evaluation.worse_slices(result)
    if worse:
        st.subheader("Where it does worst")
        st.markdown(
            "\n".join(
                f"- {md(evaluation.slice_sentence(s, headline))}"
                for s in worse[: evaluation.WORST_SENTENCES]
            )
        )
    if result.classification is not None:
        _classification(result)
    elif result.regression is not None:
        _regression(result)
    if result.slices:
        with st.expander(f"Every slice ({len(result.slices)}), worst first"):
            frame = pd.DataFrame(
                {
                    "slice": [evaluation.slice_name(s) for s in result.slices],
                    "metric": [s.metric for s in result.slices],
                    "rows": [s.rows for s in result.slices],
                    "difference": [s.difference for s in result.slices],
                }
            )
            assert headline.value is not None
            st.altair_chart(charts.slices(frame, name, headline.value), width="stretch")
            st.dataframe(frame, hide_index=True)
    if result.failed_rows:
        with st.expander(
            f"Rows that failed ({result.failed:,}; the first {len(result.failed_rows)})"
        ):
            st.dataframe(
                pd.DataFrame([{"row": f.row, "error": f.error} for f in result.failed_rows]),
                hide_index=True,
            )


def _classification(result: EvaluationResponse) -> None:
    judged = result.classification
    assert judged is not None
    cols = st.columns(3)
    cols[0].metric("Balanced accuracy", f"{judged.balanced_accuracy:.1%}")
    cols[1].metric("Log loss", "n/a" if judged.log_loss is None else f"{judged.log_loss:.4f}")
    cols[2].metric("ROC AUC", "n/a" if judged.roc_auc is None else f"{judged.roc_auc:.4f}")
    left, right = st.columns(2)
    with left:
        st.subheader("Confusion matrix")
        st.altair_chart(charts.confusion(judged.confusion_matrix, judged.labels))
    with right:
        st.subheader("Calibration")
        if judged.calibration is None:
            st.caption("This model gives no probabilities: nothing to calibrate.")
        else:
            calibration = judged.calibration
            if calibration.kind == "positive_class":
                x_title = f"predicted P({calibration.label})"
                y_title = f"share of rows that were {calibration.label}"
            else:
                x_title, y_title = "probability of the predicted class", "share predicted right"
            bins = [b.model_dump() for b in calibration.bins]
            st.altair_chart(charts.calibration(bins, x_title, y_title), width="stretch")
    st.subheader("Per class")
    st.dataframe(
        pd.DataFrame([c.model_dump() for c in judged.per_class]),
        hide_index=True,
        column_config={
            "precision": st.column_config.NumberColumn(format="%.3f"),
            "recall": st.column_config.NumberColumn(format="%.3f"),
            "f1": st.column_config.NumberColumn(format="%.3f"),
        },
    )


def _regression(result: EvaluationResponse) -> None:
    judged = result.regression
    assert judged is not None
    cols = st.columns(3)
    cols[0].metric("MAE", f"{judged.mae:,.4g}")
    cols[1].metric("R²", "n/a" if judged.r2 is None else f"{judged.r2:.3f}")
    if judged.output is not None:
        cols[2].metric("Output judged", md(judged.output))
    st.subheader("Residuals (actual − predicted)")
    st.altair_chart(charts.residuals(judged.residual_quantiles), width="stretch")
    if judged.intervals:
        st.subheader("Interval coverage")
        st.dataframe(pd.DataFrame([i.model_dump() for i in judged.intervals]), hide_index=True)
    if judged.quantiles:
        st.subheader("Per quantile")
        st.dataframe(pd.DataFrame([q.model_dump() for q in judged.quantiles]), hide_index=True)


def _from_file(metadata: ModelMetadata) -> tuple[str, EvaluationResponse] | None:
    left, right = st.columns([3, 1])
    uploaded = left.file_uploader(
        "Labelled CSV file",
        type=["csv", "txt"],
        key="evaluate_file",
        help="The features and a column with the actual answers.",
    )
    delimiter_name = right.selectbox(
        "Delimiter",
        list(csvbatch.DELIMITERS),
        key="evaluate_delimiter",
        help="auto: guessed from the header",
    )
    if uploaded is None:
        return None
    data = uploaded.getvalue()
    try:
        upload = csvbatch.parse_upload(data, delimiter_name)
    except ValueError as exc:
        st.error(f"**{md(uploaded.name)} cannot be used:** {md(exc)}", icon=":material/error:")
        return None
    check = csvbatch.check_columns(upload.header, metadata)
    if check.missing:
        st.error(
            f"**{md(uploaded.name)} lacks the feature column(s): "
            f"{', '.join(md(m) for m in check.missing)}.** Columns found: "
            + ", ".join(md(c) for c in upload.header),
            icon=":material/error:",
        )
        return None
    candidates = [c for c in upload.header if c not in metadata.feature_names]
    if not candidates:
        st.error(
            f"**{md(uploaded.name)} has no column besides the features:** add the actual "
            f"{md(metadata.target)} of each row to evaluate the model on it.",
            icon=":material/error:",
        )
        return None
    target = st.selectbox(
        "Column holding the actual answer",
        candidates,
        index=candidates.index(metadata.target) if metadata.target in candidates else 0,
        key="evaluate_target",
    )
    key = f"{metadata.name}@{metadata.version}:{uploaded.file_id}:{target}"
    rows = f"{len(upload.rows):,} rows"
    if not st.button(f"Evaluate on {rows}", type="primary", icon=":material/fact_check:"):
        return None
    try:
        with progress.judging(len(upload.rows), f"Evaluating version {metadata.version}") as shown:
            result = state.client().evaluate_csv(
                metadata.name, metadata.version, data, target, upload.delimiter, shown
            )
    except ApiError as error:
        layout.error_banner(error, f"evaluating {metadata.name} on {uploaded.name}", retry=False)
        return None
    return key, result


def _from_feedback(metadata: ModelMetadata) -> tuple[str, EvaluationResponse] | None:
    st.caption(
        "Every prediction colleagues judged (on the Predict page, or ground truth sent from "
        f"the Batch page) is scored again by version {md(metadata.version)} and judged against "
        "the actual answer they gave."
    )
    if not st.button("Evaluate on the feedback so far", type="primary", icon=":material/reviews:"):
        return None
    with st.status("Evaluating on the feedback…") as status:
        try:
            result = state.client().evaluate_feedback(metadata.name, metadata.version)
        except ApiError as error:
            status.update(label="The evaluation failed", state="error")
            layout.error_banner(error, f"evaluating {metadata.name} on its feedback", retry=False)
            return None
        status.update(label=f"Evaluated {result.scored:,} judged predictions", state="complete")
    return f"{metadata.name}@{metadata.version}:feedback:{result.id}", result


def _past_runs(metadata: ModelMetadata) -> None:
    st.subheader("Past runs")
    try:
        runs = state.client().evaluations(metadata.name).evaluations
    except ApiError as error:
        if error.feedback_off:
            st.caption(f"Runs are not stored on this API: {md(error.message)}")
        else:
            layout.error_banner(
                error, f"reading the evaluation runs of {metadata.name}", retry=False
            )
        return
    if not runs:
        st.caption("None yet: runs are stored as they are made.")
        return
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "when (UTC)": r.created_at.replace("T", " ")[:19],
                    "version": r.version,
                    "source": r.source,
                    "rows": r.rows,
                    "failed": r.failed,
                    evaluation.HEADLINE_NAMES[r.headline.name]: r.headline.value,
                    "file SHA-256": r.data_sha256[:12],
                }
                for r in runs
            ]
        ),
        hide_index=True,
    )
    labels = {r.id: evaluation.run_label(r) for r in runs if r.id is not None}
    picked = st.selectbox(
        "Show a past run",
        list(labels),
        index=None,
        format_func=labels.__getitem__,
        key="evaluate_past_run",
        placeholder="Pick a run",
    )
    if picked is not None and st.button("Show it", icon=":material/history:"):
        try:
            st.session_state[RESULT] = (f"run:{picked}", state.client().evaluation(picked))
        except ApiError as error:
            layout.error_banner(error, "reading the evaluation run", retry=False)


metadata = layout.selected_model()
st.title(f"Evaluate · {md(metadata.name)}")
st.caption(
    f"Version {md(metadata.version)}: how often is it right, and where is it weakest? Judge it "
    "on rows whose actual answers you know."
)
source = st.radio("Judge it on", [FILE, FEEDBACK], horizontal=True, key="evaluate_source")
made = _from_file(metadata) if source == FILE else _from_feedback(metadata)
if made is not None:
    st.session_state[RESULT] = made
stored = st.session_state.get(RESULT)
if isinstance(stored, tuple) and stored[1].model == metadata.name:
    _show(stored[1])
_past_runs(metadata)
