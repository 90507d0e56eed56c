"""``python -m bench profile``: where the API's CPU time goes, per workload, with py-spy.

The API runs as in the benchmark (one pinned process). For each workload, py-spy attaches to it
(``record --pid``, raw collapsed stacks with full file names) while wrk drives the load. Every
sample is put in one bucket by walking its stack from the innermost frame outwards and taking the
first frame that names a stage (request parsing, validation/encoding, the XGBoost call, response
building, JSON encoding, batching, metrics, logging, framework, server); numpy and standard-library
frames are transparent (their time belongs to the caller). A bucket's share times the CPU time
the API spent per request gives microseconds per request.

py-spy is installed by the harness into ``bench/.work/tools-venv`` (uv venv + uv pip install).
Output: ``bench/results/profile.md`` and ``profile.json``; raw stacks and flame graphs under
``bench/.work/profiles/``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

from bench import apienv
from bench.loadgen import ensure_wrk, run_wrk
from bench.model import build_assets
from bench.procs import LOAD_CPU, SERVER_CPU, CpuWatch, can_pin, pinned
from bench.run import (
    ROOT,
    Workload,
    api_code_version,
    check_answer,
    log,
    start_api,
    start_floor,
)

PY_SPY_SPEC = "py-spy>=0.4,<0.5"
DEFAULT_WORKLOADS = [
    "bench/v1/1row/c1",
    "bench/v1/1row/c32",
    "bench/v2/1row/c32",
    "bench/v1/1000row/c4",
    "bench/v2/1000row/c4",
]

# Buckets, in the order the report lists them.
XGB_PY = "XGBoost call, GIL held (xgb_direct.py or inplace_predict: arguments, output copy)"
PARSE = "request body read + JSON parse (orjson.loads, msgspec decode, simdjson in v2_json.py)"
ENCODE = "input validation + conversion to matrix (codecs/features.py, records.py)"
V2CODEC = "V2 tensor decode (codecs/v2_tensors.py)"
OUTPUTS = "response rows (codecs/rows.py / V2 outputs)"
DUMPS = "JSON encoding (orjson.dumps)"
ROUTE = "route handler, own lines (protocol/v1.py, v2.py, http/operations.py, fastpath.py)"
BATCH = "micro-batching (batching.py)"
OBSERVE = "per-batch metrics (registry observe)"
PROM = "Prometheus client calls"
LOGGING = "access log (logging, JSON formatter)"
MIDDLEWARE = "middleware own lines (middleware.py)"
CSV = "CSV parse/score/write (codecs/csv.py, protocol/csv_scoring.py)"
FRAMEWORK = "FastAPI/Starlette (routing, dependencies, Request/Response)"
SERVER = "uvicorn HTTP protocol + event loop"
OTHER = "other"
BUCKETS = [
    XGB_PY, PARSE, ENCODE, V2CODEC, OUTPUTS, DUMPS, ROUTE, BATCH, OBSERVE, PROM,
    LOGGING, MIDDLEWARE, CSV, FRAMEWORK, SERVER, OTHER,
]  # fmt: skip
# model_api files (paths inside the package) whose own lines all belong to one stage (the other
# files are split by line).
FILE_BUCKETS = {
    "codecs/features.py": ENCODE,
    "codecs/rows.py": OUTPUTS,
    "serving/batching.py": BATCH,
    "codecs/csv.py": CSV,
    "protocol/csv_scoring.py": CSV,
    "observability/logs.py": LOGGING,
    "http/middleware.py": MIDDLEWARE,
    "serving/xgb_direct.py": XGB_PY,
    "codecs/v2_json.py": PARSE,
}


@cache
def _source_line(path: str, line: int) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for number, text in enumerate(handle, 1):
                if number == line:
                    return text.strip()
    except OSError:
        pass
    return ""


def _split_frame(frame: str) -> tuple[str, str, int]:
    """``"function (path:line)"`` → (function, path, line)."""
    name, _, location = frame.rpartition(" (")
    location = location.rstrip(")")
    path, _, line = location.rpartition(":")
    if not line.isdigit():  # a native frame: "function (library.so)"
        return name, location, 0
    return name, path, int(line)


def classify(frame: str) -> str | None:
    """The bucket a frame names, or None when its time belongs to its caller."""
    function, path, line = _split_frame(frame)
    p = path.replace("\\", "/")
    if "/xgboost/" in p:
        return XGB_PY
    if "/model_api/" in p:
        text = _source_line(path, line)
        file = p.rsplit("/model_api/", 1)[-1]  # the path inside the package
        if "orjson.dumps" in text:
            return DUMPS
        if "orjson.loads" in text:
            return PARSE
        if file in FILE_BUCKETS:
            return FILE_BUCKETS[file]
        if file == "codecs/records.py":  # msgspec parses and type-checks the v1 body in one call
            return PARSE if ".decode(" in text else ENCODE
        if file == "codecs/v2_tensors.py":
            return DUMPS if function == "encode_output" else V2CODEC
        if file == "http/responses.py":
            return DUMPS if function.endswith("render") else PARSE
        if file == "serving/registry.py":
            return OBSERVE if "observe" in function else ROUTE
        if file == "serving/runtime.py":
            return OUTPUTS if "Prediction" in function or "column_stack" in text else XGB_PY
        if file.startswith(("protocol/", "http/routes/")):
            if "np.argmax" in text or "labels[" in text or "encode_output" in text:
                return OUTPUTS
            return ROUTE
        return ROUTE
    if p.endswith("/bench/floor.py"):  # the floor's own endpoint: parse, else framework work
        return PARSE if "orjson.loads" in _source_line(path, line) else FRAMEWORK
    if "/prometheus_client/" in p:
        return PROM
    if "/logging/" in p or "/pythonjsonlogger/" in p:
        return LOGGING
    if "/starlette/" in p or "/fastapi/" in p or "/pydantic" in p:
        return FRAMEWORK
    if "/uvicorn/" in p or "/asyncio/" in p or "/uvloop/" in p or "/httptools/" in p:
        return SERVER
    return None


def is_idle(stack: str) -> bool:
    """A sample of a thread that only waits (``threading`` conditions, ``queue`` gets, the idle
    executor worker). With ``--gil`` such threads rarely show up, since they do not hold the GIL;
    the main thread's ``Runner.run`` leaf does (uvloop's C code running with the GIL), and counts
    as "uvicorn HTTP protocol + event loop"."""
    function, path, _ = _split_frame(stack.rsplit(";", 1)[-1])
    p = path.replace("\\", "/")
    if p.endswith(("/threading.py", "/queue.py")) and function.rsplit(".", 1)[-1] in (
        "wait",
        "get",
        "join",
        "_wait_for_tstate_lock",
        "acquire",
    ):
        return True
    return p.endswith("/concurrent/futures/thread.py") and function == "_worker"


def bucket_of(stack: str) -> str:
    for frame in reversed(stack.split(";")):
        found = classify(frame)
        if found is not None:
            return found
    return OTHER


def summarize(raw: Path, top: int = 12) -> dict[str, Any]:
    """Sample counts per bucket and the hottest innermost lines of a py-spy raw file."""
    buckets: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    idle = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        if is_idle(stack):
            idle += n
            continue
        total += n
        buckets[bucket_of(stack)] += n
        leaf = stack.split(";")[-1]
        function, path, number = _split_frame(leaf)
        short = path.split("site-packages/")[-1].split("/src/")[-1]
        leaves[f"{function} ({short}:{number})"] += n
    return {
        "samples": total,
        "idle_samples_dropped": idle,
        "bucket_samples": {b: buckets[b] for b in BUCKETS if buckets[b]},
        "hot_line_samples": leaves.most_common(top),
    }


def ensure_py_spy(work: Path) -> Path:
    venv = work / "tools-venv"
    binary = venv / "bin" / "py-spy"
    if binary.exists():
        return binary
    from bench.peer import python312, run_uv

    run_uv("venv", "--quiet", "--clear", "--python", python312(), str(venv))
    run_uv("pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), PY_SPY_SPEC)
    return binary


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench profile", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--workloads", default=",".join(DEFAULT_WORKLOADS))
    parser.add_argument("--api-env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--api-patches", default="", help="bench.whatif patches (comma list)")
    parser.add_argument(
        "--target", choices=("api", "floor"), default="api", help="profile the HTTP floor instead"
    )
    parser.add_argument("--output-dir", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--work-dir", type=Path, default=ROOT / "bench" / ".work")
    parser.add_argument("--label", default="", help="a name for this profile (e.g. the settings)")

    args = parser.parse_args(argv)
    work, out = args.work_dir.resolve(), args.output_dir.resolve()
    raw_dir = work / "profiles"
    raw_dir.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    pin = can_pin()
    if pin:
        os.sched_setaffinity(0, {LOAD_CPU})
    extra_env = dict(item.split("=", 1) for item in args.api_env)
    wrk = ensure_wrk(log)
    py_spy = ensure_py_spy(work)
    assets = build_assets(work, 100_000)
    apienv.prepare(work)
    patches = [p for p in args.api_patches.split(",") if p]
    gc_file = raw_dir / "gc-stats.json"
    extra_env["BENCH_GC_STATS"] = str(gc_file)
    if args.target == "floor":
        server = start_floor(work / "logs", pin)
    else:
        server = start_api(
            "api-profile",
            assets.all_repository,
            work / "logs",
            pin,
            extra_env,
            [*patches, "gc-stats"],
        )

    def gc_totals() -> list[float]:
        if args.target == "floor":
            return [0.0, 0.0, 0.0]
        gc_file.unlink(missing_ok=True)
        os.kill(server.pid, signal.SIGUSR1)
        for _ in range(200):
            if gc_file.exists() and gc_file.stat().st_size:
                seconds: list[float] = json.loads(gc_file.read_text())["seconds"]
                return seconds
            time.sleep(0.01)
        return [0.0, 0.0, 0.0]

    profiles: dict[str, Any] = {}
    try:
        server.wait_ready()
        for spec in args.workloads.split(","):
            workload = Workload.from_id(spec.strip(), "profile")
            body_path = assets.body(workload.body_name)
            check_answer(server, workload, body_path.read_bytes())
            url = server.url + workload.path()
            run_wrk(wrk, url, body_path, connections=workload.connections, duration_s=2, pin=pin)
            raw = raw_dir / f"{workload.id.replace('/', '_')}.txt"
            spy = subprocess.Popen(
                pinned(
                    [
                        str(py_spy),
                        "record",
                        "--pid",
                        str(server.pid),
                        "--rate",
                        str(args.rate),
                        "--duration",
                        str(int(args.duration)),
                        "--format",
                        "raw",
                        "--full-filenames",
                        "--nonblocking",
                        "--gil",
                        "--output",
                        str(raw),
                    ],
                    LOAD_CPU,
                    pin,
                ),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            time.sleep(0.3)
            gc_before = gc_totals()
            watch = CpuWatch(server.pid, SERVER_CPU)
            figures = run_wrk(
                wrk, url, body_path, connections=workload.connections,
                duration_s=args.duration - 0.5, pin=pin,
            )  # fmt: skip
            figures.update(watch.stop())
            gc_seconds = [b - a for a, b in zip(gc_before, gc_totals(), strict=True)]
            _, err = spy.communicate(timeout=args.duration + 60)
            if spy.returncode != 0 or not raw.exists():
                raise RuntimeError(f"py-spy failed: {err.decode(errors='replace')}")
            summary = summarize(raw)
            cpu_us = (
                1e6 * figures["server_cpu_s"] / figures["requests"] if figures["requests"] else 0.0
            )
            # --gil: one sample per tick from the thread that holds the GIL, none while nobody
            # does (XGBoost's C++ call, uvloop's socket I/O and epoll waits release it).
            per_request = 1e6 / (args.rate * figures["requests_per_s"] * args.duration)
            bucket_us = {b: n * per_request for b, n in summary["bucket_samples"].items()}
            summary.update(
                {
                    "bucket_us_per_request": bucket_us,
                    "gil_held_us_per_request": sum(bucket_us.values()),
                    "hot_lines_us_per_request": [
                        (where, n * per_request) for where, n in summary["hot_line_samples"]
                    ],
                    "requests_per_s": figures["requests_per_s"],
                    "p50_ms": figures["p50_ms"],
                    "server_cpu_share": figures["server_cpu_share"],
                    "cpu_us_per_request": cpu_us,
                    "rows_per_request": workload.rows,
                    "gc_seconds_by_generation": gc_seconds,
                    "gc_share_of_cpu": sum(gc_seconds) / figures["server_cpu_s"]
                    if figures["server_cpu_s"]
                    else 0.0,
                    "others_on_server_cpu": figures["others_on_server_cpu"],
                }
            )
            profiles[workload.id] = summary
            log(
                f"profiled {workload.id}: {figures['requests_per_s']:.0f} req/s, {cpu_us:.0f} CPU µs/request"
            )
    finally:
        server.stop()
    document = {
        "api_code": api_code_version(),
        "target": args.target,
        "label": args.label,
        "api_env": {k: v for k, v in extra_env.items() if k != "BENCH_GC_STATS"},
        "api_patches": patches,
        "rate_hz": args.rate,
        "duration_s": args.duration,
        "profiles": profiles,
    }
    suffix = f"-{args.label}" if args.label else ""
    (out / f"profile{suffix}.json").write_text(json.dumps(document, indent=2) + "\n")
    text = render(document)
    (out / f"profile{suffix}.md").write_text(text)
    print(text)
    return 0


def render(document: dict[str, Any]) -> str:
    profiles: dict[str, Any] = document["profiles"]
    lines = [
        "# Where the CPU time goes (py-spy): "
        + ("the HTTP floor" if document.get("target") == "floor" else "the model API"),
        "",
        f"py-spy (`--gil --nonblocking`) at {document['rate_hz']} Hz for "
        f"{document['duration_s']:g} s per workload, attached to the pinned API process under wrk "
        "load"
        + (
            "; the HTTP floor (bench/floor.py)"
            if document.get("target") == "floor"
            else f"; what-if patches {', '.join(document['api_patches'])}"
            if document.get("api_patches")
            else "; API unmodified, default settings"
        )
        + (
            f" (API commit `{document['api_code']['commit']}`"
            + (" plus uncommitted edits" if document["api_code"]["services_modified"] else "")
            + ")"
            if document.get("api_code") and document.get("target") != "floor"
            else ""
        )
        + ". Only the thread holding the GIL is sampled, so each sample is one tick of Python "
        "work; a stage's µs per request = its samples / rate / requests. CPU time not covered "
        "by GIL-held samples is C code that released the GIL: XGBoost's C++ prediction (ctypes "
        "releases the GIL), the native v1 records parser (model_api.codecs._records releases it "
        "too: for v1 1,000-row bodies that is ~0.3 ms of this row) and uvloop's socket calls. "
        "Garbage collection runs with the GIL, so "
        "it is inside the stages that triggered it, and is also timed on its own with "
        "`gc.callbacks`. Each cell: µs per request / share of the API's CPU time.",
        "",
    ]
    ids = list(profiles)
    lines.append("| Stage | " + " | ".join(ids) + " |")
    lines.append("| --- |" + " ---: |" * len(ids))
    lines.append(
        "| **CPU µs per request (total)** | "
        + " | ".join(f"**{profiles[i]['cpu_us_per_request']:.0f}**" for i in ids)
        + " |"
    )
    lines.append(
        "| req/s under the profiler | "
        + " | ".join(f"{profiles[i]['requests_per_s']:.0f}" for i in ids)
        + " |"
    )
    lines.append(
        "| others' load on the API's CPU | "
        + " | ".join(f"{profiles[i]['others_on_server_cpu']:.0%}" for i in ids)
        + " |"
    )
    lines.append(
        "| garbage collection (gc.callbacks), inside the stages below | "
        + " | ".join(
            f"{profiles[i]['gc_share_of_cpu'] * profiles[i]['cpu_us_per_request']:.0f} µs / "
            f"{profiles[i]['gc_share_of_cpu']:.0%}"
            for i in ids
        )
        + " |"
    )

    def cell(us: float, i: str) -> str:
        cpu = profiles[i]["cpu_us_per_request"]
        return f"{us:.0f} µs / {us / cpu:.0%}" if cpu and us / cpu >= 0.005 else ""

    for bucket in BUCKETS:
        cells = [cell(profiles[i]["bucket_us_per_request"].get(bucket, 0.0), i) for i in ids]
        if any(cells):
            lines.append(f"| {bucket} | " + " | ".join(cells) + " |")
    lines.append(
        "| GIL released: XGBoost C++ predict, native v1 records parse, socket I/O (CPU not covered by samples) | "
        + " | ".join(
            cell(
                max(
                    0.0, profiles[i]["cpu_us_per_request"] - profiles[i]["gil_held_us_per_request"]
                ),
                i,
            )
            for i in ids
        )
        + " |"
    )
    for i in ids:
        lines += ["", f"Hottest innermost lines (GIL held), {i}:", ""]
        for where, us in profiles[i]["hot_lines_us_per_request"]:
            lines.append(f"- {us:.0f} µs/request `{where}`")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
