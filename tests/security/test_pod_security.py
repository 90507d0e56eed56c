"""Every pod the chart can create meets the Pod Security Standard "restricted", in every scenario.

The controls are implemented in tests/security/pss.py (one function per control of the official
page, named like it). Here they run over the rendered chart: the defaults, every
``ci/*-values.yaml`` and the kind values (the scenarios of tests/chart), so the Deployments, the
``helm test`` Pods and the download init container are all covered. The checker itself is shown to
catch each control on a mutated copy of a real pod, and to accept what the standard allows.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest

from tests.chart.helm import SCENARIOS, Manifest, all_containers, deployment, find, scenario
from tests.security import pss

DATA_DIR = "/var/lib/model-api"  # the prediction log's SQLite folder (the API's data volume)


# ------------------------------------------------------------------------ the chart, for real
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_every_pod_meets_restricted(name: str) -> None:
    manifests = scenario(name)
    pods = list(pss.pods(manifests))
    # Nothing that creates pods escapes the check (a new workload kind would show up here).
    assert len(pods) == pss.count_pod_specs(manifests), [d for d, _, _ in pods]
    kinds = [d.split("/")[0] for d, _, _ in pods]
    assert kinds.count("Deployment") >= 2 and kinds.count("Pod") >= 2, kinds  # API, UI, helm tests
    violations = [
        f"{description}: [{control}] {message}"
        for description, metadata, spec in pods
        for control, message in pss.check_restricted(metadata, spec)
    ]
    assert violations == [], "not PSS restricted:\n" + "\n".join(violations)


def test_download_init_container_is_checked() -> None:
    (api,) = [
        spec
        for description, _, spec in pss.pods(scenario("download"))
        if description.startswith("Deployment/") and description.endswith("-api")
    ]
    paths = [path for path, _ in pss.containers(api)]
    assert paths == ["spec.initContainers[fetch-models]", "spec.containers[api]"]


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_no_token_read_only_root_and_only_emptydir_writable(name: str) -> None:
    """Beyond PSS: no service account token, read-only root filesystem, writable = emptyDir only
    (and the API's SQLite claim on /var/lib/model-api)."""
    manifests = scenario(name)
    for account in find(manifests, "ServiceAccount"):
        assert account.get("automountServiceAccountToken") is False, account["metadata"]["name"]
    for description, _, spec in pss.pods(manifests):
        assert spec.get("automountServiceAccountToken") is False, description
        assert spec.get("enableServiceLinks") is False, description
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for container in all_containers(spec):
            where = f"{description} container {container['name']}"
            assert container["securityContext"].get("readOnlyRootFilesystem") is True, where
            for mount in container.get("volumeMounts", []):
                if not mount.get("readOnly"):
                    volume = volumes[mount["name"]]
                    # The one writable claim: the API's SQLite database (database.mode sqlite).
                    database = (
                        mount["mountPath"] == DATA_DIR
                        and mount["name"] == "data"
                        and container["name"] == "api"
                        and "persistentVolumeClaim" in volume
                    )
                    assert "emptyDir" in volume or database, (
                        f"{where}: writable mount {mount['mountPath']} is not an emptyDir"
                    )


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_security_context_is_the_charts_own(name: str) -> None:
    """Stricter than PSS requires: the images' uid 10001 everywhere, RuntimeDefault seccomp, all
    capabilities dropped and none added, an emptyDir on /tmp and a memory limit per container."""
    for description, _, spec in pss.pods(scenario(name)):
        pod_context = spec["securityContext"]
        assert pod_context["runAsNonRoot"] is True, description
        assert pod_context["runAsUser"] == 10001, description
        assert pod_context["seccompProfile"]["type"] == "RuntimeDefault", description
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        containers = all_containers(spec)
        assert containers, description
        for container in containers:
            where = f"{description} container {container['name']}"
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True, where
            assert context["runAsUser"] == 10001, where
            assert context["capabilities"]["drop"] == ["ALL"], where
            assert not context["capabilities"].get("add"), where
            assert context["seccompProfile"]["type"] == "RuntimeDefault", where
            tmp = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
            assert tmp and "emptyDir" in volumes[tmp[0]["name"]], f"{where}: /tmp is an emptyDir"
            assert container["resources"]["limits"]["memory"], where


# --------------------------------------------------------------- the checker is not vacuous
def base_pod() -> tuple[Manifest, Manifest]:
    """A deep copy of a real pod with an init container: the download scenario's API pod."""
    template = copy.deepcopy(deployment(scenario("download"), "api")["spec"]["template"])
    return template["metadata"], template["spec"]


def init(spec: Manifest) -> Manifest:
    return spec["initContainers"][0]


def main(spec: Manifest) -> Manifest:
    return spec["containers"][0]


Mutation = Callable[[Manifest, Manifest], None]
VIOLATIONS: list[tuple[str, str, Mutation]] = [
    (
        "baseline/HostProcess",
        "pod hostProcess",
        lambda m, s: s["securityContext"].update(windowsOptions={"hostProcess": True}),
    ),
    ("baseline/Host Namespaces", "hostNetwork", lambda m, s: s.update(hostNetwork=True)),
    ("baseline/Host Namespaces", "hostPID", lambda m, s: s.update(hostPID=True)),
    ("baseline/Host Namespaces", "hostIPC", lambda m, s: s.update(hostIPC=True)),
    (
        "baseline/Privileged Containers",
        "privileged init container",
        lambda m, s: init(s)["securityContext"].update(privileged=True),
    ),
    (
        "baseline/Capabilities",
        "add SYS_ADMIN",
        lambda m, s: main(s)["securityContext"]["capabilities"].update(add=["SYS_ADMIN"]),
    ),
    (
        "baseline/HostPath Volumes",
        "hostPath volume",
        lambda m, s: s["volumes"].append({"name": "host", "hostPath": {"path": "/"}}),
    ),
    ("baseline/Host Ports", "hostPort", lambda m, s: main(s)["ports"][0].update(hostPort=8000)),
    (
        "baseline/Host Probes / Lifecycle Hooks",
        "probe to another host",
        lambda m, s: main(s)["readinessProbe"]["httpGet"].update(host="169.254.169.254"),
    ),
    (
        "baseline/Host Probes / Lifecycle Hooks",
        "preStop hook to another host",
        lambda m, s: main(s)["lifecycle"].update(
            preStop={"tcpSocket": {"host": "10.0.0.1", "port": 80}}
        ),
    ),
    (
        "baseline/AppArmor",
        "container Unconfined",
        lambda m, s: main(s)["securityContext"].update(appArmorProfile={"type": "Unconfined"}),
    ),
    (
        "baseline/AppArmor",
        "unconfined annotation",
        lambda m, s: m.setdefault("annotations", {}).update(
            {"container.apparmor.security.beta.kubernetes.io/api": "unconfined"}
        ),
    ),
    (
        "baseline/SELinux",
        "custom type",
        lambda m, s: s["securityContext"].update(seLinuxOptions={"type": "spc_t"}),
    ),
    (
        "baseline/SELinux",
        "custom user",
        lambda m, s: init(s)["securityContext"].update(seLinuxOptions={"user": "system_u"}),
    ),
    (
        "baseline/SELinux",
        "custom role",
        lambda m, s: main(s)["securityContext"].update(seLinuxOptions={"role": "sysadm_r"}),
    ),
    (
        "baseline//proc Mount Type",
        "Unmasked",
        lambda m, s: main(s)["securityContext"].update(procMount="Unmasked"),
    ),
    (
        "baseline/Seccomp",
        "container Unconfined",
        lambda m, s: init(s)["securityContext"].update(seccompProfile={"type": "Unconfined"}),
    ),
    (
        "baseline/Sysctls",
        "unsafe sysctl",
        lambda m, s: s["securityContext"].update(sysctls=[{"name": "kernel.msgmax", "value": "1"}]),
    ),
    (
        "restricted/Volume Types",
        "nfs volume",
        lambda m, s: s["volumes"].append({"name": "n", "nfs": {"server": "nfs", "path": "/"}}),
    ),
    (
        "restricted/Privilege Escalation",
        "unset",
        lambda m, s: init(s)["securityContext"].pop("allowPrivilegeEscalation"),
    ),
    (
        "restricted/Privilege Escalation",
        "true",
        lambda m, s: main(s)["securityContext"].update(allowPrivilegeEscalation=True),
    ),
    (
        "restricted/Running as Non-root",
        "unset on the pod and one container",
        lambda m, s: (
            s["securityContext"].pop("runAsNonRoot"),
            init(s)["securityContext"].pop("runAsNonRoot"),
        ),
    ),
    (
        "restricted/Running as Non-root",
        "false on a container",
        lambda m, s: main(s)["securityContext"].update(runAsNonRoot=False),
    ),
    (
        "restricted/Running as Non-root user",
        "uid 0",
        lambda m, s: main(s)["securityContext"].update(runAsUser=0),
    ),
    (
        "restricted/Seccomp",
        "unset on the pod and one container",
        lambda m, s: (
            s["securityContext"].pop("seccompProfile"),
            init(s)["securityContext"].pop("seccompProfile"),
        ),
    ),
    (
        "restricted/Capabilities",
        "ALL not dropped",
        lambda m, s: main(s)["securityContext"]["capabilities"].update(drop=["NET_RAW"]),
    ),
    (
        "restricted/Capabilities",
        "adds a baseline capability",
        lambda m, s: init(s)["securityContext"]["capabilities"].update(add=["CHOWN"]),
    ),
    ("extra/Non-root groups", "fsGroup 0", lambda m, s: s["securityContext"].update(fsGroup=0)),
]


def test_base_pod_is_clean() -> None:
    assert pss.check_restricted(*base_pod()) == []


@pytest.mark.parametrize(
    ("control", "mutate"),
    [pytest.param(c, f, id=f"{c}: {d}") for c, d, f in VIOLATIONS],
)
def test_checker_catches(control: str, mutate: Mutation) -> None:
    metadata, spec = base_pod()
    mutate(metadata, spec)
    found = {c for c, _ in pss.check_restricted(metadata, spec)}
    assert control in found, found


def test_every_control_has_a_violation_case() -> None:
    names = {c for c, _, _ in VIOLATIONS}
    for control in pss.RESTRICTED:
        metadata, spec = base_pod()
        assert control(metadata, spec) == []
        name = (control.__doc__ or "").split(":", 1)[0]
        assert name in names, f"{control.__name__} ({name}) has no violation case"


ALLOWED: list[tuple[str, Mutation]] = [
    (
        "seccomp only on the containers",
        lambda m, s: s["securityContext"].pop("seccompProfile"),
    ),
    (
        "Localhost seccomp",
        lambda m, s: s["securityContext"].update(
            seccompProfile={"type": "Localhost", "localhostProfile": "profiles/api.json"}
        ),
    ),
    (
        "runAsNonRoot only on the containers",
        lambda m, s: s["securityContext"].pop("runAsNonRoot"),
    ),
    (
        "runAsNonRoot only on the pod",
        lambda m, s: [c["securityContext"].pop("runAsNonRoot") for c in all_containers(s)],
    ),
    (
        "add NET_BIND_SERVICE",
        lambda m, s: main(s)["securityContext"]["capabilities"].update(add=["NET_BIND_SERVICE"]),
    ),
    (
        "safe sysctl",
        lambda m, s: s["securityContext"].update(
            sysctls=[{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]
        ),
    ),
    (
        "AppArmor RuntimeDefault and runtime/default annotation",
        lambda m, s: (
            main(s)["securityContext"].update(appArmorProfile={"type": "RuntimeDefault"}),
            m.setdefault("annotations", {}).update(
                {"container.apparmor.security.beta.kubernetes.io/api": "runtime/default"}
            ),
        ),
    ),
    (
        "SELinux container_t and level",
        lambda m, s: s["securityContext"].update(
            seLinuxOptions={"type": "container_t", "level": "s0:c1,c2"}
        ),
    ),
    ("hostPort 0", lambda m, s: main(s)["ports"][0].update(hostPort=0)),
    ("procMount Default", lambda m, s: main(s)["securityContext"].update(procMount="Default")),
    (
        "projected and secret volumes",
        lambda m, s: s["volumes"].extend(
            [
                {"name": "p", "projected": {"sources": []}},
                {"name": "s", "secret": {"secretName": "x"}},
            ]
        ),
    ),
]


@pytest.mark.parametrize(("mutate"), [pytest.param(f, id=d) for d, f in ALLOWED])
def test_checker_accepts_what_restricted_allows(mutate: Mutation) -> None:
    metadata, spec = base_pod()
    mutate(metadata, spec)
    assert pss.check_restricted(metadata, spec) == []
