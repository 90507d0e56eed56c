"""The in-process limit: ``Booster.inplace_predict`` on the benchmark rows, no HTTP at all.

Runs in its own process pinned to the server's CPU, with the API's thread setting, and reports
rows/s for one row per call and for 1,000 rows per call (best of three timed segments, since a
busy machine can only make a segment slower).

Run: ``python -m bench.inprocess --model model.ubj --rows rows.npy --seconds 3`` → JSON on stdout.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def measure(
    predict: object, matrix: np.ndarray, seconds: float, segments: int = 3
) -> dict[str, float]:
    call = predict  # Booster.inplace_predict bound to the matrix below
    best_calls_per_s = 0.0
    total_calls = 0
    for _ in range(segments):
        calls = 0
        started = time.perf_counter()
        deadline = started + seconds / segments
        while True:
            call(matrix, validate_features=False)  # type: ignore[operator]
            calls += 1
            now = time.perf_counter()
            if now >= deadline:
                break
        total_calls += calls
        best_calls_per_s = max(best_calls_per_s, calls / (now - started))
    return {
        "rows_per_call": int(matrix.shape[0]),
        "calls": total_calls,
        "calls_per_s": best_calls_per_s,
        "rows_per_s": best_calls_per_s * matrix.shape[0],
        "us_per_call": 1e6 / best_calls_per_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--rows", required=True, help=".npy float32 matrix, 1,000 rows")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()

    import xgboost as xgb

    booster = xgb.Booster(model_file=args.model)
    if args.threads:
        booster.set_param({"nthread": args.threads})
    rows = np.ascontiguousarray(np.load(args.rows), dtype=np.float32)
    results = {}
    for count in (1, rows.shape[0]):
        matrix = np.ascontiguousarray(rows[:count])
        for _ in range(20):  # warm-up
            booster.inplace_predict(matrix, validate_features=False)
        results[str(count)] = measure(booster.inplace_predict, matrix, args.seconds)
    print(json.dumps({"xgboost": xgb.__version__, "threads": args.threads, "results": results}))


if __name__ == "__main__":
    main()
