"""The peer: MLServer 1.7.1 + mlserver-xgboost serving the benchmark bundle's own model file.

The harness builds MLServer's virtual environment itself under ``bench/.work/mlserver-venv`` with
``uv venv`` + ``uv pip install`` on the machine's Python 3.12 (pyenv), never by hand:

* ``mlserver==1.7.1`` and ``mlserver-xgboost==1.7.1``;
* XGBoost pinned to the API's own version, as the CPU-only wheel ``xgboost-cpu`` (the same
  build the API uses). mlserver-xgboost 1.7.1 declares ``xgboost[scikit-learn]`` unpinned, which
  pulls the CUDA build plus ~400 MB of NCCL; its only calls (``XGBRegressor/XGBClassifier
  .load_model``, ``predict``) work unchanged on XGBoost 3.x, so it is installed ``--no-deps`` on
  top of ``xgboost-cpu`` + ``scikit-learn``;
* ``httptools``, so uvicorn parses HTTP with the same parser as the API (MLServer's own
  requirements bring uvloop but not httptools, and uvicorn would fall back to h11).

One MLServer process per variant, ``"parallel_workers": 0`` (with recent uvloop its worker pool
crashes at start), debug off (no access log, like the API), OMP_NUM_THREADS=1 like the API's one
XGBoost thread, pinned to the server CPU. Variants differ only in adaptive batching
(``max_batch_size`` / ``max_batch_time`` in ``model-settings.json``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from bench.procs import Server, free_port, start_server

MLSERVER_VERSION = "1.7.1"
VENV_SPEC_VERSION = 1


@dataclass(frozen=True)
class PeerVariant:
    """One MLServer configuration: adaptive batching off (size 0) or on."""

    name: str
    max_batch_size: int = 0
    max_batch_time: float = 0.0

    def describe(self) -> str:
        if self.max_batch_size <= 1:
            return "MLServer, adaptive batching off"
        return (
            f"MLServer, adaptive batching max_batch_size={self.max_batch_size}, "
            f"max_batch_time={self.max_batch_time * 1000:g} ms"
        )


VARIANTS = {
    "nobatch": PeerVariant("nobatch"),
    "batch": PeerVariant("batch", max_batch_size=32, max_batch_time=0.002),
}


def xgboost_version() -> str:
    """The API's XGBoost version (xgboost-cpu or xgboost distribution)."""
    for distribution in ("xgboost-cpu", "xgboost"):
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    import xgboost

    return str(xgboost.__version__)


def python312() -> str:
    """The machine's Python 3.12: the one under this venv when it is 3.12, else let uv find it."""
    base = Path(sys.base_prefix) / "bin" / "python3.12"
    if sys.version_info[:2] == (3, 12) and base.exists():
        return str(base)
    return "3.12"


def run_uv(*args: str) -> None:
    """``uv ARGS`` that never downloads an interpreter; its output in the error when it fails."""
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    result = subprocess.run(["uv", *args], env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"uv {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")


def ensure_venv(work: Path, log: Callable[[str], object] = print) -> Path:
    """MLServer's virtual environment, created or reused; returns its ``bin`` folder."""
    venv = work / "mlserver-venv"
    python = venv / "bin" / "python"
    xgb_version = xgboost_version()
    spec: dict[str, object] = {
        "spec": VENV_SPEC_VERSION,
        "mlserver": MLSERVER_VERSION,
        "xgboost-cpu": xgb_version,
        "python": python312(),
    }
    marker = venv / "bench-spec.json"
    if python.exists() and marker.exists() and json.loads(marker.read_text()) == spec:
        return venv / "bin"
    log(f"creating MLServer {MLSERVER_VERSION} environment in {venv} (uv venv + uv pip install)")
    run_uv("venv", "--quiet", "--clear", "--python", python312(), str(venv))
    run_uv(
        "pip",
        "install",
        "--quiet",
        "--python",
        str(python),
        f"mlserver=={MLSERVER_VERSION}",
        f"xgboost-cpu=={xgb_version}",
        "scikit-learn",
        "httptools",
    )
    run_uv(
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--python",
        str(python),
        f"mlserver-xgboost=={MLSERVER_VERSION}",
    )
    check = subprocess.run(
        [
            str(python),
            "-c",
            "import mlserver_xgboost, xgboost, httptools; print(xgboost.__version__)",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if check.returncode != 0:
        raise RuntimeError(f"MLServer environment is broken:\n{check.stderr}")
    marker.write_text(json.dumps(spec))
    return venv / "bin"


def write_config(
    work: Path, variant: PeerVariant, model_name: str, model_file: Path, port: int
) -> Path:
    """settings.json + <model>/model-settings.json pointing at the bundle's own model file."""
    folder = work / "mlserver" / variant.name
    model_dir = folder / model_name
    model_dir.mkdir(parents=True, exist_ok=True)
    settings = {
        "debug": False,
        "parallel_workers": 0,
        "host": "127.0.0.1",
        "http_port": port,
        "grpc_port": free_port(),
        "metrics_port": free_port(),
        "load_models_at_startup": True,
    }
    (folder / "settings.json").write_text(json.dumps(settings, indent=2))
    model_settings: dict[str, object] = {
        "name": model_name,
        "implementation": "mlserver_xgboost.XGBoostModel",
        "parameters": {"uri": str(model_file.resolve()), "version": "1"},
    }
    if variant.max_batch_size > 1:
        model_settings["max_batch_size"] = variant.max_batch_size
        model_settings["max_batch_time"] = variant.max_batch_time
    (model_dir / "model-settings.json").write_text(json.dumps(model_settings, indent=2))
    return folder


def start_peer(
    work: Path,
    bin_dir: Path,
    variant: PeerVariant,
    model_name: str,
    model_file: Path,
    log_dir: Path,
    pin: bool,
) -> Server:
    port = free_port()
    bin_dir = bin_dir.resolve()
    folder = write_config(work, variant, model_name, model_file, port).resolve()
    server = start_server(
        f"mlserver-{variant.name}",
        [str(bin_dir / "mlserver"), "start", str(folder)],
        port=port,
        log_dir=log_dir,
        ready_path=f"/v2/models/{model_name}/ready",
        env={"OMP_NUM_THREADS": "1", "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"},
        cwd=folder,
        pin=pin,
    )
    server.notes["variant"] = variant.describe()
    return server
