"""Model, API and Monitoring pages and the header (AppTest) against a real API."""

from __future__ import annotations

import json
import os
import re
import subprocess
from contextlib import redirect_stdout
from io import StringIO
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import Server
from tests.ui.helpers import API_KEY, MIXED_MODEL, api_json, chart_data, open_app, plain, texts

SPECIES = "penguin-species"


def test_header_shows_the_api_and_its_readiness(ui_env: Server) -> None:
    at = open_app(model=None)
    sidebar = "\n".join(str(m.value) for m in at.sidebar.markdown)
    assert f"`{ui_env.url}`" in sidebar
    assert [s.value for s in at.sidebar.success] == ["Ready · 2 models"]
    assert at.sidebar.selectbox(key="model").options == [
        "penguin-mass (regression)",
        "penguin-species (multiclass)",
    ]


def test_model_card(ui_env: Server) -> None:
    metadata = api_json(ui_env, "GET", f"/v1/models/{SPECIES}")
    at = open_app("model")
    assert plain(at.title[0].value) == f"Model · {SPECIES}"
    assert {m.label: m.value for m in at.metric} == {
        "Task": "multiclass",
        "Version": "1",
        "Target": "species",
    }
    versions, features, metrics, identity = (df.value for df in at.dataframe)
    assert list(versions["version"]) == ["1"] and list(versions["answers by default"]) == [True]
    assert list(features["feature"]) == [f["name"] for f in metadata["features"]]
    assert list(features["type"]) == [f["type"] for f in metadata["features"]]
    assert (
        features.set_index("feature").loc["island", "range or categories"]
        == "Biscoe, Dream, Torgersen"
    )
    assert (
        features.set_index("feature").loc["bill_length_mm", "range or categories"] == "32.1 to 59.6"
    )
    assert dict(zip(metrics["metric"], metrics["value"], strict=True)) == {
        k: f"{v:.6g}" for k, v in metadata["metrics"].items()
    }
    assert metadata["model_sha256"] in list(identity["value"])
    assert "Adelie · Chinstrap · Gentoo" in texts(at)

    (importance,) = chart_data(at)
    assert {r["feature"] for r in importance} == {f["name"] for f in metadata["features"]}
    assert all(r["importance"] >= 0 for r in importance)
    assert max(importance, key=lambda r: r["importance"])["importance"] > 0
    assert "256 synthetic rows drawn uniformly" in texts(at)


def _run_bash(snippet: str, **env: str) -> Any:
    done = subprocess.run(
        ["bash", "-c", snippet],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**os.environ, **env},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _without_ids(answer: dict[str, Any]) -> dict[str, Any]:
    """A v1 answer without its prediction ids: each request logs its rows under new ids."""
    for prediction in answer["predictions"]:
        assert re.fullmatch(r"[0-9a-f]{20}-\d+", prediction.pop("id"))
    return answer


def test_api_snippets_carry_the_form_values_and_work(ui_env: Server) -> None:
    at = open_app(model=SPECIES)
    at.selectbox(key=f"feature:{SPECIES}:1:island").set_value("Torgersen")
    at.number_input(key=f"feature:{SPECIES}:1:bill_length_mm").set_value(41.5)
    at.button[0].click().run()
    at.switch_page("app_pages/api.py").run()
    assert not at.exception
    assert at.get("link_button")[0].proto.url == f"{ui_env.url}/docs"

    curl, python, v2, v2_body, csv_curl = (c.value for c in at.code)
    row = json.loads(curl.split("-d '", 1)[1].rstrip("'"))["instances"][0]
    assert row["island"] == "Torgersen" and row["bill_length_mm"] == 41.5
    expected = api_json(ui_env, "POST", f"/v1/models/{SPECIES}/predict", json={"instances": [row]})
    label = expected["predictions"][0]["label"]

    assert _without_ids(_run_bash(curl)) == _without_ids(expected)
    printed = StringIO()
    with redirect_stdout(printed):
        exec(python, {})  # noqa: S102  (the snippet shown to users, run as they would)
    shown = re.sub(r"'id': '[0-9a-f]{20}-0', ", "", printed.getvalue().strip())
    assert shown == str(expected["predictions"][0])
    v2_answer = _run_bash(v2)
    outputs = {o["name"]: o["data"] for o in v2_answer["outputs"]}
    assert outputs["predict"] == [label]
    assert outputs["predict_proba"] == pytest.approx(
        list(expected["predictions"][0]["probabilities"].values())
    )
    assert json.loads(v2_body) == json.loads(v2.split("-d '", 1)[1].rstrip("'"))
    assert "--data-binary @rows.csv" in csv_curl


