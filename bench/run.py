"""``python -m bench``: run every workload against the API and its baselines, report ratios.

Servers (each one uvicorn/MLServer process pinned to CPU 0; wrk and this harness on CPU 1):

* ``api``: ``python -m model_api.cli serve`` with default settings, serving the benchmark model
  and the penguin examples;
* ``api-nolog``: the same with ``MODEL_API_PREDICTION_LOG=false``, measured in pairs with
  ``api`` (back to back, the order flipping each pair) on the workloads the log's cost is judged on;
* ``floor``: ``bench.floor`` (same stack, parses the body, no model);
* ``mlserver-<variant>``: the peer, one process per adaptive-batching variant (V2 only).

The in-process limit (``bench.inprocess``, measured again in every round, best kept), the CSV
run and the cold starts use their own fresh processes. Every workload runs against every server that speaks it, back to back, so the ratios
compare figures taken within seconds of each other on a machine that others may be using.

``python -m bench profile`` instead samples the API with py-spy under each workload and says
where its time goes (see ``bench/profiling.py``).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import apienv, report
from bench.loadgen import ensure_wrk, run_wrk, wrk_version
from bench.machine import LoadMeter, background_load, machine_info
from bench.model import BENCH_MODEL, BULK_ROWS, PENGUIN_MODEL, Assets, build_assets
from bench.procs import (
    LOAD_CPU,
    SERVER_CPU,
    CpuWatch,
    Server,
    can_pin,
    free_port,
    pinned,
    start_server,
)

ROOT = Path(__file__).resolve().parent.parent
GROUPS = ("single", "bulk", "penguins", "csv", "coldstart")
MODEL_NAMES = {"bench": BENCH_MODEL, "penguin": PENGUIN_MODEL}
NO_LOG = report.NO_LOG_SERVER
NO_LOG_ENV = {"MODEL_API_PREDICTION_LOG": "false"}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Workload:
    """One wrk run shape: which model, protocol, rows per request and concurrency."""

    model: str  # "bench" | "penguin"
    protocol: str  # "v1" (JSON records) | "v2" (Open Inference Protocol, FP32 tensor)
    rows: int
    connections: int
    group: str

    @property
    def id(self) -> str:
        return f"{self.model}/{self.protocol}/{self.rows}row/c{self.connections}"

    @property
    def body_name(self) -> str:
        return f"{self.model}-{self.protocol}-{self.rows}.json"

    @classmethod
    def from_id(cls, workload_id: str, group: str) -> Workload:
        """The workload ``id`` names: ``model/protocol/<rows>row/c<connections>``."""
        model, protocol, rows, connections = workload_id.split("/")
        return cls(
            model,
            protocol,
            int(rows.removesuffix("row")),
            int(connections.removeprefix("c")),
            group,
        )

    def path(self) -> str:
        name = MODEL_NAMES[self.model]
        return f"/v1/models/{name}/predict" if self.protocol == "v1" else f"/v2/models/{name}/infer"


def plan_workloads(
    groups: set[str], connections: list[int], bulk_connections: int
) -> list[Workload]:
    plan: list[Workload] = []
    if "single" in groups:
        for c in connections:
            plan += [Workload("bench", p, 1, c, "single") for p in ("v1", "v2")]
    if "bulk" in groups:
        plan += [Workload("bench", p, BULK_ROWS, bulk_connections, "bulk") for p in ("v1", "v2")]
    if "penguins" in groups:
        plan += [Workload("penguin", "v1", 1, c, "penguins") for c in connections]
        plan += [Workload("penguin", "v2", 1, max(connections), "penguins")]
        plan += [Workload("penguin", "v1", BULK_ROWS, bulk_connections, "penguins")]
    return plan


# ---------------------------------------------------------------------------- servers
def api_command(patches: list[str]) -> list[str]:
    """The API's own entry point; with what-if patches, the same server started by bench.whatif."""
    if patches:
        return [apienv.python(), "-m", "bench.whatif", "--patches", ",".join(patches)]
    return [apienv.python(), "-m", "model_api.cli", "serve"]


