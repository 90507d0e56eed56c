"""The XGBoost side of serving: predictions, probabilities and SHAP contributions.

Inputs are float32 matrices in the model's feature order (categorical features as category
codes, missing values as NaN), so the hot path never builds a DataFrame or a DMatrix.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import numpy as np
import xgboost as xgb

from model_api.bundle import BundleMetadata
from model_api.xgb_direct import DensePredictor, DirectPredictUnavailableError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Prediction:
    """Model output for a batch: ``proba`` [N, K] for classifiers, ``values`` [N] for regression."""

    proba: np.ndarray | None = None
    values: np.ndarray | None = None

    def __len__(self) -> int:
        data = self.proba if self.proba is not None else self.values
        return 0 if data is None else int(data.shape[0])

    def slice(self, start: int, stop: int) -> Prediction:
        """Rows ``start:stop`` of this prediction (used to split a micro-batch)."""
        return Prediction(
            proba=None if self.proba is None else self.proba[start:stop],
            values=None if self.values is None else self.values[start:stop],
        )


@dataclass(frozen=True, slots=True)
class Contributions:
    """Per-feature SHAP contributions of the explained output and its base value, margin space."""

    values: np.ndarray  # [N, F]
    base_values: np.ndarray  # [N]
    explained_class: np.ndarray | None  # [N] class index explained, classifiers only


class ModelRuntime:
    """Wraps one Booster; safe to call from several threads (XGBoost prediction is thread-safe)."""

    def __init__(
        self, metadata: BundleMetadata, booster: xgb.Booster, threads: int = 1, direct: bool = True
    ) -> None:
        self.metadata = metadata
        self.booster = booster
        if threads:
            booster.set_param({"nthread": threads})
        objective = json.loads(booster.save_config())["learner"]["objective"]["name"]
        # These give labels, raw margins or hinge outputs: take margins and squash them ourselves.
        self._margin = objective in ("multi:softmax", "binary:logitraw", "binary:hinge")
        self._feature_names = [f.name for f in metadata.features]
        self._feature_types = [
            "c" if f.type == "categorical" else "float" for f in metadata.features
        ]
        self._direct = self._direct_predictor(direct)

    def _direct_predictor(self, wanted: bool) -> DensePredictor | None:
        if not wanted:
            return None
        try:
            return DensePredictor(self.booster, self._margin, len(self.metadata.features))
        except DirectPredictUnavailableError as exc:
            log.warning("using Booster.inplace_predict for %s: %s", self.metadata.name, exc)
            return None

    @property
    def direct(self) -> bool:
        """Whether predictions go through the direct C call (``xgb_direct``)."""
        return self._direct is not None

    def _raw(self, matrix: np.ndarray) -> np.ndarray:
        if self._direct is not None:
            return self._direct.predict(matrix)
        kind = "margin" if self._margin else "value"
        return np.asarray(
            self.booster.inplace_predict(matrix, predict_type=kind, validate_features=False)
        )

    def predict(self, matrix: np.ndarray) -> Prediction:
        """Predict a float32 [N, F] matrix."""
        task = self.metadata.task
        if task == "regression":
            return Prediction(values=self._raw(matrix).astype(np.float64).reshape(-1))
        if self._margin:
            margin = self._raw(matrix).astype(np.float64)
            if task == "binary":
                positive = 1.0 / (1.0 + np.exp(-margin.reshape(-1)))
                return Prediction(proba=np.column_stack((1.0 - positive, positive)))
            shifted = np.exp(margin - margin.max(axis=1, keepdims=True))
            return Prediction(proba=shifted / shifted.sum(axis=1, keepdims=True))
        output = self._raw(matrix)
        if task == "binary":
            positive = output.reshape(-1).astype(np.float64)
            return Prediction(proba=np.column_stack((1.0 - positive, positive)))
        return Prediction(proba=output.astype(np.float64).reshape(matrix.shape[0], -1))

    def contributions(self, matrix: np.ndarray, proba: np.ndarray | None) -> Contributions:
        """SHAP contributions (XGBoost's ``pred_contribs``) for each row.

        Multiclass models explain each row's predicted class; binary models the positive class.
        """
        dmatrix = xgb.DMatrix(
            matrix,
            feature_names=self._feature_names,
            feature_types=self._feature_types,
            enable_categorical=True,
            missing=np.nan,
        )
        contribs = np.asarray(self.booster.predict(dmatrix, pred_contribs=True), dtype=np.float64)
        if contribs.ndim == 3:  # multiclass: [N, K, F + 1]
            chosen = np.argmax(proba, axis=1) if proba is not None else np.zeros(len(matrix), int)
            picked = contribs[np.arange(len(matrix)), chosen]
            return Contributions(picked[:, :-1], picked[:, -1], chosen)
        explained = None if self.metadata.task == "regression" else np.ones(len(matrix), int)
        return Contributions(contribs[:, :-1], contribs[:, -1], explained)
