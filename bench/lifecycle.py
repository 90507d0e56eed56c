"""``python -m bench lifecycle``: what changing the repository under load costs: the API with its
watcher on (``MODEL_API_REPOSITORY_POLL_SECONDS``), wrk driving the unversioned path, once with
the repository left alone ("quiet") and once while a second version is added, replaced and
removed over and over ("churn": the default path switches between the versions each time).

Each pair runs the two one after the other on the server CPU (the order flipping every pair); the
figures are the medians over ``--pairs``: requests/s, p50, p99 and max latency, and the failed
requests (non-2xx and socket errors, summed). After each churn run the harness reads
``model_api_repository_changes_total`` to check the changes were made and served.

Output: ``lifecycle.json`` and ``lifecycle.md`` in ``--output-dir``, and the table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench import apienv
from bench.loadgen import ensure_wrk
from bench.model import BENCH_MODEL, build_assets
from bench.procs import LOAD_CPU, can_pin
from bench.run import ROOT, Workload, check_answer, log, measure, start_api

DEFAULT_WORKLOAD = "bench/v1/1row/c64"
SIDES = ("quiet", "churn")
POLL_SECONDS = "0.5"
NEW_VERSION = "2"


def _repository(assets: Any, work: Path) -> Path:
    repository = work / "lifecycle-repo"
    shutil.rmtree(repository, ignore_errors=True)
    shutil.copytree(assets.all_repository, repository)
    return repository


def _churn(repository: Path, stop: threading.Event, pause: float, done: list[str]) -> None:
    """Add version 2, replace it, remove it, again and again, ``pause`` seconds apart. Copies
    take new modification times (``shutil.copy``), so a replacement is a change to the watcher."""
    model = repository / BENCH_MODEL
    source, target = model / "1", model / NEW_VERSION
    steps = ("added", "replaced", "removed")
    while not stop.is_set():
        for step in steps:
            if stop.wait(pause):
                return
            if step == "removed":
                shutil.rmtree(target)
            else:
                staging = model / f".{NEW_VERSION}-{step}"
                shutil.copytree(source, staging, copy_function=shutil.copy)
                if target.exists():
                    shutil.rmtree(target)
                staging.rename(target)
            done.append(step)


def _changes(url: str) -> dict[str, float]:
    with urllib.request.urlopen(f"{url}/metrics") as answer:  # noqa: S310 (loopback)
        text = answer.read().decode()
    found = re.findall(r'model_api_repository_changes_total\{outcome="(\w+)"\} ([0-9.e+]+)', text)
    return {outcome: float(value) for outcome, value in found}


def _run(
    wrk: str, side: str, assets: Any, work: Path, workload: Workload, args: argparse.Namespace,
    pin: bool,
) -> dict[str, Any]:  # fmt: skip
    repository = _repository(assets, work)
    env = {"MODEL_API_REPOSITORY_POLL_SECONDS": POLL_SECONDS}
    server = start_api(f"api-{side}", repository, work / "logs", pin, env)
    stop = threading.Event()
    done: list[str] = []
    churn = threading.Thread(target=_churn, args=(repository, stop, args.pause, done))
    try:
        server.wait_ready()
        body = assets.body(workload.body_name)
        check_answer(server, workload, body.read_bytes())
        if side == "churn":
            churn.start()
        figures = measure(wrk, server, workload, body, args, pin)
        stop.set()
        if churn.is_alive():
            churn.join()
        time.sleep(1.5)  # the watcher's last looks
        figures["repository_changes"] = _changes(server.url)
        figures["changes_made"] = len(done)
        figures["failed_requests"] = figures["non_2xx"] + figures["socket_errors"]
        if side == "churn":
            served = figures["repository_changes"]
            made = {step: done.count(step) for step in ("added", "replaced", "removed")}
            if served.get("loaded", 0) + served.get("replaced", 0) < made["added"]:
                raise RuntimeError(f"the watcher did not serve the changes: {served} for {made}")
        return figures
    finally:
        stop.set()
        server.stop()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench lifecycle", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--pause", type=float, default=2.0, help="seconds between changes")
    parser.add_argument("--workload", default=DEFAULT_WORKLOAD)
    parser.add_argument("--output-dir", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--work-dir", type=Path, default=ROOT / "bench" / ".work")
    args = parser.parse_args(argv)
    pin = can_pin()
    if pin:
        os.sched_setaffinity(0, {LOAD_CPU})
    work = args.work_dir.resolve()
    wrk = ensure_wrk(log)
    assets = build_assets(work, 100_000)
    apienv.prepare(work)
    workload = Workload.from_id(args.workload, "lifecycle")
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
    for pair in range(args.pairs):
        for side in SIDES if pair % 2 == 0 else SIDES[::-1]:
            figures = _run(wrk, side, assets, work, workload, args, pin)
            runs[side].append(figures)
            log(
                f"lifecycle {side}: {figures['requests_per_s']:,.0f} req/s, p99 "
                f"{figures['p99_ms']:.3f} ms, max {figures['max_ms']:.1f} ms, failed "
                f"{figures['failed_requests']}, changes made {figures['changes_made']}"
            )

    def median(side: str, key: str) -> float:
        return statistics.median(float(r[key]) for r in runs[side])

    def total(side: str, key: str) -> int:
        return sum(int(r[key]) for r in runs[side])

    document = {
        "workload": workload.id,
        "pause_s": args.pause,
        "poll_s": float(POLL_SECONDS),
        "runs": runs,
        "throughput_churn_over_quiet": median("churn", "requests_per_s")
        / median("quiet", "requests_per_s"),
        "p99_churn_over_quiet": median("churn", "p99_ms") / median("quiet", "p99_ms"),
    }
    lines = [
        f"{workload.id}, {args.duration:g} s per run, {args.pairs} pairs; churn: a version "
        f"added, replaced or removed every {args.pause:g} s (watcher every {POLL_SECONDS} s)",
        "",
        "| run | req/s | p50 ms | p99 ms | max ms | failed requests | changes made |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for side in SIDES:
        lines.append(
            f"| {side} | {median(side, 'requests_per_s'):,.0f} | {median(side, 'p50_ms'):.3f} "
            f"| {median(side, 'p99_ms'):.3f} | {median(side, 'max_ms'):.1f} "
            f"| {total(side, 'failed_requests')} | {total(side, 'changes_made')} |"
        )
    lines.append(
        f"\nchurn / quiet: throughput {document['throughput_churn_over_quiet']:.3f}, "
        f"p99 {document['p99_churn_over_quiet']:.3f}"
    )
    out = args.output_dir.resolve()
    out.mkdir(parents=True, exist_ok=True)
    (out / "lifecycle.json").write_text(json.dumps(document, indent=2) + "\n")
    (out / "lifecycle.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0
