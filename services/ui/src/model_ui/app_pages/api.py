"""API: ready-to-copy requests for the chosen model with the Predict form's current values."""

from __future__ import annotations

import json

import streamlit as st

from model_ui import layout, snippets, state
from model_ui.text import md

metadata = layout.selected_model()
settings = state.settings()
base = settings.shown_url
key = settings.api_key is not None
row = state.form_values(metadata)

st.title(f"API · {md(metadata.name)}")
st.markdown(
    f"Requests for version {md(metadata.version)} with the values in the Predict form "
    "(features marked missing are sent as `null`). "
    f"Every endpoint is documented at [{base}/docs]({base}/docs)."
)
st.link_button("Open the API docs", f"{base}/docs", icon=":material/open_in_new:")
if key:
    st.info(
        f"This API needs a key: set `{snippets.KEY_VARIABLE}` in your shell before running these."
    )

st.subheader("curl")
st.code(snippets.curl_predict(base, metadata, row, key), language="bash")
st.subheader("Python (httpx)")
st.code(snippets.python_predict(base, metadata, row, key), language="python")
st.subheader("Open Inference Protocol (V2)")
st.caption(
    "The same row as one input per feature, as KServe, MLServer and Triton clients send it; "
    "categorical values as BYTES, and a missing integer or boolean as FP32 `null` (INT64 and "
    "BOOL data have no null)."
)
st.code(snippets.curl_v2(base, metadata, row, key), language="bash")
with st.expander("V2 request body (JSON)"):
    st.code(json.dumps(snippets.v2_request(metadata, row), indent=2), language="json")
st.subheader("A whole CSV file")
st.code(snippets.curl_csv(base, metadata, key), language="bash")
