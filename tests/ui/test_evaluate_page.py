"""The Evaluate page, and the Batch page's offer to evaluate (AppTest) against a real API: what
the page shows is what the API's evaluation answered."""

from __future__ import annotations

import io

import httpx
import pandas as pd
import pytest

from tests.support import Server
from tests.ui.helpers import chart_data, open_app, texts


@pytest.fixture(scope="module")
def labelled() -> bytes:
    from model_api.authoring.examples import load_penguins_frame

    return load_penguins_frame().to_csv(index=False).encode()


def _evaluated_by_api(server: Server, data: bytes) -> dict:  # type: ignore[type-arg]
    response = httpx.post(
        f"{server.url}/v1/models/penguin-species/evaluate",
        content=data,
        headers={"Content-Type": "text/csv"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    result: dict = response.json()  # type: ignore[type-arg]
    return result


def test_a_labelled_file_shows_accuracy_the_confusion_matrix_and_the_worst_slices(
    ui_env: Server, labelled: bytes
) -> None:
    at = open_app("evaluate")
    assert "Evaluate · penguin-species" in texts(at)
    at.file_uploader[0].set_value(("penguins.csv", labelled, "text/csv")).run()
    assert not at.exception
    target = at.selectbox(key="evaluate_target")
    assert target.value == "species"  # the bundle's target, found in the file
    assert set(target.options) == {"species", "year"}  # the columns besides the features
    button = next(b for b in at.button if b.label.startswith("Evaluate on"))
    assert button.label == "Evaluate on 342 rows"
    button.click().run()
    assert not at.exception, at.exception

    expected = _evaluated_by_api(ui_env, labelled)
    accuracy = next(m for m in at.metric if m.label == "Accuracy")
    assert accuracy.value == f"{expected['classification']['accuracy']:.1%}"
    assert next(m for m in at.metric if m.label == "Rows judged").value == "342"
    shown = texts(at)
    assert "Where it does worst" in shown
    worst = expected["slices"][0]
    assert f"({worst['rows']:,} rows)" in shown and worst["feature"] in shown
    charts = chart_data(at)
    confusion = next(c for c in charts if c and "predicted" in c[0] and "actual" in c[0])
    matrix = expected["classification"]["confusion_matrix"]
    labels = expected["classification"]["labels"]
    assert {(c["actual"], c["predicted"]): c["rows"] for c in confusion} == {
        (labels[i], labels[j]): matrix[i][j] for i in range(3) for j in range(3)
    }
    calibration = next(c for c in charts if any("mean_predicted" in r for r in c))
    assert sum(b.get("rows") or 0 for b in calibration) == 342
    per_class = next(df.value for df in at.dataframe if "precision" in df.value.columns)
    assert list(per_class["label"]) == labels
    # The run is among the past runs, newest first.
    runs = next(df.value for df in at.dataframe if "source" in df.value.columns)
    assert runs.iloc[0]["rows"] == 342 and runs.iloc[0]["source"] == "csv"


def test_the_feedback_so_far_can_be_judged_too(ui_env: Server) -> None:
    at = open_app("evaluate")
    at.radio(key="evaluate_source").set_value("The feedback so far").run()
    button = next(b for b in at.button if b.label == "Evaluate on the feedback so far")
    button.click().run()
    assert not at.exception, at.exception
    runs = httpx.get(f"{ui_env.url}/v1/models/penguin-species/evaluations", timeout=10).json()[
        "evaluations"
    ]
    assert runs[0]["source"] == "feedback"
    shown = next(m for m in at.metric if m.label == "Rows judged").value
    assert shown == f"{runs[0]['scored']:,}"


def test_a_regression_shows_its_error_and_residuals(ui_env: Server, labelled: bytes) -> None:
    at = open_app("evaluate", model="penguin-mass")
    at.file_uploader[0].set_value(("penguins.csv", labelled, "text/csv")).run()
    assert at.selectbox(key="evaluate_target").value == "body_mass_g"
    next(b for b in at.button if b.label.startswith("Evaluate on")).click().run()
    assert not at.exception, at.exception
    rmse = next(m for m in at.metric if m.label == "RMSE")
    assert float(rmse.value.replace(",", "")) > 0
    assert "Residuals (actual − predicted)" in texts(at)
    assert "RMSE rises to" in texts(at)  # on the worst slices


def test_the_batch_page_offers_to_evaluate_a_file_with_the_target(
    ui_env: Server, labelled: bytes
) -> None:
    at = open_app("batch")
    at.file_uploader[0].set_value(("penguins.csv", labelled, "text/csv")).run()
    assert "This file has the model's target column, species" in texts(at)
    next(b for b in at.button if b.label == "Evaluate on its species column").click().run()
    assert not at.exception, at.exception
    expected = _evaluated_by_api(ui_env, labelled)
    accuracy = expected["classification"]["accuracy"]
    assert f"Accuracy: {accuracy:.1%} on 342 rows (0 failed)" in texts(at)
    # Without the target column there is no offer.
    without = pd.read_csv(io.BytesIO(labelled)).drop(columns="species")
    at.file_uploader[0].set_value(("plain.csv", without.to_csv(index=False).encode(), "text/csv"))
    at.run()
    assert "target column" not in texts(at)
