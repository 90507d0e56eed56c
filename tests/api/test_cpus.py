"""Usable CPUs (affinity capped by the cgroup quota) decide where large batches are scored."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from model_api.serving import registry as registry_module
from model_api.serving.batching import SMALL_BATCH_ROWS, MicroBatcher
from model_api.serving.cpus import usable_cpus
from model_api.serving.registry import ModelRegistry
from model_api.serving.runtime import Prediction
from model_api.settings import Settings

AFFINITY = float(len(os.sched_getaffinity(0)))


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [
        ("100000 100000\n", min(AFFINITY, 1.0)),  # a Kubernetes limit of one CPU
        ("50000 100000\n", 0.5),
        ("max 100000\n", AFFINITY),  # no limit: the affinity mask decides
        ("garbage", AFFINITY),
        (None, AFFINITY),  # no cgroup v2 file at all
    ],
)
def test_usable_cpus_reads_the_cgroup_quota(
    tmp_path: Path, cpu_max: str | None, expected: float
) -> None:
    path = tmp_path / "cpu.max"
    if cpu_max is not None:
        path.write_text(cpu_max)
    assert usable_cpus(path) == expected


def test_a_quota_above_the_affinity_mask_is_capped_by_it(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("6400000 100000\n")  # 64 CPUs allowed
    assert usable_cpus(tmp_path / "cpu.max") == AFFINITY


@pytest.mark.parametrize(
    ("cpus", "configured", "expected"),
    [
        (1.0, None, sys.maxsize),  # one CPU: every batch on the event loop
        (0.5, None, sys.maxsize),
        (1.5, None, SMALL_BATCH_ROWS),  # spare CPU: large batches to the worker thread
        (8.0, None, SMALL_BATCH_ROWS),
        (1.0, 200, 200),  # MODEL_API_BATCH_INLINE_MAX_ROWS wins
        (8.0, 0, 0),
    ],
)
def test_the_registry_picks_the_inline_limit(
    monkeypatch: pytest.MonkeyPatch, cpus: float, configured: int | None, expected: int
) -> None:
    monkeypatch.setattr(registry_module, "usable_cpus", lambda: cpus)
    settings = Settings(batch_inline_max_rows=configured)
    assert ModelRegistry(settings).inline_max_rows == expected


@pytest.mark.parametrize(("inline_max_rows", "on_loop"), [(sys.maxsize, True), (64, False)])
def test_large_batches_run_where_the_limit_says(inline_max_rows: int, on_loop: bool) -> None:
    threads: list[int] = []

    def predict(matrix: np.ndarray) -> Prediction:
        threads.append(threading.get_ident())
        return Prediction(values=matrix[:, 0].astype(np.float64))

    async def scenario() -> int:
        batcher = MicroBatcher(
            predict, lambda *_: None, max_rows=4096, inline_max_rows=inline_max_rows
        )
        await batcher.predict(np.ones((1000, 3)))
        batcher.close()
        return threading.get_ident()

    loop_thread = asyncio.run(scenario())
    assert (threads == [loop_thread]) == on_loop
