"""A bounded load run with mixed endpoints: no socket errors, no 5xx, no memory growth.

``make soak`` runs the long variant (SOAK_SECONDS, default 120 s, well past 100k requests);
the suite runs a short one.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.support import Server, running_api

HERE = Path(__file__).parent
SECONDS = int(os.environ.get("SOAK_SECONDS", "8"))


def rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]


def log_drained(server: Server) -> int:
    """The server's pid once its prediction log has written what the load queued: the queue is
    bounded (MODEL_API_PREDICTION_LOG_QUEUE_ROWS), and what waits in it at the moment of a
    reading is not a leak."""
    deadline = time.monotonic() + 60
    while True:
        metrics = httpx.get(f"{server.url}/metrics", timeout=10).text
        queued = [
            float(line.split()[-1])
            for line in metrics.splitlines()
            if line.startswith("model_api_prediction_log_queue_rows ")
        ]
        assert queued, "the API does not export model_api_prediction_log_queue_rows"
        if queued[0] == 0:
            return server.process.pid
        assert time.monotonic() < deadline, f"the log still holds {queued[0]:.0f} rows"
        time.sleep(0.2)


def wrk(url: str, seconds: int, connections: int = 64) -> dict[str, int]:
    binary = shutil.which("wrk")
    if binary is None:
        pytest.fail("wrk is missing: run scripts/setup.sh --test (it installs Debian's wrk)")
    result = subprocess.run(
        [
            binary,
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(HERE / "mixed.lua"),
            url,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    line = next(x for x in result.stdout.splitlines() if x.startswith("RESULT "))
    return {k: int(v) for k, v in (pair.split("=") for pair in line.split()[1:])}


# `make soak` may run far longer than the suite's default per-test timeout.
@pytest.mark.timeout(max(300, SECONDS + 180))
def test_mixed_load_has_no_errors_and_no_leak(
    example_repository: Path, tmp_path: Path, output_dir: Path
) -> None:
    with running_api(example_repository, tmp_path, MODEL_API_LOG_LEVEL="warning") as server:
        wrk(server.url, 3)  # warm-up: allocator pools, metric series, caches, the log's file
        before = rss_kib(log_drained(server))
        totals = wrk(server.url, SECONDS)
        after = rss_kib(log_drained(server))
        errors_5xx = [
            line for line in httpx.get(f"{server.url}/metrics").text.splitlines()
            if line.startswith("model_api_http_requests_total") and 'status="5' in line
        ]  # fmt: skip
    growth = (after - before) / before
    summary = f"load: {totals['requests']} requests in {SECONDS}s, RSS {before} -> {after} KiB ({growth:+.1%})"
    (output_dir / "load-test.txt").write_text(summary + "\n" + repr(totals) + "\n")
    print(summary)
    assert totals["requests"] > 1000
    assert totals["connect"] == totals["read"] == totals["write"] == totals["timeout"] == 0, totals
    assert totals["non2xx"] == 0, totals
    assert errors_5xx == []
    assert growth < 0.05, summary
