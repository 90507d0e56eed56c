"""Predict: a form built from the model's metadata; the answer, its probabilities and its reasons."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from model_ui import charts, layout, state
from model_ui.client import ApiError
from model_ui.features import out_of_range, range_text
from model_ui.form import feature_inputs
from model_ui.schemas import ExplainResponse, ModelMetadata, PredictResponse, Scalar
from model_ui.text import md

# Stored as (model@version, Result). Streamlit runs a page file afresh each time, so Result is a
# new class in every run and isinstance() on an answer stored in an earlier run would fail.
RESULT = "prediction"


@dataclass(frozen=True)
class Result:
    row: dict[str, Scalar]
    prediction: PredictResponse
    explanation: ExplainResponse


def _score(metadata: ModelMetadata, row: dict[str, Scalar]) -> Result:
    client = state.client()
    predicted = client.predict(metadata.name, metadata.version, [row])
    explained = client.explain(metadata.name, metadata.version, [row])
    return Result(row, predicted, explained)


def _headline(metadata: ModelMetadata, result: Result) -> None:
    answer = result.prediction.predictions[0]
    left, right = st.columns([1, 2])
    if metadata.task == "regression":
        left.metric(f"Predicted {metadata.target}", f"{answer.value:,.2f}")
        right.caption(
            f"Model {result.prediction.model} version {result.prediction.version}. "
            "Regression models give a value, not class probabilities."
        )
        return
    probability = (answer.probabilities or {}).get(answer.label or "", 0.0)
    left.metric(
        f"Predicted {metadata.target}",
        answer.label or "?",
        f"{probability:.1%} probability",
        delta_color="off",
        delta_arrow="off",
    )
    left.caption(f"Model {result.prediction.model} version {result.prediction.version}")
    with right:
        st.markdown("**Class probabilities**")
        st.altair_chart(
            charts.probabilities(answer.probabilities or {}, answer.label), width="stretch"
        )


def _reasons(metadata: ModelMetadata, result: Result) -> None:
    explanation = result.explanation.explanations[0]
    frame = charts.contribution_frame(explanation.contributions, result.row)
    total = explanation.base_value + sum(explanation.contributions.values())
    st.subheader("Why: contribution of each feature")
    if result.explanation.output_space == "margin":
        target = explanation.explained_class or explanation.label
        st.markdown(
            f"SHAP contributions to the model's **log-odds score for {target}**. "
            f"Starting from the average score {explanation.base_value:+.3f}, the red bars push this "
            f"row towards {target} and the blue bars away from it; together they give {total:+.3f}."
        )
        title = f"contribution to the log-odds of {target}"
    else:
        st.markdown(
            f"SHAP contributions in units of **{metadata.target}**. Starting from the average "
            f"prediction {explanation.base_value:,.2f}, the red bars raise and the blue bars lower "
            f"it; together they give {total:,.2f}."
        )
        title = f"contribution to {metadata.target}"
    st.altair_chart(charts.contributions(frame, title), width="stretch")
    with st.expander("Contributions as a table"):
        st.dataframe(frame[["feature", "value", "contribution", "effect"]], hide_index=True)


def _warn_out_of_range(metadata: ModelMetadata, values: dict[str, Scalar]) -> None:
    for feature in metadata.features:
        if out_of_range(feature, values[feature.name]):
            st.warning(  # numbers only: the value and range are the UI's own text
                f"{md(feature.name)} = {values[feature.name]} is outside the "
                f"{range_text(feature)}; the model has not seen such values, so treat the answer "
                "with care."
            )


def _changed(result: Result, values: dict[str, Scalar]) -> list[str]:
    """The features whose value differs from the one the stored answer was computed for."""
    return [name for name, value in values.items() if result.row.get(name) != value]


metadata = layout.selected_model()
result_key = f"{metadata.name}@{metadata.version}"
st.title(f"Predict · {md(metadata.name)}")
st.caption(md(f"Version {metadata.version} · {metadata.task} · {metadata.description or ''}"))

# No st.form: every edit reruns the page, so an answer is only ever shown beside its own values.
values = feature_inputs(metadata, state.form_values(metadata))
state.remember_form(metadata, values)
_warn_out_of_range(metadata, values)
submitted = st.button("Predict", type="primary", icon=":material/play_arrow:")

if submitted:
    try:
        with st.spinner("Asking the model API…"):
            st.session_state[RESULT] = (result_key, _score(metadata, values))
    except ApiError as error:
        st.session_state.pop(RESULT, None)
        layout.error_banner(error, f"scoring with {metadata.name}", retry=error.kind != "http")

stored = st.session_state.get(RESULT)
if isinstance(stored, tuple) and stored[0] == result_key:
    result: Result = stored[1]
    changed = _changed(result, values)
    if changed:
        st.info(
            "The form changed since the last answer ("
            + ", ".join(md(name) for name in changed)
            + "): press **Predict** to score these values.",
            icon=":material/edit_note:",
        )
    else:
        _headline(metadata, result)
        _reasons(metadata, result)
