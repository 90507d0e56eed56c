"""The benchmark's models and request bodies, built deterministically under ``bench/.work/``.

* ``bench-binary``: 20 numeric features, binary, 300 trees of depth 6, trained from a fixed seed on
  synthetic data and packaged with the API's own ``save_bundle``.
* the penguin examples (``model_api.authoring.examples.build_examples``), served next to it.

Every request body is written to a file once; wrk, MLServer's run and the floor send the very same
bytes, and the in-process limit predicts the very same rows (as ``.npy`` matrices).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

BENCH_MODEL = "bench-binary"
PENGUIN_MODEL = "penguin-species"
SEED = 20240601
FEATURES = [f"f{i:02d}" for i in range(20)]
TRAIN_ROWS = 20_000
TREES = 300
DEPTH = 6
BULK_ROWS = 1000
SPEC_VERSION = 3  # bump when the model or the bodies change


@dataclass(frozen=True)
class Assets:
    """Paths of everything the runs need."""

    root: Path
    all_repository: Path  # bench-binary + penguin examples: the throughput server
    examples_repository: Path  # penguin examples only: the cold-start runs
    bench_repository: Path  # bench-binary only: the CSV run (fresh process, clean VmHWM)
    bench_bundle: Path
    penguin_bundle: Path
    bodies: Path

    def body(self, name: str) -> Path:
        return self.bodies / name

    def bench_model_file(self) -> Path:
        return self.bench_bundle / "model.ubj"


def _rows(count: int, seed: int) -> np.ndarray:
    """Rows of the benchmark model (float64), rounded to 4 decimals: short JSON numbers."""
    rng = np.random.default_rng(seed)
    return np.round(rng.normal(size=(count, len(FEATURES))), 4)


def train_bench_model() -> tuple[Any, Any]:
    """The fixed benchmark booster and its training frame (deterministic: seed, one thread)."""
    import pandas as pd
    import xgboost as xgb

    x = _rows(TRAIN_ROWS, SEED)
    logit = (
        1.5 * x[:, 0]
        - x[:, 1]
        + np.sin(3 * x[:, 2])
        + x[:, 3] * x[:, 4]
        + 0.5 * np.abs(x[:, 5])
        - 0.8 * (x[:, 6] > 0.3)
        + 0.3 * x[:, 7:12].sum(axis=1)
        - 0.2 * x[:, 12:20].sum(axis=1)
    )
    rng = np.random.default_rng(SEED + 1)
    y = (rng.random(TRAIN_ROWS) < 1.0 / (1.0 + np.exp(-logit))).astype(np.float32)
    frame = pd.DataFrame(x, columns=FEATURES)
    params = {
        "objective": "binary:logistic",
        "max_depth": DEPTH,
        "eta": 0.1,
        "tree_method": "hist",
        "nthread": 1,
        "seed": 0,
        "min_child_weight": 1,
    }
    booster = xgb.train(params, xgb.DMatrix(frame, label=y), num_boost_round=TREES)
    return booster, frame


def _spec() -> dict[str, Any]:
    import xgboost as xgb

    return {
        "spec_version": SPEC_VERSION,
        "seed": SEED,
        "rows": TRAIN_ROWS,
        "trees": TREES,
        "depth": DEPTH,
        "xgboost": xgb.__version__,
    }


def build_assets(work: Path, csv_rows: int) -> Assets:
    """Train and package the models and write the bodies, unless this spec is already built."""
    root = work / "assets"
    assets = Assets(
        root=root,
        all_repository=root / "repo-all",
        examples_repository=root / "repo-examples",
        bench_repository=root / "repo-bench",
        bench_bundle=root / "repo-bench" / BENCH_MODEL / "1",
        penguin_bundle=root / "repo-all" / PENGUIN_MODEL / "1",
        bodies=root / "bodies",
    )
    spec_file = root / "spec.json"
    spec = _spec()
    if not (spec_file.exists() and json.loads(spec_file.read_text()) == spec):
        shutil.rmtree(root, ignore_errors=True)
        _build_models(assets)
        _write_bodies(assets)
        spec_file.write_text(json.dumps(spec))
    csv_path = assets.body(f"bench-{csv_rows}.csv")
    if not csv_path.exists():
        _write_csv(csv_path, csv_rows)
    return assets


def _build_models(assets: Assets) -> None:
    from model_api.authoring import save_bundle
    from model_api.authoring.examples import build_examples

    booster, frame = train_bench_model()
    for repository in (assets.bench_repository, assets.all_repository):
        save_bundle(
            booster,
            frame,
            repository / BENCH_MODEL / "1",
            name=BENCH_MODEL,
            version="1",
            target="label",
            description="Benchmark model: 20 numeric features, binary, 300 trees of depth 6.",
        )
    build_examples(assets.examples_repository)
    for name in ("penguin-species", "penguin-mass"):
        shutil.copytree(assets.examples_repository / name, assets.all_repository / name)


def _dump(path: Path, payload: Any) -> None:
    import orjson

    path.write_bytes(orjson.dumps(payload))


def _v2_tensor(matrix: np.ndarray) -> dict[str, Any]:
    """One FP32 [N, F] input; ``matrix`` holds float64 values that are short in JSON."""
    return {
        "inputs": [
            {
                "name": "input-0",
                "shape": list(matrix.shape),
                "datatype": "FP32",
                "data": matrix.reshape(-1).tolist(),
            }
        ]
    }


def _write_bodies(assets: Assets) -> None:
    assets.bodies.mkdir(parents=True, exist_ok=True)
    rows = _rows(BULK_ROWS, SEED + 2)
    np.save(assets.body("bench-1000.npy"), rows.astype(np.float32))
    for count in (1, BULK_ROWS):
        matrix = rows[:count]
        records = [dict(zip(FEATURES, row, strict=True)) for row in matrix.tolist()]
        _dump(assets.body(f"bench-v1-{count}.json"), {"instances": records})
        _dump(assets.body(f"bench-v2-{count}.json"), _v2_tensor(matrix))
    _write_penguin_bodies(assets)


def _write_penguin_bodies(assets: Assets) -> None:
    from model_api.authoring.examples import load_penguins_frame
    from model_api.serving.bundle import load_bundle

    metadata, _ = load_bundle(assets.penguin_bundle)
    names = [f.name for f in metadata.features]
    frame = load_penguins_frame()[names].dropna().reset_index(drop=True)
    picks = np.arange(BULK_ROWS) % len(frame)
    records: list[dict[str, Any]] = []
    codes = np.empty((BULK_ROWS, len(names)), dtype=np.float64)
    for i, index in enumerate(picks.tolist()):
        row = frame.iloc[index]
        record: dict[str, Any] = {}
        for j, feature in enumerate(metadata.features):
            value = row[feature.name]
            if feature.type == "categorical":
                record[feature.name] = str(value)
                codes[i, j] = (feature.categories or []).index(str(value))
            else:
                record[feature.name] = float(value)
                codes[i, j] = float(value)
        records.append(record)
    np.save(assets.body("penguin-1000.npy"), codes.astype(np.float32))
    for count in (1, BULK_ROWS):
        _dump(assets.body(f"penguin-v1-{count}.json"), {"instances": records[:count]})
        _dump(assets.body(f"penguin-v2-{count}.json"), _v2_tensor(codes[:count]))


def _write_csv(path: Path, count: int) -> None:
    """A CSV of ``count`` rows of the benchmark model (header naming the features)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = _rows(count, SEED + 3)
    with path.open("w") as handle:
        handle.write(",".join(FEATURES) + "\n")
        step = 10_000
        for start in range(0, count, step):
            block = rows[start : start + step]
            handle.write("\n".join(",".join(f"{v:.4f}" for v in row) for row in block.tolist()))
            handle.write("\n")
