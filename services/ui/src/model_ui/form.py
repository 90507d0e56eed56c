"""The Predict form, generated from a model's feature metadata.

Feature names and descriptions come from the bundle: labels and help texts show them as text.
Any feature can be sent as missing (JSON null), which the API accepts and the model handles as
it learned to in training.
"""

from __future__ import annotations

import streamlit as st
from model_contract import Feature, ModelMetadata, Scalar

from model_ui.features import (
    default_value,
    number_format,
    number_step,
    range_label,
    range_text,
)
from model_ui.text import md

MISSING_LABEL = "Send as missing (null)"


def widget_key(metadata: ModelMetadata, feature: Feature) -> str:
    return f"feature:{metadata.name}:{metadata.version}:{feature.name}"


def missing_key(metadata: ModelMetadata) -> str:
    return f"missing:{metadata.name}:{metadata.version}"


def _help(feature: Feature) -> str:
    parts = [md(feature.description or ""), md(f"Type: {feature.type}; {range_text(feature)}.")]
    return "\n\n".join(p for p in parts if p)


def _label(feature: Feature) -> str:
    span = range_label(feature)  # numbers the UI formats itself
    return f"{md(feature.name)} ({span})" if span else md(feature.name)


def feature_input(metadata: ModelMetadata, feature: Feature, start: Scalar) -> Scalar:
    """One widget: select box (categorical), checkbox (boolean) or number input (numbers)."""
    key, label, help_text = widget_key(metadata, feature), _label(feature), _help(feature)
    if feature.type == "categorical":
        options = feature.categories or []
        index = options.index(str(start)) if str(start) in options else 0
        choice: str | None = st.selectbox(label, options, index=index, key=key, help=help_text)
        return choice  # None when the user clears it: sent as missing
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


def _missing_placeholder(metadata: ModelMetadata, feature: Feature) -> None:
    """Where a missing feature's input was: its name, greyed out, saying it is sent as null."""
    st.text_input(
        _label(feature),
        placeholder="missing: sent as null",
        disabled=True,
        key=f"{widget_key(metadata, feature)}:missing",
        help=_help(feature),
    )


def feature_inputs(
    metadata: ModelMetadata, start: dict[str, Scalar], columns: int = 2
) -> dict[str, Scalar]:
    """Every feature's widget in columns, then the missing-values picker; values in feature order.

    The picker is drawn last but read first (its state from the browser is already in the
    session), so a feature marked missing shows a placeholder instead of a stale value."""
    names = metadata.feature_names
    key = missing_key(metadata)
    chosen: list[str] = st.session_state.get(key, [n for n in names if start.get(n) is None])
    missing = {n for n in chosen if n in names}
    slots = st.columns(columns)
    values: dict[str, Scalar] = {}
    for i, feature in enumerate(metadata.features):
        with slots[i % columns]:
            if feature.name in missing:
                _missing_placeholder(metadata, feature)
                values[feature.name] = None
            else:  # back from missing: the default, not an empty value
                begin = start.get(feature.name)
                begin = default_value(feature) if begin is None else begin
                values[feature.name] = feature_input(metadata, feature, begin)
    st.multiselect(
        MISSING_LABEL,
        names,  # options show as plain text
        default=[n for n in names if n in missing],
        key=key,
        help="The features sent as JSON null: a missing value, which the model handles as it "
        "learned to in training.",
    )
    return values
