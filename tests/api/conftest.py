"""Fixtures for the API tests: tiny models trained in tmp_path, and their bundles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb


@pytest.fixture(scope="session")
def mixed_frame() -> pd.DataFrame:
    """A small frame with every feature type: numeric, integer, boolean, categorical."""
    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame(
        {
            "size": rng.normal(10, 3, n),
            "count": rng.integers(0, 20, n),
            "flag": rng.random(n) > 0.5,
            "colour": pd.Categorical(
                rng.choice(["red", "green", "blue"], n), categories=["blue", "green", "red"]
            ),
        }
    )
    frame.loc[::17, "size"] = np.nan
    return frame


@pytest.fixture(scope="session")
def binary_target(mixed_frame: pd.DataFrame) -> np.ndarray:
    score = (
        mixed_frame["size"].fillna(10)
        + mixed_frame["count"] * 0.3
        + (mixed_frame["colour"] == "red") * 4
    )
    return (score > 14).astype(int).to_numpy()


@pytest.fixture(scope="session")
def binary_classifier(mixed_frame: pd.DataFrame, binary_target: np.ndarray) -> xgb.XGBClassifier:
    model = xgb.XGBClassifier(
        n_estimators=15,
        max_depth=3,
        enable_categorical=True,
        tree_method="hist",
        n_jobs=1,
        random_state=0,
    )
    model.fit(mixed_frame, binary_target)
    return model


@pytest.fixture
def binary_bundle(
    tmp_path: Path, binary_classifier: xgb.XGBClassifier, mixed_frame: pd.DataFrame
) -> Path:
    from model_api.bundle import save_bundle

    folder = tmp_path / "repo" / "toy" / "1"
    save_bundle(binary_classifier, mixed_frame, folder, name="toy", class_labels=["no", "yes"])
    return folder
