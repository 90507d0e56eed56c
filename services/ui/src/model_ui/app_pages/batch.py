"""Batch: score a CSV through the API's CSV endpoint in chunks; download the result."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st
from model_contract import ModelMetadata

from model_ui import csvbatch, evaluation, feedback, layout, progress, state
from model_ui.client import ApiError
from model_ui.schemas import Actual
from model_ui.text import md

# Stored as (model@version:file id, BatchResult), not as a BatchResult alone: Streamlit runs a
# page file afresh each time, so the class differs between runs and isinstance() would fail.
RESULT = "batch_result"
SENT = "ground_truth_sent"  # (model@version:file id:column, Sent)


@dataclass(frozen=True)
class Sent:
    """What became of the ground truth sent for one scored file."""

    column: str
    created: int
    updated: int
    failed: int
    first_failure: ApiError | None


@dataclass(frozen=True)
class BatchResult:
    file_name: str
    frame: pd.DataFrame
    scored_rows: int
    total_rows: int
    failure: ApiError | None
    ignored: list[str]  # the columns the API said it ignored


def _score(metadata: ModelMetadata, upload: csvbatch.Upload, file_name: str) -> BatchResult:
    """Send the rows chunk by chunk with a progress bar; stop at the first refused chunk."""
    client, size = state.client(), state.settings().batch_chunk_rows
    total = len(upload.rows)
    bar = st.progress(0.0, text=f"Scoring {total:,} rows…")
    header: list[str] = []
    scored: list[list[str]] = []
    ignored: list[str] = []
    failure = None
    done = 0
    for offset, rows in csvbatch.chunks(upload.rows, size):
        try:
            answer = client.predict_csv(
                metadata.name, metadata.version, csvbatch.to_csv(upload.header, rows)
            )
            header, lines = csvbatch.parse_scores(answer.text, offset)
            ignored = ignored or answer.ignored_columns  # every chunk has the same header
        except ApiError as error:
            failure = error
            break
        except ValueError as exc:
            failure = ApiError(client.base_url, str(exc), kind="invalid_response")
            break
        scored.extend(lines)
        done = offset + len(rows)
        bar.progress(done / total, text=f"Scored {done:,} of {total:,} rows")
    bar.empty()
    frame = csvbatch.assemble(upload, header, scored) if header else pd.DataFrame()
    return BatchResult(file_name, frame, done, total, failure, ignored)


def _show(metadata: ModelMetadata, result: BatchResult) -> None:
    if result.failure is not None:
        layout.error_banner(
            result.failure,
            f"scoring rows {result.scored_rows + 1:,} onwards (rows before it are scored below)",
            retry=False,
        )
    if result.frame.empty:
        return
    rejected = result.frame[result.frame["error"] != ""]
    accepted = len(result.frame) - len(rejected)
    st.success(f"Scored {accepted:,} of {result.total_rows:,} rows; {len(rejected):,} rejected.")
    if result.ignored:
        st.info(
            f"The API ignored the column(s) {_names(result.ignored)}: the model does not take "
            "them. They stay in the download.",
            icon=":material/visibility_off:",
        )
    if metadata.task != "regression" and not metadata.probabilities:
        st.caption(
            f"This model gives a class without probabilities (its objective, "
            f"{md(metadata.objective or 'binary:hinge')}, learns which side of a boundary a row "
            "falls on), so each row has a label and no `proba_` columns."
        )
    stem = result.file_name.rsplit(".", 1)[0]
    st.download_button(
        "Download the scored CSV",
        result.frame.to_csv(index=False).encode("utf-8"),
        file_name=f"{stem}-scored-{metadata.name}-v{metadata.version}.csv",
        mime="text/csv",
        type="primary",
        icon=":material/download:",
    )
    columns = list(result.frame.columns)
    outputs = [c for c in columns if c in ("label", "value") or c.startswith("value_")]
    probabilities = [c for c in columns if c.startswith("proba_")]
    first = ["row", *outputs, *probabilities, "error"]
    order = [*first, *(c for c in columns if c not in first)]
    st.dataframe(result.frame, hide_index=True, column_order=order)
    if len(rejected):
        st.subheader(f"Rows the API rejected ({len(rejected):,})")
        st.dataframe(rejected[["row", "error"]], hide_index=True)


def _send(rows: list[tuple[str, Actual]], column: str, author: str) -> Sent:
    """One POST /v1/feedback per row (the API infers right or wrong from the actual)."""
    client = state.client()
    created = updated = failed = 0
    first: ApiError | None = None
    bar = st.progress(0.0, text=f"Sending {len(rows):,} actual answers…")
    for done, (prediction_id, actual) in enumerate(rows, start=1):
        try:
            saved = client.feedback(prediction_id, actual=actual, author=author)
        except ApiError as error:
            failed += 1
            first = first or error
            if error.kind != "http" or error.code == "feedback_unavailable":
                failed += len(rows) - done  # the API is gone or records nothing: stop here
                break
        else:
            created += saved.created
            updated += not saved.created
        bar.progress(done / len(rows), text=f"Sent {done:,} of {len(rows):,}")
    bar.empty()
    return Sent(column, created, updated, failed, first)


def _ground_truth(
    metadata: ModelMetadata, upload: csvbatch.Upload, result: BatchResult, key: str
) -> None:
    """Send the file's actual answers as feedback on the predictions just made, in one click."""
    if result.frame.empty:
        return
    st.subheader("Send the actual answers as ground truth")
    if "prediction_id" not in result.frame.columns:
        st.caption(
            "The API does not record predictions (its prediction log is off), so these answers "
            "cannot be judged."
        )
        return
    if not feedback.takes_actual(metadata):
        st.caption("This model answers several values per row: send feedback through the API.")
        return
    candidates = [c for c in upload.header if c not in metadata.feature_names]
    if not candidates:
        st.caption(
            f"Add a column holding the actual {md(metadata.target)} to the file (the model's "
            "target name, or any other) to send it back as ground truth."
        )
        return
    left, right = st.columns(2)
    column = left.selectbox(
        "Column holding the actual answer",
        candidates,
        index=candidates.index(metadata.target) if metadata.target in candidates else None,
        key=f"actual_column:{key}",
        placeholder="Pick the column with the real answers",
    )
    with right:
        author = state.author_input()
    if column is None:
        return
    truth = feedback.ground_truth(upload, result.frame, column, metadata)
    skipped = [
        (truth.blank, "with the column empty"),
        (truth.unscored, "rejected by the API"),
        (truth.not_numbers, "whose actual is not a number"),
    ]
    notes = ", ".join(f"{n:,} {why}" for n, why in skipped if n)
    st.caption(
        f"{len(truth.rows):,} rows have an actual {md(metadata.target)} in {md(column)}"
        + (f"; left out: {notes}." if notes else ".")
        + " The API judges each right or wrong against the model's answer; sending again "
        "updates your earlier feedback."
    )
    sent_key = f"{key}:{column}"
    clicked = st.button(
        f"Send {len(truth.rows):,} rows as ground truth",
        disabled=not truth.rows,
        icon=":material/fact_check:",
    )
    if clicked and not author:
        st.warning("Say who you are (your name) first: feedback records who gave it.")
    elif clicked:
        st.session_state[SENT] = (sent_key, _send(truth.rows, column, author))
    stored = st.session_state.get(SENT)
    if isinstance(stored, tuple) and stored[0] == sent_key:
        sent: Sent = stored[1]
        if sent.created or sent.updated:
            st.success(
                f"Sent {sent.created + sent.updated:,} actual answers from {md(sent.column)} as "
                f"ground truth: {sent.created:,} new, {sent.updated:,} updated. See them on the "
                "Feedback page.",
                icon=":material/task_alt:",
            )
        if sent.first_failure is not None:
            layout.error_banner(
                sent.first_failure,
                f"sending ground truth ({sent.failed:,} rows not saved; the first failure)",
                retry=False,
            )


