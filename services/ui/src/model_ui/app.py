"""The UI's entry point: it only routes. Each page lives in app_pages/; the frame in layout.py."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from model_ui import layout

PAGES = Path(__file__).parent / "app_pages"

st.set_page_config(
    page_title="Model Serving Stack", page_icon=":material/model_training:", layout="wide"
)
page = st.navigation(
    [
        st.Page(
            PAGES / "predict.py", title="Predict", icon=":material/online_prediction:", default=True
        ),
        st.Page(PAGES / "batch.py", title="Batch", icon=":material/table_view:"),
        st.Page(PAGES / "evaluate.py", title="Evaluate", icon=":material/fact_check:"),
        st.Page(PAGES / "compare.py", title="Compare", icon=":material/compare_arrows:"),
        st.Page(PAGES / "feedback.py", title="Feedback", icon=":material/reviews:"),
        st.Page(PAGES / "model.py", title="Model", icon=":material/description:"),
        st.Page(PAGES / "api.py", title="API", icon=":material/code:"),
        st.Page(PAGES / "monitoring.py", title="Monitoring", icon=":material/monitoring:"),
    ]
)
layout.sidebar()
page.run()
