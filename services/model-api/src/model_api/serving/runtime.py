"""The XGBoost side of serving: predictions, probabilities and SHAP contributions.

Inputs are float32 matrices in the model's feature order (categorical features as category
codes, missing values as NaN), so the hot path never builds a DataFrame or a DMatrix.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import xgboost as xgb

from model_api.serving.bundle import BundleMetadata
from model_api.serving.xgb_direct import DensePredictor, DirectPredictUnavailableError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Prediction:
    """Model output for a batch, one of:

    ``proba`` [N, K]: classifiers with probabilities; ``classes`` [N]: the class index of a
    classifier without probabilities (binary:hinge); ``values``: regression, [N] for one output,
    [N, T] for a multi-output regressor.
    """

    proba: np.ndarray | None = None
    values: np.ndarray | None = None
    classes: np.ndarray | None = None

    def __len__(self) -> int:
        for data in (self.proba, self.values, self.classes):
            if data is not None:
                return int(data.shape[0])
        return 0

    def slice(self, start: int, stop: int) -> Prediction:
        """Rows ``start:stop`` of this prediction (used to split a micro-batch)."""
        return Prediction(
            proba=None if self.proba is None else self.proba[start:stop],
            values=None if self.values is None else self.values[start:stop],
            classes=None if self.classes is None else self.classes[start:stop],
        )


@dataclass(frozen=True, slots=True)
class Contributions:
    """Per-feature SHAP contributions of the explained output and its base value, margin space."""

    values: np.ndarray  # [N, F]
    base_values: np.ndarray  # [N]
    explained_class: np.ndarray | None  # [N] class index explained, classifiers only
    explained_output: int | None = None  # the output explained, multi-output regressors only
    # Quantile models: per row, the output whose trees' margin is served as the explained
    # quantile (XGBoost sorts each row's quantiles, so where the trees' outputs cross it is
    # another alpha's).
    margin_output: np.ndarray | None = None


class ModelRuntime:
    """Wraps one Booster; safe to call from several threads (XGBoost prediction is thread-safe)."""

    def __init__(
        self, metadata: BundleMetadata, booster: xgb.Booster, threads: int = 1, direct: bool = True
    ) -> None:
        self.metadata = metadata
        self.booster = booster
        if threads:
            booster.set_param({"nthread": threads})
        self.objective = metadata.spec
        # multi:softmax predicts class indexes, binary:logitraw raw scores: take their margins
        # and compute the probabilities they were trained for.
        self._margin = self.objective.from_margin
        # Named outputs (several targets, or quantiles, even one) are served as [N, T].
        self._outputs = len(metadata.output_names)
        self._labels_only = not self.objective.probabilities  # binary:hinge
        # XGBoost sorts each row's quantile predictions, so the quantiles never cross.
        self._sorted_outputs = self.objective.name == "reg:quantileerror"
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
            values = self._raw(matrix).astype(np.float64)
            if self._outputs:
                return Prediction(values=values.reshape(matrix.shape[0], self._outputs))
            return Prediction(values=values.reshape(-1))
        if self._labels_only:  # binary:hinge: XGBoost's 0/1 is the class index
            return Prediction(classes=self._raw(matrix).reshape(-1).astype(np.int64))
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

    def contributions(
        self, matrix: np.ndarray, proba: np.ndarray | None, output: int | None = None
    ) -> Contributions:
        """SHAP contributions (XGBoost's ``pred_contribs``) for each row.

        Multiclass models explain each row's predicted class; binary models the positive class;
        multi-output regressors the output at index ``output`` (default: the primary one).
        """
        dmatrix = xgb.DMatrix(
            matrix,
            feature_names=self._feature_names,
            feature_types=self._feature_types,
            enable_categorical=True,
            missing=np.nan,
        )
        contribs = np.asarray(self.booster.predict(dmatrix, pred_contribs=True), dtype=np.float64)
        if contribs.ndim == 3 and self.metadata.task == "regression":  # [N, T, F + 1]
            index = self.metadata.primary_output if output is None else output
            if not self._sorted_outputs:
                picked = contribs[:, index]
                return Contributions(picked[:, :-1], picked[:, -1], None, index)
            # The served value is the index-th smallest margin: explain the trees that gave it.
            order = np.argsort(contribs.sum(axis=2), axis=1, kind="stable")[:, index]
            picked = contribs[np.arange(len(matrix)), order]
            return Contributions(picked[:, :-1], picked[:, -1], None, index, order)
        if contribs.ndim == 3:  # multiclass: [N, K, F + 1]
            chosen = np.argmax(proba, axis=1) if proba is not None else np.zeros(len(matrix), int)
            picked = contribs[np.arange(len(matrix)), chosen]
            return Contributions(picked[:, :-1], picked[:, -1], chosen)
        if self._outputs:  # one named output (a single quantile): its own trees explain it
            trees = np.zeros(len(matrix), dtype=np.intp) if self._sorted_outputs else None
            return Contributions(contribs[:, :-1], contribs[:, -1], None, 0, trees)
        explained = None if self.metadata.task == "regression" else np.ones(len(matrix), int)
        return Contributions(contribs[:, :-1], contribs[:, -1], explained)
