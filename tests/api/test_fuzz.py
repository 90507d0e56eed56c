"""Schemathesis, with every one of its checks, against live servers: the document is the contract.

Every operation of ``/openapi.json`` (v1, V2, CSV, health, each model's typed operations) is
called with generated data in every phase (the document's examples, boundary values, fuzzing,
sequences through the links it infers, e.g. a model name from ``GET /v1/models``). Valid data must
be accepted, invalid data refused, and every answer must match the documented statuses, content
types, headers and schemas; with an API key, a request without it must be refused.

Every check runs on every operation. Two things a document cannot state are arranged here, in
the config and the hooks module. A V2 input's ``shape`` counts the values in its ``data`` and
all inputs share one row count: JSON Schema cannot tie them, so ``schemathesis_hooks`` makes the
inputs of a case generated as valid agree (each keeps the first N of its values); cases
generated as invalid go as generated. And a model's typed predict and evaluate are sent with
``?delimiter=,``: its CSV body's pattern is written with commas, and a document cannot tie a
body to a query parameter (the same header sent with ``?delimiter=;`` is one column, and
refused).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import Server, running_api

ROOT = Path(__file__).resolve().parents[2]
KEY = "fuzz-key-0123456789abcdef"
EXAMPLES_PER_OPERATION = 10
RUN_TIMEOUT_SECONDS = 240
CONFIG = f"""
seed = 1
workers = 1
request-timeout = 30

[generation]
max-examples = {EXAMPLES_PER_OPERATION}
database = "none"

# Every check, here rather than on the command line, where it would override the one below.
[checks]
enabled = true

# A model's typed CSV bodies are written with commas: sent with the comma delimiter.
[[operations]]
include-path-regex = "^/v1/models/[^{{}}]+/(predict|evaluate|compare)$"
parameters = {{ "query.delimiter" = "," }}
"""


def schemathesis(server: Server, workdir: Path, *headers: str) -> tuple[str, dict[str, int]]:
    """Run ``schemathesis run --checks all`` against ``server``; return its output and counts."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "schemathesis.toml"
    config.write_text(CONFIG)
    command = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run"]
    command += [f"{server.url}/openapi.json", "--no-color"]
    for header in headers:
        command += ["--header", header]
    # The hooks module makes V2 inputs generated as valid agree on their row count.
    environment = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.api.schemathesis_hooks"}
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])
    )
    done = subprocess.run(
        command,
        env=environment,
        cwd=workdir,  # its cache folder goes there, not into the repository
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-20_000:]
    generated = re.search(r"(\d+) generated", output)
    operations = re.search(r"Tested: (\d+)", output)
    assert generated and operations, output[-5_000:]
    return output, {"cases": int(generated[1]), "operations": int(operations[1])}


def record(output_dir: Path, run: str, counts: dict[str, int]) -> None:
    path = output_dir / "schemathesis-cases.json"
    recorded = json.loads(path.read_text()) if path.exists() else {}
    recorded[run] = counts
    path.write_text(json.dumps(recorded, indent=2))
    print(f"\nschemathesis {run}: {counts}")


@pytest.fixture(scope="module")
def keyed_awkward_server(
    awkward_repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    with running_api(
        awkward_repository, tmp_path_factory.mktemp("fuzz-keyed"), MODEL_API_API_KEY=KEY
    ) as server:
        yield server


def test_examples_conform_to_their_document(
    api_server: Server, tmp_path: Path, output_dir: Path
) -> None:
    _, counts = schemathesis(api_server, tmp_path)
    assert counts["operations"] >= 20
    record(output_dir, "examples", counts)


def test_user_models_conform_to_their_document(
    awkward_repository: Path, tmp_path: Path, output_dir: Path
) -> None:
    with running_api(awkward_repository, tmp_path / "logs") as server:
        _, counts = schemathesis(server, tmp_path / "run")
    # Per model version a typed predict and explain, plus the newest version's unversioned pair.
    assert counts["operations"] >= 30
    record(output_dir, "user-models", counts)


def test_user_models_with_an_api_key_conform_to_their_document(
    keyed_awkward_server: Server, tmp_path: Path, output_dir: Path
) -> None:
    _, counts = schemathesis(keyed_awkward_server, tmp_path, f"X-API-Key: {KEY}")
    assert counts["operations"] >= 30  # the key brought the models' operations
    record(output_dir, "user-models-keyed", counts)


def test_the_public_document_conforms_without_the_key(
    keyed_awkward_server: Server, tmp_path: Path, output_dir: Path
) -> None:
    _, counts = schemathesis(keyed_awkward_server, tmp_path)
    # No model details without the key: the generic operations only, none of a model's own.
    document = httpx.get(f"{keyed_awkward_server.url}/openapi.json", timeout=30).json()
    tags = {t for item in document["paths"].values() for op in item.values() for t in op["tags"]}
    assert not [t for t in tags if t.startswith("model: ")], tags
    assert counts["operations"] < 40
    record(output_dir, "public", counts)
