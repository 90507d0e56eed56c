#!/usr/bin/env bash
# Delete the local kind cluster made by scripts/kind-up.sh (and everything in it).
#   scripts/kind-down.sh      (make kind-down)     Environment: KIND_CLUSTER (model-serving)
set -euo pipefail
source "$(dirname "$0")/kind-lib.sh"

require_kind
if cluster_exists; then
  say "deleting kind cluster '$KIND_CLUSTER'"
  kind delete cluster --name "$KIND_CLUSTER"
else
  say "no kind cluster named '$KIND_CLUSTER'; nothing to do"
fi
