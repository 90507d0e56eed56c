"""checkov (Kubernetes framework) on the rendered chart, every scenario in one run.

checkov's dependencies pin versions that would downgrade this project's locked ones (packaging,
pytest), so it is not a dev dependency: the fixture runs the version named in checkov-skips.yaml
with ``uv tool run`` (an isolated, cached environment; uv is the project's installer, put on the
machine by scripts/setup.sh). One folder per scenario, each rendered with its own release name
so that checkov's graph checks (a NetworkPolicy selecting pods by label) never link objects of two
scenarios. A "canary" folder holds a deliberately weakened copy of the API Deployment: checkov must
flag it, which shows the checks that pass on the chart would catch a regression.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.helm import CHART, SCENARIOS, Manifest, deployment, render

HERE = Path(__file__).resolve().parent
SKIPS_FILE = HERE / "checkov-skips.yaml"
CHART_README = CHART / "README.md"
CANARY = "canary"
# What the canary breaks, and the checkov checks that must catch it (all pass on the real chart).
CANARY_CHECKS = {
    "CKV_K8S_16": "privileged",
    "CKV_K8S_20": "allowPrivilegeEscalation",
    "CKV_K8S_22": "readOnlyRootFilesystem",
    "CKV_K8S_23": "runAsNonRoot false, uid 0",
    "CKV_K8S_19": "hostNetwork",
    "CKV_K8S_38": "automountServiceAccountToken",
    "CKV_K8S_13": "memory limits",
}

pytestmark = pytest.mark.timeout(900)  # the first run installs checkov into uv's cache


@dataclass(frozen=True)
class Finding:
    scenario: str
    check: str
    name: str
    resource: str  # "<Kind>/<name>"

    def __str__(self) -> str:
        return f"{self.scenario}: {self.check} ({self.name}) on {self.resource}"


@dataclass(frozen=True)
class Report:
    failed: list[Finding]
    passed: list[Finding]
    summary: dict[str, Any]


def load_skips() -> dict[str, Any]:
    return dict(yaml.safe_load(SKIPS_FILE.read_text()))


def canary(manifests: list[Manifest]) -> list[Manifest]:
    """The API Deployment of the defaults with its hardening removed (and labels of its own)."""
    weakened = copy.deepcopy(deployment(manifests, "api"))
    weakened["metadata"]["name"] = "canary-api"
    labels = {"app.kubernetes.io/name": "canary", "app.kubernetes.io/instance": CANARY}
    weakened["metadata"]["labels"] = labels
    weakened["spec"]["selector"]["matchLabels"] = labels
    weakened["spec"]["template"]["metadata"]["labels"] = labels
    spec = weakened["spec"]["template"]["spec"]
    spec["hostNetwork"] = True
    spec["automountServiceAccountToken"] = True
    spec["securityContext"].update(runAsNonRoot=False, runAsUser=0)
    container = spec["containers"][0]
    container["securityContext"].update(
        privileged=True,
        allowPrivilegeEscalation=True,
        readOnlyRootFilesystem=False,
        runAsNonRoot=False,
        runAsUser=0,
    )
    container["resources"]["limits"].pop("memory")
    return [weakened]


def parse(output: str) -> Report:
    data = json.loads(output)
    reports = data if isinstance(data, list) else [data]
    (report,) = [r for r in reports if r.get("check_type") == "kubernetes"]

    def findings(results: list[dict[str, Any]]) -> list[Finding]:
        out = []
        for r in results:
            kind, _namespace, name = r["resource"].split(".")[:3]
            scenario = Path(r["file_path"]).parent.name
            out.append(Finding(scenario, r["check_id"], r["check_name"], f"{kind}/{name}"))
        return out

    return Report(
        failed=findings(report["results"]["failed_checks"]),
        passed=findings(report["results"]["passed_checks"]),
        summary=report["summary"],
    )


@pytest.fixture(scope="module")
def checkov(tmp_path_factory: pytest.TempPathFactory) -> Report:
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("uv is not on PATH: run scripts/setup.sh (make setup), which installs it")
    root = tmp_path_factory.mktemp("checkov")
    for name, values in SCENARIOS.items():
        folder = root / name
        folder.mkdir()
        # A release per scenario: distinct instance labels keep the graph checks apart.
        manifests = render(values, release=name)
        (folder / "manifests.yaml").write_text(yaml.safe_dump_all(manifests, sort_keys=False))
    (root / CANARY).mkdir()
    (root / CANARY / "manifests.yaml").write_text(
        yaml.safe_dump_all(canary(render(release=CANARY)), sort_keys=False)
    )
    version = load_skips()["checkov"]
    command = [
        uv,
        "tool",
        "run",
        "--python",
        sys.executable,
        "--from",
        f"checkov=={version}",
        "checkov",
        "--directory",
        str(root),
        "--framework",
        "kubernetes",
        "--output",
        "json",
        "--compact",
        "--skip-download",  # no calls to the vendor's platform
    ]
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "LOG_LEVEL": "WARNING"}
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=840, env=env, check=False
    )
    # checkov exits 1 when a check failed, 0 when none did; anything else is a crash.
    assert result.returncode in (0, 1), (
        f"`{' '.join(command)}` exited {result.returncode} (is PyPI reachable for uv?):\n"
        f"{result.stderr[-4000:]}"
    )
    try:
        return parse(result.stdout)
    except (ValueError, KeyError) as exc:
        raise AssertionError(f"unreadable checkov output ({exc}):\n{result.stdout[:2000]}") from exc


def allowed(finding: Finding, skip: dict[str, Any]) -> bool:
    return (
        finding.check == skip["check"]
        and finding.scenario not in skip.get("except_scenarios", [])
        and any(re.fullmatch(p, finding.resource) for p in skip.get("resources", [".*"]))
    )


def chart_failures(report: Report) -> list[Finding]:
    return [f for f in report.failed if f.scenario != CANARY]


# ------------------------------------------------------------------------------------- tests
def test_checkov_scanned_every_scenario(checkov: Report) -> None:
    assert checkov.summary["parsing_errors"] == 0
    scanned = {f.scenario for f in checkov.passed + checkov.failed}
    assert scanned == {*SCENARIOS, CANARY}
    assert checkov.summary["checkov_version"] == load_skips()["checkov"]


def test_no_checkov_failure_outside_the_skip_list(checkov: Report) -> None:
    skips = load_skips()["skips"]
    unexpected = sorted(
        {str(f) for f in chart_failures(checkov) if not any(allowed(f, s) for s in skips)}
    )
    assert unexpected == [], (
        "checkov failures not in tests/security/checkov-skips.yaml (fix the chart, or add a "
        "skip with its reason there and in charts/model-serving/README.md):\n"
        + "\n".join(unexpected)
    )


def test_every_skip_is_still_needed(checkov: Report) -> None:
    failures = chart_failures(checkov)
    stale = [
        f"{s['check']} {s.get('resources', '')}"
        for s in load_skips()["skips"]
        if not any(allowed(f, s) for f in failures)
    ]
    assert stale == [], f"skips that match no checkov failure any more, remove them: {stale}"


def test_except_scenarios_really_pass(checkov: Report) -> None:
    """Where a skip says the check passes (e.g. images by digest), checkov ran it and it passed."""
    for skip in load_skips()["skips"]:
        for scenario in skip.get("except_scenarios", []):
            passed = [
                f
                for f in checkov.passed
                if f.scenario == scenario
                and f.check == skip["check"]
                and any(re.fullmatch(p, f.resource) for p in skip.get("resources", [".*"]))
            ]
            assert passed, f"{skip['check']} did not pass anywhere in {scenario}"


def test_canary_regressions_are_caught(checkov: Report) -> None:
    caught = {f.check for f in checkov.failed if f.scenario == CANARY}
    missed = {k: v for k, v in CANARY_CHECKS.items() if k not in caught}
    assert missed == {}, f"checkov did not flag the canary's {missed}"
    # ...and the very same checks pass on every scenario of the real chart, unskipped.
    skipped = {s["check"] for s in load_skips()["skips"]}
    assert not skipped & set(CANARY_CHECKS)
    assert not [f for f in chart_failures(checkov) if f.check in CANARY_CHECKS]
    passed = {(f.scenario, f.check) for f in checkov.passed}
    assert all((s, c) in passed for s in SCENARIOS for c in CANARY_CHECKS)


def test_skip_list_is_well_formed() -> None:
    config = load_skips()
    assert re.fullmatch(r"\d+\.\d+\.\d+", config["checkov"])
    for skip in config["skips"]:
        assert set(skip) <= {"check", "name", "resources", "except_scenarios", "reason"}, skip
        assert re.fullmatch(r"CKV2?_K8S_\d+", skip["check"]), skip
        assert len(skip["reason"].split()) >= 10, f"{skip['check']}: give a real reason"
        for pattern in skip.get("resources", []):
            re.compile(pattern)
        assert set(skip.get("except_scenarios", [])) <= set(SCENARIOS), skip


def test_skips_are_documented_in_the_chart_readme() -> None:
    """charts/model-serving/README.md explains exactly the skipped checks."""
    assert CHART_README.is_file(), f"{CHART_README} is missing"
    text = CHART_README.read_text()
    section = text.split("## Security checks", 1)[-1]
    documented = set(re.findall(r"\bCKV2?_K8S_\d+\b", section))
    skipped = {s["check"] for s in load_skips()["skips"]}
    assert documented == skipped, f"README documents {sorted(documented)}, skips {sorted(skipped)}"
