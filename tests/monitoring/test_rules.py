"""The alert rules: promtool checks the file and its unit tests; the chart ships the same rules."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.chart.helm import CHART, one, render
from tests.monitoring.conftest import ALERTS, alert_names

RULES_TEST = Path(__file__).with_name("rules-test.yaml")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=False, timeout=60)


def test_promtool_check_rules(promtool: str) -> None:
    result = run(promtool, "check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 8 rules found" in result.stdout


def test_promtool_unit_tests_of_the_alerts(promtool: str) -> None:
    result = run(promtool, "test", "rules", str(RULES_TEST))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_firing_and_quiet_unit_tests() -> None:
    alerts = alert_names()
    tests = yaml.safe_load(RULES_TEST.read_text())
    assert [(RULES_TEST.parent / f).resolve() for f in tests["rule_files"]] == [ALERTS.resolve()]
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in tests["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert alerts <= firing, f"never shown firing: {alerts - firing}"
    assert alerts <= quiet, f"never shown quiet: {alerts - quiet}"


def test_every_alert_is_documented() -> None:
    for group in yaml.safe_load(ALERTS.read_text())["groups"]:
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in ("critical", "warning", "info")
            assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_the_rendered_prometheus_rule_passes_promtool(promtool: str, tmp_path: Path) -> None:
    rule = one(render([CHART / "ci" / "monitoring-values.yaml"]), "PrometheusRule")
    rules_file = tmp_path / "rendered-rules.yaml"
    rules_file.write_text(yaml.safe_dump(rule["spec"]))
    result = run(promtool, "check", "rules", str(rules_file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert yaml.safe_load(rules_file.read_text()) == yaml.safe_load(ALERTS.read_text())


FEEDBACK_ALERTS = {
    "ModelApiFeedbackAgreementLow",
    "ModelApiPredictionLogDropping",
    "ModelApiDatabaseDown",
}


def test_feedback_alerts_have_their_own_group() -> None:
    groups = {g["name"]: g for g in yaml.safe_load(ALERTS.read_text())["groups"]}
    assert {r["alert"] for r in groups["model-serving-feedback"]["rules"]} == FEEDBACK_ALERTS
    assert not FEEDBACK_ALERTS & {r["alert"] for r in groups["model-serving-api"]["rules"]}


def _agreement_rule(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    spec = one(manifests, "PrometheusRule")["spec"]
    rules = [r for g in spec["groups"] for r in g["rules"]]
    (rule,) = [r for r in rules if r["alert"] == "ModelApiFeedbackAgreementLow"]
    return rule


def test_agreement_thresholds_come_from_the_values(promtool: str, tmp_path: Path) -> None:
    """The file holds the defaults (0.7, 20); the chart's values replace them, and only them."""
    default = _agreement_rule(render([CHART / "ci" / "monitoring-values.yaml"]))
    assert "model_api_feedback_agreement_ratio) < 0.7" in default["expr"]
    assert "[7d])) >= 20" in default["expr"]
    values = tmp_path / "agreement-values.yaml"
    values.write_text(
        "monitoring:\n  prometheusRule:\n    feedbackAgreement: {threshold: 0.85, minJudged: 100}\n"
    )
    manifests = render([CHART / "ci" / "monitoring-values.yaml", values])
    custom = _agreement_rule(manifests)
    assert "model_api_feedback_agreement_ratio) < 0.85" in custom["expr"]
    assert "[7d])) >= 100" in custom["expr"]
    assert custom["expr"].replace("0.85", "0.7").replace(">= 100", ">= 20") == default["expr"]
    rules_file = tmp_path / "custom-rules.yaml"
    rules_file.write_text(yaml.safe_dump(one(manifests, "PrometheusRule")["spec"]))
    result = run(promtool, "check", "rules", str(rules_file))
    assert result.returncode == 0, result.stdout + result.stderr
