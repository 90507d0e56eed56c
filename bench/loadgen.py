"""The load generator: wrk (Debian package, installed by the harness when missing) + Lua."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from bench.procs import LOAD_CPU, pinned

LUA_POST = Path(__file__).with_name("lua") / "post.lua"


def ensure_wrk(log: Any = print) -> str:
    """Path of wrk; installs Debian's ``wrk`` package with apt-get when it is missing."""
    found = shutil.which("wrk")
    if found:
        return found
    if shutil.which("apt-get") is None:
        raise RuntimeError("wrk is missing and apt-get is not available to install it")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [*sudo, "apt-get", "install", "-y", "-qq", "--no-install-recommends", "wrk"]
    log("installing wrk with apt-get")
    if subprocess.run(install, env=env, capture_output=True, check=False).returncode != 0:
        subprocess.run(
            [*sudo, "apt-get", "update", "-qq"], env=env, capture_output=True, check=False
        )
        result = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"apt-get install wrk failed:\n{result.stderr}")
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is still missing after apt-get install")
    return found


def wrk_version(wrk: str) -> str:
    result = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
    first = (result.stdout or result.stderr).splitlines()
    return first[0].split(" Copyright")[0].strip() if first else "unknown"


def run_wrk(
    wrk: str,
    url: str,
    body: Path,
    *,
    connections: int,
    duration_s: float,
    content_type: str = "application/json",
    pin: bool = True,
    timeout_s: float = 10.0,
) -> dict[str, Any]:
    """One wrk run (one thread, pinned to the load CPU); figures from the Lua summary."""
    command = pinned(
        [
            wrk,
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(duration_s))}s",
            f"--timeout={timeout_s:g}s",
            "-s",
            str(LUA_POST),
            url,
            "--",
            str(body),
            content_type,
        ],
        LOAD_CPU,
        pin,
    )
    result = subprocess.run(
        command, capture_output=True, text=True, check=False, timeout=duration_s + 60
    )
    line = next((x for x in result.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if result.returncode != 0 or line is None:
        raise RuntimeError(
            f"wrk failed ({result.returncode}) on {url}:\n{result.stdout}\n{result.stderr}"
        )
    raw = json.loads(line.removeprefix("BENCH_JSON "))
    seconds = raw["duration_us"] / 1e6
    socket_errors = (
        raw["connect_errors"] + raw["read_errors"] + raw["write_errors"] + raw["timeouts"]
    )
    return {
        "requests": raw["requests"],
        "seconds": round(seconds, 3),
        "requests_per_s": raw["requests"] / seconds if seconds else 0.0,
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "mean_ms": raw["latency_mean_us"] / 1000,
        "max_ms": raw["latency_max_us"] / 1000,
        "non_2xx": raw["status_errors"],
        "socket_errors": socket_errors,
        "socket_error_detail": {
            k: raw[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts")
        },
    }
