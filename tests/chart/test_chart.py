"""The Helm chart: lint, schema-valid manifests for every scenario, and what they must guarantee."""

from __future__ import annotations

import json
import os
import re
from typing import Any
from urllib.parse import urlsplit

import httpx
import jsonschema
import pytest
import yaml
from model_api.settings import Settings

from tests.chart.helm import (
    CHART,
    CI_VALUES,
    CRD_SCHEMAS,
    NAMESPACE,
    RELEASE,
    SCENARIOS,
    Manifest,
    deployment,
    find,
    helm,
    newest_kubernetes_versions,
    notes,
    one,
    render,
    scenario,
    service,
    template_args,
    validate_kubernetes,
)
from tests.support import Server

K8S_VERSIONS = newest_kubernetes_versions(3)
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
SELECTOR_KEYS = {
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
}
STANDARD_LABELS = {
    "helm.sh/chart",
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/component",
}


def env_of(container: Manifest) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


# ---------------------------------------------------------------------------------------- lint
def test_every_switch_has_a_ci_values_file() -> None:
    names = {p.name for p in CI_VALUES}
    for required in (
        "ingress-values.yaml",
        "autoscaling-pdb-values.yaml",
        "networkpolicy-values.yaml",
        "api-key-values.yaml",
        "existing-secret-values.yaml",
        "monitoring-values.yaml",
        "pvc-values.yaml",
        "download-values.yaml",
        "download-insecure-values.yaml",
        "ui-replicas-values.yaml",
    ):
        assert required in names


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_helm_lint_strict(name: str) -> None:
    args = ["lint", "--strict", str(CHART), "--namespace", NAMESPACE]
    for path in SCENARIOS[name]:
        args += ["-f", str(path)]
    result = helm(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout, result.stdout


# ------------------------------------------------------------------------- schema validation
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_manifests_valid_for_newest_kubernetes_versions(name: str) -> None:
    """Every object against the strict Kubernetes schemas of the 3 newest minor versions."""
    assert len(K8S_VERSIONS) == 3
    manifests = scenario(name)
    assert manifests
    for manifest in manifests:
        key = (manifest["apiVersion"], manifest["kind"])
        if key in CRD_SCHEMAS:
            jsonschema.Draft202012Validator(CRD_SCHEMAS[key]).validate(manifest)
            continue
        for version in K8S_VERSIONS:
            validate_kubernetes(manifest, version)


def test_strict_validation_catches_unknown_fields() -> None:
    """The validator is not vacuous: a misspelt field fails."""
    manifest = json.loads(json.dumps(deployment(scenario("defaults"), "api")))
    manifest["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(jsonschema.ValidationError):
        validate_kubernetes(manifest, K8S_VERSIONS[-1])


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_names_and_labels(name: str) -> None:
    for manifest in scenario(name):
        metadata = manifest["metadata"]
        assert DNS_LABEL.match(metadata["name"]), metadata["name"]
        if manifest["kind"] == "ConfigMap" and "grafana_dashboard" in metadata["labels"]:
            pass  # may live in the monitoring namespace
        else:
            assert metadata["namespace"] == NAMESPACE
        assert set(metadata["labels"]) >= STANDARD_LABELS, (manifest["kind"], metadata["labels"])
        assert metadata["labels"]["app.kubernetes.io/instance"] == RELEASE


# ------------------------------------------------------------------------ naming and images
def test_release_named_like_the_chart_gives_short_names() -> None:
    manifests = render()
    assert deployment(manifests, "api")["metadata"]["name"] == "model-serving-api"
    assert deployment(manifests, "ui")["metadata"]["name"] == "model-serving-ui"
    assert service(manifests, "api")["metadata"]["name"] == "model-serving-api"
    assert service(manifests, "ui")["metadata"]["name"] == "model-serving-ui"


def test_other_release_names_are_prefixed_and_truncated() -> None:
    manifests = render(release="demo")
    assert deployment(manifests, "api")["metadata"]["name"] == "demo-model-serving-api"
    long_release = "a-really-long-release-name-for-a-team-that-likes-word"
    assert len(long_release) == 53  # the longest release name helm accepts
    manifests = render(release=long_release, sets=["apiKey.enabled=true"])
    names = [m["metadata"]["name"] for m in manifests]
    assert all(len(n) <= 63 and DNS_LABEL.match(n) for n in names), names
    assert len({(m["kind"], m["metadata"]["name"]) for m in manifests}) == len(manifests)
    api, ui = deployment(manifests, "api"), deployment(manifests, "ui")
    assert api["metadata"]["name"].endswith("-api") and ui["metadata"]["name"].endswith("-ui")
    manifests = render(sets=["fullnameOverride=serving"])
    assert deployment(manifests, "ui")["metadata"]["name"] == "serving-ui"


def test_image_tag_falls_back_to_app_version() -> None:
    app_version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    manifests = render()
    api = deployment(manifests, "api")["spec"]["template"]["spec"]["containers"][0]
    ui = deployment(manifests, "ui")["spec"]["template"]["spec"]["containers"][0]
    assert api["image"] == f"model-serving-api:{app_version}"
    assert ui["image"] == f"model-serving-ui:{app_version}"
    manifests = render(sets=["api.image.tag=abc123", "ui.image.repository=registry.example/ui"])
    assert (
        deployment(manifests, "api")["spec"]["template"]["spec"]["containers"][0]["image"]
        == "model-serving-api:abc123"
    )
    ui = deployment(manifests, "ui")["spec"]["template"]["spec"]["containers"][0]
    assert ui["image"] == f"registry.example/ui:{app_version}"


# -------------------------------------------------------------------- selectors and ports
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_selectors_match_pod_labels(name: str) -> None:
    manifests = scenario(name)
    deployments = find(manifests, "Deployment")
    assert len(deployments) == 2
    for d in deployments:
        selector = d["spec"]["selector"]["matchLabels"]
        assert set(selector) == SELECTOR_KEYS, "selector labels: only name, instance, component"
        assert matches(selector, d["spec"]["template"]["metadata"]["labels"])
    for svc in find(manifests, "Service"):
        selected = [
            d
            for d in deployments
            if matches(svc["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"])
        ]
        assert len(selected) == 1, (
            f"Service {svc['metadata']['name']} selects {len(selected)} Deployments"
        )
    api_labels = deployment(manifests, "api")["spec"]["template"]["metadata"]["labels"]
    ui_labels = deployment(manifests, "ui")["spec"]["template"]["metadata"]["labels"]
    for pdb in find(manifests, "PodDisruptionBudget"):
        assert matches(pdb["spec"]["selector"]["matchLabels"], api_labels)
        assert not matches(pdb["spec"]["selector"]["matchLabels"], ui_labels)
    for policy in find(manifests, "NetworkPolicy"):
        assert matches(policy["spec"]["podSelector"]["matchLabels"], api_labels)
    for hpa in find(manifests, "HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]
        assert (target["kind"], target["name"]) == (
            "Deployment",
            deployment(manifests, "api")["metadata"]["name"],
        )
    for monitor in find(manifests, "ServiceMonitor"):
        api_service = service(manifests, "api")
        assert matches(
            monitor["spec"]["selector"]["matchLabels"], api_service["metadata"]["labels"]
        )
        assert not matches(
            monitor["spec"]["selector"]["matchLabels"],
            service(manifests, "ui")["metadata"]["labels"],
        )
        port_names = {p["name"] for p in api_service["spec"]["ports"]}
        assert {e["port"] for e in monitor["spec"]["endpoints"]} <= port_names
        assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_service_target_ports_are_container_ports(name: str) -> None:
    manifests = scenario(name)
    for component in ("api", "ui"):
        container = deployment(manifests, component)["spec"]["template"]["spec"]["containers"][0]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        for port in service(manifests, component)["spec"]["ports"]:
            target = port["targetPort"]
            assert target in ports or target in ports.values(), (
                f"{component}: {target} not in {ports}"
            )


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_ui_finds_the_api_by_its_service(name: str) -> None:
    """MODEL_UI_API_URL is derived from the API Service's name and port, never hard-coded."""
    for release, namespace in ((RELEASE, NAMESPACE), ("team-a", "ml")):
        manifests = render(SCENARIOS[name], release=release, namespace=namespace)
        api_service = service(manifests, "api")
        ui = deployment(manifests, "ui")["spec"]["template"]["spec"]["containers"][0]
        url = urlsplit(env_of(ui)["MODEL_UI_API_URL"])
        host_parts = (url.hostname or "").split(".")
        assert url.scheme == "http"
        assert host_parts[0] == api_service["metadata"]["name"]
        assert host_parts[1:] in (
            [],
            [namespace],
            [namespace, "svc"],
            [namespace, "svc", "cluster", "local"],
        )
        assert url.port == api_service["spec"]["ports"][0]["port"]
    moved = render(sets=["api.service.port=9000", "api.containerPort=9001"])
    url = urlsplit(
        env_of(deployment(moved, "ui")["spec"]["template"]["spec"]["containers"][0])[
            "MODEL_UI_API_URL"
        ]
    )
    assert url.port == 9000
    api = deployment(moved, "api")["spec"]["template"]["spec"]["containers"][0]
    assert env_of(api)["MODEL_API_PORT"] == "9001"
    assert api["ports"][0]["containerPort"] == 9001


# ----------------------------------------------------------------------------------- probes
def _route_paths(routes: list[Any]) -> set[str]:
    """Paths of an app's routes, looking into included routers whatever FastAPI nests them in."""
    paths: set[str] = set()
    for route in routes:
        if isinstance(getattr(route, "path", None), str):
            paths.add(route.path)
        for attribute in ("routes", "original_router"):
            inner = getattr(route, attribute, None)
            inner_routes = getattr(inner, "routes", inner)
            if isinstance(inner_routes, list) and inner_routes is not routes:
                paths |= _route_paths(inner_routes)
    return paths


def api_probes() -> dict[str, Manifest]:
    container = deployment(render(), "api")["spec"]["template"]["spec"]["containers"][0]
    return {
        kind: container[f"{kind}Probe"]["httpGet"] for kind in ("startup", "readiness", "liveness")
    }


def test_api_probe_paths_are_routes_of_the_app() -> None:
    from model_api.http.app import create_app
    from model_api.settings import Settings

    routes = _route_paths(create_app(Settings()).routes)
    probes = api_probes()
    assert probes["readiness"]["path"] == "/readyz"
    assert probes["liveness"]["path"] == "/healthz"
    for kind, probe in probes.items():
        assert probe["path"] in routes, f"{kind} probe path {probe['path']} is not an API route"
        assert probe["port"] == "http"


def test_api_probe_paths_answer_on_the_real_api(api_server: Server) -> None:
    for kind, probe in api_probes().items():
        response = httpx.get(api_server.url + probe["path"], timeout=10)
        assert response.status_code == 200, f"{kind} probe {probe['path']}: {response.status_code}"


def test_ui_probe_path_is_streamlits_health_route() -> None:
    """The real Streamlit answers it: tests/chart/test_chart_scripts.py::test_ui_probe_paths_*."""
    container = deployment(render(), "ui")["spec"]["template"]["spec"]["containers"][0]
    for kind in ("startup", "readiness", "liveness"):
        assert container[f"{kind}Probe"]["httpGet"] == {"path": "/_stcore/health", "port": "http"}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_graceful_shutdown_fits_in_the_grace_period(name: str) -> None:
    manifests = scenario(name)
    for component in ("api", "ui"):
        spec = deployment(manifests, component)["spec"]["template"]["spec"]
        container = spec["containers"][0]
        command = container["lifecycle"]["preStop"]["exec"]["command"]
        assert command[0] == "python", "the preStop pause uses the image's own python"
        pre_stop = float(re.search(r"sleep\((\d+(?:\.\d+)?)\)", command[-1]).group(1))  # type: ignore[union-attr]
        shutdown = float(env_of(container).get("MODEL_API_GRACEFUL_SHUTDOWN_SECONDS") or 0)
        assert spec["terminationGracePeriodSeconds"] > pre_stop + shutdown
        assert container["resources"]["requests"] and container["resources"]["limits"]


def test_default_api_grace_period_keeps_in_flight_requests() -> None:
    spec = deployment(render(), "api")["spec"]["template"]["spec"]
    assert env_of(spec["containers"][0])["MODEL_API_GRACEFUL_SHUTDOWN_SECONDS"] == "20"
    assert spec["terminationGracePeriodSeconds"] == 35  # 5 s preStop + 20 s shutdown + 10 s margin


def test_too_short_grace_period_is_refused() -> None:
    result = helm(*template_args(sets=["api.terminationGracePeriodSeconds=20"]))
    assert result.returncode != 0
    assert "must exceed" in result.stderr


# ------------------------------------------------------------------------------ body limits
MiB = 1024 * 1024
UNITS = {"Ki": 1024, "Mi": MiB, "Gi": 1024 * MiB, "k": 1000, "M": 10**6, "G": 10**9}


def quantity_bytes(quantity: str | int) -> int:
    number, unit = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(quantity)).groups()  # type: ignore[union-attr]
    return int(float(number) * UNITS.get(unit, 1))


def api_limits(manifests: list[Manifest]) -> tuple[dict[str, Any], int, int]:
    """The API container's env, /tmp size limit and memory limit, in bytes."""
    spec = deployment(manifests, "api")["spec"]["template"]["spec"]
    container = spec["containers"][0]
    tmp = next(v for v in spec["volumes"] if v["name"] == "tmp")["emptyDir"]["sizeLimit"]
    return (
        env_of(container),
        quantity_bytes(tmp),
        quantity_bytes(container["resources"]["limits"]["memory"]),
    )


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_body_limits_agree_with_tmp_and_memory(name: str) -> None:
    env, tmp, memory = api_limits(scenario(name))
    csv_limit, disk_budget = (
        int(env["MODEL_API_MAX_CSV_BYTES"]),
        int(env["MODEL_API_MAX_BODY_DISK_BYTES"]),
    )
    memory_budget = int(env["MODEL_API_MAX_BODY_MEMORY_BYTES"])
    # Spooled CSV uploads stay below /tmp's limit (a full emptyDir evicts the pod) ...
    assert csv_limit <= disk_budget <= tmp - 64 * MiB
    # ... and bodies in memory take at most a quarter of the container's memory limit.
    assert int(env["MODEL_API_MAX_REQUEST_BYTES"]) <= memory_budget <= memory // 4
    # The API itself accepts the chart's values (it refuses budgets too small for one body).
    settings = Settings.model_validate(
        {k.removeprefix("MODEL_API_").lower(): v for k, v in env.items() if "_BYTES" in k}
    )
    assert (settings.body_memory_budget, settings.body_disk_budget) == (memory_budget, disk_budget)


def test_body_limits_follow_tmp_and_memory_values() -> None:
    env, tmp, memory = api_limits(render())
    assert (tmp, memory) == (1024 * MiB, 1024 * MiB)
    assert env["MODEL_API_MAX_CSV_BYTES"] == str(512 * MiB)
    assert env["MODEL_API_MAX_BODY_DISK_BYTES"] == str(960 * MiB)
    assert env["MODEL_API_MAX_BODY_MEMORY_BYTES"] == str(256 * MiB)
    env, tmp, memory = api_limits(
        render(
            sets=[
                "api.tmp.sizeLimit=4Gi",
                "api.settings.maxCsvBytes=3221225472",
                "api.resources.limits.memory=2Gi",
            ]
        )
    )
    assert env["MODEL_API_MAX_CSV_BYTES"] == str(3 * 1024 * MiB)
    assert env["MODEL_API_MAX_BODY_DISK_BYTES"] == str(4 * 1024 * MiB - 64 * MiB)
    assert env["MODEL_API_MAX_BODY_MEMORY_BYTES"] == str(512 * MiB)


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("api.settings.maxCsvBytes=2147483648", "does not fit in api.tmp.sizeLimit (1Gi)"),
        ("api.tmp.sizeLimit=256Mi", "api.settings.maxCsvBytes (536870912) does not fit"),
        ("api.resources.limits.memory=16Mi", "api.resources.limits.memory (16Mi) is too small"),
        (
            "api.settings.maxRequestBytes=536870912",
            "api.resources.limits.memory (1Gi) is too small",
        ),
    ],
)
def test_body_limits_that_do_not_fit_the_pod_are_refused(assignment: str, message: str) -> None:
    result = helm(*template_args(sets=[assignment]))
    assert result.returncode != 0, f"--set {assignment} was accepted"
    assert message in result.stderr, result.stderr


