"""Example models trained in seconds, deterministically, from the Palmer penguins data.

The data ships inside the ``palmerpenguins`` package, so nothing is downloaded at run time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb

from model_api.authoring.bundles import save_bundle

SEED = 7
CATEGORICAL = ["island", "sex"]
DESCRIPTIONS = {
    "bill_length_mm": "Bill (culmen) length in millimetres",
    "bill_depth_mm": "Bill (culmen) depth in millimetres",
    "flipper_length_mm": "Flipper length in millimetres",
    "body_mass_g": "Body mass in grams",
    "island": "Island in the Palmer Archipelago where the penguin was observed",
    "sex": "Sex of the penguin",
    "species": "Penguin species",
}
SPECIES_MODEL = "penguin-species"
MASS_MODEL = "penguin-mass"


def load_penguins_frame() -> pd.DataFrame:
    """The penguins table with categorical columns typed as pandas categories."""
    from palmerpenguins import load_penguins

    frame = load_penguins().dropna(subset=["species", "body_mass_g"]).reset_index(drop=True)
    for column in [*CATEGORICAL, "species"]:
        frame[column] = frame[column].astype("category")
    frame["flipper_length_mm"] = frame["flipper_length_mm"].astype("float64")
    frame["body_mass_g"] = frame["body_mass_g"].astype("float64")
    return frame


def _split(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(SEED).permutation(len(frame))
    cut = int(len(frame) * 0.8)
    return order[:cut], order[cut:]


def train_species(frame: pd.DataFrame, folder: Path) -> None:
    features = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", *CATEGORICAL]
    train, test = _split(frame)
    x, y = frame[features], frame["species"].cat.codes
    # The native API (not the sklearn wrappers) keeps scikit-learn out of the serving image.
    params = {"objective": "multi:softprob", "num_class": 3, "max_depth": 3, "eta": 0.2,
              "tree_method": "hist", "nthread": 1, "seed": SEED}  # fmt: skip
    dtrain = xgb.DMatrix(x.iloc[train], label=y.iloc[train], enable_categorical=True)
    model = xgb.train(params, dtrain, num_boost_round=60)
    proba = model.predict(xgb.DMatrix(x.iloc[test], enable_categorical=True))
    accuracy = float((proba.argmax(axis=1) == y.iloc[test].to_numpy()).mean())
    log_loss = float(-np.mean(np.log(np.clip(proba[np.arange(len(test)), y.iloc[test]], 1e-15, 1))))
    save_bundle(
        model,
        x,
        folder,
        name=SPECIES_MODEL,
        version="1",
        target="species",
        class_labels=[str(c) for c in frame["species"].cat.categories],
        metrics={"accuracy": accuracy, "log_loss": log_loss, "test_rows": len(test)},
        description="Predicts a penguin's species (Adelie, Chinstrap, Gentoo) from its measurements.",
        feature_descriptions=DESCRIPTIONS,
    )


def train_mass(frame: pd.DataFrame, folder: Path) -> None:
    features = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "species", *CATEGORICAL]
    train, test = _split(frame)
    x, y = frame[features], frame["body_mass_g"]
    params = {"objective": "reg:squarederror", "max_depth": 3, "eta": 0.15,
              "tree_method": "hist", "nthread": 1, "seed": SEED}  # fmt: skip
    dtrain = xgb.DMatrix(x.iloc[train], label=y.iloc[train], enable_categorical=True)
    model = xgb.train(params, dtrain, num_boost_round=80)
    predicted = model.predict(xgb.DMatrix(x.iloc[test], enable_categorical=True))
    truth = y.iloc[test].to_numpy()
    rmse = float(np.sqrt(np.mean((predicted - truth) ** 2)))
    r2 = float(1 - np.sum((predicted - truth) ** 2) / np.sum((truth - truth.mean()) ** 2))
    save_bundle(
        model,
        x,
        folder,
        name=MASS_MODEL,
        version="1",
        target="body_mass_g",
        metrics={"rmse_g": rmse, "r2": r2, "test_rows": len(test)},
        description="Estimates a penguin's body mass in grams from its species and measurements.",
        feature_descriptions=DESCRIPTIONS,
        target_sample=y,
    )


def build_examples(repository: Path, force: bool = False) -> list[Path]:
    """Train both example models into ``repository`` unless they are already there."""
    frame = None
    built = []
    for name, train in ((SPECIES_MODEL, train_species), (MASS_MODEL, train_mass)):
        folder = repository / name / "1"
        if (folder / "metadata.json").exists() and not force:
            continue
        frame = load_penguins_frame() if frame is None else frame
        train(frame, folder)
        built.append(folder)
    return built