def api_env(repository: Path, port: int, data_dir: Path, extra: dict[str, str]) -> dict[str, str]:
    return {
        "MODEL_API_MODEL_REPOSITORY": str(repository),
        "MODEL_API_PORT": str(port),
        "MODEL_API_HOST": "127.0.0.1",
        # Each process its own prediction log (SQLite), fresh per run: no process measures
        # another's database, and a run never grows the previous run's file.
        "MODEL_API_DATA_DIR": str(data_dir),
        **extra,
    }


def fresh_data_dir(log_dir: Path, name: str) -> Path:
    folder = log_dir.parent / "data" / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def start_api(
    name: str,
    repository: Path,
    log_dir: Path,
    pin: bool,
    extra_env: dict[str, str],
    patches: list[str] | None = None,
) -> Server:
    port = free_port()
    return start_server(
        name,
        api_command(patches or []),
        port=port,
        log_dir=log_dir,
        ready_path="/readyz",
        env=api_env(repository, port, fresh_data_dir(log_dir, name), extra_env),
        cwd=ROOT,
        pin=pin,
    )


def start_floor(log_dir: Path, pin: bool) -> Server:
    port = free_port()
    return start_server(
        "floor",
        [apienv.python(), "-m", "bench.floor", "--port", str(port)],
        port=port,
        log_dir=log_dir,
        ready_path="/readyz",
        cwd=ROOT,
        pin=pin,
    )


def post(server: Server, path: str, body: bytes, content_type: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        connection.request("POST", path, body=body, headers={"Content-Type": content_type})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def check_answer(server: Server, workload: Workload, body: bytes) -> None:
    """One request before the run: a 200 with one prediction per row (the floor: a 200)."""
    status, answer = post(server, workload.path(), body, "application/json")
    if status != 200:
        raise RuntimeError(f"{server.name} {workload.id}: HTTP {status}: {answer[:300]!r}")
    if server.name == "floor":
        return
    payload = json.loads(answer)
    if workload.protocol == "v1":
        count = len(payload["predictions"])
    else:
        count = int(payload["outputs"][0]["shape"][0])
    if count != workload.rows:
        raise RuntimeError(
            f"{server.name} {workload.id}: {count} predictions for {workload.rows} rows"
        )


# ---------------------------------------------------------------------------- measurements
def measure_inprocess(assets: Assets, model: str, seconds: float, pin: bool) -> dict[str, Any]:
    if model == "bench":
        model_file, rows = assets.bench_model_file(), assets.body("bench-1000.npy")
    else:
        model_file, rows = assets.penguin_bundle / "model.ubj", assets.body("penguin-1000.npy")
    command = pinned(
        [
            sys.executable,
            "-m",
            "bench.inprocess",
            "--model",
            str(model_file),
            "--rows",
            str(rows),
            "--seconds",
            str(seconds),
            "--threads",
            "1",
        ],
        SERVER_CPU,
        pin,
    )
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"in-process limit failed:\n{result.stderr}")
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def measure_csv(
    assets: Assets,
    rows: int,
    log_dir: Path,
    pin: bool,
    extra_env: dict[str, str],
) -> dict[str, Any]:
    """POST the CSV to a fresh API (benchmark model only); rows/s and the process's VmHWM."""
    server = start_api("api-csv", assets.bench_repository, log_dir, pin, extra_env)
    try:
        server.wait_ready()
        time.sleep(1.0)
        idle = server.memory()
        path = assets.body(f"bench-{rows}.csv")
        size = path.stat().st_size
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
        started = time.perf_counter()
        with path.open("rb") as handle:
            connection.request(
                "POST",
                f"/v1/models/{BENCH_MODEL}/predict",
                body=handle,
                headers={"Content-Type": "text/csv", "Content-Length": str(size)},
            )
            response = connection.getresponse()
            lines = 0
            errors = 0
            first = True
            tail = b""
            while chunk := response.read(1 << 16):
                data = tail + chunk
                parts = data.split(b"\n")
                tail = parts.pop()
                for line in parts:
                    if first:
                        first = False
                        continue
                    lines += 1
                    if not line.endswith(b","):
                        errors += 1  # the last column (error) is empty on scored rows
        elapsed = time.perf_counter() - started
        connection.close()
        peak = server.memory()
        if response.status != 200:
            raise RuntimeError(f"CSV upload answered HTTP {response.status}")
        model_bytes = assets.bench_model_file().stat().st_size
        budget = 2 * idle["VmRSS"] + model_bytes
        return {
            "rows": rows,
            "rows_scored": lines,
            "rows_with_error": errors,
            "csv_bytes": size,
            "seconds": round(elapsed, 3),
            "rows_per_s": lines / elapsed if elapsed else 0.0,
            "idle_rss_bytes": idle["VmRSS"],
            "peak_hwm_bytes": peak["VmHWM"],
            "model_file_bytes": model_bytes,
            "memory_budget_bytes": budget,
        }
    finally:
        server.stop()


