"""Prometheus metrics move when requests are made, with bounded labels."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from model_api.http.app import create_app, load_models
from model_api.settings import Settings
from prometheus_client import REGISTRY, Counter
from prometheus_client.parser import text_string_to_metric_families

from tests.support import ADELIE, Server


def scrape(server: Server) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = httpx.get(f"{server.url}/metrics").text
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_move_with_traffic(api_server: Server) -> None:
    before = scrape(api_server)
    url = f"{api_server.url}/v1/models/penguin-species/predict"
    rows = [ADELIE, {**ADELIE, "bill_length_mm": None}, {**ADELIE, "body_mass_g": 99999}]
    assert httpx.post(url, json={"instances": rows}).status_code == 200
    assert httpx.post(url, json={"instances": [{**ADELIE, "island": "Mars"}]}).status_code == 422
    mass = {
        "bill_length_mm": 50,
        "bill_depth_mm": 15,
        "flipper_length_mm": 220,
        "species": "Gentoo",
        "island": "Biscoe",
        "sex": "male",
    }
    assert (
        httpx.post(
            f"{api_server.url}/v1/models/penguin-mass/predict", json={"instances": [mass]}
        ).status_code
        == 200
    )
    bad_csv = "bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,island,sex\nx,1,1,1,Dream,male\n"
    csv_response = httpx.post(url, content=bad_csv, headers={"content-type": "text/csv"})
    assert csv_response.status_code == 200
    after = scrape(api_server)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    species = {"model": "penguin-species", "version": "1"}
    route = {"route": "/v1/models/{name}/predict", "method": "POST"}
    assert delta("model_api_http_requests_total", **route, status="200") == 3
    assert delta("model_api_http_requests_total", **route, status="422") == 1
    assert delta("model_api_http_request_duration_seconds_count", **route) == 4
    assert delta("model_api_inference_requests_total", **species, endpoint="predict") == 1
    assert delta("model_api_inference_rows_total", **species) == 3
    assert delta("model_api_inference_duration_seconds_count", **species) >= 1
    assert delta("model_api_errors_total", kind="invalid_input") == 1
    assert delta("model_api_csv_rows_rejected_total", **species) == 1
    assert delta("model_api_predictions_total", **species, label="Adelie") >= 2
    assert delta("model_api_feature_missing_total", **species, feature="bill_length_mm") == 1
    assert delta("model_api_feature_out_of_range_total", **species, feature="body_mass_g") == 1
    assert delta("model_api_predicted_value_count", model="penguin-mass", version="1") == 1
    deciles = [
        delta(
            "model_api_predicted_value_decile_total",
            model="penguin-mass",
            version="1",
            decile=f"d{i}",
        )
        for i in range(1, 11)
    ]
    assert sum(deciles) == 1
    assert value(after, "model_api_ready") == 1
    info = [k for k in after if k[0] == "model_api_model_info"]
    assert {dict(k[1])["model"] for k in info} >= {"penguin-species", "penguin-mass"}
    assert all(len(dict(k[1])["sha256"]) == 64 for k in info)
    # the fine buckets resolve sub-millisecond calls
    assert (
        "model_api_inference_duration_seconds_bucket",
        frozenset({**species, "le": "0.0001"}.items()),
    ) in after


def test_health_and_metrics_are_not_counted_and_unknown_paths_share_one_label(
    api_server: Server,
) -> None:
    before = scrape(api_server)
    for path in ("/healthz", "/readyz", "/metrics", "/no/such/path/1", "/no/such/path/2"):
        httpx.get(f"{api_server.url}{path}")
    after = scrape(api_server)
    routes = {dict(k[1]).get("route") for k in after if k[0] == "model_api_http_requests_total"}
    assert not routes & {"/healthz", "/readyz", "/metrics"}
    assert not any(r and r.startswith("/no/such") for r in routes)
    unmatched = (
        "model_api_http_requests_total",
        frozenset({"route": "unmatched", "method": "GET", "status": "404"}.items()),
    )
    assert after[unmatched] - before.get(unmatched, 0) == 2


def test_metrics_come_from_the_apis_own_registry(example_repository: Path) -> None:
    """A series a library registers on prometheus_client's default registry stays out of
    /metrics; the API's series and the process's (memory, CPU, GC) are there."""
    stray = Counter("library_stray_total", "Registered by some library on the default registry.")
    stray.inc()
    app = create_app(Settings(model_repository=example_repository))
    load_models(app.state.registry)
    try:

        async def scrape_in_process() -> str:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
                return (await client.get("/metrics")).text

        names = {
            family.name
            for family in text_string_to_metric_families(asyncio.run(scrape_in_process()))
        }
    finally:
        app.state.registry.close()
        REGISTRY.unregister(stray)
    assert "library_stray" not in names
    assert {"model_api_ready", "model_api_model_info", "process_resident_memory_bytes"} <= names
    assert {"python_gc_objects_collected", "python_info"} <= names
