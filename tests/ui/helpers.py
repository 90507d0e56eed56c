"""Helpers of the UI tests: run the real app with AppTest and read what it shows."""

from __future__ import annotations

import io
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pyarrow as pa
from streamlit.testing.v1 import AppTest

from tests.support import ROOT, Server

APP = ROOT / "services" / "ui" / "src" / "model_ui" / "app.py"
API_KEY = "ui-test-key"
MIXED_MODEL = "mixed-binary"
VERSIONED_MODEL = "versioned"
# A penguin the Predict tests (AppTest and the real browser) type into the form.
FORM_ROW: dict[str, float | str] = {
    "bill_length_mm": 47.5,
    "bill_depth_mm": 18.6,
    "flipper_length_mm": 195.0,
    "body_mass_g": 3900.0,
    "island": "Dream",
    "sex": "female",
}


def open_app(page: str | None = None, model: str | None = "penguin-species") -> AppTest:
    """Run the app (app.py routes), pick ``model`` in the sidebar, go to ``app_pages/<page>.py``."""
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    if model is not None and at.sidebar.selectbox:
        at.sidebar.selectbox(key="model").set_value(model).run()
    if page is not None:
        at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, at.exception
    return at


_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")


def plain(markdown: str) -> str:
    """What a reader sees of text the UI escaped with ``model_ui.text.md`` (backslashes gone)."""
    return _ESCAPED.sub(r"\1", markdown).replace("\u2060", "")


def texts(at: AppTest) -> str:
    """Every text the page shows (markdown, captions, alerts, titles) as read, for searching."""
    parts: list[str] = []
    for kind in (
        "title",
        "header",
        "subheader",
        "markdown",
        "caption",
        "error",
        "warning",
        "info",
        "success",
    ):
        parts += [plain(str(element.value)) for element in getattr(at, kind)]
    return "\n".join(parts)


def form_values(at: AppTest) -> dict[str, Any]:
    """The Predict form's widget values by feature name."""
    widgets = [*at.number_input, *at.selectbox, *at.checkbox]
    return {
        w.key.rsplit(":", 1)[1]: w.value for w in widgets if (w.key or "").startswith("feature:")
    }


def chart_data(at: AppTest) -> list[list[dict[str, Any]]]:
    """The rows of every Vega-Lite chart's datasets, in page order."""
    charts = []
    for element in at.get("vega_lite_chart"):
        rows: list[dict[str, Any]] = []
        for dataset in element.proto.datasets:
            table = pa.ipc.open_stream(io.BytesIO(dataset.data.data)).read_all()
            rows += table.to_pylist()
        charts.append(rows)
    return charts


def api_json(server: Server, method: str, path: str, **kwargs: Any) -> Any:
    response = httpx.request(method, server.url + path, timeout=30, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def small_classifier() -> tuple[Any, Any]:
    """A tiny binary XGBoost model and its training frame (one numeric, one categorical)."""
    import numpy as np
    import pandas as pd
    import xgboost as xgb

    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        {
            "size": rng.normal(10, 3, 200).round(2),
            "colour": pd.Categorical(rng.choice(["blue", "red"], 200)),
        }
    )
    target = ((frame["size"] > 10) ^ (frame["colour"] == "red")).astype(int)
    model = xgb.XGBClassifier(n_estimators=5, max_depth=2, enable_categorical=True, n_jobs=1)
    model.fit(frame, target)
    return model, frame


@contextmanager
def answering_like_an_older_api(server: Server, omitted: frozenset[str]) -> Iterator[str]:
    """A real HTTP server on a loopback port in front of ``server`` that answers as an older API
    would: the real answers, with the top-level JSON fields ``omitted`` left out. Yields its URL."""

    class Forward(BaseHTTPRequestHandler):
        def _forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k: v for k, v in self.headers.items() if k.lower() in FORWARDED}
            answer = httpx.request(
                self.command, server.url + self.path, content=body, headers=headers, timeout=30
            )
            content = answer.content
            if answer.headers.get("content-type", "").startswith("application/json"):
                parsed = answer.json()
                if isinstance(parsed, dict):
                    parsed = {k: v for k, v in parsed.items() if k not in omitted}
                content = json.dumps(parsed).encode()
            self.send_response(answer.status_code)
            self.send_header("Content-Type", answer.headers.get("content-type", "text/plain"))
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def do_GET(self) -> None:
            self._forward()

        def do_POST(self) -> None:
            self._forward()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: the test output is for the test

    proxy = ThreadingHTTPServer(("127.0.0.1", 0), Forward)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{proxy.server_address[1]}"
    finally:
        proxy.shutdown()
        proxy.server_close()
        thread.join(timeout=10)


FORWARDED = frozenset({"content-type", "x-api-key", "accept"})
