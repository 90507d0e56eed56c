"""The Pod Security Standards, profile "restricted" (which contains "baseline"), as plain Python.

Each control of https://kubernetes.io/docs/concepts/security/pod-security-standards/ (policy
version "latest", Kubernetes v1.34) is one function below, named in its docstring exactly as the
page names it, with the restricted fields and the allowed values the page lists. A violation is
``(control, message)`` where control is ``"baseline/<name>"`` or ``"restricted/<name>"``.

Where this differs from the Pod Security admission controller it is stricter, never laxer:
- the Windows exemption of the restricted controls (``spec.os.name: windows``) is not applied;
- "Non-root groups" (an optional control in earlier versions of the page, not enforced by the
  admission controller) is checked too, as ``extra/Non-root groups``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

Manifest = dict[str, Any]
Violation = tuple[str, str]

CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")

# Baseline "Capabilities": the capabilities a container may add (the container runtime's default set).
BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
# Restricted "Capabilities": drop ALL, add at most NET_BIND_SERVICE.
RESTRICTED_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})
# Baseline "Sysctls": the safe, namespaced subset.
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
# Baseline "SELinux": the only types a pod or container may ask for.
SELINUX_TYPES = frozenset(
    {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
)
# Restricted "Volume Types": the core volume types (everything else must go through a PV).
RESTRICTED_VOLUME_TYPES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)
SECCOMP_ALLOWED = frozenset({"RuntimeDefault", "Localhost"})
APPARMOR_ALLOWED = frozenset({"RuntimeDefault", "Localhost"})
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
LIFECYCLE_HOOKS = ("postStart", "preStop")


def containers(spec: Manifest) -> Iterator[tuple[str, Manifest]]:
    """``(path, container)`` for init, regular and ephemeral containers."""
    for field in CONTAINER_LISTS:
        for index, container in enumerate(spec.get(field) or []):
            yield f"spec.{field}[{container.get('name', index)}]", container


def _sc(obj: Manifest) -> Manifest:
    return obj.get("securityContext") or {}


def host_process(metadata: Manifest, spec: Manifest) -> list[Violation]:
    """baseline/HostProcess: windowsOptions.hostProcess undefined or false, pod and containers."""
    out = []
    if (_sc(spec).get("windowsOptions") or {}).get("hostProcess") is True:
        out.append("spec.securityContext.windowsOptions.hostProcess=true")
    for path, c in containers(spec):
        if (_sc(c).get("windowsOptions") or {}).get("hostProcess") is True:
            out.append(f"{path}.securityContext.windowsOptions.hostProcess=true")
    return [("baseline/HostProcess", m) for m in out]


def host_namespaces(metadata: Manifest, spec: Manifest) -> list[Violation]:
    """baseline/Host Namespaces: spec.hostNetwork, hostPID, hostIPC undefined or false."""
    return [
        ("baseline/Host Namespaces", f"spec.{field}=true")
        for field in ("hostNetwork", "hostPID", "hostIPC")
        if spec.get(field) is True
    ]


def privileged_containers(metadata: Manifest, spec: Manifest) -> list[Violation]:
    """baseline/Privileged Containers: securityContext.privileged undefined or false."""
    return [
        ("baseline/Privileged Containers", f"{path}.securityContext.privileged=true")
        for path, c in containers(spec)
        if _sc(c).get("privileged") is True
    ]


def baseline_capabilities(metadata: Manifest, spec: Manifest) -> list[Violation]:
    """baseline/Capabilities: capabilities.add only from the runtime's default set."""
    out = []
    for path, c in containers(spec):
        added = set((_sc(c).get("capabilities") or {}).get("add") or [])
        if extra := sorted(added - BASELINE_CAPABILITIES):
            out.append(("baseline/Capabilities", f"{path} adds {extra}"))
    return out


def host_path_volumes(metadata: Manifest, spec: Manifest) -> list[Violation]:
    """baseline/HostPath Volumes: spec.volumes[*].hostPath undefined."""
    return [
        ("baseline/HostPath Volumes", f"spec.volumes[{v.get('name')}].hostPath")
        for v in spec.get("volumes") or []
        if v.get("hostPath") is not None
    ]


def host_ports(metadata: Manifest, spec: Manifest) -> list[Violation]:
    """baseline/Host Ports: ports[*].hostPort undefined or 0."""
    return [
        ("baseline/Host Ports", f"{path}.ports[{p.get('name', i)}].hostPort={p['hostPort']}")
        for path, c in containers(spec)
        for i, p in enumerate(c.get("ports") or [])
        if p.get("hostPort") not in (None, 0)
    ]