# ---------------------------------------------------------------------------- values schema
@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("unknownKey=1", "unknownKey"),
        ("api.replicas=2", "replicas"),  # typo of api.replicaCount
        ("ui.service.typo=NodePort", "typo"),
        ("api.replicaCount=two", "replicaCount"),
        ("api.service.type=Internal", "type"),
        ("api.autoscaling.enabled=yes", "enabled"),
        ("api.models.source=s3", "source"),
        ("api.models.download.insecureSkipChecksum=yes", "insecureSkipChecksum"),
        ("monitoring.serviceMonitor.interval=often", "interval"),
    ],
)
def test_values_schema_rejects_typos_and_wrong_types(assignment: str, message: str) -> None:
    result = helm(*template_args(sets=[assignment]))
    assert result.returncode != 0, f"--set {assignment} was accepted"
    assert "schema" in result.stderr and message in result.stderr, result.stderr


def _unknown_keys(values: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Keys of values.yaml that the schema does not declare (free-form maps excepted)."""
    if not isinstance(values, dict) or "properties" not in schema:
        return []
    unknown = []
    for key, value in values.items():
        if key not in schema["properties"]:
            unknown.append(path + key)
        else:
            unknown += _unknown_keys(value, schema["properties"][key], f"{path}{key}.")
    return unknown


def _undocumented_defaults(values: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Schema properties with no default in values.yaml (optional probe fields and global excepted)."""
    missing = []
    for key, sub in schema.get("properties", {}).items():
        if key in ("global", "initialDelaySeconds", "successThreshold"):
            continue
        if not isinstance(values, dict) or key not in values:
            missing.append(path + key)
        else:
            missing += _undocumented_defaults(values[key], sub, f"{path}{key}.")
    return missing


def _open_objects(schema: dict[str, Any], path: str = "$") -> list[str]:
    """Paths of object schemas with declared properties that still accept unknown keys."""
    problems = []
    if (
        schema.get("type") == "object"
        and "properties" in schema
        and schema.get("additionalProperties") is not False
    ):
        problems.append(path)
    for key, sub in schema.get("properties", {}).items():
        problems += _open_objects(sub, f"{path}.{key}")
    if isinstance(schema.get("items"), dict):
        problems += _open_objects(schema["items"], f"{path}[]")
    return problems


def test_values_schema_is_closed_and_matches_values_yaml() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert _open_objects(schema) == []
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    jsonschema.Draft7Validator(schema).validate(values)
    assert _unknown_keys(values, schema) == []
    assert _undocumented_defaults(values, schema) == []


def test_every_values_key_is_documented() -> None:
    """Each key line of values.yaml has a comment right above it or at its end."""
    lines = (CHART / "values.yaml").read_text().splitlines()
    undocumented = []
    in_flow = False
    for number, line in enumerate(lines):
        match = re.match(r"^(\s*)([A-Za-z_][\w.-]*):", line)
        if not match or in_flow:
            continue
        previous = lines[number - 1].strip() if number else ""
        if not previous.startswith("#") and "#" not in line:
            undocumented.append(f"values.yaml:{number + 1}: {line.strip()}")
    assert undocumented == []


# --------------------------------------------------------------------------------- switches
def test_defaults_create_no_optional_objects() -> None:
    kinds = sorted(m["kind"] for m in render())
    assert kinds == sorted(
        [
            "PersistentVolumeClaim",  # the SQLite database of the prediction log (mode sqlite)
            "ServiceAccount",
            "ConfigMap",
            "Service",
            "Service",
            "Deployment",
            "Deployment",
            "Pod",
            "Pod",
        ]
    )
    assert "sessionAffinity" not in service(render(), "ui")["spec"]


def test_ingress_routes_ui_and_api_to_their_services() -> None:
    manifests = scenario("ingress")
    ingress = one(manifests, "Ingress")
    services = {
        s["metadata"]["name"]: {p["port"] for p in s["spec"]["ports"]}
        for s in find(manifests, "Service")
    }
    routes = {}
    for rule in ingress["spec"]["rules"]:
        assert rule["host"] == "models.example.com"
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            assert backend["port"]["number"] in services[backend["name"]]
            routes[path["path"]] = backend["name"]
    assert routes["/"] == "model-serving-ui"
    for prefix in ("/v1", "/v2", "/docs", "/openapi.json"):
        assert routes[prefix] == "model-serving-api"
    assert "/metrics" not in routes
    assert ingress["spec"]["tls"][0]["hosts"] == ["models.example.com"]
    split = one(scenario("ingress-api-host"), "Ingress")
    hosts = {
        r["host"]: {p["backend"]["service"]["name"] for p in r["http"]["paths"]}
        for r in split["spec"]["rules"]
    }
    assert hosts == {
        "ui.models.example.com": {"model-serving-ui"},
        "api.models.example.com": {"model-serving-api"},
    }


def test_autoscaling_and_disruption_budget() -> None:
    manifests = scenario("autoscaling-pdb")
    hpa = one(manifests, "HorizontalPodAutoscaler")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    assert {m["resource"]["name"] for m in hpa["spec"]["metrics"]} == {"cpu", "memory"}
    assert "replicas" not in deployment(manifests, "api")["spec"], "the HPA owns the replica count"
    assert one(manifests, "PodDisruptionBudget")["spec"]["minAvailable"] == 1
    pdb = one(scenario("pdb-max-unavailable"), "PodDisruptionBudget")
    assert (
        pdb["spec"] == {**pdb["spec"], "maxUnavailable": "25%"}
        and "minAvailable" not in pdb["spec"]
    )


def test_network_policy_admits_only_named_peers() -> None:
    manifests = scenario("networkpolicy")
    policy = one(manifests, "NetworkPolicy")
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    peers = rule["from"]
    ui_labels = deployment(manifests, "ui")["spec"]["template"]["metadata"]["labels"]
    test_labels = [m["metadata"]["labels"] for m in find(manifests, "Pod")]
    pod_peers = [
        p["podSelector"]["matchLabels"]
        for p in peers
        if "podSelector" in p and "namespaceSelector" not in p
    ]
    assert any(matches(sel, ui_labels) for sel in pod_peers), "the UI may call the API"
    assert all(any(matches(sel, labels) for sel in pod_peers) for labels in test_labels), (
        "helm test pods too"
    )
    namespaces = [
        p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for p in peers
        if "namespaceSelector" in p and "podSelector" not in p
    ]
    assert sorted(namespaces) == ["ingress-nginx", "monitoring"]
    assert {"podSelector": {"matchLabels": {"app": "nightly-scoring"}}} in peers
    assert {
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "reporting"}},
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "analytics"}},
    } in peers
    # Nothing else: no empty selector that would admit everyone.
    assert all(p.get("podSelector", {}).get("matchLabels", True) for p in peers)


