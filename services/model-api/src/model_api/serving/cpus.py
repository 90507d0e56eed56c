"""How many CPUs this process may use: its affinity mask, capped by a cgroup v2 CPU quota.

A Kubernetes CPU limit shows up only as the quota (``cpu.max``), never in the affinity mask;
``taskset`` pinning shows up only in the mask.
"""

from __future__ import annotations

import os
from pathlib import Path

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def usable_cpus(cpu_max: Path = CGROUP_CPU_MAX) -> float:
    """CPUs in the affinity mask, or fewer when the cgroup's quota allows less (e.g. 1.5)."""
    cpus = float(len(os.sched_getaffinity(0)))
    try:
        quota, period = cpu_max.read_text().split()
        if quota != "max":
            cpus = min(cpus, int(quota) / int(period))
    except (OSError, ValueError):  # no cgroup v2 here, or a file we do not understand
        pass
    return cpus
