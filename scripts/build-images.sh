#!/usr/bin/env bash
# Build both service images from the repository root (the uv workspace is the build context):
#   model-serving-api:${IMAGE_TAG}   services/model-api/Dockerfile
#   model-serving-ui:${IMAGE_TAG}    services/ui/Dockerfile
# (the names the Helm chart, skaffold.yaml and scripts/kind-up.sh use). With the default tag
# `latest` both images also get the chart's appVersion as a tag, so `helm install` with default
# values finds them.
#
#   scripts/build-images.sh            (what `make images` runs)
#
# Environment:
#   IMAGE_PREFIX   image name prefix (model-serving: model-serving-api, model-serving-ui)
#   IMAGE_TAG      tag of both images (latest)
#   PYTHON_IMAGE   base image of both Dockerfiles. Unset: python:3.12-slim when it is present or can
#                  be pulled; otherwise (no registry) the Debian image scripts/build-base-image.sh
#                  builds locally, model-serving/python-base:3.13.
#   BUILD_CA_FILE  CA bundle handed to the builds as the `ca` BuildKit secret, for pip/uv behind a
#                  TLS-intercepting proxy (default /etc/ssl/certs/ca-certificates.crt when present;
#                  set it empty to pass none). It never ends up in an image.
#   DOCKER_BUILD_FLAGS  extra flags for every build (e.g. --no-cache)
set -euo pipefail
cd "$(dirname "$0")/.."

PREFIX="${IMAGE_PREFIX:-model-serving}"
TAG="${IMAGE_TAG:-latest}"
APP_VERSION=$(sed -nE 's/^appVersion:[[:space:]]*"?([^"[:space:]]+)"?.*/\1/p' charts/model-serving/Chart.yaml 2>/dev/null || true)
CA_FILE="${BUILD_CA_FILE-/etc/ssl/certs/ca-certificates.crt}"
DEFAULT_BASE="python:3.12-slim"
LOCAL_BASE="${BASE_IMAGE_TAG:-model-serving/python-base:3.13}"

log() { echo "build-images: $*" >&2; }

scripts/docker-daemon.sh

# The base image: the official one when a registry answers, else the local debootstrap one.
base="${PYTHON_IMAGE:-}"
if [[ -z "$base" ]]; then
  if docker image inspect "$DEFAULT_BASE" >/dev/null 2>&1 || timeout 300 docker pull -q "$DEFAULT_BASE" >/dev/null 2>&1; then
    base="$DEFAULT_BASE"
  else
    log "$DEFAULT_BASE cannot be pulled (no registry?): using the local base image $LOCAL_BASE"
    BASE_IMAGE_TAG="$LOCAL_BASE" scripts/build-base-image.sh
    base="$LOCAL_BASE"
  fi
fi

# The Dockerfiles need BuildKit (RUN --mount for the uv cache and the CA secret). Docker >= 23
# clients build with BuildKit through the buildx plugin; Debian's docker.io 20.10 client has
# BuildKit built in (DOCKER_BUILDKIT=1). Pick whichever docker on PATH can do it.
build=()
while IFS= read -r client; do
  if "$client" buildx version >/dev/null 2>&1; then
    build=("$client" buildx build --load)
    break
  fi
  major=$("$client" version --format '{{.Client.Version}}' 2>/dev/null | cut -d. -f1 || true)
  if [[ "$major" =~ ^[0-9]+$ ]] && ((major < 23)); then
    build=(env DOCKER_BUILDKIT=1 "$client" build)
    break
  fi
done < <(type -ap docker; [[ -x /usr/bin/docker ]] && echo /usr/bin/docker)
if ((${#build[@]} == 0)); then
  log "no docker client here can build with BuildKit: install the buildx plugin (docker-buildx)"
  exit 1
fi

flags=(--build-arg "PYTHON_IMAGE=$base")
if [[ -n "$CA_FILE" && -s "$CA_FILE" ]]; then
  flags+=(--secret "id=ca,src=$CA_FILE")
fi
# shellcheck disable=SC2206  # word splitting of the user's flags is intended
flags+=(${DOCKER_BUILD_FLAGS:-})

total=$SECONDS
for spec in "api:services/model-api/Dockerfile" "ui:services/ui/Dockerfile"; do
  name="${spec%%:*}" dockerfile="${spec#*:}"
  image="$PREFIX-$name:$TAG"
  tags=(-t "$image")
  [[ "$TAG" == latest && -n "$APP_VERSION" ]] && tags+=(-t "$PREFIX-$name:$APP_VERSION")
  started=$SECONDS
  log "building $image (base $base) with ${build[*]}"
  "${build[@]}" "${flags[@]}" --label "io.model-serving.component=$name" -f "$dockerfile" "${tags[@]}" .
  log "built $image in $((SECONDS - started))s ($(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1 / 1e6}'))"
done
# Earlier builds of these images that lost their tags to this one.
docker image prune --force --filter label=io.model-serving.component >/dev/null || true
log "both images built in $((SECONDS - total))s"