@pytest.mark.parametrize(
    ("name", "secret_name", "key"),
    [
        ("api-key", "model-serving-api-key", "api-key"),
        ("existing-secret", "model-serving-credentials", "token"),
    ],
)
def test_api_key_secret_is_shared_by_api_ui_and_tests(
    name: str, secret_name: str, key: str
) -> None:
    manifests = scenario(name)
    secrets = find(manifests, "Secret")
    if name == "existing-secret":
        assert secrets == [], "an existing Secret is not created"
    else:
        (secret,) = secrets
        assert secret["metadata"]["name"] == secret_name
        assert len(secret["data"][key]) > 40  # base64 of a random 40-character key
    expected = {"secretKeyRef": {"name": secret_name, "key": key}}
    api = deployment(manifests, "api")["spec"]["template"]["spec"]["containers"][0]
    ui = deployment(manifests, "ui")["spec"]["template"]["spec"]["containers"][0]
    assert env_of(api)["MODEL_API_API_KEY"] == expected
    assert env_of(ui)["MODEL_UI_API_KEY"] == expected
    test_api = one(manifests, "Pod", "model-serving-test-api")["spec"]["containers"][0]
    assert env_of(test_api)["API_KEY"] == expected
    no_key = render()
    assert "MODEL_API_API_KEY" not in env_of(
        deployment(no_key, "api")["spec"]["template"]["spec"]["containers"][0]
    )


