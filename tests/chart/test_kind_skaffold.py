"""kind cluster config, kind scripts, Makefile targets and skaffold.yaml (no cluster runs here)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.chart.helm import CHART, KIND_VALUES, find, render
from tests.support import ROOT

SKAFFOLD_SCHEMA = ROOT.parent / "shared" / "schemas" / "skaffold-v4beta13.json"
KIND_CONFIG = ROOT / "k8s" / "kind-config.yaml"
STACK_VALUES = ROOT / "k8s" / "monitoring" / "kube-prometheus-stack-values.yaml"
SCRIPTS = [
    ROOT / "scripts" / name
    for name in ("kind-up.sh", "kind-down.sh", "kind-lib.sh", "install-helm.sh")
]


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def skaffold() -> dict[str, Any]:
    return load(ROOT / "skaffold.yaml")  # type: ignore[no-any-return]


# ----------------------------------------------------------------------------------- skaffold
def test_skaffold_yaml_matches_skaffolds_schema() -> None:
    assert SKAFFOLD_SCHEMA.is_file(), (
        f"{SKAFFOLD_SCHEMA} is missing: the tests expect the shared schemas beside the repository "
        "(<repo>/../shared/schemas/skaffold-v4beta13.json)"
    )
    schema = json.loads(SKAFFOLD_SCHEMA.read_text())
    config = skaffold()
    assert config["apiVersion"] == "skaffold/v4beta13"
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(config)]
    assert errors == []
    # The schema is strict: a misspelt key would have been reported.
    config["deploy"]["helm"]["releases"][0]["chartpath"] = "typo"
    assert list(validator.iter_errors(config))


def test_skaffold_builds_both_images_from_the_repository_root() -> None:
    artifacts = {a["image"]: a for a in skaffold()["build"]["artifacts"]}
    assert set(artifacts) == {"model-serving-api", "model-serving-ui"}
    for image, dockerfile in (
        ("model-serving-api", "services/model-api/Dockerfile"),
        ("model-serving-ui", "services/ui/Dockerfile"),
    ):
        assert artifacts[image]["context"] == "."
        assert artifacts[image]["docker"]["dockerfile"] == dockerfile
        assert (ROOT / dockerfile).is_file(), f"{dockerfile} is missing"


def _releases(config: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = [("default", r) for r in config["deploy"]["helm"]["releases"]]
    for profile in config.get("profiles", []):
        found += [
            (profile["name"], r)
            for r in profile.get("deploy", {}).get("helm", {}).get("releases", [])
        ]
    return found


def _set_values(release: dict[str, Any], tag: str) -> list[str]:
    """setValueTemplates with skaffold's variables filled in as skaffold would."""
    sets = []
    for key, template in release["setValueTemplates"].items():
        value = re.sub(
            r"\{\{\s*\.IMAGE_REPO_(\w+)\s*\}\}", lambda m: m.group(1).replace("_", "-"), template
        )
        value = re.sub(r"\{\{\s*\.IMAGE_TAG_\w+\s*\}\}", tag, value)
        assert "{{" not in value, f"unexpected template variable in {template}"
        sets.append(f"{key}={value}")
    return sets


@pytest.mark.parametrize("profile", ["default", "kind"])
def test_skaffold_wires_the_built_images_into_the_chart(profile: str) -> None:
    config = skaffold()
    release = next(r for name, r in _releases(config) if name == profile)
    assert (ROOT / release["chartPath"]).resolve() == CHART
    templates = release["setValueTemplates"]
    for image, key in (("model_serving_api", "api"), ("model_serving_ui", "ui")):
        assert templates[f"{key}.image.repository"] == f"{{{{.IMAGE_REPO_{image}}}}}"
        assert templates[f"{key}.image.tag"] == f"{{{{.IMAGE_TAG_{image}}}}}"
    values = [ROOT / v for v in release.get("valuesFiles", [])]
    assert all(v.is_file() for v in values)
    manifests = render(
        values,
        _set_values(release, "abc123"),
        release=release["name"],
        namespace=release["namespace"],
    )
    images = {
        m["metadata"]["labels"]["app.kubernetes.io/component"]: m["spec"]["template"]["spec"][
            "containers"
        ][0]["image"]
        for m in find(manifests, "Deployment")
    }
    assert images == {"api": "model-serving-api:abc123", "ui": "model-serving-ui:abc123"}