def _offer_evaluation(metadata: ModelMetadata, data: bytes, upload: csvbatch.Upload) -> None:
    """A file that holds the model's target column can be judged as it is: say so, and do it
    in one click (the details are on the Evaluate page)."""
    if metadata.target not in upload.header:
        return
    st.info(
        f"This file has the model's target column, {md(metadata.target)}: it can be evaluated "
        "(how often the model is right, and where it is weakest).",
        icon=":material/fact_check:",
    )
    if not st.button(f"Evaluate on its {md(metadata.target)} column", icon=":material/fact_check:"):
        return
    try:
        with progress.judging(len(upload.rows), "Evaluating") as shown:
            result = state.client().evaluate_csv(
                metadata.name, metadata.version, data, metadata.target, upload.delimiter, shown
            )
    except ApiError as error:
        layout.error_banner(error, f"evaluating {metadata.name} on the file", retry=False)
        return
    st.session_state[evaluation.RESULT] = (f"batch:{result.id}", result)
    headline = result.headline
    st.success(
        f"{evaluation.HEADLINE_NAMES[headline.name]}: "
        f"{evaluation.metric_text(headline.name, headline.value)} on {result.scored:,} rows "
        f"({result.failed:,} failed). The confusion matrix, calibration and the worst slices "
        "are on the Evaluate page.",
        icon=":material/task_alt:",
    )
    st.page_link(
        "app_pages/evaluate.py", label="Open the Evaluate page", icon=":material/fact_check:"
    )