def test_given_api_key_value_lands_in_the_secret() -> None:
    import base64

    manifests = render(sets=["apiKey.enabled=true", "apiKey.value=s3cret-key"])
    assert base64.b64decode(one(manifests, "Secret")["data"]["api-key"]).decode() == "s3cret-key"


def test_the_admin_key_comes_from_an_existing_secret_and_makes_the_pvc_writable() -> None:
    sets = ["adminKey.existingSecret=model-admin", "api.models.source=pvc"]
    manifests = render(sets=sets)
    pod = deployment(manifests, "api")["spec"]["template"]["spec"]
    api = pod["containers"][0]
    assert env_of(api)["MODEL_API_ADMIN_KEY"] == {
        "secretKeyRef": {"name": "model-admin", "key": "admin-key"}
    }
    assert not find(manifests, "Secret"), "the chart never makes the admin key"
    (mount,) = [m for m in api["volumeMounts"] if m["name"] == "models"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == "models"]
    assert mount["readOnly"] is False and volume["persistentVolumeClaim"]["readOnly"] is False
    ui = deployment(manifests, "ui")["spec"]["template"]["spec"]["containers"][0]
    assert "MODEL_UI_ADMIN_KEY" not in env_of(ui)  # the UI gets it only when asked
    with_ui = deployment(render(sets=[*sets, "adminKey.ui=true"]), "ui")
    assert env_of(with_ui["spec"]["template"]["spec"]["containers"][0])["MODEL_UI_ADMIN_KEY"] == {
        "secretKeyRef": {"name": "model-admin", "key": "admin-key"}
    }
    # Without the admin API the repository stays read-only, and no key is read.
    plain = deployment(render(sets=["api.models.source=pvc"]), "api")["spec"]["template"]["spec"]
    assert "MODEL_API_ADMIN_KEY" not in env_of(plain["containers"][0])
    (mount,) = [m for m in plain["containers"][0]["volumeMounts"] if m["name"] == "models"]
    assert mount["readOnly"] is True


