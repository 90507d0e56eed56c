"""The zoo packaged the two ways the README gives (``save_bundle`` and the CLI), served by one API."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from tests.byom.zoo import CASES, Case, Trained
from tests.support import Server, start_api


@dataclass
class Packaged:
    case: Case
    trained: Trained
    folder: Path


def package(case: Case, trained: Trained, folder: Path) -> None:
    """Write the bundle of ``case`` the way its user would."""
    if case.packaging == "save_bundle":
        from model_api.bundle import save_bundle

        save_bundle(
            trained.booster,
            trained.train,
            folder,
            name=case.name,
            target_sample=trained.target_sample,
            **trained.bundle_kwargs,
        )
        return
    # The CLI: the model file and a sample CSV, as a user exports them from a notebook.
    work = folder.parent.parent / f".{case.name}-files"
    work.mkdir(parents=True)
    model_file = work / "model.json"
    trained.booster.save_model(model_file)
    sample = work / "sample.csv"
    trained.train.to_csv(sample, index=False)
    categorical = [
        c for c in trained.train.columns if isinstance(trained.train[c].dtype, pd.CategoricalDtype)
    ]
    command = [
        sys.executable, "-m", "model_api.cli", "bundle", "--model", str(model_file),
        "--sample", str(sample), "--name", case.name, "--output", str(folder),
        "--target", str(trained.bundle_kwargs["target"]), "--categorical", *categorical,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="session")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Packaged]:
    """Every servable case trained and packaged into one repository."""
    repository = tmp_path_factory.mktemp("byom") / "models"
    packaged = {}
    for case in CASES:
        if case.refused:
            continue
        trained = case.build()
        folder = repository / case.name / "1"
        package(case, trained, folder)
        packaged[case.name] = Packaged(case, trained, folder)
    return packaged


@pytest.fixture(scope="session")
def zoo_api(zoo: dict[str, Packaged], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    repository = next(iter(zoo.values())).folder.parent.parent
    server = start_api(repository, tmp_path_factory.mktemp("byom-logs"))
    yield server
    server.stop()
