"""Every Grafana dashboard query returns data from a real Prometheus scraping the real API."""

from __future__ import annotations

import itertools
import json
import math
import re
import time
from typing import Any

import httpx
import pytest

from tests.monitoring.conftest import DASHBOARD, Prometheus, alert_names
from tests.support import Server

RATE_INTERVAL = "1m"  # what Grafana's $__rate_interval becomes at this scrape interval and range


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())  # type: ignore[no-any-return]


def panels() -> list[dict[str, Any]]:
    found = []
    for panel in dashboard()["panels"]:
        found += [panel, *panel.get("panels", [])]
    return [p for p in found if p["type"] != "row"]


def declared_metrics() -> set[str]:
    """The series names of every metric model_api.observability.metrics declares."""
    from model_api.observability import metrics
    from prometheus_client.metrics import MetricWrapperBase

    declared: set[str] = set()
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            name, kind = value._name, value._type
            declared |= {
                "counter": {f"{name}_total"},
                "histogram": {f"{name}_bucket", f"{name}_sum", f"{name}_count"},
            }.get(kind, {name})
    return declared


# The Feedback row's metrics: the prediction log and the feedback endpoint feed them.
FEEDBACK_METRICS = {
    "model_api_feedback_agreement_ratio",
    "model_api_feedback_total",
    "model_api_prediction_log_rows_total",
    "model_api_prediction_log_queue_rows",
    "model_api_database_up",
}


def panel_params() -> list[Any]:
    return [pytest.param(panel, id=panel["title"]) for panel in panels()]


def substitute(expr: str, job: str, model: str = ".*") -> str:
    """Fill in the dashboard's template variables as Grafana would ($job picked, $model = All)."""
    values = {"job": job, "model": model, "__rate_interval": RATE_INTERVAL, "__interval": "15s"}
    expr = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: values[m.group(1) or m.group(2)], expr)
    assert "$" not in expr, f"unsubstituted variable in {expr}"
    return expr


def example(feature: dict[str, Any]) -> Any:
    if feature.get("default") is not None:
        return feature["default"]
    if feature["type"] == "categorical":
        return feature["categories"][0]
    return ((feature.get("min") or 0) + (feature.get("max") or 1)) / 2


def send_feedback(
    client: httpx.Client, metadata: dict[str, Any], predictions: list[dict[str, Any]]
) -> None:
    """Judge the logged predictions (those with an id): right, wrong, and an actual value only."""
    ids = [p["id"] for p in predictions if "id" in p]
    classes = metadata.get("class_labels") or []
    for number, prediction_id in enumerate(ids[:3]):
        body: dict[str, Any] = {"prediction_id": prediction_id, "author": "dashboard-test"}
        if number == 0:
            body["verdict"] = "right"
        elif number == 1:
            body["verdict"] = "wrong"
        else:
            body["actual"] = classes[-1] if classes else 4000.0
        response = client.post("/v1/feedback", json=body)
        assert response.status_code in (200, 201), response.text


