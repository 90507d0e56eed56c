"""``python -m bench side``: the API with its prediction log on and off, run at the same time.

Both processes are pinned to the server CPU and each gets its own wrk (one thread, on the load
CPU), started together: whatever else the host does in that stretch lands on both. The figure is
the ratio of their CPU time per request (log off / log on), the median over ``--reps`` fresh
pairs of processes. Run this way the two take turns on one CPU, which makes each request dearer
for both (shared caches, context switches), so the ratio leans towards 1 compared with the
headline benchmark's back-to-back pairs: it is an instrument to tell a change of a few
microseconds per request apart from the host's noise, not the target's verdict.

Output: ``side.json`` in ``--output-dir`` (every rep's figures) and a table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
from pathlib import Path
from typing import Any

from bench import apienv
from bench.loadgen import ensure_wrk, run_wrk
from bench.model import build_assets
from bench.procs import LOAD_CPU, can_pin, process_cpu_seconds
from bench.run import NO_LOG_ENV, ROOT, Workload, check_answer, log, start_api

DEFAULT_WORKLOADS = "bench/v1/1row/c32,bench/v2/1row/c32,bench/v1/1000row/c4,bench/v2/1000row/c4"


def _pair(
    wrk: str, assets: Any, workload: Workload, args: argparse.Namespace, pin: bool
) -> dict[str, Any]:
    """One fresh pair of processes under load at once: each one's requests and CPU µs/request."""
    logs = args.work_dir.resolve() / "logs"
    sides = {
        "log_off": start_api("side-log-off", assets.all_repository, logs, pin, dict(NO_LOG_ENV)),
        "log_on": start_api("side-log-on", assets.all_repository, logs, pin, {}, args.patches),
    }
    body = assets.body(workload.body_name)
    try:
        for server in sides.values():
            server.wait_ready()
            check_answer(server, workload, body.read_bytes())
        figures: dict[str, dict[str, Any]] = {}

        def load(name: str, seconds: float) -> None:
            url = sides[name].url + workload.path()
            figures[name] = run_wrk(
                wrk, url, body, connections=workload.connections, duration_s=seconds, pin=pin
            )

        def together(seconds: float) -> None:
            threads = [threading.Thread(target=load, args=(n, seconds)) for n in sides]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()

        if args.warmup > 0:
            together(args.warmup)
        before = {n: process_cpu_seconds(s.pid) for n, s in sides.items()}
        together(args.duration)
        result: dict[str, Any] = {}
        for name, server in sides.items():
            requests = figures[name]["requests"]
            cpu = process_cpu_seconds(server.pid) - before[name]
            result[name] = {
                "requests": requests,
                "requests_per_s": figures[name]["requests_per_s"],
                "non_2xx": figures[name]["non_2xx"],
                "cpu_us_per_request": 1e6 * cpu / requests if requests else 0.0,
            }
        return result
    finally:
        for server in sides.values():
            server.stop()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench side", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--reps", type=int, default=3, help="fresh pairs per workload")
    parser.add_argument("--workloads", default=DEFAULT_WORKLOADS)
    parser.add_argument(
        "--log-on-patches", default="", help="bench.whatif patches of the log-on API (comma list)"
    )
    parser.add_argument("--output-dir", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--work-dir", type=Path, default=ROOT / "bench" / ".work")
    args = parser.parse_args(argv)
    args.patches = [p for p in args.log_on_patches.split(",") if p]
    pin = can_pin()
    if pin:
        os.sched_setaffinity(0, {LOAD_CPU})
    work = args.work_dir.resolve()
    wrk = ensure_wrk(log)
    assets = build_assets(work, 100_000)
    apienv.prepare(work)
    document: dict[str, Any] = {"log_on_patches": args.patches, "workloads": {}}
    lines = [
        "| workload | CPU µs/request log off | log on | off / on (median) |",
        "|---|---:|---:|---:|",
    ]
    for spec in args.workloads.split(","):
        workload = Workload.from_id(spec.strip(), "side")
        reps = [_pair(wrk, assets, workload, args, pin) for _ in range(args.reps)]
        ratios = [
            r["log_off"]["cpu_us_per_request"] / r["log_on"]["cpu_us_per_request"] for r in reps
        ]
        median = statistics.median(ratios)
        document["workloads"][workload.id] = {"reps": reps, "ratios": ratios, "median": median}
        off = statistics.median(r["log_off"]["cpu_us_per_request"] for r in reps)
        on = statistics.median(r["log_on"]["cpu_us_per_request"] for r in reps)
        lines.append(f"| {workload.id} | {off:,.1f} | {on:,.1f} | {median:.3f} |")
        log(f"side by side {workload.id}: off/on {', '.join(f'{r:.3f}' for r in ratios)}")
    out = args.output_dir.resolve()
    out.mkdir(parents=True, exist_ok=True)
    (out / "side.json").write_text(json.dumps(document, indent=2) + "\n")
    print("\n".join(lines))
    return 0
