#!/usr/bin/env bash
# Local Kubernetes: create the kind cluster (k8s/kind-config.yaml), build both images
# (`make images`), load them into kind, install the chart with k8s/kind-values.yaml, wait for the
# rollout and run `helm test`. With MONITORING=1 it first installs kube-prometheus-stack
# (Prometheus + Grafana) and turns on the chart's ServiceMonitor, PrometheusRule and dashboard.
#   scripts/kind-up.sh                     (make kind-up)
#   MONITORING=1 scripts/kind-up.sh        (make kind-up MONITORING=1, or make kind-monitoring)
# Environment: KIND_CLUSTER (model-serving), NAMESPACE (model-serving), RELEASE (model-serving),
# IMAGE_TAG (the tag `make images` gives, latest), SKIP_BUILD=1 to reuse built images.
# Needs docker, kind, kubectl and helm (helm falls back to scripts/install-helm.sh).
set -euo pipefail
source "$(dirname "$0")/kind-lib.sh"
cd "$ROOT"

MONITORING="${MONITORING:-0}"
IMAGE_TAG="${IMAGE_TAG:-latest}"
[[ "$MONITORING" =~ ^(0|1|)$ ]] || die "MONITORING must be 1 or 0, not '$MONITORING'"

require_docker
require_kind
require_kubectl
resolve_helm
kubectl_() { kubectl --context "$KUBE_CONTEXT" "$@"; }
helm_() { "$HELM" --kube-context "$KUBE_CONTEXT" "$@"; }

if cluster_exists; then
  say "kind cluster '$KIND_CLUSTER' already exists"
else
  say "creating kind cluster '$KIND_CLUSTER' (k8s/kind-config.yaml)"
  kind create cluster --name "$KIND_CLUSTER" --config k8s/kind-config.yaml --wait 180s
fi

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  say "building the images (make images)"
  make images
fi

# Load each image under a tag derived from its image id: a rebuilt image gets a new tag, so
# `helm upgrade` rolls the pods out even though `make images` reuses the same tag.
declare -A TAGS
for component in api ui; do
  image="model-serving-$component:$IMAGE_TAG"
  docker image inspect "$image" >/dev/null 2>&1 \
    || die "image $image not found after 'make images' (set IMAGE_TAG to the tag it builds)"
  id="$(docker image inspect --format '{{.Id}}' "$image")"
  id="${id#sha256:}"
  TAGS[$component]="kind-${id:0:12}"
  docker tag "$image" "model-serving-$component:${TAGS[$component]}"
  say "loading model-serving-$component:${TAGS[$component]} into kind"
  kind load docker-image --name "$KIND_CLUSTER" "model-serving-$component:${TAGS[$component]}"
done

values=(-f k8s/kind-values.yaml)
if [[ "$MONITORING" == 1 ]]; then
  say "installing kube-prometheus-stack (Prometheus, Grafana) in namespace $MONITORING_NAMESPACE"
  helm_ repo add prometheus-community https://prometheus-community.github.io/helm-charts --force-update >/dev/null
  helm_ repo update prometheus-community >/dev/null
  # Grafana's admin password: random, in a Secret of the cluster, never in a file of the repository.
  kubectl_ create namespace "$MONITORING_NAMESPACE" --dry-run=client -o yaml | kubectl_ apply -f - >/dev/null
  if ! kubectl_ -n "$MONITORING_NAMESPACE" get secret grafana-admin >/dev/null 2>&1; then
    kubectl_ -n "$MONITORING_NAMESPACE" create secret generic grafana-admin \
      --from-literal=admin-user=admin \
      --from-literal=admin-password="$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')" >/dev/null
  fi
  helm_ upgrade --install kube-prometheus-stack prometheus-community/kube-prometheus-stack \
    --namespace "$MONITORING_NAMESPACE" --create-namespace \
    -f k8s/monitoring/kube-prometheus-stack-values.yaml --wait --timeout 10m
  values+=(-f k8s/monitoring/model-serving-values.yaml)
fi

say "namespace $NAMESPACE enforces the Pod Security Standard 'restricted'"
kubectl_ create namespace "$NAMESPACE" --dry-run=client -o yaml | kubectl_ apply -f - >/dev/null
kubectl_ label namespace "$NAMESPACE" --overwrite \
  pod-security.kubernetes.io/enforce=restricted pod-security.kubernetes.io/enforce-version=latest >/dev/null

say "installing release $RELEASE (charts/model-serving)"
helm_ upgrade --install "$RELEASE" charts/model-serving --namespace "$NAMESPACE" "${values[@]}" \
  --set "api.image.tag=${TAGS[api]}" --set "ui.image.tag=${TAGS[ui]}" --wait --timeout 5m

say "waiting for the rollout"
for deployment in $(kubectl_ -n "$NAMESPACE" get deployments -l "app.kubernetes.io/instance=$RELEASE" -o name); do
  kubectl_ -n "$NAMESPACE" rollout status "$deployment" --timeout 180s
done

say "helm test $RELEASE"
helm_ test "$RELEASE" --namespace "$NAMESPACE" --logs --timeout 3m

echo
say "ready"
echo "  UI:   http://localhost:8501"
echo "  API:  http://localhost:8000/docs"
if [[ "$MONITORING" == 1 ]]; then
  echo "  Grafana:    http://localhost:3000  (user admin; dashboard 'Model Serving Stack'); password:"
  echo "              kubectl -n $MONITORING_NAMESPACE get secret grafana-admin -o jsonpath='{.data.admin-password}' | base64 -d"
  echo "  Prometheus: http://localhost:9090"
fi
echo "  Remove the cluster with: make kind-down"
