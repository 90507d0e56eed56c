"""``python -m bench shadow``: what shadow scoring costs the answers: the API as it ships and the
same API with ``MODEL_API_SHADOW`` naming a second version of the benchmark model, back to back.

The second version is the same bundle in another folder (``bench-binary/0``): it agrees on every
row, so the shadow does all of its work (queue, one XGBoost call per cycle, the comparison) and
stores nothing; a shadow that disagrees stores at most a few hundred rows per cycle on top. Each
pair runs the two one after the other on the server CPU (the order flipping every pair), one at a
time, and the figures are the medians over ``--pairs``: requests/s, p50 and p99 latency, and the
server process's CPU per request (the shadow's thread runs in it). After each shadowed run the
harness reads ``GET /v1/models/bench-binary/shadow``: every row answered must have been compared
(or counted as dropped), and the answers are checked before each run like the main benchmark's.

Output: ``shadow.json`` in ``--output-dir`` (every run's figures) and a table on stdout.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import statistics
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench import apienv
from bench.loadgen import ensure_wrk
from bench.model import BENCH_MODEL, build_assets
from bench.procs import LOAD_CPU, can_pin
from bench.run import ROOT, Workload, check_answer, log, measure, start_api

DEFAULT_WORKLOADS = "bench/v1/1row/c1,bench/v1/1row/c32,bench/v1/1000row/c4"
SHADOW_VERSION = "0"
SIDES = ("shadow_off", "shadow_on")


def _repository(assets: Any, work: Path) -> Path:
    """The throughput repository with the benchmark model's bundle also as version 0."""
    repository = work / "shadow-repo"
    if not repository.exists():
        shutil.copytree(assets.all_repository, repository)
        model = repository / BENCH_MODEL
        shutil.copytree(model / "1", model / SHADOW_VERSION)
    return repository


def _shadow_report(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/v1/models/{BENCH_MODEL}/shadow?limit=1") as answer:  # noqa: S310 (loopback)
        report: dict[str, Any] = json.loads(answer.read())["shadow"]
        return report


def _run(
    wrk: str, side: str, repository: Path, workload: Workload, args: argparse.Namespace, pin: bool
) -> dict[str, Any]:
    env = (
        {"MODEL_API_SHADOW": json.dumps({BENCH_MODEL: SHADOW_VERSION})} if side == SIDES[1] else {}
    )
    server = start_api(f"api-{side}", repository, args.work_dir.resolve() / "logs", pin, env)
    try:
        server.wait_ready()
        body = args.assets.body(workload.body_name)
        check_answer(server, workload, body.read_bytes())
        figures = measure(wrk, server, workload, body, args, pin)
        if side == SIDES[1]:
            time.sleep(1.0)  # the shadow's last cycle
            report = _shadow_report(server.url)
            figures["shadow"] = report
            answered = (figures["requests"] + 1) * workload.rows  # + check_answer's
            warmed = report["compared"] + report["dropped"] - answered
            figures["shadow_rows_beyond_the_run"] = warmed  # the warm-up's rows
            if report["compared"] + report["dropped"] < answered or report["disagreed"]:
                raise RuntimeError(f"the shadow did not see every row as expected: {report}")
        return figures
    finally:
        server.stop()


def _median(runs: dict[str, list[dict[str, Any]]], side: str, key: str) -> float:
    return statistics.median(float(r[key]) for r in runs[side])


def _cpu_us(runs: dict[str, list[dict[str, Any]]], side: str) -> float:
    return statistics.median(1e6 / r["requests_per_cpu_s"] for r in runs[side])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench shadow", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--workloads", default=DEFAULT_WORKLOADS)
    parser.add_argument("--output-dir", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--work-dir", type=Path, default=ROOT / "bench" / ".work")
    args = parser.parse_args(argv)
    pin = can_pin()
    if pin:
        os.sched_setaffinity(0, {LOAD_CPU})
    work = args.work_dir.resolve()
    wrk = ensure_wrk(log)
    args.assets = build_assets(work, 100_000)
    apienv.prepare(work)
    repository = _repository(args.assets, work)
    document: dict[str, Any] = {"workloads": {}}
    lines = [
        "| workload | req/s off | req/s on | on / off | p50 ms off | on | p99 ms off | on "
        "| CPU µs/req off | on | shadow dropped |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for spec in args.workloads.split(","):
        workload = Workload.from_id(spec.strip(), "shadow")
        runs: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
        for pair in range(args.pairs):
            for side in SIDES if pair % 2 == 0 else SIDES[::-1]:
                figures = _run(wrk, side, repository, workload, args, pin)
                runs[side].append(figures)
                log(
                    f"shadow {workload.id} {side}: {figures['requests_per_s']:,.0f} req/s, "
                    f"p50 {figures['p50_ms']:.3f} ms, p99 {figures['p99_ms']:.3f} ms"
                )
        median = functools.partial(_median, runs)
        cpu_us = functools.partial(_cpu_us, runs)
        ratio = median("shadow_on", "requests_per_s") / median("shadow_off", "requests_per_s")
        dropped = sum(r["shadow"]["dropped"] for r in runs["shadow_on"])
        document["workloads"][workload.id] = {"runs": runs, "throughput_on_over_off": ratio}
        lines.append(
            f"| {workload.id} | {median('shadow_off', 'requests_per_s'):,.0f} "
            f"| {median('shadow_on', 'requests_per_s'):,.0f} | {ratio:.3f} "
            f"| {median('shadow_off', 'p50_ms'):.3f} | {median('shadow_on', 'p50_ms'):.3f} "
            f"| {median('shadow_off', 'p99_ms'):.3f} | {median('shadow_on', 'p99_ms'):.3f} "
            f"| {cpu_us('shadow_off'):,.1f} | {cpu_us('shadow_on'):,.1f} | {dropped:,} |"
        )
    out = args.output_dir.resolve()
    out.mkdir(parents=True, exist_ok=True)
    (out / "shadow.json").write_text(json.dumps(document, indent=2) + "\n")
    (out / "shadow.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0