def send_traffic(api: Server) -> None:
    """Good predictions (with missing and out-of-range values), explanations and bad requests."""
    with httpx.Client(base_url=api.url, timeout=30) as client:
        models = client.get("/v1/models").json()["models"]
        assert {m["name"] for m in models} >= {"penguin-species", "penguin-mass"}
        for model in models:
            metadata = client.get(f"/v1/models/{model['name']}").json()
            good = {f["name"]: example(f) for f in metadata["features"]}
            numeric = next(f for f in metadata["features"] if f["type"] == "numeric")
            missing = {**good, numeric["name"]: None}
            out_of_range = {**good, numeric["name"]: numeric["max"] * 10}
            predict = f"/v1/models/{model['name']}/predict"
            response = client.post(predict, json={"instances": [good, missing, out_of_range] * 3})
            assert response.status_code == 200, response.text
            send_feedback(client, metadata, response.json()["predictions"])
            response = client.post(
                f"/v1/models/{model['name']}/explain", json={"instances": [good]}
            )
            assert response.status_code == 200, response.text
        species = "/v1/models/penguin-species/predict"
        assert (
            client.post("/v1/models/no-such-model/predict", json={"instances": [{}]}).status_code
            == 404
        )
        assert (
            client.post(species, json={"instances": [{"bill_length_mm": "long"}]}).status_code
            == 422
        )
        malformed = client.post(
            species, content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert malformed.status_code == 400, malformed.text
        header = "bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,island,sex"
        bad_row = client.post(
            species,
            content=f"{header}\nlong,18,190,4000,Dream,male\n",
            headers={"Content-Type": "text/csv"},
        )
        assert bad_row.status_code == 200, bad_row.text  # the file is accepted, the row rejected


@pytest.fixture(scope="module")
def scraped(prometheus: Prometheus, api_server: Server) -> Prometheus:
    """Prometheus after two rounds of traffic, each seen by at least two scrapes."""
    deadline = time.monotonic() + 30
    while not prometheus.query(f'up{{job="{prometheus.job}"}} == 1'):
        assert time.monotonic() < deadline, "Prometheus never scraped the API"
        time.sleep(0.2)
    send_traffic(api_server)
    time.sleep(2.5)
    send_traffic(api_server)
    time.sleep(2.5)
    return prometheus


def has_data(result: list[dict[str, Any]]) -> bool:
    return any(math.isfinite(float(series["value"][1])) for series in result)


def test_dashboard_is_well_formed() -> None:
    board = dashboard()
    assert board["uid"] and board["title"]
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert (
        variables["datasource"]["type"] == "datasource"
        and variables["datasource"]["query"] == "prometheus"
    )
    for panel in panels():
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        assert panel.get("description"), f"panel {panel['title']} explains itself"
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24
        for target in panel["targets"]:
            assert target["expr"].strip()
            used = set(re.findall(r"\$\{?(\w+)", target["expr"]))
            assert used <= {*variables, "__rate_interval"}, used


def test_dashboard_queries_name_only_declared_metrics() -> None:
    declared = declared_metrics()
    queries = [t["expr"] for p in panels() for t in p["targets"]]
    queries += [v["definition"] for v in dashboard()["templating"]["list"] if v.get("definition")]
    used = {name for q in queries for name in re.findall(r"\bmodel_api_\w+", q)}
    assert used <= declared, used - declared
    # Every metric the API declares appears on the dashboard (sums and counts aside).
    shown = {n.removesuffix("_bucket") for n in used}
    expected = {n.removesuffix("_bucket") for n in declared if not n.endswith(("_sum", "_count"))}
    assert expected <= shown, expected - shown


def test_template_variables_find_values(scraped: Prometheus) -> None:
    jobs = scraped.get("/api/v1/label/job/values", **{"match[]": "model_api_ready"})
    assert scraped.job in jobs
    variable = next(v for v in dashboard()["templating"]["list"] if v["name"] == "model")
    selector = re.fullmatch(r"label_values\((.+), (\w+)\)", variable["definition"])
    assert selector is not None
    models = scraped.get(
        f"/api/v1/label/{selector.group(2)}/values",
        **{"match[]": substitute(selector.group(1), scraped.job)},
    )
    assert {"penguin-species", "penguin-mass"} <= set(models)


@pytest.mark.parametrize("panel", panel_params())
def test_every_panel_query_returns_data(
    scraped: Prometheus, api_server: Server, panel: dict[str, Any]
) -> None:
    for target in panel["targets"]:
        expr = substitute(target["expr"], scraped.job)
        result = scraped.query(expr)
        for _ in range(3):  # rates need fresh traffic inside the window: send more if it aged out
            if has_data(result):
                break
            send_traffic(api_server)
            time.sleep(2.5)
            result = scraped.query(expr)
        assert has_data(result), (
            f"{panel['title']} / {target['refId']}: no data for {expr}: {result}"
        )


def test_prometheus_loads_and_evaluates_the_alert_rules(scraped: Prometheus) -> None:
    deadline = time.monotonic() + 15
    while True:
        groups = scraped.get("/api/v1/rules")["groups"]
        rules = [r for g in groups for r in g["rules"]]
        if rules and all(
            r.get("lastEvaluation", "").startswith("20") and r["health"] == "ok" for r in rules
        ):
            break
        assert time.monotonic() < deadline, f"rules not evaluated cleanly: {rules}"
        time.sleep(0.5)
    assert {r["name"] for r in rules} == alert_names()
    # The API is ready and loaded every bundle: those alerts stay quiet.
    quiet = {
        r["name"]: r["state"]
        for r in rules
        if r["name"] in ("ModelApiNotReady", "ModelApiModelLoadFailed")
    }
    assert set(quiet.values()) == {"inactive"}, quiet


def test_feedback_row_shows_the_feedback_loop_metrics() -> None:
    """The Feedback row: agreement per version, feedback by verdict, log rows, database up."""
    board = dashboard()["panels"]
    start = next(i for i, p in enumerate(board) if p["type"] == "row" and p["title"] == "Feedback")
    row = list(itertools.takewhile(lambda p: p["type"] != "row", board[start + 1 :]))
    used = {n for p in row for t in p["targets"] for n in re.findall(r"\bmodel_api_\w+", t["expr"])}
    assert used == FEEDBACK_METRICS
    exprs = " ".join(t["expr"] for p in row for t in p["targets"])
    assert "by (model, version)" in exprs and "by (verdict)" in exprs and "by (outcome)" in exprs


def test_the_shadow_row_shows_the_shadow_metrics() -> None:
    """The Shadow scoring row: the disagreement rate, rows by outcome, which shadows are active."""
    board = dashboard()["panels"]
    start = next(
        i for i, p in enumerate(board) if p["type"] == "row" and p["title"] == "Shadow scoring"
    )
    row = list(itertools.takewhile(lambda p: p["type"] != "row", board[start + 1 :]))
    used = {n for p in row for t in p["targets"] for n in re.findall(r"\bmodel_api_\w+", t["expr"])}
    assert used == {"model_api_shadow_rows_total", "model_api_shadow_active"}
