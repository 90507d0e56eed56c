"""The UI, for every zoo model: the untouched form's answer is XGBoost's own for those values."""

from __future__ import annotations

from typing import Any

import httpx
import pandas as pd
import pytest

from tests.byom.conftest import Packaged
from tests.byom.test_served import SERVED, expected_rows
from tests.support import Server
from tests.ui.helpers import open_app, plain


@pytest.fixture
def zoo_ui(monkeypatch: pytest.MonkeyPatch, zoo_api: Server) -> Server:
    monkeypatch.setenv("MODEL_UI_API_URL", zoo_api.url)
    monkeypatch.delenv("MODEL_UI_API_KEY", raising=False)
    return zoo_api


def default_row(packaged: Packaged, metadata: dict[str, Any]) -> pd.DataFrame:
    """The form's starting values as a one-row frame with the training dtypes."""
    train = packaged.trained.train
    row = pd.DataFrame([{f["name"]: f["default"] for f in metadata["features"]}])
    for column in train.columns:
        dtype = train[column].dtype
        if isinstance(dtype, pd.CategoricalDtype):  # the form holds category names as text
            names = {str(c): c for c in dtype.categories}
            row[column] = pd.Categorical([names[row[column][0]]], dtype=dtype)
        else:
            row[column] = row[column].astype(dtype)
    return row[list(train.columns)]


def shown(number: float) -> str:
    return f"{number:,.2f}"


@pytest.mark.parametrize("name", SERVED)
def test_predict_page_shows_xgboosts_answer(
    name: str, zoo_ui: Server, zoo: dict[str, Packaged]
) -> None:
    packaged = zoo[name]
    metadata = httpx.get(f"{zoo_ui.url}/v1/models/{name}", timeout=30).json()
    want = expected_rows(packaged, default_row(packaged, metadata))[0]
    at = open_app(model=name)
    assert not at.warning, [w.value for w in at.warning]  # the untouched form is in range
    next(b for b in at.button if b.label == "Predict").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    metrics = {plain(m.label): plain(m.value) for m in at.metric}
    target = metadata["target"]
    if "label" in want:
        assert metrics[f"Predicted {target}"] == want["label"]
        if want["probabilities"] is None:  # nothing invented for a hinge model
            assert not any(m.proto.delta for m in at.metric), [m.proto.delta for m in at.metric]
        else:
            probability = want["probabilities"][want["label"]]
            assert at.metric[0].proto.delta == f"{probability:.1%} probability"
    elif "values" in want and metadata.get("outputs") and metadata["outputs"][0].get("quantile"):
        median = next(o["name"] for o in metadata["outputs"] if o["quantile"] == 0.5)
        assert metrics[f"Predicted {target} ({median})"] == shown(want["values"][median])
        low, high = metadata["outputs"][0]["name"], metadata["outputs"][-1]["name"]
        interval = f"Interval {shown(want['values'][low])} to {shown(want['values'][high])}"
        assert any(interval in plain(m.value) for m in at.markdown)
    elif "values" in want:
        for output, value in want["values"].items():
            assert metrics[f"Predicted {output}"] == shown(value)
    else:
        assert metrics[f"Predicted {target}"] == shown(want["value"])
