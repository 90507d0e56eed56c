"""The Python environment the benchmarked servers run in: the API as its container image has it.

``uv sync --frozen --no-dev --no-editable --compile-bytecode --package model-api`` into
``<work>/api-venv``, as the Dockerfile does: the model-api and model-contract packages built from the working tree and
its locked dependencies, compiled to bytecode, without the development tools. Both matter for
start-up: with scikit-learn installed (a test dependency) ``import xgboost`` imports it too
(``xgboost.compat``), and without bytecode every start compiles every module again
(``PYTHONDONTWRITEBYTECODE`` is set on these machines); each costs about a second the image never
pays. The HTTP floor runs in the same environment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_python: str | None = None


def prepare(work: Path) -> str:
    """Create or update ``<work>/api-venv`` (a no-op when current); return its interpreter."""
    global _python
    uv = shutil.which("uv")
    if uv is None:
        raise RuntimeError("uv is missing: run `make setup` (scripts/setup.sh installs it)")
    venv = work / "api-venv"
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv)}
    env.pop("VIRTUAL_ENV", None)
    command = [
        *(uv, "sync", "--frozen", "--no-dev", "--no-editable", "--compile-bytecode", "--quiet"),
        *("--package", "model-api", "--reinstall-package", "model-api"),
        # The contract is a workspace package too: without this, a changed one is not rebuilt
        # (its version stays the same) and the API would import the stale copy.
        *("--reinstall-package", "model-contract"),
    ]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr}")
    _python = str(venv / "bin" / "python")
    return _python


def python() -> str:
    """The servers' interpreter: the prepared environment, else this one."""
    return _python or sys.executable
