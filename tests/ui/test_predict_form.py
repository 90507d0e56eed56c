"""The Predict form (AppTest, real API): no stale answer after an edit, missing values sent as null."""

from __future__ import annotations

import json

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from streamlit.testing.v1 import AppTest

from tests.support import Server
from tests.ui.helpers import api_json, chart_data, form_values, open_app, texts

SPECIES = "penguin-species"
MISSING = f"missing:{SPECIES}:1"


def key(feature: str) -> str:
    return f"feature:{SPECIES}:1:{feature}"


def predict(at: AppTest) -> None:
    next(b for b in at.button if b.label == "Predict").click().run()
    assert not at.exception


def test_an_edit_after_predict_hides_the_answer_until_predict_is_pressed(ui_env: Server) -> None:
    at = open_app(model=SPECIES)
    predict(at)
    first = form_values(at)
    assert at.metric and len(chart_data(at)) == 2  # the answer: label, probabilities, reasons

    at.number_input(key=key("body_mass_g")).set_value(6000.0).run()
    assert not at.exception
    assert not at.metric, "the old answer is still shown beside values it was not computed for"
    assert not chart_data(at)
    assert "The form changed since the last answer (body_mass_g)" in texts(at)

    at.number_input(key=key("body_mass_g")).set_value(first["body_mass_g"]).run()
    assert at.metric and not at.info  # back to the values of the answer: it is theirs again

    at.number_input(key=key("body_mass_g")).set_value(6000.0).run()
    predict(at)
    row = form_values(at)
    expected = api_json(ui_env, "POST", f"/v1/models/{SPECIES}/predict", json={"instances": [row]})
    assert row["body_mass_g"] == 6000.0
    assert at.metric[0].value == expected["predictions"][0]["label"]
    assert not at.info


def _missing_counts(server: Server) -> dict[str, float]:
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    return {
        sample.labels["feature"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "model_api_feature_missing_total" and sample.labels["model"] == SPECIES
    }


def test_any_feature_can_be_sent_as_missing(ui_env: Server) -> None:
    before = _missing_counts(ui_env)
    at = open_app(model=SPECIES)
    defaults = form_values(at)
    at.multiselect(key=MISSING).set_value(["bill_length_mm", "island"]).run()
    assert not at.exception
    shown = form_values(at)
    assert "bill_length_mm" not in shown and "island" not in shown  # no stale value in their place
    assert {t.placeholder for t in at.text_input if t.disabled} == {"missing: sent as null"}
    predict(at)

    row = {**defaults, "bill_length_mm": None, "island": None}
    expected = api_json(ui_env, "POST", f"/v1/models/{SPECIES}/predict", json={"instances": [row]})
    answer = expected["predictions"][0]
    assert at.metric[0].value == answer["label"]
    probabilities, _ = chart_data(at)
    assert {r["class"]: r["probability"] for r in probabilities} == pytest.approx(
        answer["probabilities"]
    )
    after = _missing_counts(ui_env)  # the API counted the nulls it received from the UI
    grown = {name for name in after if after[name] > before.get(name, 0.0)}
    assert grown == {"bill_length_mm", "island"}

    at.switch_page("app_pages/api.py").run()  # the snippets send the same nulls
    curl = at.code[0].value
    assert json.loads(curl.split("-d '", 1)[1].rstrip("'"))["instances"][0] == row

    at.switch_page("app_pages/predict.py").run()  # still missing when the user comes back
    assert at.multiselect(key=MISSING).value == ["bill_length_mm", "island"]
    at.multiselect(key=MISSING).set_value([]).run()  # and back to a value: the default
    assert form_values(at) == defaults
