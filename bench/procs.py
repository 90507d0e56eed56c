"""Processes of the benchmark: pinned servers on loopback ports, readiness, memory, clean stop."""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SERVER_CPU = 0  # the server under test runs here
LOAD_CPU = 1  # wrk, the harness itself and its probes run here


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def can_pin() -> bool:
    """taskset works and there are two CPUs to split between server and load generator."""
    if shutil.which("taskset") is None or cpu_count() < 2:
        return False
    allowed = os.sched_getaffinity(0)
    if SERVER_CPU not in allowed or LOAD_CPU not in allowed:
        return False
    result = subprocess.run(
        ["taskset", "-c", str(SERVER_CPU), "true"], capture_output=True, check=False
    )
    return result.returncode == 0


def pinned(command: list[str], cpu: int, pin: bool) -> list[str]:
    return ["taskset", "-c", str(cpu), *command] if pin else command


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM (and friends) of a process, in bytes."""
    values: dict[str, int] = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return values
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key.startswith("Vm") and rest.strip().endswith("kB"):
            values[key] = int(rest.split()[0]) * 1024
    return values


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads), from /proc/<pid>/stat."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_busy_seconds(cpu: int) -> float:
    """Busy (non-idle) seconds of one CPU since boot, from /proc/stat."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{cpu} "):
            values = [int(x) for x in line.split()[1:]]
            idle = values[3] + (values[4] if len(values) > 4 else 0)
            return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")
    return 0.0


class CpuWatch:
    """CPU used by one server and by everything else on its CPU over a stretch of wall time."""

    def __init__(self, pid: int, cpu: int) -> None:
        self.pid, self.cpu = pid, cpu
        self.wall = time.monotonic()
        self.server = process_cpu_seconds(pid)
        self.busy = cpu_busy_seconds(cpu)

    def stop(self) -> dict[str, float]:
        wall = time.monotonic() - self.wall
        server = process_cpu_seconds(self.pid) - self.server
        busy = cpu_busy_seconds(self.cpu) - self.busy
        return {
            "server_cpu_s": round(server, 3),
            "server_cpu_share": round(server / wall, 3) if wall else 0.0,
            "others_on_server_cpu": round(max(0.0, busy - server) / wall, 3) if wall else 0.0,
        }


def http_status(port: int, path: str, timeout: float = 2.0) -> int:
    """Status of a GET on the loopback port, 0 when nothing answers."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status
    except OSError:
        return 0
    finally:
        connection.close()


@dataclass
class Server:
    """A server process the harness started (and alone may stop)."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    started_at: float
    ready_path: str
    ready_after_s: float | None = None
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 20, width: int = 600) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return "\n".join(line if len(line) <= width else line[:width] + " ..." for line in text)

    def wait_ready(self, timeout: float = 60.0, poll_s: float = 0.01) -> float:
        """Seconds from process start to the first 200 on the ready path."""
        deadline = time.monotonic() + timeout
        broken_since: float | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode} before it was ready:\n"
                    f"{self.log_tail()}"
                )
            status = http_status(self.port, self.ready_path, timeout=1.0)
            if status == 200:
                self.ready_after_s = time.monotonic() - self.started_at
                return self.ready_after_s
            if status >= 500 and status != 503:  # a crash in the handler, not "still loading"
                broken_since = broken_since or time.monotonic()
                if time.monotonic() - broken_since > 5:
                    raise RuntimeError(
                        f"{self.name} answers {status} on {self.ready_path}:\n{self.log_tail()}"
                    )
            time.sleep(poll_s)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f}s:\n{self.log_tail()}")

    def memory(self) -> dict[str, int]:
        return proc_status(self.pid)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM this server's own process group, SIGKILL it after ``timeout``."""
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def start_server(
    name: str,
    command: list[str],
    *,
    port: int,
    log_dir: Path,
    ready_path: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    pin: bool = True,
) -> Server:
    """Start ``command`` pinned to the server CPU in its own session (so it can be stopped alone)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    environment = {**os.environ, **(env or {})}
    with log_path.open("wb") as log_file:
        started = time.monotonic()
        process = subprocess.Popen(
            pinned(command, SERVER_CPU, pin),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=environment,
            cwd=cwd,
            start_new_session=True,
        )
    return Server(name, port, process, log_path, started, ready_path)
