"""Ratios, targets and the Markdown report of a run (``latest.json`` → ``latest.md``)."""

from __future__ import annotations

import statistics
from typing import Any

TARGET_SINGLE_VS_PEER = 2.5
TARGET_SINGLE_VS_FLOOR = 0.8
TARGET_P50_FACTOR = 1.2
TARGET_BULK_VS_PEER = 1.5
TARGET_BULK_VS_LIMIT = 0.6
TARGET_COLD_START_S = 2.0
# The prediction log (on by default) may cost at most 10% of the throughput of the same API with
# it off, for single rows at the highest concurrency and for bulk requests (issue 14).
TARGET_LOG_VS_NO_LOG = 0.9
NO_LOG_SERVER = "api-nolog"

Row = dict[str, Any]


def best_rounds(results: list[Row]) -> list[Row]:
    """One row per (workload, server): the round with the most requests/s."""
    best: dict[tuple[str, str], Row] = {}
    for row in results:
        key = (row["workload"], row["server"])
        if key not in best or row["requests_per_s"] > best[key]["requests_per_s"]:
            best[key] = row
    return list(best.values())


def best_inprocess(previous: dict[str, Any] | None, latest: dict[str, Any]) -> dict[str, Any]:
    """The in-process limit measured again in a later round: per rows-per-call, the faster one.

    Measured once, a slow moment of a shared host would lower the limit and flatter every ratio
    against it for the whole run; like the servers, it keeps its best round."""
    if previous is None:
        return latest
    results = {
        count: max(previous["results"][count], figures, key=lambda r: r["rows_per_s"])
        for count, figures in latest["results"].items()
    }
    return {**latest, "results": results}


def _find(results: list[Row], workload: str, server: str) -> Row | None:
    return next((r for r in results if r["workload"] == workload and r["server"] == server), None)


def _peer_rows(results: list[Row], workload: str) -> list[Row]:
    """MLServer rows for the V2 twin of a benchmark-model workload (MLServer speaks only V2)."""
    model, _, rest = workload.split("/", 2)
    if model != "bench":
        return []
    twin = f"bench/v2/{rest}"
    return [r for r in results if r["workload"] == twin and r["server"].startswith("mlserver")]


def _inprocess(document: dict[str, Any], model: str, rows: int) -> dict[str, Any] | None:
    key = "bench" if model == "bench-binary" else "penguin"
    data = document.get("inprocess", {}).get(key)
    if not data:
        return None
    result: dict[str, Any] | None = data["results"].get(str(rows))
    return result


def ratios(document: dict[str, Any], row: Row) -> dict[str, float | None]:
    """A server row against the floor, MLServer's best and the in-process limit."""
    results: list[Row] = document["results"]
    floor = _find(results, row["workload"], "floor") if row["server"] != "floor" else None
    peers = _peer_rows(results, row["workload"]) if row["server"].startswith("api") else []
    limit = (
        _inprocess(document, row["model"], row["rows_per_request"])
        if row["server"] != "floor"
        else None
    )
    peer_best = max((p["requests_per_s"] for p in peers), default=0.0)
    return {
        "vs_floor": row["requests_per_s"] / floor["requests_per_s"] if floor else None,
        "vs_peer_best": row["requests_per_s"] / peer_best if peer_best else None,
        "vs_inprocess": row["rows_per_s"] / limit["rows_per_s"] if limit else None,
    }


def _target(
    name: str, measured: str, required: str, passed: bool | None, ratio: float | None = None
) -> dict[str, Any]:
    return {
        "target": name,
        "measured": measured,
        "required": required,
        "ratio": None if ratio is None else round(ratio, 3),
        "pass": passed,
    }


def _vs_peer_best(
    name: str, row: Row, peers: list[Row], key: str, unit: str, factor: float
) -> dict[str, Any]:
    """``row[key]`` (req/s or rows/s) against MLServer's best variant; not judged without one."""
    required = f">= {factor}x"
    if not peers:
        return _target(name, "no MLServer run", required, None)
    best = max(peers, key=lambda p: p[key])
    ratio = row[key] / best[key]
    shown = _judged(ratio, factor, percent=False)
    measured = f"{row[key]:.0f} {unit} = {shown} {best['server']} ({best[key]:.0f})"
    return _target(name, measured, required, ratio >= factor, ratio)


