"""Predict: a form built from the model's metadata; the answer, its probabilities and its reasons."""

from __future__ import annotations

import math
from dataclasses import dataclass

import streamlit as st
from model_contract import (
    ExplainResponse,
    ModelMetadata,
    Output,
    RowExplanation,
    Scalar,
)

from model_ui import charts, feedback, layout, state
from model_ui.client import ApiError
from model_ui.features import out_of_range, range_text
from model_ui.form import feature_inputs
from model_ui.schemas import Actual, IdentifiedPredictions, IdentifiedRow, SavedFeedback
from model_ui.text import md

# Stored as (model@version, Result). Streamlit runs a page file afresh each time, so Result is a
# new class in every run and isinstance() on an answer stored in an earlier run would fail.
RESULT = "prediction"
SAVED = "saved_feedback"  # prediction id -> SavedFeedback (the API's answer, for the confirmation)


@dataclass(frozen=True)
class Result:
    row: dict[str, Scalar]
    prediction: IdentifiedPredictions
    explanation: ExplainResponse


def _central(quantiles: list[Output]) -> Output | None:
    """The quantile nearest the median among those strictly inside the interval; None when
    there is none (a model of two quantiles gives an interval, not a central value)."""
    inside = quantiles[1:-1]
    return min(inside, key=lambda o: abs((o.quantile or 0.0) - 0.5)) if inside else None


def _explained_output(metadata: ModelMetadata) -> str | None:
    """The quantile the bars explain: the one headlined, else the lowest; None for other models
    (the API's default)."""
    quantiles = metadata.quantiles
    if not quantiles:
        return None
    return (_central(quantiles) or quantiles[0]).name


def _score(metadata: ModelMetadata, row: dict[str, Scalar]) -> Result:
    client = state.client()
    predicted = client.predict(metadata.name, metadata.version, [row])
    explained = client.explain(
        metadata.name, metadata.version, [row], output=_explained_output(metadata)
    )
    return Result(row, predicted, explained)


def _headline(metadata: ModelMetadata, result: Result) -> None:
    answer = result.prediction.predictions[0]
    served_by = f"Model {md(result.prediction.model)} version {md(result.prediction.version)}."
    if answer.values is not None and metadata.quantiles:
        _quantile_headline(metadata, answer.values, served_by)
        return
    if answer.values is not None:
        _targets_headline(answer.values, served_by)
        return
    left, right = st.columns([1, 2])
    target = md(metadata.target)
    if metadata.task == "regression":
        left.metric(f"Predicted {target}", f"{answer.value:,.2f}")
        right.caption(f"{served_by} Regression models give a value, not class probabilities.")
        return
    if not metadata.probabilities or answer.probabilities is None:  # binary:hinge
        left.metric(f"Predicted {target}", md(answer.label or "?"))
        right.caption(
            f"{served_by} This model gives a class without probabilities: its objective "
            f"({md(metadata.objective or 'binary:hinge')}) learns which side of a boundary a row "
            "falls on, not how likely each class is, so no percentage is shown."
        )
        return
    probability = answer.probabilities.get(answer.label or "", 0.0)
    left.metric(
        f"Predicted {target}",
        md(answer.label or "?"),
        f"{probability:.1%} probability",
        delta_color="off",
        delta_arrow="off",
    )
    left.caption(served_by)
    with right:
        st.markdown("**Class probabilities**")
        st.altair_chart(charts.probabilities(answer.probabilities, answer.label), width="stretch")


def _quantile_headline(metadata: ModelMetadata, values: dict[str, float], served_by: str) -> None:
    """The interval from the lowest quantile to the highest, with their alphas, and the quantile
    nearest the median when one lies between them."""
    quantiles = metadata.quantiles
    if len(quantiles) == 1:
        _one_quantile_headline(metadata, quantiles[0], values[quantiles[0].name], served_by)
        return
    target = md(metadata.target)
    low, high = quantiles[0], quantiles[-1]
    central = _central(quantiles)
    interval = f"{values[low.name]:,.2f} to {values[high.name]:,.2f}"
    share = (high.quantile or 0.0) - (low.quantile or 0.0)
    left, right = st.columns([1, 2])
    text = (
        f"the model's {md(low.name)} and {md(high.name)} quantiles. It expects {share:.0%} of "
        "outcomes for a row like this to fall between them."
    )
    if central is not None:
        left.metric(f"Predicted {target} ({md(central.name)})", f"{values[central.name]:,.2f}")
        right.markdown(f"**Interval {interval}**: {text}")
    else:
        left.metric(f"Interval of {target}", interval)
        right.markdown(
            f"**Interval {interval}**: {text} The model has no quantile between them, so no "
            f"central value is shown; the bars below explain {md(low.name)}, the lowest."
        )
    right.caption(served_by)
    st.altair_chart(charts.quantiles(values, quantiles), width="stretch")


