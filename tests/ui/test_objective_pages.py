"""The UI says what each kind of model really answers (AppTest against a real API).

Quantile models show their interval, multi-target models each target, hinge classifiers a label
without a made-up probability, log-link models what their contributions add up to, and binary
models which class the bars are about.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.datasets import load_breast_cancer, load_diabetes, load_linnerud

from tests.support import Server, running_api
from tests.ui.helpers import (
    answering_like_an_older_api,
    api_json,
    chart_data,
    form_values,
    open_app,
    texts,
)

QUANTILES = "diabetes-quantiles"
OFF_MEDIAN = "diabetes-quantiles-off-median"  # no 0.5: its nearest inside quantiles are 0.45, 0.55
ENDS = "diabetes-interval"  # two quantiles: an interval and no central value
ONE_QUANTILE = "diabetes-q0.9"
PLAIN = "diabetes"  # squared error: contributions add up to the value
FITNESS = "fitness"
POISSON = "diabetes-poisson"
TUMOUR = "tumour"
HINGE = "tumour-hinge"
TUMOUR_FEATURES = ["mean radius", "mean texture", "mean smoothness", "worst area"]


def _train(params: dict[str, Any], data: xgb.DMatrix, rounds: int = 8) -> xgb.Booster:
    return xgb.train({"max_depth": 3, "nthread": 1, "seed": 0, **params}, data, rounds)


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    cancer = load_breast_cancer(as_frame=True)
    return {
        QUANTILES: load_diabetes(as_frame=True).data,
        FITNESS: load_linnerud(as_frame=True).data,
        TUMOUR: cancer.data[TUMOUR_FEATURES],
    }


@pytest.fixture(scope="module")
def objectives_api(
    frames: dict[str, pd.DataFrame], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    from model_api.authoring import save_bundle

    x, y = frames[QUANTILES], load_diabetes().target
    xl, yl = frames[FITNESS], load_linnerud(as_frame=True).target
    xb, yb = frames[TUMOUR], load_breast_cancer().target
    tumour = ["malignant", "benign"]
    models = {
        QUANTILES: (
            _train(
                {"objective": "reg:quantileerror", "quantile_alpha": [0.05, 0.45, 0.5, 0.55, 0.95]},
                xgb.DMatrix(x, label=y),
            ),
            x,
            {"target": "progression"},
        ),
        **{
            name: (
                _train(
                    {"objective": "reg:quantileerror", "quantile_alpha": alphas},
                    xgb.DMatrix(x, label=y),
                ),
                x,
                {"target": "progression"},
            )
            for name, alphas in (
                (OFF_MEDIAN, [0.1, 0.45, 0.55, 0.9]),
                (ENDS, [0.1, 0.9]),
                (ONE_QUANTILE, [0.9]),
            )
        },
        FITNESS: (
            _train({"objective": "reg:squarederror"}, xgb.DMatrix(xl, label=yl)),
            xl,
            {"target": list(yl.columns)},
        ),
        PLAIN: (
            _train({"objective": "reg:squarederror"}, xgb.DMatrix(x, label=y)),
            x,
            {"target": "progression"},
        ),
        POISSON: (
            _train({"objective": "count:poisson"}, xgb.DMatrix(x, label=y)),
            x,
            {"target": "progression"},
        ),
        TUMOUR: (
            _train({"objective": "binary:logistic"}, xgb.DMatrix(xb, label=yb)),
            xb,
            {"class_labels": tumour},
        ),
        HINGE: (
            _train({"objective": "binary:hinge"}, xgb.DMatrix(xb, label=yb)),
            xb,
            {"class_labels": tumour},
        ),
    }
    repository = tmp_path_factory.mktemp("objective-models")
    for name, (booster, frame, extra) in models.items():
        save_bundle(booster, frame, repository / name / "1", name=name, **extra)
    with running_api(repository, tmp_path_factory.mktemp("objective-logs")) as server:
        yield server


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch, objectives_api: Server) -> Server:
    monkeypatch.setenv("MODEL_UI_API_URL", objectives_api.url)
    monkeypatch.delenv("MODEL_UI_API_KEY", raising=False)
    return objectives_api


def _predict(model: str, row: dict[str, float] | None = None) -> Any:
    """Open the Predict page for ``model``, type ``row`` into the form, press Predict."""
    at = open_app(model=model)
    for name, value in (row or {}).items():
        at.number_input(key=f"feature:{model}:1:{name}").set_value(value)
    at.button[0].click().run()
    assert not at.exception, at.exception
    return at


def _answer(
    api: Server, model: str, row: dict[str, Any], verb: str = "predict", **params: str
) -> Any:
    body = api_json(
        api, "POST", f"/v1/models/{model}/{verb}", json={"instances": [row]}, params=params
    )
    return body["predictions" if verb == "predict" else "explanations"][0]


def _drawn(at: Any) -> dict[str, float]:
    """The contributions the bars show, by feature."""
    return {r["feature"]: r["contribution"] for r in chart_data(at)[-1] if "feature" in r}


def test_quantile_model_shows_its_interval_around_the_median(api: Server) -> None:
    at = _predict(QUANTILES)
    row = form_values(at)
    values = _answer(api, QUANTILES, row)["values"]
    metric = at.metric[0]
    assert metric.label == "Predicted progression (q0.5)"
    assert metric.value == f"{values['q0.5']:,.2f}"
    shown = texts(at)
    assert f"**Interval {values['q0.05']:,.2f} to {values['q0.95']:,.2f}**" in shown
    assert "q0.05 and q0.95 quantiles. It expects 90% of outcomes" in shown
    quantiles, contributions = chart_data(at)
    assert {r["quantile"]: r["value"] for r in quantiles} == pytest.approx(values)
    assert "SHAP contributions to the q0.5 quantile in units of **progression**" in shown
    assert len([r for r in contributions if "feature" in r]) == 10


def test_quantile_row_whose_trees_cross_says_whose_trees_are_explained(api: Server) -> None:
    # Find a row whose q0.5 value XGBoost took from another alpha's trees (it sorts them).
    frame = load_diabetes(as_frame=True).data
    records = frame.head(60).to_dict(orient="records")
    explained = api_json(
        api, "POST", f"/v1/models/{QUANTILES}/explain", json={"instances": records}
    )["explanations"]
    crossing = next(i for i, e in enumerate(explained) if e["margin_output"] != "q0.5")
    at = _predict(QUANTILES, records[crossing])
    other = explained[crossing]["margin_output"]
    assert f"For this row the trees of {other} came out where q0.5 belongs" in texts(at)


def test_quantile_headline_and_bars_are_about_the_same_quantile(api: Server) -> None:
    at = _predict(OFF_MEDIAN)
    row = form_values(at)
    values = _answer(api, OFF_MEDIAN, row)["values"]
    assert [(m.label, m.value) for m in at.metric] == [
        ("Predicted progression (q0.45)", f"{values['q0.45']:,.2f}")
    ]
    explained = _answer(api, OFF_MEDIAN, row, "explain", output="q0.45")
    default = _answer(api, OFF_MEDIAN, row, "explain")  # the API's own pick: the first, q0.1
    assert default["explained_output"] == "q0.1"
    assert default["contributions"] != pytest.approx(explained["contributions"])
    assert _drawn(at) == pytest.approx(explained["contributions"])
    assert "SHAP contributions to the q0.45 quantile in units of **progression**" in texts(at)


def test_two_quantiles_show_an_interval_and_no_central_value(api: Server) -> None:
    at = _predict(ENDS)
    row = form_values(at)
    values = _answer(api, ENDS, row)["values"]
    interval = f"{values['q0.1']:,.2f} to {values['q0.9']:,.2f}"
    assert [(m.label, m.value) for m in at.metric] == [("Interval of progression", interval)]
    shown = texts(at)
    assert f"**Interval {interval}**: the model's q0.1 and q0.9 quantiles" in shown
    assert "no central value is shown; the bars below explain q0.1, the lowest" in shown
    explained = _answer(api, ENDS, row, "explain", output="q0.1")
    assert _drawn(at) == pytest.approx(explained["contributions"])
    assert "SHAP contributions to the q0.1 quantile" in shown


def test_one_quantile_model_is_shown_as_that_quantile_not_a_central_value(api: Server) -> None:
    at = _predict(ONE_QUANTILE)
    row = form_values(at)
    answer = _answer(api, ONE_QUANTILE, row)
    shown = texts(at)
    assert "Interval" not in shown
    assert len(at.metric) == 1 and "not a central value" in shown
    # The API names the one quantile like any quantile model's: {"values": {"q0.9": ...}}.
    assert api_json(api, "GET", f"/v1/models/{ONE_QUANTILE}")["outputs"] == [
        {"name": "q0.9", "quantile": 0.9}
    ]
    assert at.metric[0].label == "Predicted progression (q0.9)"
    assert at.metric[0].value == f"{answer['values']['q0.9']:,.2f}"
    assert "The model's **0.9 quantile** of progression, not a central value" in shown
    assert "90% of outcomes for a row like this to fall below it and 10% above" in shown
    assert "SHAP contributions to the q0.9 quantile in units of **progression**" in shown
    explained = _answer(api, ONE_QUANTILE, row, "explain")
    assert _drawn(at) == pytest.approx(explained["contributions"])


def test_multi_target_model_shows_each_target(api: Server) -> None:
    at = _predict(FITNESS)
    values = _answer(api, FITNESS, form_values(at))["values"]
    assert [(m.label, m.value) for m in at.metric] == [
        (f"Predicted {name}", f"{value:,.2f}") for name, value in values.items()
    ]
    assert list(values) == ["Weight", "Waist", "Pulse"]
    assert "The model predicts 3 targets at once." in texts(at)


def test_hinge_classifier_shows_the_label_without_a_probability(api: Server) -> None:
    at = _predict(HINGE)
    row = form_values(at)
    answer = _answer(api, HINGE, row)
    assert "probabilities" not in answer
    metric = at.metric[0]
    assert metric.value == answer["label"]
    assert not metric.delta  # no "84.1% probability" made up from a 0/1 score
    shown = texts(at)
    assert "This model gives a class without probabilities" in shown
    assert "hinge score" in shown and "above 0 means benign" in shown
    assert len(chart_data(at)) == 1  # contributions only: no probability chart


def test_log_link_model_says_what_its_contributions_add_up_to(api: Server) -> None:
    at = _predict(POISSON)
    row = form_values(at)
    value = _answer(api, POISSON, row)["value"]
    explanation = _answer(api, POISSON, row, "explain")
    total = explanation["base_value"] + sum(explanation["contributions"].values())
    assert np.exp(total) == pytest.approx(value, rel=1e-4)
    shown = texts(at)
    assert "SHAP contributions to the **log of the predicted count**" in shown
    assert f"On the log scale they add up to {total:+.3f}; exp({total:.3f}) = {value:,.4g}" in shown
    assert "in units of" not in shown


def test_binary_explanation_says_which_class_the_bars_are_about(api: Server) -> None:
    malignant = load_breast_cancer(as_frame=True).data[TUMOUR_FEATURES].iloc[0].to_dict()
    at = _predict(TUMOUR, malignant)
    answer = _answer(api, TUMOUR, form_values(at))
    assert answer["label"] == "malignant"
    assert at.metric[0].value == "malignant"
    shown = texts(at)
    assert (
        "The model predicts **malignant**, and the bars explain its **log-odds score for "
        "benign**, the other class" in shown
    )
    probability = answer["probabilities"]["benign"]
    assert f"a probability of {probability:.1%} for benign" in shown


@pytest.mark.parametrize(
    ("model", "said", "not_said"),
    [
        (PLAIN, "SHAP contributions in units of **progression**", "softmax"),
        (FITNESS, "SHAP contributions in units of **Weight**", "softmax"),
        # A log link: the contributions add up to the log of the value, not to the value.
        (POISSON, "SHAP contributions to the model's **raw score** (margin)", "in units of **"),
        (TUMOUR, "the bars explain its **log-odds score for", "in units of"),
    ],
)
def test_explanation_from_an_api_that_does_not_name_its_space(
    monkeypatch: pytest.MonkeyPatch, objectives_api: Server, model: str, said: str, not_said: str
) -> None:
    omitted = frozenset({"explanation", "output_space", "space_name", "margin_to_value"})
    with answering_like_an_older_api(objectives_api, omitted) as url:
        monkeypatch.setenv("MODEL_UI_API_URL", url)
        monkeypatch.delenv("MODEL_UI_API_KEY", raising=False)
        at = _predict(model)
        explained = httpx.post(
            f"{url}/v1/models/{model}/explain", json={"instances": [form_values(at)]}, timeout=30
        ).json()
    assert "output_space" not in explained and explained["explanations"]
    shown = texts(at)
    assert said in shown
    assert not_said not in shown


def test_model_card_names_the_outputs_and_the_explanation_space(api: Server) -> None:
    at = open_app("model", model=FITNESS)
    shown = texts(at)
    assert "Weight · Waist · Pulse" in shown
    poisson = open_app("model", model=POISSON)
    assert "Contributions are in: log of the predicted count." in texts(poisson)
    tumour = open_app("model", model=TUMOUR)
    assert "score for benign, whatever the label" in texts(tumour)


def test_batch_of_a_quantile_model_has_a_number_column_per_quantile(api: Server) -> None:
    frame = load_diabetes(as_frame=True).data.head(5)
    at = open_app("batch", model=QUANTILES)
    at.file_uploader[0].set_value(("rows.csv", frame.to_csv(index=False).encode(), "text/csv"))
    at.run()
    next(b for b in at.button if b.label.startswith("Score")).click().run()
    assert not at.exception
    columns = ["value_q0.05", "value_q0.45", "value_q0.5", "value_q0.55", "value_q0.95"]
    table = next(d.value for d in at.dataframe if "value_q0.5" in d.value.columns)
    assert all(pd.api.types.is_float_dtype(table[c]) for c in columns)
    scored = httpx.post(
        f"{api.url}/v1/models/{QUANTILES}/predict",
        json={"instances": frame.to_dict(orient="records")},
        timeout=30,
    ).json()["predictions"]
    np.testing.assert_allclose(
        table[columns].to_numpy(), [list(p["values"].values()) for p in scored], rtol=1e-12
    )


def test_batch_of_a_hinge_classifier_says_why_it_has_no_probabilities(api: Server) -> None:
    frame = load_breast_cancer(as_frame=True).data[TUMOUR_FEATURES].head(4)
    at = open_app("batch", model=HINGE)
    at.file_uploader[0].set_value(("rows.csv", frame.to_csv(index=False).encode(), "text/csv"))
    at.run()
    next(b for b in at.button if b.label.startswith("Score")).click().run()
    assert not at.exception
    assert api_json(api, "GET", f"/v1/models/{HINGE}")["probabilities"] is False
    table = next(d.value for d in at.dataframe if "label" in d.value.columns)
    assert not [c for c in table.columns if c.startswith("proba_")]
    assert "This model gives a class without probabilities" in texts(at)
