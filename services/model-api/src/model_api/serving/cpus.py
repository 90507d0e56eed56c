"""How many CPUs this process may use: its affinity mask, capped by a cgroup v2 CPU quota.

A Kubernetes CPU limit shows up only as the quota (``cpu.max``), never in the affinity mask;
``taskset`` pinning shows up only in the mask.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

log = logging.getLogger("model_api.serving")

# The nice value of background threads (shadow scoring, the repository watcher): the least
# priority (its CFS weight is 1.5 % of a nice-0 thread's; at nice 10 a shadow thread still took
# a tenth of a saturated CPU from the requests).
LEAST_PRIORITY = 19

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


def yield_to_the_requests(what: str) -> None:
    """Lower this thread's scheduling priority (Linux: a thread has its own nice value), so
    that where the API has one CPU the request path keeps it: ``what`` runs on the CPU the
    requests leave."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LEAST_PRIORITY)
    except (AttributeError, OSError):  # not Linux, or not allowed: still off the path
        log.info(f"{what} runs at the request path's priority")
