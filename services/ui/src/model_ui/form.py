"""The Predict form, generated from a model's feature metadata."""

from __future__ import annotations

import streamlit as st

from model_ui.features import number_format, number_step, range_label, range_text
from model_ui.schemas import Feature, ModelMetadata, Scalar


def widget_key(metadata: ModelMetadata, feature: Feature) -> str:
    return f"feature:{metadata.name}:{metadata.version}:{feature.name}"


def _help(feature: Feature) -> str:
    parts = [feature.description or "", f"Type: {feature.type}; {range_text(feature)}."]
    return "\n\n".join(p for p in parts if p)


def _label(feature: Feature) -> str:
    span = range_label(feature)
    return f"{feature.name} ({span})" if span else feature.name


def feature_input(metadata: ModelMetadata, feature: Feature, start: Scalar) -> Scalar:
    """One widget: select box (categorical), checkbox (boolean) or number input (numbers)."""
    key, label, help_text = widget_key(metadata, feature), _label(feature), _help(feature)
    if feature.type == "categorical":
        options = feature.categories or []
        index = options.index(str(start)) if str(start) in options else 0
        choice: str = st.selectbox(label, options, index=index, key=key, help=help_text)
        return choice
    if feature.type == "boolean":
        return st.checkbox(label, value=bool(start), key=key, help=help_text)
    if feature.type == "integer":
        whole = int(start) if isinstance(start, int | float) else 0
        return int(
            st.number_input(label, value=whole, step=1, format="%d", key=key, help=help_text)
        )
    number = float(start) if isinstance(start, int | float) else 0.0
    step = number_step(feature)
    return float(
        st.number_input(
            label,
            value=number,
            step=step,
            format=number_format(step, number),
            key=key,
            help=help_text,
        )
    )


def feature_inputs(
    metadata: ModelMetadata, start: dict[str, Scalar], columns: int = 2
) -> dict[str, Scalar]:
    """Every feature's widget, laid out in columns; returns the values in feature order."""
    slots = st.columns(columns)
    values: dict[str, Scalar] = {}
    for i, feature in enumerate(metadata.features):
        with slots[i % columns]:
            values[feature.name] = feature_input(metadata, feature, start.get(feature.name))
    return values