def _one_quantile_headline(
    metadata: ModelMetadata, quantile: Output, value: float, served_by: str
) -> None:
    """A model of one quantile: that quantile, said to be one, and no interval."""
    target = md(metadata.target)
    alpha = quantile.quantile or 0.0
    left, right = st.columns([1, 2])
    left.metric(f"Predicted {target} ({md(quantile.name)})", f"{value:,.2f}")
    right.markdown(
        f"The model's **{alpha:g} quantile** of {target}, not a central value: it expects "
        f"{alpha * 100:g}% of outcomes for a row like this to fall below it and "
        f"{(1 - alpha) * 100:g}% above. The model predicts this one quantile, so there is no "
        "interval."
    )
    right.caption(served_by)


def _targets_headline(values: dict[str, float], served_by: str) -> None:
    """A multi-target regressor: one figure per target."""
    columns = st.columns(min(len(values), 4))
    for i, (name, value) in enumerate(values.items()):
        columns[i % len(columns)].metric(f"Predicted {md(name)}", f"{value:,.2f}")
    st.caption(f"{served_by} The model predicts {len(values)} targets at once.")


def _reasons(metadata: ModelMetadata, result: Result) -> None:
    explanation = result.explanation.explanations[0]
    frame = charts.contribution_frame(explanation.contributions, result.row)
    st.subheader("Why: contribution of each feature")
    sentence, title = _explanation_text(metadata, result)
    st.markdown(sentence)
    st.altair_chart(charts.contributions(frame, title), width="stretch")
    if explanation.margin_output and explanation.margin_output != explanation.explained_output:
        st.caption(
            f"For this row the trees of {md(explanation.margin_output)} came out where "
            f"{md(explanation.explained_output)} belongs (the quantiles' trees cross). XGBoost "
            f"sorts each row's quantiles, so the value shown as {md(explanation.explained_output)} "
            f"is theirs, and these bars explain those trees."
        )
    with st.expander("Contributions as a table"):
        st.dataframe(frame[["feature", "value", "contribution", "effect"]], hide_index=True)


def _explanation_text(metadata: ModelMetadata, result: Result) -> tuple[str, str]:
    """What the bars add up to, said truthfully for the model's explanation space; and the
    chart's axis title."""
    explained = result.explanation
    row = explained.explanations[0]
    total = row.base_value + sum(row.contributions.values())
    space = explained.output_space or _space_by_task(metadata, row, total)
    if space == "margin" and metadata.task == "regression":
        return _regression_margin_text(metadata, row, total)
    if space == "value":
        target, to = row.explained_output or metadata.target, ""
        if metadata.quantiles and row.explained_output:
            target, to = metadata.target, f" to the {md(row.explained_output)} quantile"
        return (
            f"SHAP contributions{to} in units of **{md(target)}**. Starting from the average "
            f"prediction {row.base_value:,.2f}, the red bars raise and the blue bars lower it; "
            f"together they give {total:,.2f}.",
            f"contribution to {target}",
        )
    if space in ("log", "logit"):
        return _link_text(space, explained.space_name or "", row, total)
    return _classifier_text(metadata, result, total)


def _space_by_task(metadata: ModelMetadata, row: RowExplanation, total: float) -> str:
    """An older API does not name the space: a classifier's contributions add up to its margin,
    a regressor's to its value, unless they do not (a log link), and then to its margin."""
    if metadata.task != "regression":
        return "margin"
    served = row.explained_value if row.explained_value is not None else row.value
    if served is None and row.values and row.explained_output:
        served = row.values.get(row.explained_output)
    if served is None or math.isclose(total, served, rel_tol=1e-3, abs_tol=1e-6):
        return "value"
    return "margin"


def _regression_margin_text(
    metadata: ModelMetadata, row: RowExplanation, total: float
) -> tuple[str, str]:
    """A regressor whose contributions do not add up to its value, from an API that does not
    say how the two relate."""
    objective = md(metadata.objective or "its objective")
    return (
        f"SHAP contributions to the model's **raw score** (margin). Starting from the average "
        f"{row.base_value:+.3f}, the red bars raise and the blue bars lower it; they add up to "
        f"{total:+.3f}, which the model's objective ({objective}) turns into the prediction. "
        "This API does not say how, so the bars are not in units of "
        f"{md(metadata.target)}.",
        "contribution to the raw score",
    )


def _link_text(space: str, space_name: str, row: RowExplanation, total: float) -> tuple[str, str]:
    """Log and log-odds spaces: the bars add up on that scale; the link turns it into the value."""
    scale, link = ("log", f"exp({total:.3f})")
    if space == "logit":
        scale, link = ("log-odds", f"1 / (1 + exp({-total:.3f}))")
    value = "" if row.explained_value is None else f" = {row.explained_value:,.4g}"
    of = f" ({md(row.explained_output)})" if row.explained_output else ""
    multiplies = (
        " Each bar multiplies the prediction by exp of its length." if scale == "log" else ""
    )
    return (
        f"SHAP contributions to the **{md(space_name)}**{of}. Starting from the average "
        f"{row.base_value:+.3f}, the red bars raise and the blue bars lower it. On the {scale} "
        f"scale they add up to {total:+.3f}; {link}{value} is the prediction.{multiplies}",
        f"contribution to the {space_name}",
    )