def host_probes(metadata: Manifest, spec: Manifest) -> list[Violation]:
    """baseline/Host Probes / Lifecycle Hooks: probes' and hooks' httpGet.host, tcpSocket.host
    undefined or "" (v1.34+)."""
    out = []
    for path, c in containers(spec):
        handlers = [(f"{path}.{p}", c.get(p) or {}) for p in PROBES]
        handlers += [
            (f"{path}.lifecycle.{h}", (c.get("lifecycle") or {}).get(h) or {})
            for h in LIFECYCLE_HOOKS
        ]
        for where, handler in handlers:
            for action in ("httpGet", "tcpSocket"):
                host = (handler.get(action) or {}).get("host")
                if host not in (None, ""):
                    out.append(
                        ("baseline/Host Probes / Lifecycle Hooks", f"{where}.{action}.host={host}")
                    )
    return out


def apparmor(metadata: Manifest, spec: Manifest) -> list[Violation]:
    """baseline/AppArmor: appArmorProfile.type undefined, RuntimeDefault or Localhost; the beta
    annotations container.apparmor.security.beta.kubernetes.io/* undefined, runtime/default or
    localhost/*."""
    out = []
    profiles = [("spec.securityContext", _sc(spec))]
    profiles += [(f"{path}.securityContext", _sc(c)) for path, c in containers(spec)]
    for where, sc in profiles:
        kind = (sc.get("appArmorProfile") or {}).get("type")
        if kind is not None and kind not in APPARMOR_ALLOWED:
            out.append(f"{where}.appArmorProfile.type={kind}")
    for key, value in (metadata.get("annotations") or {}).items():
        if key.startswith(APPARMOR_ANNOTATION) and not (
            value == "runtime/default" or str(value).startswith("localhost/")
        ):
            out.append(f"metadata.annotations[{key}]={value}")
    return [("baseline/AppArmor", m) for m in out]


def selinux(metadata: Manifest, spec: Manifest) -> list[Violation]:
    """baseline/SELinux: seLinuxOptions.type undefined or one of the container types; .user and
    .role undefined or ""."""
    out = []
    options = [("spec.securityContext", _sc(spec))]
    options += [(f"{path}.securityContext", _sc(c)) for path, c in containers(spec)]
    for where, sc in options:
        se = sc.get("seLinuxOptions") or {}
        if se.get("type") is not None and se["type"] not in SELINUX_TYPES:
            out.append(f"{where}.seLinuxOptions.type={se['type']}")
        for field in ("user", "role"):
            if se.get(field) not in (None, ""):
                out.append(f"{where}.seLinuxOptions.{field}={se[field]}")
    return [("baseline/SELinux", m) for m in out]


def proc_mount(metadata: Manifest, spec: Manifest) -> list[Violation]:
    """baseline//proc Mount Type: securityContext.procMount undefined or Default."""
    return [
        ("baseline//proc Mount Type", f"{path}.securityContext.procMount={_sc(c)['procMount']}")
        for path, c in containers(spec)
        if _sc(c).get("procMount") not in (None, "Default")
    ]


def baseline_seccomp(metadata: Manifest, spec: Manifest) -> list[Violation]:
    """baseline/Seccomp: seccompProfile.type never Unconfined, pod or containers."""
    out = []
    if (_sc(spec).get("seccompProfile") or {}).get("type") == "Unconfined":
        out.append("spec.securityContext.seccompProfile.type=Unconfined")
    for path, c in containers(spec):
        if (_sc(c).get("seccompProfile") or {}).get("type") == "Unconfined":
            out.append(f"{path}.securityContext.seccompProfile.type=Unconfined")
    return [("baseline/Seccomp", m) for m in out]


def sysctls(metadata: Manifest, spec: Manifest) -> list[Violation]:
    """baseline/Sysctls: spec.securityContext.sysctls[*].name only from the safe subset."""
    return [
        ("baseline/Sysctls", f"spec.securityContext.sysctls[{s.get('name')}]")
        for s in _sc(spec).get("sysctls") or []
        if s.get("name") not in SAFE_SYSCTLS
    ]


def volume_types(metadata: Manifest, spec: Manifest) -> list[Violation]:
    """restricted/Volume Types: only configMap, csi, downwardAPI, emptyDir, ephemeral,
    persistentVolumeClaim, projected, secret."""
    out = []
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds or not kinds <= RESTRICTED_VOLUME_TYPES:
            out.append(
                ("restricted/Volume Types", f"spec.volumes[{volume.get('name')}]: {sorted(kinds)}")
            )
    return out


def privilege_escalation(metadata: Manifest, spec: Manifest) -> list[Violation]:
    """restricted/Privilege Escalation: securityContext.allowPrivilegeEscalation false (set)."""
    return [
        (
            "restricted/Privilege Escalation",
            f"{path}.securityContext.allowPrivilegeEscalation is not false",
        )
        for path, c in containers(spec)
        if _sc(c).get("allowPrivilegeEscalation") is not False
    ]


def run_as_non_root(metadata: Manifest, spec: Manifest) -> list[Violation]:
    """restricted/Running as Non-root: runAsNonRoot true on the pod, or on every container; never
    false anywhere."""
    out = []
    pod = _sc(spec).get("runAsNonRoot")
    if pod is False:
        out.append("spec.securityContext.runAsNonRoot=false")
    for path, c in containers(spec):
        value = _sc(c).get("runAsNonRoot")
        if value is False:
            out.append(f"{path}.securityContext.runAsNonRoot=false")
        elif value is None and pod is not True:
            out.append(f"{path}: runAsNonRoot set neither on the container nor on the pod")
    return [("restricted/Running as Non-root", m) for m in out]


