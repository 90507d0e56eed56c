#!/usr/bin/env bash
# Install what the project needs on a fresh machine of this kind, idempotently.
#   scripts/setup.sh          Python toolchain (uv) and the locked virtual environment
#   scripts/setup.sh --test   also the system tools the test suite drives for real
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages the tests use: chromium (browser tests), prometheus/promtool (metrics and
# alert-rule tests), docker.io + debootstrap (image tests), wrk (load generator).
TEST_APT_PACKAGES=(chromium prometheus docker.io debootstrap wrk curl ca-certificates postgresql)

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}"
    local sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

ensure_uv() {
  if ! uv --version >/dev/null 2>&1; then
    echo "setup: installing uv"
    python3 -m pip install --quiet --disable-pip-version-check uv
    command -v pyenv >/dev/null && pyenv rehash || true
  fi
  uv --version >/dev/null
}

# The model API has one C++ extension (model_api.codecs._records), compiled when uv installs it
# (optional: without a compiler the API reads v1 bodies with msgspec). The suite also builds it with
# AddressSanitizer and UBSan (tests/api/test_records_sanitized.py); on Debian g++ brings their
# runtimes along (libasan8, libubsan1, through libgcc-12-dev).
command -v g++ >/dev/null || apt_install g++

if [[ "${1:-}" == "--test" ]]; then
  apt_install "${TEST_APT_PACKAGES[@]}"
  # Docker 23+ (Debian 13's docker.io) builds with BuildKit only through the buildx plugin, packaged
  # as docker-buildx; Debian 12's docker.io 20.10 has BuildKit built in and no such package.
  if ! docker buildx version >/dev/null 2>&1 && apt-cache show docker-buildx >/dev/null 2>&1; then
    apt_install docker-buildx
  fi
fi
ensure_uv
# Never let uv fetch an interpreter from the internet: use the machine's Python 3.12+.
export UV_PYTHON_DOWNLOADS=never
uv sync --frozen --quiet
