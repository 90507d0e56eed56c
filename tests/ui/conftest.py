"""UI test fixtures: the UI pointed at real API processes on loopback ports."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import Server, start_api
from tests.ui.helpers import API_KEY, MIXED_MODEL, VERSIONED_MODEL, small_classifier


@pytest.fixture
def ui_env(monkeypatch: pytest.MonkeyPatch, api_server: Server) -> Server:
    """Point the UI at the shared API (no key)."""
    monkeypatch.setenv("MODEL_UI_API_URL", api_server.url)
    monkeypatch.delenv("MODEL_UI_API_KEY", raising=False)
    monkeypatch.setenv("MODEL_UI_RETRY_BACKOFF_SECONDS", "0.05")
    return api_server


@pytest.fixture(scope="session")
def mixed_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A binary model with numeric, integer, boolean and categorical features."""
    import numpy as np
    import pandas as pd
    import xgboost as xgb
    from model_api.authoring import save_bundle

    rng = np.random.default_rng(3)
    n = 400
    frame = pd.DataFrame(
        {
            "size": rng.normal(10, 3, n).round(2),
            "count": rng.integers(0, 20, n),
            "flag": rng.random(n) > 0.5,
            "colour": pd.Categorical(rng.choice(["blue", "green", "red"], n)),
        }
    )
    target = ((frame["size"] > 10) ^ frame["flag"]).astype(int)
    model = xgb.XGBClassifier(n_estimators=20, max_depth=3, enable_categorical=True, n_jobs=1)
    model.fit(frame, target)
    repository = tmp_path_factory.mktemp("mixed-models")
    save_bundle(
        model,
        frame,
        repository / MIXED_MODEL / "1",
        name=MIXED_MODEL,
        class_labels=["no", "yes"],
        metrics={"accuracy": 0.9},
        feature_descriptions={"flag": "A yes/no switch", "count": "How many"},
    )
    return repository


@pytest.fixture(scope="session")
def classifiers_repository(
    example_repository: Path, mixed_repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """Two classifiers with different classes: penguin-species (3) and mixed-binary (no, yes)."""
    repository = tmp_path_factory.mktemp("classifiers")
    shutil.copytree(example_repository / "penguin-species", repository / "penguin-species")
    shutil.copytree(mixed_repository / MIXED_MODEL, repository / MIXED_MODEL)
    return repository


@pytest.fixture(scope="session")
def versioned_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One model in two versions whose descriptions differ."""
    from model_api.authoring import save_bundle

    repository = tmp_path_factory.mktemp("versioned")
    model, frame = small_classifier()
    for version in ("1", "2"):
        save_bundle(
            model,
            frame,
            repository / VERSIONED_MODEL / version,
            name=VERSIONED_MODEL,
            version=version,
            description=f"Version {version} of the model, trained on its own data.",
        )
    return repository


@pytest.fixture(scope="session")
def keyed_api(mixed_repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real API that needs an API key, serving the mixed-type binary model."""
    server = start_api(
        mixed_repository, tmp_path_factory.mktemp("keyed-logs"), MODEL_API_API_KEY=API_KEY
    )
    yield server
    server.stop()


@pytest.fixture
def capture_downloads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str | None, bytes]]:
    """Record the bytes of every file the app offers for download (file name, content)."""
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    captured: list[tuple[str | None, bytes]] = []
    original: Callable[..., str] = MemoryMediaFileStorage.load_and_get_id

    def spy(
        self: MemoryMediaFileStorage,
        data: Any,
        mimetype: str,
        kind: Any,
        filename: str | None = None,
    ) -> str:
        if isinstance(data, bytes):
            captured.append((filename, data))
        return original(self, data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", spy)
    return captured
