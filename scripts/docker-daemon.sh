#!/usr/bin/env bash
# Make sure a Docker engine answers: when `docker info` fails, start dockerd in the background
# (it keeps running after this script exits), log to $DOCKERD_LOG and wait until it is ready.
#
#   scripts/docker-daemon.sh        exit 0 once `docker info` works, 1 with the daemon log if not
#
# Environment: DOCKERD_LOG (/var/log/dockerd.log; /tmp/dockerd.log when not root), DOCKERD_ARGS
# (dockerd flags; when unset, the plain defaults are tried first, then fallbacks for kernels
# without overlayfs or iptables), DOCKERD_TIMEOUT (seconds to wait, 60).
# On a machine where Docker runs as a service (Docker Desktop, systemd) this does nothing.
set -euo pipefail

LOG="${DOCKERD_LOG:-/var/log/dockerd.log}"
[[ $(id -u) -eq 0 ]] || LOG="${DOCKERD_LOG:-/tmp/dockerd.log}"
TIMEOUT="${DOCKERD_TIMEOUT:-60}"

log() { echo "docker-daemon: $*" >&2; }
ready() { docker info >/dev/null 2>&1; }

ready && exit 0

if ! command -v dockerd >/dev/null 2>&1; then
  log "no Docker engine answers and dockerd is not installed (Debian: scripts/setup.sh --test installs docker.io)"
  exit 1
fi
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    log "dockerd must start as root; run this script as root or start Docker yourself"
    exit 1
  fi
fi

# Two test sessions may call this at once: only one of them starts the daemon.
exec 9>"/tmp/docker-daemon.lock"
flock -w "$((TIMEOUT + 30))" 9 || { log "timed out waiting for another docker-daemon.sh"; exit 1; }
ready && exit 0

wait_ready() {  # $1 = pid of the dockerd we started
  local deadline=$((SECONDS + TIMEOUT))
  while ((SECONDS < deadline)); do
    ready && return 0
    [[ -d "/proc/$1" ]] || return 1  # it exited
    sleep 0.5
  done
  return 1
}

start() {  # $@ = dockerd flags
  log "starting dockerd ${*:-with default flags} (log: $LOG)"
  $SUDO mkdir -p "$(dirname "$LOG")"
  # setsid + nohup: the daemon outlives this script and the test session that called it.
  $SUDO setsid nohup dockerd "$@" >>"$LOG" 2>&1 </dev/null 9>&- &
  local pid=$!
  if wait_ready "$pid"; then
    log "dockerd ready ($(docker info --format '{{.ServerVersion}}, storage {{.Driver}}' 2>/dev/null))"
    return 0
  fi
  log "dockerd $* did not become ready; last log lines:"
  tail -n 25 "$LOG" >&2 || true
  # Stop the daemon this script started (and only that one) before trying other flags.
  if [[ -d "/proc/$pid" ]]; then
    $SUDO kill "$pid" 2>/dev/null || true
    for _ in $(seq 20); do [[ -d "/proc/$pid" ]] || break; sleep 0.5; done
  fi
  return 1
}

if [[ -n "${DOCKERD_ARGS+set}" ]]; then
  # shellcheck disable=SC2086  # word splitting of the user's flags is intended
  start $DOCKERD_ARGS && exit 0
else
  # Plain defaults work on this project's Debian VMs (overlay2, iptables); the fallbacks cover
  # kernels without overlayfs (vfs) and sandboxes where iptables is not allowed.
  start && exit 0
  start --storage-driver=vfs && exit 0
  start --storage-driver=vfs --iptables=false --ip-masq=false && exit 0
fi
log "could not start a Docker engine; see $LOG"
exit 1
