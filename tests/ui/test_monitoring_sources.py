"""Monitoring page (AppTest): each model's own classes; one pod said as such, or Prometheus' view.

Prometheus is the real Debian binary, scraping two real API processes every second.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from streamlit.testing.v1 import AppTest

from tests.monitoring.conftest import start_prometheus
from tests.support import ADELIE, Server, free_port, start_api
from tests.ui.helpers import MIXED_MODEL, api_json, chart_data, open_app, plain, texts

SPECIES = "penguin-species"
SPECIES_CLASSES = {"Adelie", "Chinstrap", "Gentoo"}
JOB = "ui-monitoring-api"
GENTOO = {**ADELIE, "bill_length_mm": 49.5, "bill_depth_mm": 15.0, "flipper_length_mm": 220,
          "body_mass_g": 5500, "island": "Biscoe"}  # fmt: skip
MIXED_ROW = {"size": 12.5, "count": 7, "flag": True, "colour": "red"}


@pytest.fixture(scope="module")
def pods(
    classifiers_repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Server]]:
    """Two API processes serving the same two classifiers: two replicas behind one Service."""
    logs = tmp_path_factory.mktemp("pod-logs")
    servers = [start_api(classifiers_repository, logs) for _ in range(2)]
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def prometheus_url(pods: list[Server], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Prometheus on a free loopback port, scraping both pods each second as job ``JOB``."""
    with running_prometheus(pods, JOB, tmp_path_factory.mktemp("ui-prometheus")) as url:
        yield url


@contextmanager
def running_prometheus(
    targets: list[Server], job: str, folder: Path, scrape_itself: bool = False
) -> Iterator[str]:
    """Prometheus on a free loopback port, scraping ``targets`` each second as ``job`` (and,
    with ``scrape_itself``, its own /metrics: a target that is not the API)."""
    port = free_port()
    jobs = [(job, [urlsplit(p.url).netloc for p in targets])]
    if scrape_itself:
        jobs.append(("prometheus", [f"127.0.0.1:{port}"]))
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [
            {"job_name": name, "static_configs": [{"targets": hosts}]} for name, hosts in jobs
        ],
    }
    server = start_prometheus(folder, config, port)
    try:
        yield server.url
    finally:
        server.stop()


def predict(server: Server, model: str, row: dict[str, object], times: int) -> None:
    for _ in range(times):
        api_json(server, "POST", f"/v1/models/{model}/predict", json={"instances": [row]})


def classes_shown(at: AppTest) -> dict[str, float]:
    """The class chart's bars (the last chart of the page), by label."""
    (*_, classes) = chart_data(at)
    return {r["label"]: r["count"] for r in classes}


def prometheus_vector(url: str, expr: str) -> dict[str, float]:
    body = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert body["status"] == "success", body
    return {s["metric"].get("label", ""): float(s["value"][1]) for s in body["data"]["result"]}


def test_each_model_shows_only_its_own_classes(
    monkeypatch: pytest.MonkeyPatch, pods: list[Server]
) -> None:
    pod = pods[0]
    predict(pod, SPECIES, ADELIE, 2)
    predict(pod, MIXED_MODEL, MIXED_ROW, 3)
    monkeypatch.setenv("MODEL_UI_API_URL", pod.url)
    monkeypatch.delenv("MODEL_UI_PROMETHEUS_URL", raising=False)

    at = open_app("monitoring", model=SPECIES)
    shown = classes_shown(at)
    assert set(shown) <= SPECIES_CLASSES and shown["Adelie"] >= 2
    assert "Predictions by class of penguin-species version 1" in texts(at)

    at.sidebar.selectbox(key="model").set_value(MIXED_MODEL).run()
    assert not at.exception
    shown = classes_shown(at)
    assert set(shown) <= {"no", "yes"} and sum(shown.values()) >= 3


def test_without_prometheus_the_page_says_it_shows_one_pod(
    monkeypatch: pytest.MonkeyPatch, pods: list[Server]
) -> None:
    monkeypatch.setenv("MODEL_UI_API_URL", pods[0].url)
    monkeypatch.delenv("MODEL_UI_PROMETHEUS_URL", raising=False)
    at = open_app("monitoring", model=SPECIES)
    assert "These figures come from one API pod" in texts(at)
    assert "set MODEL_UI_PROMETHEUS_URL" in texts(at).replace("`", "")
    assert {m.label: m.value for m in at.metric}["Ready"] == "yes"


def _pod_predictions(server: Server) -> float:
    """The penguin-species predictions one pod's own /metrics counts."""
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "model_api_predictions_total" and s.labels["model"] == SPECIES
    )