def _judged(ratio: float, threshold: float, percent: bool) -> str:
    """``ratio`` as 1.23x (or 45%), with more digits where rounding would hide which side of
    ``threshold`` it is on (1.4992 is "1.499x", not a failing "1.50x")."""
    digits = 0 if percent else 2
    while digits < 6 and (round(ratio, digits + (2 if percent else 0)) >= threshold) != (
        ratio >= threshold
    ):
        digits += 1
    return f"{ratio:.{digits}%}" if percent else f"{ratio:.{digits}f}x"


def _share_of(
    name: str, row: Row, baseline: Row, key: str, unit: str, baseline_name: str, share: float
) -> dict[str, Any]:
    """``row[key]`` as a share of a baseline's (the floor's or the in-process limit's)."""
    ratio = row[key] / baseline[key]
    shown = _judged(ratio, share, percent=True)
    measured = f"{row[key]:.0f} {unit} = {shown} of {baseline_name} ({baseline[key]:.0f})"
    return _target(name, measured, f">= {share:.0%}", ratio >= share, ratio)


def targets(document: dict[str, Any], server: str = "api") -> list[dict[str, Any]]:
    """Every target of issue 5, evaluated on this run; ``pass`` is None where a baseline is missing.

    ``server`` is the API process judged: "api" (unmodified) or an "api-whatif-<label>" variant.
    """
    results: list[Row] = document["results"]
    out: list[dict[str, Any]] = []
    api_single = [r for r in results if r["server"] == server and r["group"] == "single"]
    top = max((r["connections"] for r in api_single), default=0)

    for row in sorted(api_single, key=lambda r: (-r["connections"], r["protocol"])):
        if row["connections"] != top or top <= 1:
            continue
        label = f"single row, {top} conn, {row['protocol']}"
        peers = _peer_rows(results, row["workload"])
        floor = _find(results, row["workload"], "floor")
        out.append(
            _vs_peer_best(
                f"{label}: req/s vs MLServer best",
                row,
                peers,
                "requests_per_s",
                "req/s",
                TARGET_SINGLE_VS_PEER,
            )
        )
        if floor:
            out.append(
                _share_of(
                    f"{label}: req/s vs HTTP floor",
                    row,
                    floor,
                    "requests_per_s",
                    "req/s",
                    "floor",
                    TARGET_SINGLE_VS_FLOOR,
                )
            )
        if peers:
            lowest = min(peers, key=lambda p: p["p99_ms"])
            ratio = row["p99_ms"] / lowest["p99_ms"] if lowest["p99_ms"] else None
            out.append(
                _target(
                    f"{label}: p99 below MLServer's",
                    f"p99 {row['p99_ms']:.2f} ms vs {lowest['p99_ms']:.2f} ms ({lowest['server']})",
                    "< MLServer's lowest p99",
                    row["p99_ms"] < lowest["p99_ms"],
                    ratio,
                )
            )
        else:
            out.append(
                _target(
                    f"{label}: p99 below MLServer's",
                    "no MLServer run",
                    "< MLServer's lowest p99",
                    None,
                )
            )

    for row in sorted(api_single, key=lambda r: r["protocol"]):
        if row["connections"] != 1:
            continue
        floor = _find(results, row["workload"], "floor")
        limit = _inprocess(document, row["model"], 1)
        label = f"single row, 1 conn, {row['protocol']}: p50 vs floor p50 + one predict"
        if floor and limit:
            allowed = TARGET_P50_FACTOR * (floor["p50_ms"] + limit["us_per_call"] / 1000)
            ratio = row["p50_ms"] / (floor["p50_ms"] + limit["us_per_call"] / 1000)
            out.append(
                _target(
                    label,
                    f"p50 {row['p50_ms']:.3f} ms; floor {floor['p50_ms']:.3f} ms + predict "
                    f"{limit['us_per_call'] / 1000:.3f} ms",
                    f"<= {allowed:.3f} ms ({TARGET_P50_FACTOR}x)",
                    row["p50_ms"] <= allowed,
                    ratio,
                )
            )

    for row in sorted(
        (r for r in results if r["server"] == server and r["group"] == "bulk"),
        key=lambda r: r["protocol"],
    ):
        label = f"{row['rows_per_request']:,}-row requests, {row['protocol']}"
        peers = _peer_rows(results, row["workload"])
        out.append(
            _vs_peer_best(
                f"{label}: rows/s vs MLServer best",
                row,
                peers,
                "rows_per_s",
                "rows/s",
                TARGET_BULK_VS_PEER,
            )
        )
        limit = _inprocess(document, row["model"], row["rows_per_request"])
        if limit:
            out.append(
                _share_of(
                    f"{label}: rows/s vs in-process limit",
                    row,
                    limit,
                    "rows_per_s",
                    "rows/s",
                    "in-process",
                    TARGET_BULK_VS_LIMIT,
                )
            )

    if server == "api":
        out += _prediction_log_targets(document)

    csv = document.get("csv") if server == "api" else None
    if csv:
        ratio = csv["peak_hwm_bytes"] / csv["memory_budget_bytes"]
        out.append(
            _target(
                f"CSV {csv['rows']:,} rows: peak memory",
                f"VmHWM {_mib(csv['peak_hwm_bytes'])}; idle RSS {_mib(csv['idle_rss_bytes'])}, "
                f"model file {_mib(csv['model_file_bytes'])}; {csv['rows_per_s']:.0f} rows/s",
                f"< 2x idle RSS + model = {_mib(csv['memory_budget_bytes'])}",
                csv["peak_hwm_bytes"] < csv["memory_budget_bytes"]
                and csv["rows_scored"] == csv["rows"]
                and csv["rows_with_error"] == 0,
                ratio,
            )
        )
    cold = document.get("cold_start") if server == "api" else None
    if cold:
        median = cold["ready_s_median"]
        out.append(
            _target(
                "cold start to /readyz 200 (penguin examples)",
                f"median {median:.2f} s of {cold['runs']} ({', '.join(f'{s:.2f}' for s in cold['ready_s'])})",
                f"< {TARGET_COLD_START_S:g} s",
                median < TARGET_COLD_START_S,
                median / TARGET_COLD_START_S,
            )
        )
        out.append(
            _target(
                "idle RSS after start (penguin examples)",
                _mib(cold["idle_rss_bytes_median"]),
                "reported",
                None,
            )
        )
    return out


