"""A real MLflow tracking server for the tests: MLflow 3.18 (the full package, which the API
never installs: it uses the lightweight client) in a virtual environment of its own, built with
uv under ``.cache/mlflow-server`` and reused while its spec is the same; started with a SQLite
backend and a local artifact folder on a free loopback port, stopped at the end."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT, Server, free_port, start_server

MLFLOW_VERSION = "3.18.0"
VENV = ROOT / ".cache" / "mlflow-server"
SPEC = {"mlflow": MLFLOW_VERSION, "python": f"{sys.version_info.major}.{sys.version_info.minor}"}


def _uv(*args: str) -> None:
    uv = shutil.which("uv")
    if uv is None:
        raise RuntimeError("uv is not installed: run scripts/setup.sh")
    done = subprocess.run([uv, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"uv {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


def mlflow_command() -> Path:
    """The ``mlflow`` command of the server's environment, built when missing or stale."""
    marker = VENV / "spec.json"
    command = VENV / "bin" / "mlflow"
    if command.exists() and marker.exists() and json.loads(marker.read_text()) == SPEC:
        return command
    _uv("venv", "--quiet", "--clear", "--python", sys.executable, str(VENV))
    _uv("pip", "install", "--quiet", "--python", str(VENV / "bin" / "python"),
        f"mlflow=={MLFLOW_VERSION}")  # fmt: skip
    marker.write_text(json.dumps(SPEC))
    return command


def start_mlflow(root: Path) -> Server:
    """An MLflow server keeping its runs and registry in ``root``/mlflow.db, its artifacts in
    ``root``/artifacts (served through the server, as ``mlflow-artifacts:``)."""
    port = free_port()
    root.mkdir(parents=True, exist_ok=True)
    return start_server(
        [str(mlflow_command()), "server",
         "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
         "--artifacts-destination", str(root / "artifacts"),
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        port,
        "/health",
        root / "mlflow.log",
        timeout=180,
        cwd=root,
    )  # fmt: skip
