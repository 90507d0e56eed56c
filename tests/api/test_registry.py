"""The model repository: versioned and unversioned folders, the newest version answers by default."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from model_api.errors import ModelNotFoundError
from model_api.serving.registry import ModelRegistry, version_key
from model_api.settings import Settings


def test_versions_sort_numerically() -> None:
    assert sorted(["10", "2", "1.10", "1.9"], key=version_key) == ["1.9", "1.10", "2", "10"]


def test_newest_version_is_the_default(binary_bundle: Path, tmp_path: Path) -> None:
    repository = tmp_path / "models"
    for version in ("2", "10", "9"):
        shutil.copytree(binary_bundle, repository / "toy" / version)
    shutil.copytree(binary_bundle, repository / "flat")  # a bundle straight in <name>/
    registry = ModelRegistry(Settings(model_repository=repository))
    registry.load_all()
    assert registry.ready
    assert registry.versions("toy") == ["10", "9", "2"]
    assert registry.get("toy").version == "10"
    assert registry.get("toy", "2").version == "2"
    assert registry.get("flat").version == "1"  # from metadata.json
    with pytest.raises(ModelNotFoundError, match="available versions: 10, 9, 2"):
        registry.get("toy", "3")