# ---------------------------------------------------------------------------- Markdown
def _prediction_log_targets(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The API with its prediction log (the default) as a share of the same API with it off:
    per workload, the median of the ratios of pairs measured back to back (``log_pairs``)."""
    out: list[dict[str, Any]] = []
    for pairs in _log_pairs(document).values():
        ratios = [
            logged["requests_per_s"] / unlogged["requests_per_s"] for logged, unlogged in pairs
        ]
        ratio = statistics.median(ratios)
        first = pairs[0][0]
        what = (
            f"single row, {first['connections']} conn"
            if first["rows_per_request"] == 1
            else f"{first['rows_per_request']:,}-row requests"
        )
        cpu_on = statistics.median(_cpu_us_per_request(logged) for logged, _ in pairs)
        cpu_off = statistics.median(_cpu_us_per_request(unlogged) for _, unlogged in pairs)
        measured = (
            f"median {_judged(ratio, TARGET_LOG_VS_NO_LOG, percent=True)} of log off over "
            f"{len(pairs)} pair{'s' if len(pairs) > 1 else ''} ({', '.join(f'{r:.0%}' for r in ratios)}); server CPU per "
            f"request {cpu_on:.0f} vs {cpu_off:.0f} us"
        )
        out.append(
            _target(
                f"{what}, {first['protocol']}: req/s with the prediction log vs without",
                measured,
                f">= {TARGET_LOG_VS_NO_LOG:.0%}",
                ratio >= TARGET_LOG_VS_NO_LOG,
                ratio,
            )
        )
    return out


def _log_pairs(document: dict[str, Any]) -> dict[str, list[tuple[Row, Row]]]:
    """Per workload (in the order run), the (log on, log off) rows of each complete pair."""
    by_pair: dict[tuple[str, int], dict[str, Row]] = {}
    for row in document.get("log_pairs", []):
        by_pair.setdefault((row["workload"], row["pair"]), {})[row["server"]] = row
    out: dict[str, list[tuple[Row, Row]]] = {}
    for (workload, _), servers in by_pair.items():
        if "api" in servers and NO_LOG_SERVER in servers:
            out.setdefault(workload, []).append((servers["api"], servers[NO_LOG_SERVER]))
    return out


def _cpu_us_per_request(row: Row) -> float:
    return row["server_cpu_s"] / row["requests"] * 1e6 if row["requests"] else 0.0


def _mib(value: float) -> str:
    return f"{value / 2**20:.0f} MiB"


def _x(value: float | None, percent: bool = False) -> str:
    if value is None:
        return ""
    return f"{value:.0%}" if percent else f"{value:.2f}x"


def _result(passed: bool | None) -> str:
    return "n/a" if passed is None else ("PASS" if passed else "FAIL")


def workload_label(row: Row) -> str:
    rows = "1 row" if row["rows_per_request"] == 1 else f"{row['rows_per_request']:,} rows"
    return f"{row['model']} {row['protocol']}, {rows}, {row['connections']} conn"


def _target_table(targets: list[dict[str, Any]]) -> list[str]:
    lines = ["| Target | Measured | Required | Result |", "| --- | --- | --- | --- |"]
    for target in targets:
        lines.append(
            f"| {target['target']} | {target['measured']} | {target['required']} | "
            f"{_result(target['pass'])} |"
        )
    return lines


def _server_label(name: str) -> str:
    if name.startswith("api-whatif-"):
        return f"API what-if `{name.removeprefix('api-whatif-')}`"
    return {"api": "**API**", NO_LOG_SERVER: "API, log off", "floor": "HTTP floor"}.get(
        name, name.replace("mlserver-", "MLServer ")
    )


def markdown(document: dict[str, Any]) -> str:
    machine = document["machine"]
    setup = document["setup"]
    during = machine.get("during_run", {})
    lines = [
        "# Model API benchmark: latest run",
        "",
        f"Run {document['started_at']} with `make bench` on {machine['nproc']} CPUs "
        f"({machine['cpu_model']}), {machine['memory_gib']} GiB, Python {machine['python']}, "
        f"XGBoost {setup['xgboost']} (1 thread), {setup['wrk']}.",
    ]
    if setup.get("pinning"):
        lines.append(
            f"Each server is one process pinned to CPU {setup['pinning']['server_cpu']}; "
            f"wrk (1 thread) and the harness run on CPU {setup['pinning']['load_cpu']}."
        )
    else:
        lines.append("No CPU pinning (taskset unavailable or one CPU): server and wrk share CPUs.")
    other = during.get("other_cores_avg")
    if other is not None:
        busy = other >= 0.2 or machine.get("background_cores_before", 0) >= 0.2
        lines.append(
            f"Other processes used {other:.2f} cores on average during the run "
            f"({machine.get('background_cores_before', 0):.2f} just before it)"
            + (
                ": **the machine was busy**, so absolute figures are noisy; every ratio compares "
                "runs taken back to back."
                if busy
                else "."
            )
        )
    code = setup.get("api_code")
    if code:
        lines.append(
            f"API code: commit `{code['commit']}`"
            + (" plus uncommitted edits under services/." if code["services_modified"] else ".")
        )
    lines += [
        f"Runs: {setup['duration_s']:g} s each after {setup['warmup_s']:g} s of warm-up, "
        f"best of {setup['rounds']} round(s). Model `{setup['model']['name']}`: "
        f"{setup['model']['features']} numeric features, binary, {setup['model']['trees']} trees "
        f"of depth {setup['model']['depth']}.",
        "",
        "## Targets",
        "",
        *_target_table(document["targets"]),
    ]
    for label, whatif_targets in document.get("whatif_targets", {}).items():
        patches = "+".join(document["setup"].get("whatif", {}).get(label, []))
        passed = sum(1 for t in whatif_targets if t["pass"])
        judged = sum(1 for t in whatif_targets if t["pass"] is not None)
        lines += [
            "",
            f"What-if `{label}` (the API with `{patches}` applied at run time by `bench/whatif.py`, "
            f"measured back to back with the rest): {passed} of {judged} targets pass.",
            "",
            *_target_table(whatif_targets),
        ]
    lines += [
        "",
        "## Requests",
        "",
        "Ratios: requests/s against the HTTP floor and against MLServer's best variant (its V2 "
        "endpoint, also for v1 rows), rows/s against the in-process limit for the same rows per call.",
        "",
        "| Workload | Server | req/s | rows/s | p50 ms | p99 ms | non-2xx | socket errors "
        "| vs floor | vs MLServer best | vs in-process |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    order = {"api": 0, "floor": 2}
    rows = sorted(
        document["results"],
        key=lambda r: (
            r["group"] != "single",
            r["group"] != "bulk",
            r["model"],
            r["rows_per_request"],
            r["connections"],
            r["protocol"],
            order.get(r["server"], 1 if r["server"].startswith("api") else 3),
            r["server"],
        ),
    )
    for row in rows:
        r = ratios(document, row)
        lines.append(
            f"| {workload_label(row)} | {_server_label(row['server'])} | {row['requests_per_s']:,.0f} | "
            f"{row['rows_per_s']:,.0f} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | {row['non_2xx']} | "
            f"{row['socket_errors']} | {_x(r['vs_floor'], percent=True)} | {_x(r['vs_peer_best'])} | "
            f"{_x(r['vs_inprocess'], percent=True)} |"
        )
    pairs = _log_pairs(document)
    if pairs:
        lines += [
            "",
            "## The prediction log's cost",
            "",
            "The API as it ships (log on) and the same API with `MODEL_API_PREDICTION_LOG=false`, "
            "measured back to back in pairs, the order flipping each pair; the target takes the "
            "median of the pairs' ratios.",
            "",
            "| Workload | Pair | log on req/s | log off req/s | on / off | CPU us/req on | "
            "CPU us/req off |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for logged, unlogged in (pair for runs in pairs.values() for pair in runs):
            lines.append(
                f"| {workload_label(logged)} | {logged['pair']} | {logged['requests_per_s']:,.0f} | "
                f"{unlogged['requests_per_s']:,.0f} | "
                f"{logged['requests_per_s'] / unlogged['requests_per_s']:.0%} | "
                f"{_cpu_us_per_request(logged):.0f} | {_cpu_us_per_request(unlogged):.0f} |"
            )
    if document.get("inprocess"):
        lines += [
            "",
            "## In-process limit",
            "",
            "`Booster.inplace_predict` on the same rows in one process (one thread, server CPU), "
            "best of three segments.",
            "",
            "| Model | rows per call | rows/s | µs per call |",
            "| --- | ---: | ---: | ---: |",
        ]
        for key, data in document["inprocess"].items():
            name = "bench-binary" if key == "bench" else "penguin-species"
            for count, figures in data["results"].items():
                lines.append(
                    f"| {name} | {int(count):,} | {figures['rows_per_s']:,.0f} | {figures['us_per_call']:,.1f} |"
                )
    csv = document.get("csv")
    cold = document.get("cold_start")
    if csv or cold or document.get("peer_starts"):
        lines += ["", "## CSV, memory and start-up", "", "| Measure | Value |", "| --- | --- |"]
        if csv:
            lines += [
                f"| CSV {csv['rows']:,} rows ({_mib(csv['csv_bytes'])}) through the CSV endpoint | "
                f"{csv['seconds']:.2f} s, {csv['rows_per_s']:,.0f} rows/s, {csv['rows_with_error']} row errors |",
                f"| API idle RSS before the upload (benchmark model) | {_mib(csv['idle_rss_bytes'])} |",
                f"| API peak memory (VmHWM) after the upload | {_mib(csv['peak_hwm_bytes'])} |",
            ]
        if cold:
            lines += [
                f"| API cold start to /readyz 200, penguin examples (median of {cold['runs']}) | "
                f"{cold['ready_s_median']:.2f} s |",
                f"| API idle RSS after start, penguin examples | {_mib(cold['idle_rss_bytes_median'])} |",
            ]
        for name, start in document.get("peer_starts", {}).items():
            lines.append(
                f"| {name}: start to model ready / idle RSS | {start['ready_s']:.2f} s / "
                f"{_mib(start['idle_rss_bytes'])} |"
            )
    if setup.get("peer_variants"):
        lines += [
            "",
            "MLServer variants: "
            + "; ".join(f"`{k}` = {v}" for k, v in setup["peer_variants"].items())
            + ".",
        ]
    lines.append("")
    return "\n".join(lines)