def _counter(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def test_monitoring_reads_the_live_metrics(ui_env: Server) -> None:
    for island in ("Biscoe", "Dream", "Torgersen"):
        row = {
            "bill_length_mm": 45,
            "bill_depth_mm": 16,
            "flipper_length_mm": 210,
            "body_mass_g": 5000,
            "island": island,
            "sex": "male",
        }
        api_json(ui_env, "POST", f"/v1/models/{SPECIES}/predict", json={"instances": [row]})
    before = httpx.get(f"{ui_env.url}/metrics", timeout=10).text

    at = open_app("monitoring")
    figures = {m.label: m.value for m in at.metric}
    assert figures["Ready"] == "yes"
    assert figures["Requests/s"] == "–"  # one read so far: no rate yet
    requests_before = sum(_counter(before, "model_api_http_requests_total").values())
    assert float(figures["Requests (total)"].replace(",", "")) >= requests_before
    assert figures["p50 latency"].endswith(" ms")

    predicted = {
        dict(k)["label"]: v
        for k, v in _counter(before, "model_api_predictions_total").items()
        if dict(k)["model"] == SPECIES
    }
    # The predicted-classes chart (an agreement chart joins it once colleagues gave feedback).
    (classes,) = [c for c in chart_data(at) if c and {"label", "count"} <= set(c[0])]
    shown = {r["label"]: r["count"] for r in classes if r["model"] == f"{SPECIES} v1"}
    assert set(shown) == set(predicted)
    assert all(shown[label] >= predicted[label] for label in predicted)

    api_json(ui_env, "GET", "/v1/models")
    at.run()  # the next refresh: rates appear, and the rate chart
    figures = {m.label: m.value for m in at.metric}
    assert float(figures["Requests/s"]) > 0
    assert len(chart_data(at)) >= 2


def test_snippets_for_a_keyed_api_with_boolean_and_integer_features(
    monkeypatch: pytest.MonkeyPatch, keyed_api: Server
) -> None:
    monkeypatch.setenv("MODEL_UI_API_URL", keyed_api.url)
    monkeypatch.setenv("MODEL_UI_API_KEY", API_KEY)
    at = open_app("model", model=MIXED_MODEL)  # the model card of a binary model with booleans
    assert {m.label: m.value for m in at.metric}["Task"] == "binary"
    assert {r["feature"] for r in chart_data(at)[0]} == {"size", "count", "flag", "colour"}
    at.switch_page("app_pages/api.py").run()
    assert not at.exception
    assert "set `MODEL_API_KEY`" in at.info[0].value
    curl, python, v2, _, _ = (c.value for c in at.code)
    assert API_KEY not in curl + python + v2  # the UI's key is never printed
    expected = api_json(
        keyed_api,
        "POST",
        f"/v1/models/{MIXED_MODEL}/predict",
        json={"instances": [json.loads(curl.split("-d '", 1)[1].rstrip("'"))["instances"][0]]},
        headers={"X-API-Key": API_KEY},
    )
    assert _without_ids(_run_bash(curl, MODEL_API_KEY=API_KEY)) == _without_ids(expected)
    inputs = {
        i["name"]: i["datatype"] for i in json.loads(v2.split("-d '", 1)[1].rstrip("'"))["inputs"]
    }
    assert inputs == {"size": "FP32", "count": "INT64", "flag": "BOOL", "colour": "BYTES"}
    outputs = {o["name"]: o["data"] for o in _run_bash(v2, MODEL_API_KEY=API_KEY)["outputs"]}
    assert outputs["predict"] == [expected["predictions"][0]["label"]]
    monkeypatch.setenv("MODEL_API_KEY", API_KEY)
    printed = StringIO()
    with redirect_stdout(printed):
        exec(python, {})  # noqa: S102
    shown = re.sub(r"'id': '[0-9a-f]{20}-0', ", "", printed.getvalue().strip())
    assert shown == str(expected["predictions"][0])


def test_v2_snippet_sends_missing_integers_and_booleans_as_the_api_takes_them(
    monkeypatch: pytest.MonkeyPatch, keyed_api: Server
) -> None:
    monkeypatch.setenv("MODEL_UI_API_URL", keyed_api.url)
    monkeypatch.setenv("MODEL_UI_API_KEY", API_KEY)
    at = open_app(model=MIXED_MODEL)
    at.multiselect(key=f"missing:{MIXED_MODEL}:1").set_value(["count", "flag"]).run()
    at.switch_page("app_pages/api.py").run()
    assert not at.exception
    curl, _, v2, _, _ = (c.value for c in at.code)
    row = json.loads(curl.split("-d '", 1)[1].rstrip("'"))["instances"][0]
    assert row["count"] is None and row["flag"] is None
    inputs = {i["name"]: i for i in json.loads(v2.split("-d '", 1)[1].rstrip("'"))["inputs"]}
    assert [inputs[name]["data"] for name in ("count", "flag")] == [[None], [None]]

    answer = _run_bash(v2, MODEL_API_KEY=API_KEY)
    assert "outputs" in answer, answer  # the API took it (a refusal is {"error": ...})
    expected = api_json(
        keyed_api,
        "POST",
        f"/v1/models/{MIXED_MODEL}/predict",
        json={"instances": [row]},
        headers={"X-API-Key": API_KEY},
    )["predictions"][0]
    outputs = {o["name"]: o["data"] for o in answer["outputs"]}
    assert outputs["predict"] == [expected["label"]]
    assert outputs["predict_proba"] == pytest.approx(list(expected["probabilities"].values()))
