"""The chart hands the UI its Prometheus: the URL from a value, the series of this release's API."""

from __future__ import annotations

from typing import Any

from tests.chart.helm import deployment, one, render, scenario

URL = "http://prometheus-operated.monitoring:9090"


def ui_env(manifests: list[dict[str, Any]]) -> dict[str, str]:
    container = deployment(manifests, "ui")["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value") for e in container["env"]}


def test_without_a_prometheus_url_the_ui_reads_one_pod() -> None:
    env = ui_env(render())
    assert "MODEL_UI_PROMETHEUS_URL" not in env and "MODEL_UI_PROMETHEUS_SELECTOR" not in env


def test_the_ui_queries_the_job_the_service_monitor_gives_the_api() -> None:
    manifests = scenario("monitoring")
    env = ui_env(manifests)
    assert env["MODEL_UI_PROMETHEUS_URL"] == URL
    # The Prometheus Operator names a ServiceMonitor's job after the Service it scrapes.
    monitor = one(manifests, "ServiceMonitor")
    api_service = next(
        m
        for m in manifests
        if m["kind"] == "Service"
        and m["metadata"]["labels"]["app.kubernetes.io/component"] == "api"
        and m["spec"]["selector"] == monitor["spec"]["selector"]["matchLabels"]
    )
    namespace = monitor["metadata"]["namespace"]
    assert env["MODEL_UI_PROMETHEUS_SELECTOR"] == (
        f'job="{api_service["metadata"]["name"]}",namespace="{namespace}"'
    )


def test_a_given_selector_is_passed_unchanged() -> None:
    env = ui_env(render(sets=[f"ui.prometheusUrl={URL}", r"ui.prometheusSelector=job=\"models\""]))
    assert env["MODEL_UI_PROMETHEUS_SELECTOR"] == 'job="models"'
