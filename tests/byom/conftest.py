"""The zoo packaged the two ways docs/guides/own-models.md gives (``save_bundle`` and the CLI),
served by one API."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import xgboost as xgb

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
        from model_api.authoring import save_bundle

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
    command = [
        sys.executable, "-m", "model_api.cli", "bundle", "--model", str(model_file),
        "--sample", str(sample), "--name", case.name, "--output", str(folder),
    ]  # fmt: skip
    if "target" in trained.bundle_kwargs:
        command += ["--target", str(trained.bundle_kwargs["target"])]
    if not stores_categories(trained.booster):
        # Trained on bare codes: the user says which code means what, in code order.
        orders = {
            str(c): [str(v) for v in trained.train[c].cat.categories]
            for c in trained.train.columns
            if isinstance(trained.train[c].dtype, pd.CategoricalDtype)
        }
        if orders:
            orders_file = work / "categories.json"
            orders_file.write_text(json.dumps(orders))
            command += ["--categories-file", str(orders_file)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise PackagingRefusedError(done.stderr)


class PackagingRefusedError(Exception):
    """The CLI refused the model (its message is the exception's)."""


def stores_categories(booster: xgb.Booster) -> bool:
    """Whether the model file keeps its categorical features' categories (XGBoost 3.x does for
    a model trained on pandas ``category`` columns)."""
    stored = booster.get_categories(export_to_arrow=True).to_arrow()
    return any(values is not None for _, values in stored)


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
        try:
            package(case, trained, folder)
        except PackagingRefusedError as exc:
            raise AssertionError(f"{case.name}: {exc}") from None
        packaged[case.name] = Packaged(case, trained, folder)
    return packaged


@pytest.fixture(scope="session")
def zoo_api(zoo: dict[str, Packaged], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    repository = next(iter(zoo.values())).folder.parent.parent
    server = start_api(repository, tmp_path_factory.mktemp("byom-logs"))
    yield server
    server.stop()