def _wait_for(url: str, expr: str, total: float, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while sum(prometheus_vector(url, expr).values()) != total:
        assert time.monotonic() < deadline, f"Prometheus never saw {total} for {expr}"
        time.sleep(0.5)


def test_with_prometheus_the_figures_cover_every_pod(
    monkeypatch: pytest.MonkeyPatch, pods: list[Server], prometheus_url: str
) -> None:
    first, second = pods
    selected = f'model_api_predictions_total{{job="{JOB}",model="{SPECIES}"}}'
    _wait_for(prometheus_url, f"count(up{{job='{JOB}'}} == 1)", 2)  # both pods scraped
    already = sum(prometheus_vector(prometheus_url, f"sum({selected})").values())
    predict(first, SPECIES, ADELIE, 3)
    predict(second, SPECIES, GENTOO, 2)
    _wait_for(prometheus_url, f"sum({selected})", already + 5)

    monkeypatch.setenv("MODEL_UI_API_URL", first.url)  # the Service: whichever pod answers
    monkeypatch.setenv("MODEL_UI_PROMETHEUS_URL", prometheus_url + "/")
    monkeypatch.setenv("MODEL_UI_PROMETHEUS_SELECTOR", f'job="{JOB}"')
    monkeypatch.setenv("MODEL_UI_PROMETHEUS_RATE_WINDOW", "15s")
    at = open_app("monitoring", model=SPECIES)
    assert not at.error, [e.value for e in at.error]

    figures = {m.label: m.value for m in at.metric}
    assert figures["Pods ready"] == "2 of 2"
    assert float(figures["Requests/s"]) > 0
    assert figures["p50 latency"].endswith(" ms") and figures["p50 latency"] != "–"
    assert "across the 2 API pods it scrapes" in texts(at)
    # Both pods' predictions, as Prometheus sums them; the pod the UI talks to has only its own.
    expected = prometheus_vector(prometheus_url, f"sum by (label) ({selected})")
    assert classes_shown(at) == pytest.approx(expected)
    assert sum(classes_shown(at).values()) > _pod_predictions(first)
    rates, latency, _ = chart_data(at)  # history from range queries, from the first read on
    assert {r["series"] for r in rates} == {"requests/s", "errors/s"}
    assert len({r["time"] for r in rates}) > 1
    assert {r["series"] for r in latency} <= {"p50", "p95", "p99"} and latency


def test_a_selector_that_matches_nothing_is_named(
    monkeypatch: pytest.MonkeyPatch, pods: list[Server], prometheus_url: str
) -> None:
    monkeypatch.setenv("MODEL_UI_API_URL", pods[0].url)
    monkeypatch.setenv("MODEL_UI_PROMETHEUS_URL", prometheus_url)
    monkeypatch.setenv("MODEL_UI_PROMETHEUS_SELECTOR", 'job="no-such-job"')
    at = open_app("monitoring", model=SPECIES)
    assert not at.exception and not at.metric
    warning = plain(at.warning[0].value)
    assert (
        'has no series `up{job="no-such-job"} and on (job) model_api_ready{job="no-such-job"}`'
        in warning
    )
    assert "MODEL_UI_PROMETHEUS_SELECTOR" in warning


def test_an_unreachable_prometheus_gets_a_banner(
    monkeypatch: pytest.MonkeyPatch, pods: list[Server]
) -> None:
    gone = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MODEL_UI_API_URL", pods[0].url)
    monkeypatch.setenv("MODEL_UI_PROMETHEUS_URL", gone)
    monkeypatch.setenv("MODEL_UI_RETRY_BACKOFF_SECONDS", "0.01")
    at = open_app("monitoring", model=SPECIES)
    assert not at.exception
    banner = plain(at.error[0].value)
    assert (
        "**Prometheus cannot be reached** while reading the API's figures from Prometheus" in banner
    )
    assert f"URL tried: `{gone}/api/v1/query`" in banner
    assert [s.value for s in at.sidebar.success] == ["Ready · 2 models"]  # the API itself is fine


def test_a_pod_whose_scrape_fails_still_counts(
    monkeypatch: pytest.MonkeyPatch,
    pods: list[Server],
    classifiers_repository: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    job = "ui-monitoring-pod-down"
    doomed = start_api(classifiers_repository, tmp_path_factory.mktemp("doomed-pod-logs"))
    folder = tmp_path_factory.mktemp("ui-prometheus-pod-down")
    try:
        with running_prometheus([pods[0], doomed], job, folder, scrape_itself=True) as url:
            _wait_for(url, "count(up == 1)", 3)  # both pods and Prometheus itself scraped
            doomed.stop()
            _wait_for(url, f"count(up{{job='{job}'}} == 0)", 1)  # Prometheus saw it down
            monkeypatch.setenv("MODEL_UI_API_URL", pods[0].url)
            monkeypatch.setenv("MODEL_UI_PROMETHEUS_URL", url)
            # The job's pods; with no selector, the API's (Prometheus' own target is no pod).
            for selector in (f'job="{job}"', ""):
                monkeypatch.setenv("MODEL_UI_PROMETHEUS_SELECTOR", selector)
                at = open_app("monitoring", model=SPECIES)
                assert not at.error, [e.value for e in at.error]
                assert {m.label: m.value for m in at.metric}["Pods ready"] == "1 of 2", selector
                assert "across the 2 API pods it scrapes" in texts(at)
    finally:
        doomed.stop()