def _classifier_text(metadata: ModelMetadata, result: Result, total: float) -> tuple[str, str]:
    """Multiclass explains the predicted class; binary always the positive (second) class,
    whatever the label, so the text says which side the bars are on."""
    explained = result.explanation
    row = explained.explanations[0]
    label = row.label or "?"
    target = row.explained_class or label
    start = f"Starting from the average score {row.base_value:+.3f}"
    if len(metadata.labels) != 2:
        chance = "" if row.explained_value is None else f" ({row.explained_value:.1%})"
        return (
            f"SHAP contributions to the model's **softmax score for {md(target)}**, the predicted "
            f"class. The red bars push this row towards {md(target)} and the blue bars away from "
            f"it. {start}, they add up to {total:+.3f}; set against the other classes' scores, "
            f"that gives {md(target)}'s probability{chance}.",
            f"contribution to the softmax score of {target}",
        )
    other = next(c for c in metadata.labels if c != target) if target in metadata.labels else "?"
    hinge = explained.margin_to_value == "step"
    score = "hinge score" if hinge else "log-odds score"
    if label == target:
        opening = f"The model predicts **{md(label)}**; the bars explain its **{score} for it**."
    else:
        opening = (
            f"The model predicts **{md(label)}**, and the bars explain its **{score} for "
            f"{md(target)}**, the other class: a binary model has one score, high for "
            f"{md(target)} and low for {md(label)}."
        )
    if hinge:
        ending = f"they add up to {total:+.3f}: above 0 means {md(target)}, else {md(other)}."
    elif row.explained_value is not None:
        ending = (
            f"they add up to {total:+.3f}, a probability of {row.explained_value:.1%} for "
            f"{md(target)}."
        )
    else:
        ending = f"they add up to {total:+.3f}."
    return (
        f"{opening} Red bars push towards {md(target)}, blue bars towards {md(other)}. "
        f"{start}, {ending}",
        f"contribution to the {score} of {target}",
    )


def _actual_input(metadata: ModelMetadata, row: IdentifiedRow, key: str) -> Actual:
    """ "What should it have been?": the class list, or a number; None when not given."""
    if metadata.task != "regression":
        labels = metadata.labels
        choice: str | None = st.selectbox(
            "What should it have been?",
            labels,
            index=None,
            key=f"actual:{key}",
            placeholder="The right class, if you know it",
            help="Leave empty when you only say right or wrong.",
        )
        return choice
    if not feedback.takes_actual(metadata):
        st.caption(
            "This model answers several values at once: say right or wrong, and put the values "
            "it should have given in the comment."
        )
        return None
    number: float | None = st.number_input(
        f"What should {md(metadata.target)} have been?",
        value=None,
        key=f"actual:{key}",
        placeholder=f"The real value; the model said {feedback.actual_text(row.value)}",
        format="%g",
    )
    return number


def _feedback(metadata: ModelMetadata, result: Result) -> None:
    """Thumbs up or down, the right answer, a comment, who says so; saved to the API."""
    row = result.prediction.predictions[0]
    st.subheader("Was it right?")
    if row.id is None:
        st.caption(
            "The API does not record predictions (its prediction log is off), so this answer "
            "cannot be judged here."
        )
        return
    key = row.id
    left, right = st.columns([1, 2])
    with left:
        thumbs = st.feedback("thumbs", key=f"thumbs:{key}")
        author = state.author_input()
    with right:
        actual = _actual_input(metadata, row, key)
        comment = st.text_area(
            "Comment",
            key=f"comment:{key}",
            max_chars=feedback.MAX_COMMENT,
            placeholder="What the model got wrong, or why it is right",
        )
    if st.button("Save feedback", key=f"save:{key}", icon=":material/send:"):
        _save(key, feedback.verdict_of(thumbs), actual, comment.strip() or None, author)
    saved = st.session_state.get(SAVED, {}).get(key)
    if isinstance(saved, SavedFeedback):
        st.success(feedback.confirmation(saved.feedback, saved.created), icon=":material/task_alt:")
    st.caption(f"Prediction id `{key}`: applications can post the real answer later with it.")


def _save(
    prediction_id: str, verdict: str | None, actual: Actual, comment: str | None, author: str
) -> None:
    if verdict is None and actual is None:
        st.warning("Give a thumbs up or down, or say what it should have been, then save.")
        return
    if not author:
        st.warning("Say who you are (your name) so the engineer knows whom to ask, then save.")
        return
    try:
        saved = state.client().feedback(
            prediction_id, verdict=verdict, actual=actual, comment=comment, author=author
        )
    except ApiError as error:
        layout.error_banner(error, "saving the feedback", retry=False)
        return
    st.session_state.setdefault(SAVED, {})[prediction_id] = saved


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
        _feedback(metadata, result)
        _reasons(metadata, result)
