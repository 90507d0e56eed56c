"""The MLflow registry as a model source, against a real ``mlflow server`` (SQLite backend, local
artifacts) and the real API: ``log_bundle`` registers bundles (refusing one the server would),
the API serves the version an alias names and follows the alias when it moves (promotion,
rollback) with no failed request, keeps a bounded number of versions, and a refused version or
a registry that is down changes nothing but a report."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from model_api.authoring import log_bundle
from model_api.errors import BundleError

from tests.api.test_live_repository import ROW, SPECIES, Hammer, _eventually
from tests.mlflow_server import start_mlflow
from tests.support import Server, add_weak_species_version, start_api

REGISTERED = "penguins"


@pytest.fixture(scope="module")
def mlflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_mlflow(tmp_path_factory.mktemp("mlflow"))
    yield server
    server.stop()


@pytest.fixture
def weak_bundle(tmp_path: Path) -> Path:
    add_weak_species_version(tmp_path / "weak", "9")
    return tmp_path / "weak" / SPECIES / "9"


def _client(mlflow: Server) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=mlflow.url, registry_uri=mlflow.url)


def _answer(api: Server, version: str | None = None) -> dict[str, Any]:
    path = f"/versions/{version}" if version else ""
    answer = httpx.post(
        f"{api.url}/v1/models/{SPECIES}{path}/predict", json={"instances": [ROW]}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _failed(api: Server) -> dict[str, str]:
    failed: dict[str, str] = httpx.get(f"{api.url}/v1/models", timeout=10).json()["failed"]
    return failed


def test_log_bundle_registers_a_version_and_refuses_a_bundle_the_server_would(
    mlflow: Server, example_repository: Path, tmp_path: Path
) -> None:
    name = "log-bundle-test"
    version = log_bundle(
        example_repository / SPECIES / "1", name, alias="champion", tracking_uri=mlflow.url
    )
    client = _client(mlflow)
    assert client.get_model_version_by_alias(name, "champion").version == version
    broken = tmp_path / "broken"
    shutil.copytree(example_repository / SPECIES / "1", broken)
    (broken / "model.ubj").write_bytes(b"not a model")
    with pytest.raises(BundleError, match="hash mismatch"):
        log_bundle(broken, name, alias="champion", tracking_uri=mlflow.url)
    assert client.get_model_version_by_alias(name, "champion").version == version
    assert len(client.search_model_versions(f"name='{name}'")) == 1


def test_the_api_follows_an_mlflow_alias(
    mlflow: Server, example_repository: Path, weak_bundle: Path, tmp_path: Path
) -> None:
    client = _client(mlflow)
    first = log_bundle(
        example_repository / SPECIES / "1", REGISTERED, alias="production", tracking_uri=mlflow.url
    )
    repository = tmp_path / "models"
    repository.mkdir()  # empty: everything comes from MLflow
    api = start_api(
        repository,
        tmp_path / "logs",
        MODEL_API_MLFLOW_MODELS=json.dumps({SPECIES: f"models:/{REGISTERED}@production"}),
        MODEL_API_MLFLOW_TRACKING_URI=mlflow.url,
        MODEL_API_MLFLOW_POLL_SECONDS="0.3",
        MODEL_API_REPOSITORY_POLL_SECONDS="0.3",
        MODEL_API_MLFLOW_KEEP_VERSIONS="2",
    )
    try:
        # Served at start-up: the version the alias names, downloaded before loading.
        assert _answer(api)["version"] == first
        served = _answer(api)["predictions"][0]["probabilities"]

        with Hammer(api) as hammer:
            # A new version registered: nothing changes until the alias moves.
            second = log_bundle(weak_bundle, REGISTERED, tracking_uri=mlflow.url)
            client.set_registered_model_alias(REGISTERED, "production", second)
            _eventually(lambda: _answer(api)["version"] == second, "the alias followed")
            assert _answer(api)["predictions"][0]["probabilities"] != served
            assert _answer(api, "production")["version"] == second
            # Rolled back: the alias moves back, the version is still there.
            client.set_registered_model_alias(REGISTERED, "production", first)
            _eventually(lambda: _answer(api)["version"] == first, "the rollback followed")
            assert _answer(api)["predictions"][0]["probabilities"] == served
        assert hammer.failures == [], hammer.failures[:3]

        # A third version: the oldest one not named is taken out (two are kept).
        third = log_bundle(weak_bundle, REGISTERED, alias="production", tracking_uri=mlflow.url)
        _eventually(lambda: _answer(api)["version"] == third, "the third version served")
        kept = sorted(p.name for p in (repository / SPECIES).iterdir() if p.is_dir())
        assert first not in kept and {second, third} <= set(kept), kept

        # A version the server refuses, registered behind log_bundle's back: reported, and
        # the version serving keeps serving.
        broken = tmp_path / "broken"
        shutil.copytree(example_repository / SPECIES / "1", broken)
        (broken / "model.ubj").write_bytes(b"not a model")
        run = client.create_run("0")
        client.log_artifacts(run.info.run_id, str(broken), artifact_path="bundle")
        bad = client.create_model_version(
            REGISTERED, source=f"{run.info.artifact_uri}/bundle", run_id=run.info.run_id
        )
        client.set_registered_model_alias(REGISTERED, "production", bad.version)
        label = f"{SPECIES}@mlflow"
        message = _eventually(lambda: _failed(api).get(label), "the refused version reported")
        assert f"version {bad.version} is refused" in message and "hash mismatch" in message
        assert _answer(api)["version"] == third
        assert httpx.get(f"{api.url}/readyz", timeout=10).status_code == 200

        # The alias back on a good version clears it; then the registry goes down.
        client.set_registered_model_alias(REGISTERED, "production", third)
        _eventually(lambda: label not in _failed(api), "the report cleared")
        mlflow.stop()
        down = _eventually(lambda: _failed(api).get(label), "the registry down reported")
        assert "models:/penguins@production" in down
        assert _answer(api)["version"] == third  # serving on
        metrics = httpx.get(f"{api.url}/metrics", timeout=10).text
        assert f'model_api_mlflow_syncs_total{{model="{SPECIES}",outcome="failed"}}' in metrics
    finally:
        api.stop()
