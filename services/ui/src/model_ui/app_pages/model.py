"""Model: the model card (task, features, classes, metrics, identity) and feature importance."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from model_contract import ModelMetadata

from model_ui import charts, layout, promotion, state
from model_ui.client import ApiError
from model_ui.features import range_text
from model_ui.text import md


def _features_table(metadata: ModelMetadata) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "feature": f.name,
                "type": f.type,
                "range or categories": range_text(f)
                .removeprefix("training range ")
                .removeprefix("one of "),
                "default": "" if f.default is None else str(f.default),
                "description": f.description or "",
            }
            for f in metadata.features
        ]
    )


def _metrics_table(metadata: ModelMetadata) -> pd.DataFrame:
    return pd.DataFrame(
        [{"metric": name, "value": f"{value:.6g}"} for name, value in metadata.metrics.items()]
    )


def _importance_space(metadata: ModelMetadata) -> str:
    """The space the contributions are in, as the API names it (older APIs: by task)."""
    space = metadata.explanation.space_name if metadata.explanation else None
    if metadata.task == "multiclass":
        return "Each row's contributions are to the softmax score of the class predicted for it."
    if metadata.task == "binary":
        positive = md(metadata.labels[-1])
        return f"Contributions are to the model's score for {positive}, whatever the label."
    return f"Contributions are in: {md(space or metadata.target)}."


metadata = layout.selected_model()
st.title(f"Model · {md(metadata.name)}")
if metadata.description:
    st.markdown(md(metadata.description))  # the bundle's words, shown as text

task, version, target = st.columns(3)
task.metric("Task", metadata.task)
version.metric(
    "Version",
    md(metadata.version),
    help="Versions served: " + ", ".join(md(v) for v in metadata.versions),
)
target.metric("Target", md(metadata.target))

summary = promotion.summary_of(metadata.name)
if summary is not None:
    st.subheader("Versions and aliases")
    st.caption(
        "The default version answers requests that name no version; an alias names a version "
        "wherever a version is named (`/versions/production/predict`)."
    )
    st.dataframe(promotion.versions_table(summary), hide_index=True)
    promotion.promote_control(summary, summary.versions, "model")

st.subheader("Features")
st.caption("In the order the model takes them; ranges are those seen in the training sample.")
st.dataframe(_features_table(metadata), hide_index=True)

if metadata.labels:
    st.subheader("Classes")
    st.markdown(" · ".join(md(label) for label in metadata.labels))

if metadata.outputs:
    st.subheader("Outputs")
    st.caption("Every prediction gives each of these, in this order.")
    st.markdown(" · ".join(md(o.name) for o in metadata.outputs))

st.subheader("Training metrics")
if metadata.metrics:
    st.dataframe(_metrics_table(metadata), hide_index=True)
else:
    st.caption("The bundle records no metrics.")

st.subheader("Identity")
st.dataframe(
    pd.DataFrame(
        [
            {"field": "objective", "value": metadata.objective or ""},
            {"field": "model file", "value": metadata.model_file or ""},
            {"field": "SHA-256", "value": metadata.model_sha256 or ""},
            {"field": "created", "value": metadata.created_at or ""},
            {"field": "XGBoost", "value": metadata.xgboost_version or ""},
        ]
    ),
    hide_index=True,
)

st.subheader("Feature importance")
rows = state.settings().importance_rows
st.caption(
    f"Mean absolute SHAP contribution per feature, from the API's explain endpoint over {rows} "
    "synthetic rows drawn uniformly and independently within each feature's training range (or "
    "categories). It shows how much each feature moves the model over the region it was trained "
    "on, not over real data, which the API does not serve. " + _importance_space(metadata)
)
try:
    with st.spinner("Explaining sample rows…"):
        importance = state.importance(metadata)
except ApiError as error:
    layout.error_banner(error, f"explaining sample rows with {metadata.name}")
else:
    st.altair_chart(charts.importance(importance), width="stretch")
