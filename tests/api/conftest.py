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
    from model_api.authoring import save_bundle

    folder = tmp_path / "repo" / "toy" / "1"
    save_bundle(binary_classifier, mixed_frame, folder, name="toy", class_labels=["no", "yes"])
    return folder


# Feature names a DataFrame column can carry that are awkward elsewhere: a Python-private name,
# pydantic's reserved one, a JSON Schema keyword, spaces, a slash, a comma (quoted in CSV),
# accents, an emoji, digits only.
AWKWARD_FEATURES = {
    "_x": "numeric",
    "model_config": "integer",
    "with space": "boolean",
    "café/🐧": "categorical",
    "123": "numeric",
    "$ref": "integer",
    "a,b": "numeric",
}
# Categories that need quoting in CSV and escaping in JSON.
AWKWARD_CATEGORIES = ["a,b", 'say "hi"', "plain"]


def awkward_frame(names: list[str], rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    columns: dict[str, object] = {}
    for name in names:
        kind = AWKWARD_FEATURES.get(name, "numeric")
        if kind == "numeric":
            values = rng.normal(0, 10, rows)
            values[::11] = np.nan
            columns[name] = values
        elif kind == "integer":
            columns[name] = rng.integers(-5, 50, rows)
        elif kind == "boolean":
            columns[name] = rng.random(rows) > 0.5
        else:
            columns[name] = pd.Categorical(
                rng.choice(AWKWARD_CATEGORIES, rows), categories=AWKWARD_CATEGORIES
            )
    return pd.DataFrame(columns)


# Objectives whose answers have other columns: several outputs, or a label without probabilities.
QUANTILE_ALPHAS = [0.1, 0.5, 0.9]
OBJECTIVE_PARAMS = {
    "quantiles": {"objective": "reg:quantileerror", "quantile_alpha": QUANTILE_ALPHAS},
    "hinge": {"objective": "binary:hinge"},
}


def _train(frame: pd.DataFrame, objective: str, classes: int) -> xgb.XGBModel | xgb.Booster:
    rng = np.random.default_rng(len(frame.columns))
    options = {"n_estimators": 4, "max_depth": 2, "enable_categorical": True, "n_jobs": 1}
    if objective in OBJECTIVE_PARAMS:
        label = np.arange(len(frame)) % 2 if objective == "hinge" else rng.normal(size=len(frame))
        data = xgb.DMatrix(frame, label=label, enable_categorical=True)
        params = {**OBJECTIVE_PARAMS[objective], "max_depth": 2, "nthread": 1}
        return xgb.train(params, data, options["n_estimators"])
    if objective == "regression":
        model: xgb.XGBModel = xgb.XGBRegressor(tree_method="hist", **options)
        model.fit(frame, rng.normal(size=len(frame)))
    else:
        model = xgb.XGBClassifier(tree_method="hist", **options)
        model.fit(frame, np.arange(len(frame)) % classes)
    return model


@pytest.fixture(scope="session")
def awkward_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Models users bring: awkward feature and model names, every feature type, several
    versions with different features, names that differ only in case or punctuation, many
    features, several outputs (quantiles), no probabilities (binary:hinge)."""
    from model_api.authoring import save_bundle

    root = tmp_path_factory.mktemp("awkward")
    first = ["_x", "model_config", "with space", "café/🐧"]
    bundles = [
        ("Odd.Model_v-2", "1", first, "binary", 2),
        ("Odd.Model_v-2", "10", [*first, "123", "$ref", "a,b"], "binary", 2),
        ("my-model", "1", ["123", "$ref", "with space"], "regression", 0),
        ("My_Model", "1", ["_x", "a,b", "café/🐧"], "multiclass", 3),
        ("wide", "1", [f"f{i:02d}" for i in range(40)], "regression", 0),
        ("quantiles", "1", ["a,b", "_x", "café/🐧"], "quantiles", 0),
        ("hinge", "1", ["with space", "a,b", "model_config"], "hinge", 2),
    ]
    for name, version, features, task, classes in bundles:
        frame = awkward_frame(features, 120, seed=len(features))
        labels = [f"class {i}" for i in range(classes)] if classes else None
        save_bundle(
            _train(frame, task, classes),
            frame,
            root / name / version,
            name=name,
            version=version,
            class_labels=labels,
            description=f"An awkward {task} model.",
        )
    return root


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """The API's database settings, for modules that run on both: SQLite in a fresh folder, or
    a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return {"MODEL_API_DATA_DIR": str(tmp_path_factory.mktemp("data"))}
    url: str = request.getfixturevalue("fresh_postgres_url")
    return {"MODEL_API_DATABASE_URL": url}


@pytest.fixture(scope="module")
def penguins() -> pd.DataFrame:
    """The penguins table the examples are trained on (categories typed)."""
    from model_api.authoring.examples import load_penguins_frame

    return load_penguins_frame()