def measure_cold_starts(
    assets: Assets,
    count: int,
    log_dir: Path,
    pin: bool,
    extra_env: dict[str, str],
) -> dict[str, Any]:
    """Process start to /readyz 200 with the penguin examples; idle RSS one second later."""
    starts: list[float] = []
    rss: list[int] = []
    for i in range(count):
        server = start_api(f"api-cold-{i}", assets.examples_repository, log_dir, pin, extra_env)
        try:
            starts.append(server.wait_ready(poll_s=0.005))
            time.sleep(1.0)
            rss.append(server.memory()["VmRSS"])
        finally:
            server.stop()
    return {
        "repository": "penguin examples (penguin-species, penguin-mass)",
        "runs": count,
        "ready_s": [round(s, 3) for s in starts],
        "ready_s_median": statistics.median(starts),
        "idle_rss_bytes": [int(x) for x in rss],
        "idle_rss_bytes_median": int(statistics.median(rss)),
    }


def api_code_version() -> dict[str, Any]:
    """Which API code was measured: the commit and whether services/ had uncommitted edits."""

    def git(*args: str) -> str:
        result = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False, timeout=30
        )
        return result.stdout.strip() if result.returncode == 0 else ""

    return {
        "commit": git("rev-parse", "--short", "HEAD") or "unknown",
        "services_modified": bool(
            git("--no-optional-locks", "status", "--porcelain", "--", "services")
        ),
    }


def judged_for_the_log(workload: Workload, connections: list[int]) -> bool:
    """The workloads the prediction log's cost is judged on: single rows at the top concurrency
    and the 1,000-row requests."""
    if workload.group == "single":
        return workload.connections == max(connections)
    return workload.group == "bulk"


def measure(
    wrk: str,
    server: Server,
    workload: Workload,
    body_path: Path,
    args: argparse.Namespace,
    pin: bool,
) -> dict[str, Any]:
    """One wrk run (after its warm-up) against one server: wrk's figures and the server's CPU."""
    url = server.url + workload.path()
    if args.warmup > 0:
        run_wrk(
            wrk, url, body_path, connections=workload.connections, duration_s=args.warmup, pin=pin
        )
    watch = CpuWatch(server.pid, SERVER_CPU)
    figures = run_wrk(
        wrk, url, body_path, connections=workload.connections, duration_s=args.duration, pin=pin
    )
    figures.update(watch.stop())
    figures["rows_per_s"] = figures["requests_per_s"] * workload.rows
    cpu = figures["server_cpu_s"]
    figures["requests_per_cpu_s"] = figures["requests"] / cpu if cpu else 0.0
    return figures


