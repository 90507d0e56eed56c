"""What the pages share: the cached API client, cached metadata and remembered form values.

Caches are keyed by the ``MODEL_UI_*`` environment, so a change of API URL or key (or two test
runs against two APIs in one process) never reuses the wrong client or stale metadata.
"""

from __future__ import annotations

import os

import pandas as pd
import streamlit as st
from model_contract import ModelList, ModelMetadata, Scalar

from model_ui.client import ApiClient, PrometheusClient
from model_ui.features import default_row, synthetic_rows
from model_ui.feedback import MAX_AUTHOR, clean_author
from model_ui.settings import UISettings

METADATA_TTL = UISettings().metadata_ttl_seconds  # read once, when the app starts
FORM_VALUES = "form_values"


def settings() -> UISettings:
    return UISettings()


def _fingerprint() -> str:
    return repr(sorted((k, v) for k, v in os.environ.items() if k.upper().startswith("MODEL_UI_")))


@st.cache_resource(show_spinner=False, max_entries=8)
def _client(fingerprint: str) -> ApiClient:
    del fingerprint  # only the cache key
    return ApiClient(UISettings())


def client() -> ApiClient:
    """The process-wide client for the current settings."""
    return _client(_fingerprint())


@st.cache_resource(show_spinner=False, max_entries=8)
def _prometheus(fingerprint: str) -> PrometheusClient | None:
    del fingerprint  # only the cache key
    settings = UISettings()
    url = settings.prometheus_base_url
    return PrometheusClient(url, settings) if url else None


def prometheus() -> PrometheusClient | None:
    """The Prometheus client when ``MODEL_UI_PROMETHEUS_URL`` is set, else None."""
    return _prometheus(_fingerprint())


@st.cache_data(ttl=METADATA_TTL, show_spinner=False, max_entries=64)
def _models(fingerprint: str) -> ModelList:
    return _client(fingerprint).list_models()


@st.cache_data(ttl=METADATA_TTL, show_spinner=False, max_entries=256)
def _metadata(fingerprint: str, name: str, version: str) -> ModelMetadata:
    return _client(fingerprint).metadata(name, version)


@st.cache_data(ttl=METADATA_TTL * 20, show_spinner=False, max_entries=64)
def _importance(fingerprint: str, name: str, version: str, rows: int) -> pd.DataFrame:
    metadata = _metadata(fingerprint, name, version)
    sample = synthetic_rows(metadata.features, rows)
    explained = _client(fingerprint).explain(name, version, sample)
    frame = pd.DataFrame([e.contributions for e in explained.explanations])
    table = frame.abs().mean().rename("importance").rename_axis("feature").reset_index()
    return table.sort_values("importance", ascending=False, ignore_index=True)


def models() -> ModelList:
    return _models(_fingerprint())


def metadata(name: str, version: str) -> ModelMetadata:
    return _metadata(_fingerprint(), name, version)


def importance(metadata: ModelMetadata) -> pd.DataFrame:
    """Mean |SHAP contribution| per feature over synthetic rows (see features.synthetic_rows)."""
    return _importance(_fingerprint(), metadata.name, metadata.version, settings().importance_rows)


def clear_caches() -> None:
    _models.clear()
    _metadata.clear()
    _importance.clear()


def _form_key(metadata: ModelMetadata) -> str:
    return f"{metadata.name}@{metadata.version}"


def form_values(metadata: ModelMetadata) -> dict[str, Scalar]:
    """The Predict form's last values for this model version (its defaults at first)."""
    stored: dict[str, dict[str, Scalar]] = st.session_state.get(FORM_VALUES, {})
    return {**default_row(metadata.features), **stored.get(_form_key(metadata), {})}


def remember_form(metadata: ModelMetadata, values: dict[str, Scalar]) -> None:
    st.session_state.setdefault(FORM_VALUES, {})[_form_key(metadata)] = dict(values)


# ------------------------------------------------------------------------------- author
AUTHOR = "feedback_author"  # kept for the session, whichever page is shown
AUTHOR_WIDGET = "feedback_author_input"  # the text input's own key (Streamlit drops it off-page)
AUTHOR_PARAM = "author"  # in the page's address too, so a reload keeps the name


def author() -> str:
    """Who gives feedback in this session: asked once, then remembered (session and address)."""
    if AUTHOR not in st.session_state:
        st.session_state[AUTHOR] = clean_author(st.query_params.get(AUTHOR_PARAM, ""))
    name: str = st.session_state[AUTHOR]
    return name


def keep_author_in_address() -> None:
    """Put the remembered name back in the address (a page switch clears query parameters)."""
    name = author()
    if name and st.query_params.get(AUTHOR_PARAM) != name:
        st.query_params[AUTHOR_PARAM] = name


def author_input() -> str:
    """The name field, prefilled with the remembered name; returns the name now given."""
    if AUTHOR_WIDGET not in st.session_state:
        st.session_state[AUTHOR_WIDGET] = author()
    typed = st.text_input(
        "Your name",
        key=AUTHOR_WIDGET,
        max_chars=MAX_AUTHOR,
        placeholder="Who is giving this feedback",
        help="Asked once: the UI remembers it for this session and keeps it in the address.",
    )
    name = clean_author(typed)
    if name != st.session_state[AUTHOR]:
        st.session_state[AUTHOR] = name
        if name:
            st.query_params[AUTHOR_PARAM] = name
        else:
            st.query_params.pop(AUTHOR_PARAM, None)
    return name
