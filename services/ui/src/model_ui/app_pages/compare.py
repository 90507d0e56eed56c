"""Compare: the selected version beside another (of this model, or of a model with the same
features), on the form (both answers and both explanations for the same inputs) and on a
labelled file (both metric sets, the difference with its interval, the rows where they differ)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st
from model_contract import ComparisonResponse, ExplainResponse, ModelMetadata, Scalar

from model_ui import charts, csvbatch, evaluation, layout, progress, promotion, state
from model_ui.client import ApiError
from model_ui.form import feature_inputs
from model_ui.schemas import IdentifiedPredictions
from model_ui.text import md

FORM, FILE = "On the form", "On a labelled file"
FORM_RESULT = "compare_form"  # (what was compared, [Answer, Answer])
FILE_RESULT = "compare_file"  # (what was compared, ComparisonResponse)


@dataclass(frozen=True)
class Answer:
    metadata: ModelMetadata
    prediction: IdentifiedPredictions
    explanation: ExplainResponse


def _name(metadata: ModelMetadata) -> str:
    return f"{metadata.name} version {metadata.version}"


def _candidates(metadata: ModelMetadata) -> list[ModelMetadata]:
    """Every other served version of this model, and every version of another model with the
    same features and answers (what compare accepts)."""
    listing = layout.selection().listing
    found = []
    for model in listing.models if listing is not None else []:
        for version in model.versions:
            if (model.name, version) == (metadata.name, metadata.version):
                continue
            try:
                other = state.metadata(model.name, version)
            except ApiError:
                continue
            if evaluation.same_features(metadata, other):
                found.append(other)
    return found


def _answer_of(metadata: ModelMetadata, row: dict[str, Scalar]) -> Answer:
    client = state.client()
    output = metadata.quantiles[len(metadata.quantiles) // 2].name if metadata.quantiles else None
    return Answer(
        metadata,
        client.predict(metadata.name, metadata.version, [row]),
        client.explain(metadata.name, metadata.version, [row], output=output),
    )


def _show_answer(answer: Answer, row: dict[str, Scalar]) -> None:
    metadata = answer.metadata
    st.subheader(md(_name(metadata)))
    predicted = answer.prediction.predictions[0]
    target = md(metadata.target)
    if predicted.values is not None:
        st.dataframe(
            pd.DataFrame([{"output": k, "value": v} for k, v in predicted.values.items()]),
            hide_index=True,
        )
    elif predicted.value is not None:
        st.metric(f"Predicted {target}", f"{predicted.value:,.2f}")
    else:
        probability = (predicted.probabilities or {}).get(predicted.label or "")
        st.metric(
            f"Predicted {target}",
            md(predicted.label or "?"),
            None if probability is None else f"{probability:.1%} probability",
            delta_color="off",
            delta_arrow="off",
        )
        if predicted.probabilities:
            st.altair_chart(
                charts.probabilities(predicted.probabilities, predicted.label), width="stretch"
            )
    explained = answer.explanation.explanations[0]
    space = answer.explanation.space_name or answer.explanation.output_space or "the margin"
    st.markdown(f"**Why** (contributions to {md(space)})")
    frame = charts.contribution_frame(explained.contributions, row)
    st.altair_chart(charts.contributions(frame, "contribution"), width="stretch")


def _on_the_form(metadata: ModelMetadata, other: ModelMetadata) -> None:
    values = feature_inputs(metadata, state.form_values(metadata))
    state.remember_form(metadata, values)
    key = (metadata.name, metadata.version, other.name, other.version, tuple(values.items()))
    if st.button("Compare the two answers", type="primary", icon=":material/compare_arrows:"):
        try:
            with st.spinner("Asking the model API…"):
                answers = [_answer_of(metadata, values), _answer_of(other, values)]
            st.session_state[FORM_RESULT] = (key, answers)
        except ApiError as error:
            layout.error_banner(error, "scoring the row with both", retry=False)
            return
    stored = st.session_state.get(FORM_RESULT)
    if not (isinstance(stored, tuple) and stored[0] == key):
        return
    first, second = stored[1]
    mine, theirs = first.prediction.predictions[0], second.prediction.predictions[0]
    same = (mine.label, mine.value, mine.values) == (theirs.label, theirs.value, theirs.values)
    if same:
        st.success("Both give the same answer for these inputs.", icon=":material/check:")
    else:
        st.warning("They disagree on these inputs.", icon=":material/call_split:")
    left, right = st.columns(2)
    with left:
        _show_answer(first, values)
    with right:
        _show_answer(second, values)


def _on_a_file(metadata: ModelMetadata, other: ModelMetadata) -> None:
    uploaded = st.file_uploader(
        "Labelled CSV file", type=["csv", "txt"], key="compare_file_upload",
        help="The features and a column with the actual answers.",
    )  # fmt: skip
    if uploaded is None:
        return
    data = uploaded.getvalue()
    try:
        upload = csvbatch.parse_upload(data, "auto")
    except ValueError as exc:
        st.error(f"**{md(uploaded.name)} cannot be used:** {md(exc)}", icon=":material/error:")
        return
    candidates = [c for c in upload.header if c not in metadata.feature_names]
    if not candidates:
        st.error(
            f"**{md(uploaded.name)} has no column besides the features:** add the actual "
            f"{md(metadata.target)} of each row.",
            icon=":material/error:",
        )
        return
    target = st.selectbox(
        "Column holding the actual answer",
        candidates,
        index=candidates.index(metadata.target) if metadata.target in candidates else 0,
        key="compare_target",
    )
    key = (metadata.name, metadata.version, other.name, other.version, uploaded.file_id, target)
    if st.button(
        f"Compare on {len(upload.rows):,} rows", type="primary", icon=":material/compare_arrows:"
    ):
        try:
            with progress.judging(len(upload.rows), "Judging both") as shown:
                result = state.client().compare_csv(
                    metadata.name,
                    metadata.version,
                    data,
                    target,
                    other.name,
                    other.version,
                    upload.delimiter,
                    shown,
                )
        except ApiError as error:
            layout.error_banner(error, "comparing the two on the file", retry=False)
            return
        st.session_state[FILE_RESULT] = (key, result)
    stored = st.session_state.get(FILE_RESULT)
    if isinstance(stored, tuple) and stored[0] == key:
        _show_comparison(stored[1])


def _show_comparison(result: ComparisonResponse) -> None:
    this = f"{result.model} version {result.version}"
    that = f"{result.other_model} version {result.other_version}"
    st.markdown(f"**{md(evaluation.difference_sentence(result.difference, this, that))}**")
    mine, theirs = result.evaluations
    name = evaluation.HEADLINE_NAMES[mine.headline.name]
    cols = st.columns(3)
    cols[0].metric(
        f"{name} · {md(this)}", evaluation.metric_text(mine.headline.name, mine.headline.value)
    )
    cols[1].metric(
        f"{name} · {md(that)}", evaluation.metric_text(theirs.headline.name, theirs.headline.value)
    )
    share = result.disagreements.share
    cols[2].metric(
        "Rows where they disagree",
        f"{result.disagreements.rows:,}",
        None if share is None else f"{share:.1%} of {result.scored:,} judged",
        delta_color="off",
        delta_arrow="off",
    )
    left, right = st.columns(2)
    for column, evaluated, title in ((left, mine, this), (right, theirs, that)):
        with column:
            st.subheader(md(title))
            if evaluated.classification is not None:
                judged = evaluated.classification
                st.altair_chart(charts.confusion(judged.confusion_matrix, judged.labels))
                st.dataframe(
                    pd.DataFrame(
                        [
                            {"metric": "accuracy", "value": judged.accuracy},
                            {"metric": "balanced accuracy", "value": judged.balanced_accuracy},
                            {"metric": "log loss", "value": judged.log_loss},
                            {"metric": "ROC AUC", "value": judged.roc_auc},
                        ]
                    ),
                    hide_index=True,
                )
            elif evaluated.regression is not None:
                judged_values = evaluated.regression
                st.altair_chart(charts.residuals(judged_values.residual_quantiles), width="stretch")
                st.dataframe(
                    pd.DataFrame(
                        [
                            {"metric": "RMSE", "value": judged_values.rmse},
                            {"metric": "MAE", "value": judged_values.mae},
                            {"metric": "R²", "value": judged_values.r2},
                        ]
                    ),
                    hide_index=True,
                )
    listed = result.disagreements.listed
    if listed:
        st.subheader(f"Rows where they disagree (the first {len(listed)})")
        st.dataframe(
            pd.DataFrame(
                [
                    {"row": d.row, "actual": d.actual, this: d.answers[0], that: d.answers[1]}
                    for d in listed
                ]
            ),
            hide_index=True,
        )
    if result.failed_rows:
        with st.expander(f"Rows that failed ({result.failed:,})"):
            st.dataframe(
                pd.DataFrame([{"row": f.row, "error": f.error} for f in result.failed_rows]),
                hide_index=True,
            )


metadata = layout.selected_model()
st.title(f"Compare · {md(metadata.name)}")
candidates = _candidates(metadata)
if not candidates:
    st.info(
        f"Nothing to compare version {md(metadata.version)} with: no other version of "
        f"{md(metadata.name)}, and no model with the same features, is served.",
        icon=":material/info:",
    )
    st.stop()
labels = {f"{m.name}@{m.version}": m for m in candidates}
picked = st.selectbox(
    "Compare with",
    list(labels),
    key="compare_with",
    help="Another version of this model, or a model with the same features.",
)
other = labels[picked]
st.caption(f"Version {md(metadata.version)} (left) beside {md(_name(other))} (right).")
mode = st.radio("Compare", [FORM, FILE], horizontal=True, key="compare_mode")
if mode == FORM:
    _on_the_form(metadata, other)
else:
    _on_a_file(metadata, other)
summary = promotion.summary_of(metadata.name)
if other.name == metadata.name and summary is not None:
    st.subheader("Promote")
    promotion.promote_control(summary, [metadata.version, other.version], "compare")