def test_skaffold_port_forwards_reach_the_rendered_services() -> None:
    config = skaffold()
    release = config["deploy"]["helm"]["releases"][0]
    manifests = render(release=release["name"], namespace=release["namespace"])
    services = {
        s["metadata"]["name"]: {p["port"] for p in s["spec"]["ports"]}
        for s in find(manifests, "Service")
    }
    forwards = {(f["resourceName"], f["port"], f["localPort"]) for f in config["portForward"]}
    assert forwards == {("model-serving-ui", 8501, 8501), ("model-serving-api", 8000, 8000)}
    for forward in config["portForward"]:
        assert forward["resourceType"] == "service"
        assert forward["namespace"] == release["namespace"]
        assert forward["port"] in services[forward["resourceName"]]


def test_skaffold_kind_profile_targets_the_kind_cluster() -> None:
    profile = next(p for p in skaffold()["profiles"] if p["name"] == "kind")
    context = f"kind-{load(KIND_CONFIG)['name']}"
    assert profile["deploy"]["kubeContext"] == context
    assert {"kubeContext": context} in profile["activation"]
    assert profile["build"]["local"]["push"] is False


# ---------------------------------------------------------------------------------------- kind
def test_kind_config_publishes_the_node_ports_on_localhost() -> None:
    config = load(KIND_CONFIG)
    assert config["apiVersion"] == "kind.x-k8s.io/v1alpha4" and config["kind"] == "Cluster"
    mappings = {
        m["containerPort"]: m for n in config["nodes"] for m in n.get("extraPortMappings", [])
    }
    assert all(m["listenAddress"] == "127.0.0.1" for m in mappings.values())
    manifests = render([KIND_VALUES[0]])
    node_ports = {}
    for svc in find(manifests, "Service"):
        assert svc["spec"]["type"] == "NodePort"
        node_ports[svc["metadata"]["labels"]["app.kubernetes.io/component"]] = svc["spec"]["ports"][
            0
        ]["nodePort"]
    assert mappings[node_ports["ui"]]["hostPort"] == 8501
    assert mappings[node_ports["api"]]["hostPort"] == 8000
    stack = load(STACK_VALUES)
    assert mappings[stack["grafana"]["service"]["nodePort"]]["hostPort"] == 3000
    assert mappings[stack["prometheus"]["service"]["nodePort"]]["hostPort"] == 9090
    # The Grafana sidecar loads the chart's dashboard ConfigMap from any namespace.
    sidecar = stack["grafana"]["sidecar"]["dashboards"]
    chart_labels = load(CHART / "values.yaml")["monitoring"]["grafanaDashboard"]["labels"]
    assert chart_labels == {sidecar["label"]: sidecar["labelValue"]}
    assert sidecar["searchNamespace"] == "ALL"
    assert stack["prometheus"]["prometheusSpec"]["serviceMonitorSelectorNilUsesHelmValues"] is False
    assert stack["prometheus"]["prometheusSpec"]["ruleSelectorNilUsesHelmValues"] is False
    lib = (ROOT / "scripts" / "kind-lib.sh").read_text()
    assert f'KIND_CLUSTER="${{KIND_CLUSTER:-{config["name"]}}}"' in lib


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_parse(script: Path) -> None:
    result = subprocess.run(
        ["bash", "-n", str(script)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    if script.name != "kind-lib.sh":
        assert os.access(script, os.X_OK), f"{script} is not executable"


def _tool_dir(tmp_path: Path, keep: tuple[str, ...]) -> Path:
    """A PATH folder with only ``keep`` (symlinks to the real tools)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in keep:
        real = subprocess.run(
            ["bash", "-c", f"command -v {tool}"], capture_output=True, text=True, check=True
        ).stdout.strip()
        (folder / tool).symlink_to(real)
    return folder


@pytest.mark.parametrize(
    ("script", "keep", "message"),
    [
        ("kind-up.sh", (), "'docker' is not installed"),
        ("kind-down.sh", (), "'kind' is not installed"),
    ],
)
def test_scripts_name_missing_tools(
    tmp_path: Path, script: str, keep: tuple[str, ...], message: str
) -> None:
    path = _tool_dir(tmp_path, ("dirname", *keep))
    result = subprocess.run(
        ["/bin/bash", str(ROOT / "scripts" / script)], env={"PATH": str(path), "HOME": str(tmp_path)},
        capture_output=True, text=True, check=False, timeout=30,
    )  # fmt: skip
    assert result.returncode != 0
    assert message in result.stderr
    assert "https://" in result.stderr, "the message says where to get the tool"


def run_script(name: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "scripts" / name)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


STUB = """#!/usr/bin/env bash
echo "{name} $*" >> "$STUB_LOG"
case "{name} $*" in
  "docker image inspect --format"*) echo "sha256:0123456789abcdef0123456789abcdef";;
  "kind get clusters"*) cat "$STUB_CLUSTERS" 2>/dev/null || true;;
  "kubectl"*"get deployments"*) printf 'deployment.apps/model-serving-api\\ndeployment.apps/model-serving-ui\\n';;
  "kubectl"*"create namespace"*) echo "apiVersion: v1"; echo "kind: Namespace";;
  "kubectl"*"apply -f -"*) cat > /dev/null;;