def run_as_non_root_user(metadata: Manifest, spec: Manifest) -> list[Violation]:
    """restricted/Running as Non-root user: runAsUser undefined or non-zero, pod and containers."""
    out = []
    if _sc(spec).get("runAsUser") == 0:
        out.append("spec.securityContext.runAsUser=0")
    for path, c in containers(spec):
        if _sc(c).get("runAsUser") == 0:
            out.append(f"{path}.securityContext.runAsUser=0")
    return [("restricted/Running as Non-root user", m) for m in out]


def restricted_seccomp(metadata: Manifest, spec: Manifest) -> list[Violation]:
    """restricted/Seccomp: seccompProfile.type RuntimeDefault or Localhost on the pod, or on every
    container; a container may leave it undefined only when the pod sets it."""
    out = []
    pod = (_sc(spec).get("seccompProfile") or {}).get("type")
    if pod is not None and pod not in SECCOMP_ALLOWED:
        out.append(f"spec.securityContext.seccompProfile.type={pod}")
    for path, c in containers(spec):
        value = (_sc(c).get("seccompProfile") or {}).get("type")
        if value is not None and value not in SECCOMP_ALLOWED:
            out.append(f"{path}.securityContext.seccompProfile.type={value}")
        elif value is None and pod not in SECCOMP_ALLOWED:
            out.append(f"{path}: seccompProfile set neither on the container nor on the pod")
    return [("restricted/Seccomp", m) for m in out]


def restricted_capabilities(metadata: Manifest, spec: Manifest) -> list[Violation]:
    """restricted/Capabilities: capabilities.drop contains ALL; capabilities.add at most
    NET_BIND_SERVICE."""
    out = []
    for path, c in containers(spec):
        caps = _sc(c).get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            out.append(f"{path}.securityContext.capabilities.drop lacks ALL")
        if extra := sorted(set(caps.get("add") or []) - RESTRICTED_CAPABILITIES):
            out.append(f"{path}.securityContext.capabilities.add {extra}")
    return [("restricted/Capabilities", m) for m in out]


def non_root_groups(metadata: Manifest, spec: Manifest) -> list[Violation]:
    """extra/Non-root groups: runAsGroup, fsGroup and supplementalGroups never 0."""
    out = []
    pod = _sc(spec)
    for field in ("runAsGroup", "fsGroup"):
        if pod.get(field) == 0:
            out.append(f"spec.securityContext.{field}=0")
    if 0 in (pod.get("supplementalGroups") or []):
        out.append("spec.securityContext.supplementalGroups contains 0")
    for path, c in containers(spec):
        if _sc(c).get("runAsGroup") == 0:
            out.append(f"{path}.securityContext.runAsGroup=0")
    return [("extra/Non-root groups", m) for m in out]


BASELINE: list[Callable[[Manifest, Manifest], list[Violation]]] = [
    host_process,
    host_namespaces,
    privileged_containers,
    baseline_capabilities,
    host_path_volumes,
    host_ports,
    host_probes,
    apparmor,
    selinux,
    proc_mount,
    baseline_seccomp,
    sysctls,
]
RESTRICTED: list[Callable[[Manifest, Manifest], list[Violation]]] = [
    *BASELINE,
    volume_types,
    privilege_escalation,
    run_as_non_root,
    run_as_non_root_user,
    restricted_seccomp,
    restricted_capabilities,
    non_root_groups,
]


def check_restricted(metadata: Manifest, spec: Manifest) -> list[Violation]:
    """Every violation of the restricted profile by a pod (its metadata and spec)."""
    return [v for control in RESTRICTED for v in control(metadata, spec)]


def pods(manifests: list[Manifest]) -> Iterator[tuple[str, Manifest, Manifest]]:
    """``(description, pod metadata, pod spec)`` of every object that creates pods."""
    for m in manifests:
        kind, name = m["kind"], m["metadata"]["name"]
        if kind == "Pod":
            yield f"Pod/{name}", m["metadata"], m["spec"]
        elif kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
            template = m["spec"]["template"]
            yield f"{kind}/{name}", template.get("metadata") or {}, template["spec"]
        elif kind == "CronJob":
            template = m["spec"]["jobTemplate"]["spec"]["template"]
            yield f"{kind}/{name}", template.get("metadata") or {}, template["spec"]


def count_pod_specs(node: Any) -> int:
    """How many objects anywhere in ``node`` look like a pod spec (hold a ``containers`` list)."""
    if isinstance(node, dict):
        own = 1 if isinstance(node.get("containers"), list) else 0
        return own + sum(count_pod_specs(v) for v in node.values())
    if isinstance(node, list):
        return sum(count_pod_specs(v) for v in node)
    return 0
