#!/usr/bin/env bash
# Build a slim local Python base image without any container registry.
#
# debootstraps a minimal Debian release (trixie by default: it ships Python 3.13) from the Debian
# mirror this machine's apt uses, strips docs and caches, and imports the result into Docker as
# ${BASE_IMAGE_TAG:-model-serving/python-base:3.13}. Pass that tag as the PYTHON_IMAGE build argument
# of the service Dockerfiles. A user who can pull from Docker Hub does not need this: the
# Dockerfiles default to python:3.12-slim.
#
#   scripts/build-base-image.sh            build unless the tag already exists
#   scripts/build-base-image.sh --force    rebuild
#
# Environment: BASE_IMAGE_TAG, DEBIAN_SUITE (trixie), DEBIAN_MIRROR (default: the first Debian
# mirror in /etc/apt/sources.list*, else http://deb.debian.org/debian).
# Needs root (debootstrap, chroot) and the debootstrap + docker.io packages (scripts/setup.sh --test).
set -euo pipefail
cd "$(dirname "$0")/.."

TAG="${BASE_IMAGE_TAG:-model-serving/python-base:3.13}"
SUITE="${DEBIAN_SUITE:-trixie}"
FORCE=0
[[ "${1:-}" == "--force" ]] && FORCE=1

log() { echo "build-base-image: $*" >&2; }

if [[ $(id -u) -ne 0 ]]; then
  log "debootstrap needs root; run this script as root (or with sudo)"
  exit 1
fi
command -v debootstrap >/dev/null || { log "debootstrap missing: run scripts/setup.sh --test"; exit 1; }

scripts/docker-daemon.sh >&2

if [[ $FORCE -eq 0 ]] && docker image inspect "$TAG" >/dev/null 2>&1; then
  log "$TAG already exists (use --force to rebuild)"
  exit 0
fi

mirror_from_apt() {
  # deb822 "URIs:" lines first, then one-line "deb URL suite ..." entries; Debian archive only.
  local files=(/etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list)
  local uri
  uri=$(grep -hsE '^[[:space:]]*URIs:' "${files[@]}" 2>/dev/null | awk '{for (i = 2; i <= NF; i++) print $i}' \
    | grep -E '/debian/?$' | head -n1 || true)
  if [[ -z "$uri" ]]; then
    uri=$(grep -hsE '^[[:space:]]*deb[[:space:]]' "${files[@]}" 2>/dev/null | sed -E 's/\[[^]]*\]//' \
      | awk '{print $2}' | grep -E '/debian/?$' | head -n1 || true)
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}
MIRROR="${DEBIAN_MIRROR:-$(mirror_from_apt)}"

ROOTFS=$(mktemp -d /var/tmp/python-base.XXXXXX)
cleanup() {
  # debootstrap may leave proc/sys mounted inside the tree when it fails half-way.
  for mnt in proc sys dev/pts dev; do
    mountpoint -q "$ROOTFS/$mnt" 2>/dev/null && umount -l "$ROOTFS/$mnt" || true
  done
  rm -rf --one-file-system "$ROOTFS"
}
trap cleanup EXIT

started=$SECONDS
log "debootstrap $SUITE from $MIRROR into $ROOTFS"
# minbase = only Priority: required packages + apt; python3-venv brings ensurepip so builder stages
# can create a virtual environment for pip/uv without touching the system Python.
debootstrap --variant=minbase --components=main \
  --include=python3,python3-venv,ca-certificates \
  "$SUITE" "$ROOTFS" "$MIRROR" >"$ROOTFS.debootstrap.log" 2>&1 || {
  log "debootstrap failed; last lines of its log:"
  tail -n 30 "$ROOTFS.debootstrap.log" >&2
  tail -n 30 "$ROOTFS/debootstrap/debootstrap.log" >&2 2>/dev/null || true
  rm -f "$ROOTFS.debootstrap.log"
  exit 1
}
rm -f "$ROOTFS.debootstrap.log"
log "debootstrap done in $((SECONDS - started))s"

# Slim it like Docker's official *-slim images: no docs, man pages, locales, apt lists or caches,
# and keep later apt installs in derived images from bringing docs back.
cat >"$ROOTFS/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
EOF
cat >"$ROOTFS/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT::Install-Recommends "false";
APT::Install-Suggests "false";
EOF
find "$ROOTFS/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
find "$ROOTFS/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
rm -rf "$ROOTFS"/usr/share/{man,info,lintian}/* \
  "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/* "$ROOTFS"/var/cache/debconf/*-old \
  "$ROOTFS"/var/log/* "$ROOTFS"/tmp/* "$ROOTFS"/var/tmp/* "$ROOTFS"/root/.cache
find "$ROOTFS/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} + 2>/dev/null || true
# `python` as in the official images (Debian only ships python3).
ln -sf /usr/bin/python3 "$ROOTFS/usr/local/bin/python"
# The mirror this machine used may be a local one; point apt at the public archive for users.
echo "deb http://deb.debian.org/debian $SUITE main" >"$ROOTFS/etc/apt/sources.list"

PY_VERSION=$(chroot "$ROOTFS" /usr/bin/python3 -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
log "Python $PY_VERSION; importing as $TAG"
tar --numeric-owner --xattrs -C "$ROOTFS" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'ENV PYTHON_VERSION='"$PY_VERSION" \
  --change 'LABEL org.opencontainers.image.description="Debian '"$SUITE"' (debootstrap minbase) with Python '"$PY_VERSION"'"' \
  --change 'CMD ["python3"]' \
  - "$TAG" >/dev/null
docker image ls "$TAG" >&2
log "done in $((SECONDS - started))s"
