"""A short real run of the benchmark harness (``python -m bench``), so it cannot rot.

Timings are not judged here (a shared machine is noisy): the run must complete, every server must
answer every workload with 2xx responses, and the JSON/Markdown reports must have their structure.
MLServer is included (its "nobatch" variant), so the peer's environment and start-up stay working,
and so is a what-if API (``xgb-stub``), so ``bench.whatif`` still starts a server next to the API.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.slow

FIGURES = (
    "requests",
    "requests_per_s",
    "rows_per_s",
    "p50_ms",
    "p99_ms",
    "non_2xx",
    "socket_errors",
)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str, str]:
    out = tmp_path_factory.mktemp("bench-results")
    command = [
        sys.executable, "-m", "bench",
        "--duration", "1", "--warmup", "0", "--rounds", "1", "--log-pairs", "2",
        "--connections", "1,4", "--bulk-connections", "2",
        "--groups", "single,bulk,csv,coldstart",
        "--peer", "nobatch",
        "--whatif", "stub=xgb-stub",
        "--csv-rows", "2000", "--cold-starts", "1", "--inprocess-seconds", "0.3",
        "--output-dir", str(out),
    ]  # fmt: skip
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=280, check=False
    )
    assert result.returncode == 0, (
        f"harness failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    )
    document = json.loads((out / "latest.json").read_text())
    return document, (out / "latest.md").read_text(), result.stdout


def test_every_server_answered_every_workload(smoke_run: tuple[dict[str, Any], str, str]) -> None:
    document, _, _ = smoke_run
    rows = document["results"]
    workloads = {r["workload"] for r in rows}
    assert workloads == {
        "bench/v1/1row/c1", "bench/v2/1row/c1", "bench/v1/1row/c4", "bench/v2/1row/c4",
        "bench/v1/1000row/c2", "bench/v2/1000row/c2",
    }  # fmt: skip
    for workload in workloads:
        servers = {r["server"] for r in rows if r["workload"] == workload}
        expected = {"api", "api-whatif-stub", "floor"}
        expected |= {"mlserver-nobatch"} if "/v2/" in workload else set()
        assert servers == expected, workload
    for row in rows:
        for key in FIGURES:
            assert key in row, (row["workload"], row["server"], key)
        assert row["requests"] > 0, row
        assert row["requests_per_s"] > 0, row
        assert row["non_2xx"] == 0, row
        assert row["p99_ms"] >= row["p50_ms"] > 0, row
        assert row["rows_per_s"] == pytest.approx(row["requests_per_s"] * row["rows_per_request"])


def test_the_log_is_judged_on_pairs_in_flipping_order(
    smoke_run: tuple[dict[str, Any], str, str],
) -> None:
    document, _, _ = smoke_run
    pairs = document["log_pairs"]
    judged = ["bench/v1/1row/c4", "bench/v2/1row/c4", "bench/v1/1000row/c2", "bench/v2/1000row/c2"]
    assert [(r["workload"], r["pair"], r["server"]) for r in pairs] == [
        (workload, pair, server)
        for workload in judged
        for pair, order in (
            (1, ("api", "api-nolog", "api-whatif-stub")),
            (2, ("api-whatif-stub", "api-nolog", "api")),
        )
        for server in order
    ]
    for row in pairs:
        assert row["requests"] > 0 and row["non_2xx"] == 0 and row["server_cpu_s"] > 0, row


def test_baselines_csv_and_cold_start(smoke_run: tuple[dict[str, Any], str, str]) -> None:
    document, _, _ = smoke_run
    limit = document["inprocess"]["bench"]["results"]
    assert limit["1"]["rows_per_s"] > 0
    assert limit["1000"]["rows_per_s"] > limit["1"]["rows_per_s"]
    csv = document["csv"]
    assert csv["rows_scored"] == csv["rows"] == 2000
    assert csv["rows_with_error"] == 0
    assert csv["peak_hwm_bytes"] >= csv["idle_rss_bytes"] > 0
    cold = document["cold_start"]
    assert cold["runs"] == 1
    assert cold["ready_s_median"] > 0
    assert cold["idle_rss_bytes_median"] > 0
    assert document["peer_starts"]["mlserver-nobatch"]["ready_s"] > 0
    machine = document["machine"]
    assert machine["nproc"] >= 1
    assert machine["cpu_model"]


def test_targets_are_judged(smoke_run: tuple[dict[str, Any], str, str]) -> None:
    document, _, _ = smoke_run
    names = [t["target"] for t in document["targets"]]
    for fragment in (
        "single row, 4 conn, v1: req/s vs MLServer best",
        "single row, 4 conn, v2: req/s vs HTTP floor",
        "single row, 4 conn, v2: p99 below MLServer's",
        "single row, 1 conn, v1: p50 vs floor p50 + one predict",
        "1,000-row requests, v2: rows/s vs MLServer best",
        "1,000-row requests, v1: rows/s vs in-process limit",
        "CSV 2,000 rows: peak memory",
        "cold start to /readyz 200",
        "idle RSS after start",
        "single row, 4 conn, v1: req/s with the prediction log vs without",
        "1,000-row requests, v2: req/s with the prediction log vs without",
    ):
        assert any(n.startswith(fragment) for n in names), (fragment, names)
    assert document["setup"]["whatif"] == {"stub": ["xgb-stub"]}
    stub = [t["target"] for t in document["whatif_targets"]["stub"]]
    assert stub and set(stub) <= set(names)  # the same targets, judged for the what-if API
    for target in document["targets"]:
        assert target["pass"] in (True, False, None)
        assert target["measured"]
        if target["pass"] is not None:
            assert target["ratio"] is not None and target["ratio"] > 0


def test_markdown_report(smoke_run: tuple[dict[str, Any], str, str]) -> None:
    _, markdown, stdout = smoke_run
    assert markdown.startswith("# Model API benchmark")
    for heading in (
        "## Targets",
        "## Requests",
        "## In-process limit",
        "## CSV, memory and start-up",
        "## The prediction log's cost",
    ):
        assert heading in markdown
    assert (
        "| Workload | Server | req/s | rows/s | p50 ms | p99 ms | non-2xx | socket errors"
        in markdown
    )
    assert "What-if `stub` (the API with `xgb-stub` applied at run time" in markdown
    for label in (
        "**API**",
        "HTTP floor",
        "MLServer nobatch",
        "API what-if `stub`",
    ):
        assert label in markdown
    assert ("PASS" in markdown) or ("FAIL" in markdown)
    assert "## Targets" in stdout  # the table is printed too
