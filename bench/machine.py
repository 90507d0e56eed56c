"""What the run ran on, and how busy the machine was with other people's work meanwhile."""

from __future__ import annotations

import os
import platform
import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _cpu_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already inside user/nice
    return total - idle, total


def _own_cpu_seconds() -> float:
    """CPU seconds of this harness and every child it has waited for (servers, wrk, probes)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def background_load(seconds: float = 2.0) -> float:
    """Cores kept busy by other processes while the harness waits (before it starts anything)."""
    busy0, total0 = _cpu_jiffies()
    time.sleep(seconds)
    busy1, total1 = _cpu_jiffies()
    ncpu = os.cpu_count() or 1
    return ncpu * (busy1 - busy0) / max(1, total1 - total0)


@dataclass
class LoadMeter:
    """Average cores used by *other* processes between start() and stop(): total busy CPU time
    from /proc/stat minus the CPU time of this harness and its reaped children."""

    busy0: int = 0
    wall0: float = 0.0
    own0: float = 0.0

    def start(self) -> None:
        self.busy0, _ = _cpu_jiffies()
        self.wall0 = time.monotonic()
        self.own0 = _own_cpu_seconds()

    def stop(self) -> dict[str, float]:
        busy1, _ = _cpu_jiffies()
        wall = time.monotonic() - self.wall0
        ticks = os.sysconf("SC_CLK_TCK")
        busy = (busy1 - self.busy0) / ticks
        own = _own_cpu_seconds() - self.own0
        return {
            "wall_s": round(wall, 1),
            "all_cpu_s": round(busy, 1),
            "harness_cpu_s": round(own, 1),
            "other_cores_avg": round(max(0.0, busy - own) / wall, 2) if wall else 0.0,
        }


def machine_info() -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg_start": list(os.getloadavg()),
    }
