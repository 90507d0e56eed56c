"""Session fixtures: the example model repository and one shared real API server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import (
    BLOCK_NATIVE_CODECS,
    NATIVE_RECORDS_MODULE,
    ROOT,
    Server,
    block_native_codecs,
    start_api,
    use_native_records_module,
)

# The real PostgreSQL server's fixtures (postgres_server, fresh_postgres_url).
pytest_plugins = ["tests.postgres"]

# Both before any test module imports model_api.
if BLOCK_NATIVE_CODECS:
    block_native_codecs()
if NATIVE_RECORDS_MODULE:
    use_native_records_module(NATIVE_RECORDS_MODULE)


@pytest.fixture(scope="session")
def output_dir() -> Path:
    """Where tests leave artefacts worth looking at (screenshots, logs)."""
    path = ROOT / "test-output"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="session")
def example_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The penguin example models, trained once per session into a temporary repository."""
    from model_api.authoring.examples import build_examples

    repository = tmp_path_factory.mktemp("models")
    build_examples(repository)
    return repository


@pytest.fixture(scope="session")
def api_server(
    example_repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A real API process (uvicorn on a loopback port) serving the example models."""
    server = start_api(example_repository, tmp_path_factory.mktemp("logs"))
    yield server
    server.stop()
