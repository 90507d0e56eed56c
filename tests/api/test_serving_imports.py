"""``model-api serve`` never needs pandas: packaging and the examples do, serving does not.

The real command runs in its own process under ``python -X importtime``, which writes every
module the process imports, whenever it does, to stderr, with pandas hidden from it as the
serving image has none (where pandas is installed, scikit-learn and XGBoost import it when they
are imported). It starts, loads the example models, answers every kind of prediction and an
evaluation (scikit-learn's metrics, which the image has, work without pandas); then its log must
name no pandas, palmerpenguins or ``model_api.authoring`` module beyond the refused import.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import httpx
import orjson

from tests.support import ADELIE, api_environment, free_port, server_code, start_server

SERVE_WITHOUT_PANDAS = """
import sys

class NoPandas:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "pandas":
            raise ModuleNotFoundError(name)

sys.meta_path.insert(0, NoPandas())
from model_api.cli import main
sys.exit(main(["serve"]))
"""
IMPORTED = re.compile(r"^import time:.*\|\s+(?P<module>[\w.]+)\s*$", re.M)
AUTHORING_ONLY = ("pandas", "palmerpenguins", "model_api.authoring")
V2_INPUTS = [
    {"name": name, "shape": [1], "datatype": "BYTES", "data": [value]}
    for name, value in ADELIE.items()
]


def test_serving_never_imports_pandas(example_repository: Path, tmp_path: Path) -> None:
    port = free_port()
    env = api_environment(example_repository, port, tmp_path / "data")
    command = [sys.executable, "-X", "importtime", "-c", server_code(SERVE_WITHOUT_PANDAS)]
    server = start_server(command, port, "/readyz", tmp_path / "api.log", env=env)
    try:
        species = f"{server.url}/v1/models/penguin-species"
        answers = [
            httpx.post(f"{species}/predict", json={"instances": [ADELIE] * 20}),
            httpx.post(f"{species}/explain", json={"instances": [ADELIE]}),
            httpx.post(
                f"{species}/predict",
                content=b"bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,island,sex\n"
                b"39.1,18.7,181,3750,Torgersen,male\n",
                headers={"content-type": "text/csv"},
            ),
            httpx.post(
                f"{server.url}/v2/models/penguin-species/infer",
                content=orjson.dumps({"inputs": V2_INPUTS}),
            ),
            httpx.post(
                f"{species}/evaluate",
                content=b"bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,island,sex,"
                b"species\n39.1,18.7,181,3750,Torgersen,male,Adelie\n"
                b"50.0,15.2,218,5700,Biscoe,male,Gentoo\n",
                headers={"content-type": "text/csv"},
            ),
            httpx.get(f"{server.url}/openapi.json"),
        ]
        assert [a.status_code for a in answers] == [200] * len(answers), [a.text for a in answers]
    finally:
        server.stop()
    imported = set(IMPORTED.findall(server.log()))
    assert {"model_api.http.app", "xgboost", "numpy"} <= imported  # the log lists imports
    assert "sklearn.metrics" in imported  # the evaluation ran
    # (a refused import is listed too, by its name alone: a real one brings its submodules)
    assert sorted(m for m in imported if m.startswith(AUTHORING_ONLY)) in ([], ["pandas"])