esac
exit 0
"""


@pytest.mark.parametrize("monitoring", ["0", "1"])
def test_kind_up_runs_the_documented_steps(tmp_path: Path, monitoring: str) -> None:
    """kind-up.sh with stand-ins for docker, kind, kubectl and helm that record their calls."""
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for name in ("docker", "kind", "kubectl", "helm"):
        (stubs / name).write_text(STUB.replace("{name}", name))
        (stubs / name).chmod(0o755)
    log = tmp_path / "calls.log"
    env = {
        **os.environ,
        "PATH": f"{stubs}:{os.environ['PATH']}",
        "STUB_LOG": str(log),
        "STUB_CLUSTERS": str(tmp_path / "none"),
        "SKIP_BUILD": "1",
        "MONITORING": monitoring,
    }
    result = run_script("kind-up.sh", env)
    assert result.returncode == 0, result.stdout + result.stderr
    calls = log.read_text().splitlines()
    context = "--kube-context kind-model-serving"

    def index(prefix: str) -> int:
        matches = [i for i, c in enumerate(calls) if c.startswith(prefix)]
        assert matches, f"no call starting with {prefix!r} in:\n" + "\n".join(calls)
        return matches[0]

    create = index("kind create cluster --name model-serving --config k8s/kind-config.yaml")
    load_api = index(
        "kind load docker-image --name model-serving model-serving-api:kind-0123456789ab"
    )
    load_ui = index(
        "kind load docker-image --name model-serving model-serving-ui:kind-0123456789ab"
    )
    label = index(
        "kubectl --context kind-model-serving label namespace model-serving --overwrite pod-security.kubernetes.io/enforce=restricted"
    )
    install = index(
        f"helm {context} upgrade --install model-serving charts/model-serving --namespace model-serving -f k8s/kind-values.yaml"
    )
    rollout = index(
        "kubectl --context kind-model-serving -n model-serving rollout status deployment.apps/model-serving-api"
    )
    test = index(f"helm {context} test model-serving --namespace model-serving")
    assert create < load_api < load_ui < label < install < rollout < test
    assert (
        "--set api.image.tag=kind-0123456789ab --set ui.image.tag=kind-0123456789ab"
        in calls[install]
    )
    if monitoring == "1":
        stack = index(
            f"helm {context} upgrade --install kube-prometheus-stack prometheus-community/kube-prometheus-stack"
        )
        assert stack < install
        assert "-f k8s/monitoring/kube-prometheus-stack-values.yaml" in calls[stack]
        assert "-f k8s/monitoring/model-serving-values.yaml" in calls[install]
        assert "localhost:3000" in result.stdout
    else:
        assert not any("kube-prometheus-stack" in c for c in calls)
    assert (
        "http://localhost:8501" in result.stdout and "http://localhost:8000/docs" in result.stdout
    )
    # Once the cluster exists it is reused; kind-down deletes it.
    (tmp_path / "none").write_text("model-serving\n")
    log.write_text("")
    result = run_script("kind-up.sh", env)
    assert result.returncode == 0 and not any(
        c.startswith("kind create") for c in log.read_text().splitlines()
    )
    result = run_script("kind-down.sh", env)
    assert result.returncode == 0 and "kind delete cluster --name model-serving" in log.read_text()


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["kind-up"], "MONITORING=0 scripts/kind-up.sh"),
        (["kind-up", "MONITORING=1"], "MONITORING=1 scripts/kind-up.sh"),
        (["kind-monitoring"], "MONITORING=1 scripts/kind-up.sh"),
        (["kind-down"], "scripts/kind-down.sh"),
    ],
)
def test_make_targets(arguments: list[str], expected: str) -> None:
    result = subprocess.run(
        ["make", "-n", *arguments], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout.splitlines()


def test_kind_up_builds_with_make_images() -> None:
    script = (ROOT / "scripts" / "kind-up.sh").read_text()
    assert "make images" in script
    make = subprocess.run(
        ["make", "-n", "images"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert make.returncode == 0, f"`make images` is missing from the Makefile: {make.stderr}"
