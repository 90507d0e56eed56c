"""Predict page (AppTest) against a real API: the form comes from the metadata, answers match."""

from __future__ import annotations

import pytest

from tests.support import Server
from tests.ui.helpers import (
    API_KEY,
    FORM_ROW,
    MIXED_MODEL,
    api_json,
    chart_data,
    form_values,
    open_app,
    plain,
    texts,
)

SPECIES = "penguin-species"


def key(model: str, feature: str) -> str:
    return f"feature:{model}:1:{feature}"


def test_form_is_generated_from_the_metadata(ui_env: Server) -> None:
    metadata = api_json(ui_env, "GET", f"/v1/models/{SPECIES}")
    at = open_app(model=SPECIES)

    assert plain(at.title[0].value) == f"Predict · {SPECIES}"
    for feature in metadata["features"]:
        if feature["type"] == "categorical":
            widget = at.selectbox(key=key(SPECIES, feature["name"]))
            assert widget.options == feature["categories"]
        else:
            widget = at.number_input(key=key(SPECIES, feature["name"]))
            assert f"({feature['min']:g}–{feature['max']:g})" in widget.label
        assert widget.value == feature["default"]
        assert plain(widget.help).startswith(feature["description"])


def test_prediction_shows_the_api_answer_with_probabilities_and_contributions(
    ui_env: Server,
) -> None:
    row = FORM_ROW
    at = open_app(model=SPECIES)
    for name, value in row.items():
        if isinstance(value, str):
            at.selectbox(key=key(SPECIES, name)).set_value(value)
        else:
            at.number_input(key=key(SPECIES, name)).set_value(value)
    at.button[0].click().run()
    assert not at.exception

    expected = api_json(ui_env, "POST", f"/v1/models/{SPECIES}/predict", json={"instances": [row]})
    answer = expected["predictions"][0]
    explained = api_json(ui_env, "POST", f"/v1/models/{SPECIES}/explain", json={"instances": [row]})
    explanation = explained["explanations"][0]

    metric = at.metric[0]
    assert metric.label == "Predicted species"
    assert metric.value == answer["label"]
    assert metric.delta == f"{answer['probabilities'][answer['label']]:.1%} probability"

    probabilities, contributions = chart_data(at)
    shown = {r["class"]: r["probability"] for r in probabilities}
    assert shown == pytest.approx(answer["probabilities"])
    assert [r["predicted"] for r in probabilities] == [c == answer["label"] for c in shown]
    drawn = {r["feature"]: r["contribution"] for r in contributions if "feature" in r}
    assert drawn == pytest.approx(explanation["contributions"])
    # Multiclass margins are softmax scores, not log-odds: the text says so.
    assert f"softmax score for {explanation['explained_class']}**, the predicted class" in texts(at)
    total = explanation["base_value"] + sum(explanation["contributions"].values())
    assert f"they add up to {total:+.3f}" in texts(at)
    assert "log-odds" not in texts(at)
    table = at.dataframe[0].value
    assert list(table["feature"]) == sorted(drawn, key=lambda f: -abs(drawn[f]))

    at.switch_page("app_pages/api.py").run()  # away and back: the answer is still shown
    at.switch_page("app_pages/predict.py").run()
    assert not at.exception
    assert [m.value for m in at.metric] == [answer["label"]]
    assert form_values(at) == row
    assert not at.info  # nor is it taken for an answer to other values


def test_regression_model_shows_the_value(ui_env: Server) -> None:
    at = open_app(model="penguin-mass")
    at.selectbox(key=key("penguin-mass", "species")).set_value("Gentoo")
    at.number_input(key=key("penguin-mass", "flipper_length_mm")).set_value(220.0)
    at.button[0].click().run()
    assert not at.exception

    row = form_values(at)
    expected = api_json(
        ui_env, "POST", "/v1/models/penguin-mass/predict", json={"instances": [row]}
    )
    assert row["species"] == "Gentoo" and row["flipper_length_mm"] == 220.0
    # Inner underscores emphasise nothing, so the name is shown as it is, without backslashes.
    assert at.metric[0].label == "Predicted body_mass_g"
    assert at.metric[0].value == f"{expected['predictions'][0]['value']:,.2f}"
    assert "in units of **body_mass_g**" in texts(at)
    assert len(chart_data(at)) == 1  # contributions only: no probabilities for regression


def test_out_of_range_value_is_flagged_but_still_scored(ui_env: Server) -> None:
    at = open_app(model=SPECIES)
    at.number_input(key=key(SPECIES, "body_mass_g")).set_value(9000.0)
    at.button[0].click().run()
    assert any(
        "body_mass_g = 9000.0 is outside the training range 2700 to 6300" in plain(w.value)
        for w in at.warning
    )
    assert at.metric[0].value in ("Adelie", "Chinstrap", "Gentoo")


def test_checkboxes_integers_and_the_api_key(
    monkeypatch: pytest.MonkeyPatch, keyed_api: Server
) -> None:
    """A model with boolean and integer features, behind an API key sent from MODEL_UI_API_KEY."""
    monkeypatch.setenv("MODEL_UI_API_URL", keyed_api.url)
    monkeypatch.setenv("MODEL_UI_API_KEY", API_KEY)
    at = open_app(model=MIXED_MODEL)
    flag = at.checkbox(key=key(MIXED_MODEL, "flag"))
    count = at.number_input(key=key(MIXED_MODEL, "count"))
    assert plain(flag.help).startswith("A yes/no switch")
    assert isinstance(count.value, int)
    flag.check()
    count.set_value(7)
    at.number_input(key=key(MIXED_MODEL, "size")).set_value(12.5)
    at.selectbox(key=key(MIXED_MODEL, "colour")).set_value("red")
    at.button[0].click().run()
    assert not at.exception

    row = {"size": 12.5, "count": 7, "flag": True, "colour": "red"}
    expected = api_json(
        keyed_api,
        "POST",
        f"/v1/models/{MIXED_MODEL}/predict",
        json={"instances": [row]},
        headers={"X-API-Key": API_KEY},
    )
    assert at.metric[0].value == expected["predictions"][0]["label"]


def test_without_the_key_the_api_refusal_is_shown(
    monkeypatch: pytest.MonkeyPatch, keyed_api: Server
) -> None:
    monkeypatch.setenv("MODEL_UI_API_URL", keyed_api.url)
    monkeypatch.delenv("MODEL_UI_API_KEY", raising=False)
    at = open_app(model=None)
    banner = plain(at.error[0].value)
    assert "The model API answered 401 (unauthorized)" in banner
    assert "missing API key: send it in the X-API-Key header" in banner  # the API's own words
    assert f"{keyed_api.url}/v1/models" in banner
    assert [b.label for b in at.button] == ["Retry"]