def _names(columns: list[str]) -> str:
    """Column names from the file or the bundle, comma-separated, shown as text."""
    return ", ".join(md(name) for name in columns)


metadata = layout.selected_model()
st.title(f"Batch · {md(metadata.name)}")
st.caption(
    f"Version {md(metadata.version)}. Upload a CSV whose header names the features: "
    + _names(metadata.feature_names)
    + ". Empty cells are missing values. Rows go to the API in chunks of "
    f"{state.settings().batch_chunk_rows:,}."
)
st.download_button(
    "Template CSV with one typical row",
    csvbatch.template_csv(metadata, dict(state.form_values(metadata))),
    file_name=f"{metadata.name}-template.csv",
    mime="text/csv",
    icon=":material/description:",
)
left, right = st.columns([3, 1])
uploaded = left.file_uploader("CSV file", type=["csv", "txt"], key="batch_file")
delimiter = right.selectbox(
    "Delimiter", list(csvbatch.DELIMITERS), help="auto: guessed from the header"
)
if uploaded is None:
    st.stop()

try:
    upload = csvbatch.parse_upload(uploaded.getvalue(), delimiter)
except ValueError as exc:
    st.error(f"**{md(uploaded.name)} cannot be used:** {md(exc)}", icon=":material/error:")
    st.stop()

check = csvbatch.check_columns(upload.header, metadata)
if check.missing:
    st.error(
        f"**{md(uploaded.name)} lacks the feature column(s): {_names(check.missing)}.** "
        "Nothing was sent. Columns found: " + _names(upload.header),
        icon=":material/error:",
    )
if check.duplicated:
    st.error(f"**Columns appear twice: {_names(check.duplicated)}.** Nothing was sent.")
if check.unknown:
    st.warning(
        f"The model does not know the column(s) {_names(check.unknown)}; the API ignores them "
        "(they stay in the download)."
    )
if not check.ok:
    st.stop()
if not upload.rows:
    st.warning(f"{md(uploaded.name)} has a header but no rows.")
    st.stop()

rows_text = f"{len(upload.rows):,} row{'s' if len(upload.rows) != 1 else ''}"
st.markdown(f"**{rows_text}** · columns match the model.")
st.dataframe(
    pd.DataFrame([dict(zip(upload.header, r, strict=False)) for r in upload.rows[:5]]),
    hide_index=True,
)
_offer_evaluation(metadata, uploaded.getvalue(), upload)
batch_key = f"{metadata.name}@{metadata.version}:{uploaded.file_id}"
if st.button(f"Score {rows_text}", type="primary", icon=":material/play_arrow:"):
    st.session_state[RESULT] = (batch_key, _score(metadata, upload, uploaded.name))

stored = st.session_state.get(RESULT)
if isinstance(stored, tuple) and stored[0] == batch_key:
    _show(metadata, stored[1])
    _ground_truth(metadata, upload, stored[1], batch_key)