def test_ui_session_affinity_with_several_replicas() -> None:
    ui_service = service(scenario("ui-replicas"), "ui")
    assert ui_service["spec"]["sessionAffinity"] == "ClientIP"
    assert ui_service["spec"]["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"] == 3600
    assert (
        "sessionAffinity"
        not in service(
            render(sets=["ui.replicaCount=3", "ui.sessionAffinity.enabled=false"]), "ui"
        )["spec"]
    )


def test_model_sources() -> None:
    # image: the bundles baked into the image at /models, no volume over them
    api = deployment(render(), "api")["spec"]["template"]["spec"]
    assert env_of(api["containers"][0])["MODEL_API_MODEL_REPOSITORY"] == "/models"
    assert all(m["mountPath"] != "/models" for m in api["containers"][0]["volumeMounts"])
    # pvc: created claim, mounted read-only
    manifests = scenario("pvc")
    claim = one(manifests, "PersistentVolumeClaim")
    assert claim["spec"]["accessModes"] == ["ReadOnlyMany"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "2Gi"
    spec = deployment(manifests, "api")["spec"]["template"]["spec"]
    volume = next(v for v in spec["volumes"] if v["name"] == "models")
    assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    mount = next(m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "models")
    assert (mount["mountPath"], mount["readOnly"]) == ("/models", True)
    # existing pvc: not created, referenced
    manifests = scenario("pvc-existing")
    assert find(manifests, "PersistentVolumeClaim", "model-serving-models") == []
    spec = deployment(manifests, "api")["spec"]["template"]["spec"]
    assert (
        next(v for v in spec["volumes"] if v["name"] == "models")["persistentVolumeClaim"][
            "claimName"
        ]
        == "team-models"
    )
    # download: an init container with the API image fills an emptyDir
    manifests = scenario("download")
    spec = deployment(manifests, "api")["spec"]["template"]["spec"]
    (init,) = spec["initContainers"]
    assert init["image"] == spec["containers"][0]["image"], "no extra image"
    assert init["command"] == ["python", "/scripts/fetch-models.py"]
    assert env_of(init)["MODELS_URL"] == "https://models.example.com/penguins/models.tar.gz"
    assert env_of(init)["MODELS_DIR"] == "/models"
    assert (
        env_of(init)["MODELS_SHA256"]
        == yaml.safe_load((CHART / "ci" / "download-values.yaml").read_text())["api"]["models"][
            "download"
        ]["sha256"]
    )
    assert env_of(init)["MODELS_INSECURE_SKIP_CHECKSUM"] == "false"
    assert env_of(init)["MODELS_TIMEOUT_SECONDS"] == "300"
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["models"]["emptyDir"]["sizeLimit"] == "512Mi"
    # The download's size cap is the volume's limit: one value, they cannot disagree.
    assert env_of(init)["MODELS_SIZE_LIMIT"] == "512Mi"
    scripts = one(manifests, "ConfigMap", volumes["scripts"]["configMap"]["name"])
    assert scripts["data"]["fetch-models.py"] == (
        CHART / "files" / "fetch-models.py"
    ).read_text().rstrip("\n")
    missing_url = helm(*template_args(sets=["api.models.source=download"]))
    assert missing_url.returncode != 0 and "download.url is required" in missing_url.stderr


@pytest.mark.parametrize(
    ("url", "plain_http_named"),
    [("https://models.example.com/m.tar.gz", False), ("http://models.internal/m.tar.gz", True)],
)
def test_download_without_a_checksum_is_refused_unless_opted_out_by_name(
    url: str, plain_http_named: bool
) -> None:
    sets = ["api.models.source=download", f"api.models.download.url={url}"]
    refused = helm(*template_args(sets=sets))
    assert refused.returncode != 0
    assert "api.models.download.sha256 is required" in refused.stderr, refused.stderr
    assert "sha256sum models.tar.gz" in refused.stderr
    assert "api.models.download.insecureSkipChecksum=true" in refused.stderr
    assert ("plain http://" in refused.stderr) == plain_http_named
    opted_out = render(sets=[*sets, "api.models.download.insecureSkipChecksum=true"])
    (init,) = deployment(opted_out, "api")["spec"]["template"]["spec"]["initContainers"]
    assert env_of(init)["MODELS_SHA256"] == ""
    assert env_of(init)["MODELS_INSECURE_SKIP_CHECKSUM"] == "true"


def test_download_insecure_scenario_opts_out_by_name() -> None:
    (init,) = deployment(scenario("download-insecure"), "api")["spec"]["template"]["spec"][
        "initContainers"
    ]
    assert env_of(init)["MODELS_URL"].startswith("http://")
    assert env_of(init)["MODELS_INSECURE_SKIP_CHECKSUM"] == "true"
    assert env_of(init)["MODELS_SIZE_LIMIT"] == "256Mi"
    assert env_of(init)["MODELS_TIMEOUT_SECONDS"] == "60"


def test_notes_tell_where_models_come_from_and_warn_without_a_checksum() -> None:
    logs = f"logs deployment/{RELEASE}-api -c fetch-models"
    checked = notes(SCENARIOS["download"])
    assert "downloads https://models.example.com/penguins/models.tar.gz" in checked
    assert "SHA-256 checked, deadline 300 s, size cap 512Mi" in checked
    assert logs in checked and "WARNING" not in checked
    unchecked = notes(SCENARIOS["download-insecure"])
    assert "SHA-256 NOT checked, deadline 60 s, size cap 256Mi" in unchecked
    assert "WARNING: api.models.download.insecureSkipChecksum is on" in unchecked
    assert "over plain http, anyone on the way" in unchecked
    assert logs in unchecked
    assert "fetch-models" not in notes()


def test_monitoring_objects_use_the_chart_files() -> None:
    manifests = scenario("monitoring")
    monitor = one(manifests, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["endpoints"][0]["interval"] == "15s"
    rule = one(manifests, "PrometheusRule")
    assert rule["spec"] == yaml.safe_load((CHART / "files" / "alerts.yaml").read_text())
    alerts = {r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]}
    assert {"ModelApiHighErrorRate", "ModelApiHighLatency", "ModelApiNotReady"} <= alerts
    dashboard = one(manifests, "ConfigMap", "model-serving-dashboard")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboard["metadata"]["namespace"] == "monitoring"
    assert json.loads(dashboard["data"]["model-serving.json"]) == json.loads(
        (CHART / "files" / "dashboard.json").read_text()
    )


def test_helm_test_pods_reach_services_by_name() -> None:
    manifests = render()
    test_api = one(manifests, "Pod", "model-serving-test-api")
    test_ui = one(manifests, "Pod", "model-serving-test-ui")
    for pod in (test_api, test_ui):
        assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
        assert pod["spec"]["restartPolicy"] == "Never"
        container = pod["spec"]["containers"][0]
        assert (
            container["image"]
            == deployment(manifests, "api")["spec"]["template"]["spec"]["containers"][0]["image"]
        )
        assert container["command"][:2] == ["python", "/scripts/helm-test.py"]
    api_url = urlsplit(env_of(test_api["spec"]["containers"][0])["API_URL"])
    ui_url = urlsplit(env_of(test_ui["spec"]["containers"][0])["UI_URL"])
    assert (api_url.hostname or "").split(".")[0] == service(manifests, "api")["metadata"]["name"]
    assert api_url.port == service(manifests, "api")["spec"]["ports"][0]["port"]
    assert (ui_url.hostname or "").split(".")[0] == service(manifests, "ui")["metadata"]["name"]
    assert ui_url.port == service(manifests, "ui")["spec"]["ports"][0]["port"]
    app_version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    other_image = render(sets=["tests.image.repository=registry.example/tools"])
    for name in ("model-serving-test-api", "model-serving-test-ui"):
        container = one(other_image, "Pod", name)["spec"]["containers"][0]
        assert container["image"] == f"registry.example/tools:{app_version}"


def test_notes_tell_how_to_reach_ui_and_api() -> None:
    text = notes([*SCENARIOS["ingress"], *SCENARIOS["api-key"]])
    assert "http://model-serving-ui.model-serving.svc:8501" in text
    assert "http://model-serving-api.model-serving.svc:8000" in text
    assert "port-forward service/model-serving-ui" in text
    assert "https://models.example.com/" in text
    assert "get secret model-serving-api-key" in text
    assert f"helm test {RELEASE}" in text


# --------------------------------------------------------------------------------- database
def api_container(manifests: list[Manifest]) -> Manifest:
    container: Manifest = deployment(manifests, "api")["spec"]["template"]["spec"]["containers"][0]
    return container


def test_every_database_mode_has_a_ci_values_file() -> None:
    modes = {
        yaml.safe_load(path.read_text()).get("database", {}).get("mode")
        for path in CI_VALUES
        if path.name.startswith("database-")
    }
    assert modes == {"sqlite", "postgresql", "off"}


def test_sqlite_mode_keeps_the_database_on_a_claim_with_one_pod() -> None:
    for manifests in (render(), scenario("database-sqlite")):
        api = deployment(manifests, "api")
        spec = api["spec"]["template"]["spec"]
        assert api["spec"]["strategy"] == {"type": "Recreate"}, "one pod owns the file"
        assert api["spec"]["replicas"] == 1
        env = env_of(spec["containers"][0])
        assert env["MODEL_API_PREDICTION_LOG"] == "true"
        assert env["MODEL_API_DATA_DIR"] == "/var/lib/model-api"
        assert env["MODEL_API_DATABASE_MIGRATE"] == "true"
        assert "MODEL_API_DATABASE_URL" not in env
        (mount,) = [m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "data"]
        assert mount == {"name": "data", "mountPath": "/var/lib/model-api"}
        claim = one(manifests, "PersistentVolumeClaim", "model-serving-data")
        assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
        assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
        volume = next(v for v in spec["volumes"] if v["name"] == "data")
        assert volume == {
            "name": "data",
            "persistentVolumeClaim": {"claimName": "model-serving-data"},
        }
        assert find(manifests, "Job") == []
    claim = one(scenario("database-sqlite"), "PersistentVolumeClaim", "model-serving-data")
    assert claim["spec"]["resources"]["requests"]["storage"] == "5Gi"
    assert claim["spec"]["storageClassName"] == "standard"
    env = env_of(api_container(scenario("database-sqlite")))
    assert env["MODEL_API_PREDICTION_LOG_SAMPLE_RATE"] == "0.25"
    assert env["MODEL_API_PREDICTION_LOG_RETENTION_DAYS"] == "14"
    assert json.loads(env["MODEL_API_PREDICTION_LOG_EXCLUDE_FEATURES"]) == ["sex"]


@pytest.mark.parametrize("name", ["database-sqlite", "database-postgresql", "database-off"])
def test_the_api_accepts_the_database_env(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The API's own Settings read what the chart hands it (the Secret's URL aside), from the
    environment as in the pod (lists arrive as JSON strings)."""
    env = env_of(api_container(scenario(name)))
    for key in [k for k in os.environ if k.startswith("MODEL_API_")]:
        monkeypatch.delenv(key)
    database = ("MODEL_API_PREDICTION_LOG", "MODEL_API_DATA")  # MODEL_API_DATABASE_* too
    for key, value in env.items():
        if key.startswith(database) and isinstance(value, str):
            monkeypatch.setenv(key, value)
    settings = Settings()
    if name == "database-sqlite":
        assert str(settings.data_dir) == "/var/lib/model-api"
        assert settings.prediction_log_exclude_features == ["sex"]
        assert settings.prediction_log_sample_rate == 0.25
        assert settings.database_migrate is True
    assert settings.prediction_log is (name != "database-off")
    if name == "database-postgresql":
        assert settings.database_migrate is False


def test_sqlite_on_an_existing_claim_or_an_empty_dir() -> None:
    manifests = scenario("database-sqlite-existing-claim")
    assert find(manifests, "PersistentVolumeClaim") == []
    spec = deployment(manifests, "api")["spec"]["template"]["spec"]
    volume = next(v for v in spec["volumes"] if v["name"] == "data")
    assert volume["persistentVolumeClaim"] == {"claimName": "model-serving-feedback"}
    manifests = scenario("database-sqlite-ephemeral")
    assert find(manifests, "PersistentVolumeClaim") == []
    spec = deployment(manifests, "api")["spec"]["template"]["spec"]
    volume = next(v for v in spec["volumes"] if v["name"] == "data")
    assert volume["emptyDir"] == {"sizeLimit": "256Mi"}
    assert deployment(manifests, "api")["spec"]["strategy"]["type"] == "Recreate"


@pytest.mark.parametrize(
    ("sets", "refused"),
    [
        (["api.replicaCount=2"], "/api/replicaCount"),
        (["api.autoscaling.enabled=true"], "/api/autoscaling/enabled"),
        (["database.mode=postgresql"], "/database/existingSecret"),
        (["database.mode=mysql"], "/database/mode"),
        (["database.mode=postgresql", "database.existingSecret=db", "database.typo=1"], "typo"),
    ],
)
def test_schema_refuses_impossible_database_setups(sets: list[str], refused: str) -> None:
    result = helm(*template_args(sets=sets))
    assert result.returncode != 0, f"--set {sets} was accepted"
    assert "schema" in result.stderr and refused in result.stderr, result.stderr
    if refused.startswith("/api/"):
        # The refusal names the way out: another database mode.
        assert "/database/mode" in result.stderr and "postgresql" in result.stderr


@pytest.mark.parametrize(
    "sets",
    [
        ["database.mode=postgresql", "database.existingSecret=db", "api.replicaCount=4"],
        ["database.mode=postgresql", "database.existingSecret=db", "api.autoscaling.enabled=true"],
        ["database.mode=off", "api.replicaCount=4"],
    ],
)
def test_several_api_pods_without_sqlite_are_accepted(sets: list[str]) -> None:
    api = deployment(render(sets=sets), "api")
    assert api["spec"]["strategy"]["type"] == "RollingUpdate"


def test_postgresql_mode_reads_the_url_from_the_secret_and_migrates_in_a_hook_job() -> None:
    manifests = scenario("database-postgresql")
    url = {"secretKeyRef": {"name": "model-serving-db", "key": "uri"}}
    api = deployment(manifests, "api")
    assert api["spec"]["replicas"] == 3
    assert api["spec"]["strategy"]["type"] == "RollingUpdate"
    env = env_of(api["spec"]["template"]["spec"]["containers"][0])
    assert env["MODEL_API_PREDICTION_LOG"] == "true"
    assert env["MODEL_API_DATABASE_URL"] == url
    assert env["MODEL_API_DATABASE_MIGRATE"] == "false", "the hook Job migrates, once"
    assert "MODEL_API_DATA_DIR" not in env
    assert find(manifests, "PersistentVolumeClaim") == []
    assert find(manifests, "Secret") == [], "the chart never holds the database password"
    job = one(manifests, "Job", "model-serving-migrate")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"
    spec = job["spec"]["template"]["spec"]
    assert spec["restartPolicy"] == "Never"
    assert (job["spec"]["backoffLimit"], job["spec"]["activeDeadlineSeconds"]) == (2, 600)
    (container,) = spec["containers"]
    assert container["command"] == ["model-api", "migrate"]
    assert container["image"] == api["spec"]["template"]["spec"]["containers"][0]["image"]
    assert env_of(container)["MODEL_API_DATABASE_URL"] == url
    # The same restricted security context as the API pods (tests/security checks PSS too).
    api_spec = api["spec"]["template"]["spec"]
    assert spec["securityContext"] == api_spec["securityContext"]
    assert container["securityContext"] == api_spec["containers"][0]["securityContext"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert spec["automountServiceAccountToken"] is False
    # Its ServiceAccount exists before the release's own: a hook created just before the Job.
    account = one(manifests, "ServiceAccount", spec["serviceAccountName"])
    assert account["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert int(account["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
        annotations["helm.sh/hook-weight"]
    )
    assert account["automountServiceAccountToken"] is False
    # With serviceAccount.create off, the named (existing) account is used and none is created.
    named = render(
        SCENARIOS["database-postgresql"],
        sets=["serviceAccount.create=false", "serviceAccount.name=ml-workloads"],
    )
    assert find(named, "ServiceAccount") == []
    job_spec = one(named, "Job")["spec"]["template"]["spec"]
    assert job_spec["serviceAccountName"] == "ml-workloads"


def test_postgresql_url_key_defaults_to_url() -> None:
    """Only existingSecret given: the API pods and the migration Job read the Secret's `url` key."""
    manifests = render(sets=["database.mode=postgresql", "database.existingSecret=feedback-db"])
    url = {"secretKeyRef": {"name": "feedback-db", "key": "url"}}
    assert env_of(api_container(manifests))["MODEL_API_DATABASE_URL"] == url
    (container,) = one(manifests, "Job", "model-serving-migrate")["spec"]["template"]["spec"][
        "containers"
    ]
    assert env_of(container)["MODEL_API_DATABASE_URL"] == url
    # The URL only ever comes from the Secret: never a plain value, never a chart-made Secret.
    assert find(manifests, "Secret") == []


def test_migration_job_is_pod_security_restricted() -> None:
    """The hook Job meets Pod Security "restricted" on its own (not only "like the API pods")."""
    job = one(scenario("database-postgresql"), "Job", "model-serving-migrate")
    spec = job["spec"]["template"]["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = spec["containers"]
    context = container["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert isinstance(context["runAsUser"], int) and context["runAsUser"] > 0
    # Writable: only an emptyDir on /tmp (read-only root filesystem).
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert [v["name"] for v in spec["volumes"] if "emptyDir" in v] == ["tmp"]
    assert container["resources"]["limits"] == {"cpu": "500m", "memory": "256Mi"}


def test_only_postgresql_mode_opens_egress_to_the_database() -> None:
    """Egress values set but mode sqlite or off: the policy stays ingress-only (no new egress)."""
    egress = [
        "api.networkPolicy.enabled=true",
        "database.networkPolicy.egress.cidrs[0]=10.20.0.0/24",
        "database.networkPolicy.egress.port=6432",
    ]
    for mode in ("sqlite", "off"):
        policy = one(render(sets=[f"database.mode={mode}", *egress]), "NetworkPolicy")
        assert policy["spec"]["policyTypes"] == ["Ingress"], mode
        assert "egress" not in policy["spec"], mode
    policy = one(
        render(sets=["database.mode=postgresql", "database.existingSecret=db", *egress]),
        "NetworkPolicy",
    )
    _, database = policy["spec"]["egress"]
    assert database == {
        "ports": [{"port": 6432, "protocol": "TCP"}],
        "to": [{"ipBlock": {"cidr": "10.20.0.0/24"}}],
    }


def test_postgresql_egress_reaches_only_dns_and_the_database() -> None:
    manifests = scenario("database-postgresql")
    policy = one(manifests, "NetworkPolicy")
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    dns, database = policy["spec"]["egress"]
    assert dns == {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}
    assert database["ports"] == [{"port": 5432, "protocol": "TCP"}]
    assert database["to"] == [
        {"ipBlock": {"cidr": "10.20.0.0/24"}},
        {
            "podSelector": {"matchLabels": {"cnpg.io/cluster": "feedback-pg"}},
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "databases"}},
        },
    ]
    # Without a database address, or in another mode, egress stays as it was: unrestricted.
    for sets in (
        ["database.networkPolicy.egress.cidrs=null", "database.networkPolicy.egress.peers=null"],
        ["database.mode=off"],
    ):
        open_policy = one(render(SCENARIOS["database-postgresql"], sets=sets), "NetworkPolicy")
        assert open_policy["spec"]["policyTypes"] == ["Ingress"]
        assert "egress" not in open_policy["spec"]
    assert one(scenario("networkpolicy"), "NetworkPolicy")["spec"]["policyTypes"] == ["Ingress"]
    # A restricted egress would block the model download: refused with the reason.
    refused = helm(
        *template_args(
            SCENARIOS["database-postgresql"],
            sets=[
                "api.models.source=download",
                "api.models.download.url=https://models.example.com/m.tar.gz",
                "api.models.download.insecureSkipChecksum=true",
            ],
        )
    )
    assert refused.returncode != 0 and "would block the model download" in refused.stderr


@pytest.mark.parametrize("source", ["ci file", "--set"])
def test_off_mode_turns_the_prediction_log_off(source: str) -> None:
    if source == "ci file":
        manifests = scenario("database-off")
    else:
        manifests = render(sets=["database.mode=off"])
    env = env_of(api_container(manifests))
    assert env["MODEL_API_PREDICTION_LOG"] == "false"
    assert not {k for k in env if k.startswith("MODEL_API_DATA")}
    assert find(manifests, "PersistentVolumeClaim") == [] and find(manifests, "Job") == []
    assert all(m["name"] != "data" for m in api_container(manifests)["volumeMounts"])


def test_unquoted_off_in_a_values_file_means_off(tmp_path: Any) -> None:
    """YAML 1.1 reads a bare `off` as false: the chart takes it as mode off, not as an error."""
    values = tmp_path / "off-values.yaml"
    values.write_text("database:\n  mode: off\n")
    assert yaml.safe_load(values.read_text())["database"]["mode"] is False
    env = env_of(api_container(render([values])))
    assert env["MODEL_API_PREDICTION_LOG"] == "false"
