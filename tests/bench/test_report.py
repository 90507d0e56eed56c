"""The harness's arithmetic on made-up figures: ratios, pass/fail, profile buckets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import profiling, report
from tests.support import ROOT


def row(workload: str, server: str, rps: float, p50: float, p99: float) -> dict[str, Any]:
    model, protocol, rows, conn = workload.split("/")
    count = int(rows.removesuffix("row"))
    return {
        "workload": workload,
        "group": "single" if count == 1 else "bulk",
        "model": "bench-binary" if model == "bench" else "penguin-species",
        "protocol": protocol,
        "rows_per_request": count,
        "connections": int(conn.removeprefix("c")),
        "server": server,
        "requests_per_s": rps,
        "rows_per_s": rps * count,
        "p50_ms": p50,
        "p99_ms": p99,
        "non_2xx": 0,
        "socket_errors": 0,
    }


def document() -> dict[str, Any]:
    results = [
        row("bench/v2/1row/c32", "api", 3000, 9, 20),
        row("bench/v2/1row/c32", "floor", 3500, 8, 15),
        row("bench/v2/1row/c32", "mlserver-nobatch", 800, 30, 90),
        row("bench/v2/1row/c32", "mlserver-batch", 1000, 25, 60),
        row("bench/v1/1row/c32", "api", 2000, 12, 70),
        row("bench/v1/1row/c32", "floor", 3400, 8, 15),
        row("bench/v2/1row/c1", "api", 1500, 0.6, 1.0),
        row("bench/v2/1row/c1", "floor", 3000, 0.3, 0.5),
        row("bench/v2/1000row/c4", "api", 100, 40, 60),
        row("bench/v2/1000row/c4", "mlserver-nobatch", 50, 80, 120),
    ]
    return {
        "results": results,
        "inprocess": {
            "bench": {
                "results": {
                    "1": {"rows_per_s": 10_000, "us_per_call": 100.0},
                    "1000": {"rows_per_s": 150_000, "us_per_call": 6_666.0},
                }
            }
        },
        "csv": {
            "rows": 100_000,
            "rows_scored": 100_000,
            "rows_with_error": 0,
            "rows_per_s": 50_000,
            "peak_hwm_bytes": 300 << 20,
            "idle_rss_bytes": 200 << 20,
            "model_file_bytes": 1 << 20,
            "memory_budget_bytes": (400 << 20) + (1 << 20),
            "csv_bytes": 15 << 20,
            "seconds": 2.0,
        },
        "cold_start": {
            "runs": 3,
            "ready_s": [1.5, 1.6, 2.5],
            "ready_s_median": 1.6,
            "idle_rss_bytes": [1, 2, 3],
            "idle_rss_bytes_median": 200 << 20,
        },
    }


def markdown_header() -> dict[str, Any]:
    """What the Markdown report needs besides the results: when, on what, how."""
    return {
        "started_at": "2026-01-01T00:00:00+00:00",
        "machine": {
            "nproc": 2,
            "cpu_model": "Test CPU",
            "memory_gib": 1.0,
            "python": "3.12",
            "during_run": {"other_cores_avg": 0.9},
            "background_cores_before": 0.5,
        },
        "setup": {
            "xgboost": "3",
            "wrk": "wrk 4",
            "pinning": {"server_cpu": 0, "load_cpu": 1},
            "duration_s": 1,
            "warmup_s": 0,
            "rounds": 1,
            "peer_variants": {},
            "model": {"name": "bench-binary", "features": 20, "trees": 300, "depth": 6},
        },
    }


def verdicts() -> dict[str, bool | None]:
    return {t["target"]: t["pass"] for t in report.targets(document())}


def test_single_row_targets() -> None:
    v = verdicts()
    assert v["single row, 32 conn, v2: req/s vs MLServer best"] is True  # 3000 >= 2.5 x 1000
    assert v["single row, 32 conn, v1: req/s vs MLServer best"] is False  # 2000 < 2500
    assert v["single row, 32 conn, v2: req/s vs HTTP floor"] is True  # 86%
    assert v["single row, 32 conn, v1: req/s vs HTTP floor"] is False  # 59%
    assert v["single row, 32 conn, v2: p99 below MLServer's"] is True  # 20 < 60 (lowest p99)
    assert v["single row, 32 conn, v1: p99 below MLServer's"] is False  # 70 > 60
    # p50 0.6 ms <= 1.2 x (0.3 + 0.1) = 0.48? no
    assert v["single row, 1 conn, v2: p50 vs floor p50 + one predict"] is False


def test_bulk_csv_and_start_targets() -> None:
    v = verdicts()
    assert v["1,000-row requests, v2: rows/s vs MLServer best"] is True  # 2x
    assert v["1,000-row requests, v2: rows/s vs in-process limit"] is True  # 67%
    assert v["CSV 100,000 rows: peak memory"] is True
    assert v["cold start to /readyz 200 (penguin examples)"] is True  # median 1.6 s
    assert v["idle RSS after start (penguin examples)"] is None  # reported, not judged


def paired(workload: str, pair: int, on: float, off: float) -> list[dict[str, Any]]:
    """One log pair: the API with the log (``on`` req/s) and without it (``off``), 8 s each,
    with 250 and 200 us of server CPU per request."""
    out = []
    for server, rps, cpu_us in (("api", on, 250), (report.NO_LOG_SERVER, off, 200)):
        figures = row(workload, server, rps, 1, 2)
        requests = rps * 8
        figures.update(pair=pair, requests=requests, server_cpu_s=requests * cpu_us / 1e6)
        out.append(figures)
    return out


def test_prediction_log_cost_is_the_median_of_back_to_back_pairs() -> None:
    doc = document()
    doc["log_pairs"] = [
        # v2: 94 %, 60 % (a neighbour's burst during one run), 95 %: median 94 %, a pass
        *paired("bench/v2/1row/c32", 1, 3000, 3200),
        *paired("bench/v2/1row/c32", 2, 1800, 3000),
        *paired("bench/v2/1row/c32", 3, 3040, 3200),
        # v1: 80 %, 85 %: median 82.5 %, a fail
        *paired("bench/v1/1row/c32", 1, 2000, 2500),
        *paired("bench/v1/1row/c32", 2, 2125, 2500),
        # bulk: one pair, 95 %; a pair missing its log-off half is left out
        *paired("bench/v2/1000row/c4", 1, 100, 105),
        paired("bench/v2/1000row/c4", 2, 10, 105)[0],
    ]
    judged = {t["target"]: t for t in report.targets(doc)}
    log = "req/s with the prediction log vs without"
    v2 = judged[f"single row, 32 conn, v2: {log}"]
    assert v2["pass"] is True
    assert v2["ratio"] == round(3000 / 3200, 3)
    assert "over 3 pairs (94%, 60%, 95%)" in v2["measured"]
    assert "server CPU per request 250 vs 200 us" in v2["measured"]
    v1 = judged[f"single row, 32 conn, v1: {log}"]
    assert v1["pass"] is False
    assert v1["ratio"] == round((0.8 + 0.85) / 2, 3)
    bulk = judged[f"1,000-row requests, v2: {log}"]
    assert bulk["pass"] is True
    assert "over 1 pair (95%)" in bulk["measured"]
    markdown = report.markdown({**doc, **markdown_header(), "targets": list(judged.values())})
    assert "## The prediction log's cost" in markdown
    assert "| bench-binary v2, 1 row, 32 conn | 2 | 1,800 | 3,000 | 60% | 250 | 200 |" in markdown
    # Without log pairs there is nothing to judge the log by: no target, not a failure.
    assert not any(log in t["target"] for t in report.targets(document()))


def test_missing_peer_is_not_a_verdict() -> None:
    doc = document()
    doc["results"] = [r for r in doc["results"] if not r["server"].startswith("mlserver")]
    judged = {t["target"]: t["pass"] for t in report.targets(doc)}
    assert judged["single row, 32 conn, v2: req/s vs MLServer best"] is None
    assert judged["single row, 32 conn, v2: req/s vs HTTP floor"] is True


def test_ratios_and_markdown() -> None:
    doc = document()
    api = doc["results"][0]
    ratios = report.ratios(doc, api)
    assert ratios["vs_floor"] == 3000 / 3500
    assert ratios["vs_peer_best"] == 3.0
    assert ratios["vs_inprocess"] == 3000 / 10_000
    doc.update(**markdown_header(), targets=report.targets(doc))
    text = report.markdown(doc)
    assert "the machine was busy" in text
    assert "| bench-binary v2, 1 row, 32 conn | **API** | 3,000 |" in text
    assert "PASS" in text and "FAIL" in text


def test_best_round_wins() -> None:
    first = row("bench/v2/1row/c1", "api", 100, 1, 2)
    second = row("bench/v2/1row/c1", "api", 150, 1, 2)
    assert report.best_rounds([first, second]) == [second]


def test_in_process_limit_keeps_its_best_round() -> None:
    def measured(one_row: float, bulk: float) -> dict[str, Any]:
        return {
            "threads": 1,
            "results": {"1": {"rows_per_s": one_row}, "1000": {"rows_per_s": bulk}},
        }

    best = report.best_inprocess(report.best_inprocess(None, measured(10, 300)), measured(12, 250))
    assert best["results"] == {"1": {"rows_per_s": 12}, "1000": {"rows_per_s": 300}}


def test_profile_buckets() -> None:
    stack = (
        "run (/x/asyncio/runners.py:194);Runner.run (/x/asyncio/runners.py:118);"
        "_predict (/x/model_api/http/routes/v1.py:131);"
        "FeatureEncoder.from_records (/x/model_api/codecs/features.py:58);"
        "_array_converter (/x/numpy/_core/fromnumeric.py:10)"
    )
    assert profiling.bucket_of(stack) == profiling.ENCODE  # numpy time belongs to its caller
    framework = "Runner.run (/x/asyncio/runners.py:118);APIRoute.handle (/x/fastapi/routing.py:1)"
    assert profiling.bucket_of(framework) == profiling.FRAMEWORK
    assert profiling.is_idle("Thread.run (/x/threading.py:1);Condition.wait (/x/threading.py:355)")
    loop = "run (/x/asyncio/runners.py:194);Runner.run (/x/asyncio/runners.py:118)"
    assert not profiling.is_idle(loop)  # with --gil: uvloop's C code holding the GIL
    assert profiling.bucket_of(loop) == profiling.SERVER
    assert not profiling.is_idle(stack)


def _frame(function: str, path: Path, needle: str) -> str:
    """A py-spy frame at the first line of the real ``path`` that contains ``needle``."""
    lines = path.read_text().splitlines()
    number = next(i for i, text in enumerate(lines, 1) if needle in text)
    return f"{function} ({path}:{number})"


def test_profile_buckets_read_the_source_line() -> None:
    floor = ROOT / "bench" / "floor.py"
    assert profiling.bucket_of(_frame("predict", floor, "orjson.loads(")) == profiling.PARSE
    assert profiling.bucket_of(_frame("predict", floor, "V1_ANSWER,")) == profiling.FRAMEWORK
    api = ROOT / "services" / "model-api" / "src" / "model_api"
    records = api / "codecs" / "records.py"
    assert profiling.bucket_of(_frame("matrix", records, "_decoder.decode(")) == profiling.PARSE
    assert profiling.bucket_of(_frame("matrix", records, "np.empty(")) == profiling.ENCODE
    direct = _frame(
        "DensePredictor.predict", api / "serving" / "xgb_direct.py", "ctypes.string_at("
    )
    assert profiling.bucket_of(direct) == profiling.XGB_PY
    for name in profiling.FILE_BUCKETS:  # every file the table names still exists
        assert (api / name).is_file(), name


def test_a_ratio_next_to_its_threshold_shows_which_side_it_is_on() -> None:
    assert report._judged(1.4992, 1.5, percent=False) == "1.499x"  # not a failing "1.50x"
    assert report._judged(1.5, 1.5, percent=False) == "1.50x"
    assert report._judged(1.46, 1.5, percent=False) == "1.46x"
    assert report._judged(0.5996, 0.6, percent=True) == "59.96%"
    assert report._judged(0.76, 0.6, percent=True) == "76%"
