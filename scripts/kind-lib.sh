#!/usr/bin/env bash
# Shared by scripts/kind-up.sh and scripts/kind-down.sh (sourced, not run).
# Settings (environment): KIND_CLUSTER, NAMESPACE, RELEASE, MONITORING, IMAGE_TAG, SKIP_BUILD.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KIND_CLUSTER="${KIND_CLUSTER:-model-serving}"
KUBE_CONTEXT="kind-${KIND_CLUSTER}"
NAMESPACE="${NAMESPACE:-model-serving}"
RELEASE="${RELEASE:-model-serving}"
MONITORING_NAMESPACE="${MONITORING_NAMESPACE:-monitoring}"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# require_tool NAME HOW-TO-INSTALL
require_tool() {
  command -v "$1" >/dev/null 2>&1 || die "'$1' is not installed. $2"
}

require_docker() {
  require_tool docker "Install Docker: https://docs.docker.com/engine/install/"
  docker info >/dev/null 2>&1 \
    || die "the Docker daemon is not reachable (is it running, and may you use it? try 'docker info')."
}

require_kind() {
  require_tool kind "Install kind: https://kind.sigs.k8s.io/docs/user/quick-start/#installation"
}

require_kubectl() {
  require_tool kubectl "Install kubectl: https://kubernetes.io/docs/tasks/tools/"
}

# Sets HELM: helm from PATH, else the one scripts/install-helm.sh extracts (Linux x86-64).
resolve_helm() {
  if command -v helm >/dev/null 2>&1; then
    HELM="$(command -v helm)"
  elif HELM="$("$ROOT/scripts/install-helm.sh")"; then
    :
  else
    die "'helm' is not installed and scripts/install-helm.sh could not provide it. Install helm: https://helm.sh/docs/intro/install/"
  fi
  export HELM
}

cluster_exists() {
  kind get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER"
}