def describe(workload: Workload, server: str) -> dict[str, Any]:
    return {
        "workload": workload.id,
        "group": workload.group,
        "model": MODEL_NAMES[workload.model],
        "protocol": workload.protocol,
        "rows_per_request": workload.rows,
        "connections": workload.connections,
        "server": server,
    }


def summary(workload: Workload, server: str, figures: dict[str, Any]) -> str:
    return (
        f"{workload.id:<28} {server:<17} "
        f"{figures['requests_per_s']:9.1f} req/s  p50 {figures['p50_ms']:7.2f} ms  "
        f"p99 {figures['p99_ms']:7.2f} ms  non-2xx {figures['non_2xx']}  "
        f"socket errors {figures['socket_errors']}  server CPU "
        f"{figures['server_cpu_share']:.0%}, others on its CPU "
        f"{figures['others_on_server_cpu']:.0%}"
    )


# ---------------------------------------------------------------------------- the run
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per measured run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per run")
    parser.add_argument("--rounds", type=int, default=2, help="repeat every run; keep the best")
    parser.add_argument(
        "--log-pairs",
        type=int,
        default=4,
        help="runs of the API with and without its prediction log, back to back, that judge "
        "the log's cost (median of the pairs' ratios)",
    )
    parser.add_argument(
        "--connections", default="1,32", help="concurrency of the single-row runs (list)"
    )
    parser.add_argument(
        "--bulk-connections", type=int, default=4, help="concurrency of the 1,000-row runs"
    )
    parser.add_argument(
        "--groups", default=",".join(GROUPS), help=f"workload groups to run: {', '.join(GROUPS)}"
    )
    parser.add_argument(
        "--peer",
        default="nobatch,batch",
        help="MLServer variants (nobatch, batch) or 'none' to leave the peer out",
    )
    parser.add_argument("--csv-rows", type=int, default=100_000)
    parser.add_argument("--cold-starts", type=int, default=3)
    parser.add_argument("--inprocess-seconds", type=float, default=3.0)
    parser.add_argument(
        "--api-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra MODEL_API_* setting for every API process (an experiment, not the default)",
    )
    parser.add_argument(
        "--whatif",
        action="append",
        default=[],
        metavar="LABEL=PATCH+PATCH",
        help="also run an API with bench.whatif patches next to the unmodified one",
    )
    parser.add_argument("--output-dir", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--work-dir", type=Path, default=ROOT / "bench" / ".work")
    parser.add_argument("--no-pin", action="store_true", help="do not pin with taskset")
    return parser.parse_args(argv)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    # SIGTERM (a timeout, a CI cancel) and SIGINT (even when a shell started us with it ignored)
    # unwind through the ``finally`` blocks, so every server the harness started is stopped.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    if argv and argv[0] == "profile":
        from bench.profiling import main as profile_main

        return profile_main(argv[1:])
    if argv and argv[0] == "shadow":
        from bench.shadow import main as shadow_main

        return shadow_main(argv[1:])
    if argv and argv[0] == "lifecycle":
        from bench.lifecycle import main as lifecycle_main

        return lifecycle_main(argv[1:])
    if argv and argv[0] == "side":
        from bench.sidebyside import main as side_main

        return side_main(argv[1:])
    if argv and argv[0] == "report":  # re-render latest.md (and the targets) from latest.json
        folder = Path(argv[1]) if len(argv) > 1 else ROOT / "bench" / "results"
        write_report(json.loads((folder / "latest.json").read_text()), folder)
        return 0
    args = parse_args(argv)
    return run(args)


def run(args: argparse.Namespace) -> int:
    from bench.peer import VARIANTS, ensure_venv, start_peer, xgboost_version

    groups = {g.strip() for g in args.groups.split(",") if g.strip()}
    unknown = groups - set(GROUPS)
    if unknown:
        raise SystemExit(
            f"unknown groups: {', '.join(sorted(unknown))}; known: {', '.join(GROUPS)}"
        )
    variants = [] if args.peer == "none" else [VARIANTS[v.strip()] for v in args.peer.split(",")]
    connections = [int(c) for c in args.connections.split(",")]
    extra_env = dict(item.split("=", 1) for item in args.api_env)
    # The headline API (and the CSV and cold-start runs) always runs unmodified; what-ifs beside it.
    whatifs = {
        label: [p for p in spec.split("+") if p]
        for label, _, spec in (item.partition("=") for item in args.whatif)
    }
    work: Path = args.work_dir.resolve()
    out: Path = args.output_dir.resolve()
    log_dir = work / "logs"
    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)

    pin = not args.no_pin and can_pin()
    if pin:
        os.sched_setaffinity(0, {LOAD_CPU})  # the harness and its probes stay off the server CPU
    started_at = datetime.now(UTC)
    machine = machine_info()
    log(f"machine: {machine['nproc']} CPUs, {machine['cpu_model']}; pinning: {pin}")
    machine["background_cores_before"] = round(background_load(2.0), 2)

    wrk = ensure_wrk(log)
    log("building the benchmark model and bodies (cached under bench/.work/assets)")
    assets = build_assets(work, args.csv_rows)
    log("the servers' environment: model-api without dev tools (bench/.work/api-venv)")
    apienv.prepare(work)
    peer_bin = ensure_venv(work, log) if variants else None

    meter = LoadMeter()
    meter.start()
    servers: dict[str, Server] = {}
    results: list[dict[str, Any]] = []
    log_pairs: list[dict[str, Any]] = []
    inprocess: dict[str, Any] = {}
    csv_result: dict[str, Any] | None = None
    cold: dict[str, Any] | None = None
    peer_starts: dict[str, Any] = {}
    workloads = plan_workloads(groups, connections, args.bulk_connections)
    try:
        if workloads:
            log("starting the API, the HTTP floor and the peer (one at a time)")
            servers["api"] = start_api("api", assets.all_repository, log_dir, pin, extra_env)
            servers["api"].wait_ready()
            # The same API with the prediction log off: what logging costs, measured in this run.
            servers[NO_LOG] = start_api(
                NO_LOG, assets.all_repository, log_dir, pin, {**extra_env, **NO_LOG_ENV}
            )
            servers[NO_LOG].wait_ready()
            for label, whatif_patches in whatifs.items():
                name = f"api-whatif-{label}"
                servers[name] = start_api(
                    name, assets.all_repository, log_dir, pin, extra_env, whatif_patches
                )
                servers[name].wait_ready()
            servers["floor"] = start_floor(log_dir, pin)
            servers["floor"].wait_ready()
            if peer_bin is not None and any(
                w.model == "bench" and w.protocol == "v2" for w in workloads
            ):
                for variant in variants:
                    server = start_peer(
                        work,
                        peer_bin,
                        variant,
                        BENCH_MODEL,
                        assets.bench_model_file(),
                        log_dir,
                        pin,
                    )
                    servers[server.name] = server
                    ready = server.wait_ready(timeout=180)
                    time.sleep(1.0)
                    peer_starts[server.name] = {
                        "variant": server.notes["variant"],
                        "ready_s": round(ready, 3),
                        "idle_rss_bytes": server.memory().get("VmRSS", 0),
                    }
            models = sorted({w.model for w in workloads})
            for round_index in range(args.rounds):
                log(f"round {round_index + 1} in-process limit (inplace_predict, one thread)")
                for model in models:
                    latest = measure_inprocess(assets, model, args.inprocess_seconds, pin)
                    inprocess[model] = report.best_inprocess(inprocess.get(model), latest)
                for workload in workloads:
                    body_path = assets.body(workload.body_name)
                    body = body_path.read_bytes()
                    for name, server in servers.items():
                        if name.startswith("mlserver") and not (
                            workload.model == "bench" and workload.protocol == "v2"
                        ):
                            continue
                        if name == NO_LOG:  # measured in pairs with the API, below
                            continue
                        check_answer(server, workload, body)
                        figures = measure(wrk, server, workload, body_path, args, pin)
                        row = {**describe(workload, name), "round": round_index + 1, **figures}
                        log(f"round {round_index + 1} {summary(workload, name, figures)}")
                        results.append(row)
            # The log's cost, judged on pairs: the API with and without it back to back, the
            # order flipping each pair, so a slow stretch of a shared host lands on both sides.
            # What-if APIs join each pair (after the two, or before them when it flips), so a
            # patch of the log is read against both in the same minute.
            paired = ["api", NO_LOG, *(f"api-whatif-{label}" for label in whatifs)]
            for workload in (w for w in workloads if judged_for_the_log(w, connections)):
                body_path = assets.body(workload.body_name)
                for pair in range(args.log_pairs):
                    order = paired if pair % 2 == 0 else paired[::-1]
                    for name in order:
                        figures = measure(wrk, servers[name], workload, body_path, args, pin)
                        log(f"log pair {pair + 1} {summary(workload, name, figures)}")
                        log_pairs.append({**describe(workload, name), "pair": pair + 1, **figures})
            servers["api"].notes["rss_after_runs"] = str(servers["api"].memory().get("VmRSS", 0))
        for server in servers.values():
            server.stop()
        servers.clear()
        if "csv" in groups:
            log(f"CSV: {args.csv_rows} rows through a fresh API process")
            csv_result = measure_csv(assets, args.csv_rows, log_dir, pin, extra_env)
        if "coldstart" in groups:
            log(f"cold start x{args.cold_starts} with the penguin examples")
            cold = measure_cold_starts(assets, args.cold_starts, log_dir, pin, extra_env)
    finally:
        for server in servers.values():
            server.stop()
    load = meter.stop()

    best = report.best_rounds(results)
    document: dict[str, Any] = {
        "schema": 1,
        "started_at": started_at.isoformat(timespec="seconds"),
        "machine": {
            **machine,
            "loadavg_end": list(os.getloadavg()),
            "during_run": load,
        },
        "setup": {
            "pinning": {"server_cpu": SERVER_CPU, "load_cpu": LOAD_CPU} if pin else None,
            "wrk": wrk_version(wrk),
            "wrk_threads": 1,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "rounds": args.rounds,
            "log_pairs": args.log_pairs,
            "connections": connections,
            "bulk_connections": args.bulk_connections,
            "groups": sorted(groups),
            "api_command": "python -m model_api.cli serve (uvicorn: uvloop + httptools)",
            "api_code": api_code_version(),
            "api_env": extra_env,
            "whatif": whatifs,
            "xgboost": xgboost_version(),
            "xgboost_threads": 1,
            "peer_variants": {v.name: v.describe() for v in variants},
            "model": {
                "name": BENCH_MODEL,
                "features": 20,
                "task": "binary",
                "trees": 300,
                "depth": 6,
                "model_file_bytes": assets.bench_model_file().stat().st_size,
            },
        },
        "results": best,
        "all_rounds": results if args.rounds > 1 else [],
        "log_pairs": log_pairs,
        "inprocess": inprocess,
        "csv": csv_result,
        "cold_start": cold,
        "peer_starts": peer_starts,
    }
    write_report(document, out)
    log(f"wrote {out / 'latest.json'} and {out / 'latest.md'}")
    return 0


def write_report(document: dict[str, Any], folder: Path) -> None:
    """Judge the targets (the API's and each what-if's), write latest.json/.md, print the table."""
    document["targets"] = report.targets(document)
    document["whatif_targets"] = {
        label: report.targets(document, server=f"api-whatif-{label}")
        for label in document["setup"].get("whatif", {})
    }
    (folder / "latest.json").write_text(json.dumps(document, indent=2) + "\n")
    markdown = report.markdown(document)
    (folder / "latest.md").write_text(markdown)
    print(markdown)
