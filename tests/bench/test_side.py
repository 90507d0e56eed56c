"""``python -m bench side`` (the log on and off at the same time) runs and reports what it
measured; its figures are not judged here (a shared machine is noisy)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.slow


def test_the_log_on_and_off_side_by_side(tmp_path: Path) -> None:
    command = [
        sys.executable, "-m", "bench", "side", "--duration", "1", "--warmup", "0", "--reps", "1",
        "--workloads", "bench/v1/1row/c4", "--log-on-patches", "log-keep",
        "--output-dir", str(tmp_path),
    ]  # fmt: skip
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=240, check=False
    )
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    document = json.loads((tmp_path / "side.json").read_text())
    assert document["log_on_patches"] == ["log-keep"]
    (rep,) = document["workloads"]["bench/v1/1row/c4"]["reps"]
    for side in ("log_off", "log_on"):
        assert rep[side]["requests"] > 0 and rep[side]["non_2xx"] == 0
        assert rep[side]["cpu_us_per_request"] > 0
    (ratio,) = document["workloads"]["bench/v1/1row/c4"]["ratios"]
    assert ratio == rep["log_off"]["cpu_us_per_request"] / rep["log_on"]["cpu_us_per_request"]
    assert "| bench/v1/1row/c4 |" in result.stdout
