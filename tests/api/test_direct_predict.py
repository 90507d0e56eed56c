"""The direct C predict (``model_api.serving.xgb_direct``) gives XGBoost's own answers, bit for bit.

It relies on XGBoost's C API and on how the Python package loads it, so these tests are pinned to
the installed XGBoost: when an upgrade changes either, ``test_installed_xgboost_takes_the_direct_path``
fails here instead of the API quietly falling back to the slower wrapper.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb
from model_api.serving.bundle import load_bundle
from model_api.serving.runtime import ModelRuntime
from model_api.serving.xgb_direct import DensePredictor, DirectPredictUnavailableError

OBJECTIVES = {
    "binary:logistic": {},
    "binary:logitraw": {},
    "multi:softprob": {"num_class": 3},
    "multi:softmax": {"num_class": 3},
    "reg:squarederror": {},
    "count:poisson": {},
}


def _numeric_booster(objective: str) -> xgb.Booster:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 6)).astype(np.float32)
    x[::7, 2] = np.nan
    extra = OBJECTIVES[objective]
    if "num_class" in extra:
        y = np.digitize(x[:, 0] + x[:, 1], [-0.5, 0.5]).astype(np.float32)
    elif objective.startswith("binary"):
        y = (x[:, 0] - x[:, 3] > 0).astype(np.float32)
    else:
        y = np.abs(x[:, 0] * 3 + x[:, 4])
    params = {"objective": objective, "max_depth": 4, "nthread": 1, "seed": 0, **extra}
    return xgb.train(params, xgb.DMatrix(x, label=y), num_boost_round=20)


def _rows(count: int, features: int, seed: int) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(count, features)).astype(np.float32)
    rows[::3, 1] = np.nan
    return rows


@pytest.mark.parametrize("objective", sorted(OBJECTIVES))
@pytest.mark.parametrize("margin", [False, True])
def test_same_output_as_inplace_predict(objective: str, margin: bool) -> None:
    booster = _numeric_booster(objective)
    direct = DensePredictor(booster, margin=margin, features=6)
    kind = "margin" if margin else "value"
    for count in (1, 2, 63, 64, 65, 1000):
        rows = _rows(count, 6, count)
        expected = booster.inplace_predict(rows, predict_type=kind)
        got = direct.predict(rows)
        assert got.shape == expected.shape
        np.testing.assert_array_equal(got, expected)
        # Any other layout or dtype is brought to float32 C order first, never read as-is.
        np.testing.assert_array_equal(direct.predict(np.asfortranarray(rows, np.float64)), expected)


def test_categorical_bundle_matches_inplace_predict(binary_bundle: Path) -> None:
    metadata, booster = load_bundle(binary_bundle)
    direct = DensePredictor(booster, margin=False, features=len(metadata.features))
    codes = np.random.default_rng(3).integers(0, 3, size=(200, 4)).astype(np.float32)
    codes[:, 0] = np.random.default_rng(4).normal(10, 3, size=200)
    np.testing.assert_array_equal(direct.predict(codes), booster.inplace_predict(codes))


def test_output_is_a_copy_that_later_calls_do_not_touch() -> None:
    booster = _numeric_booster("binary:logistic")
    direct = DensePredictor(booster, margin=False, features=6)
    first_rows = _rows(50, 6, 10)
    first = direct.predict(first_rows)
    kept = first.copy()
    direct.predict(_rows(50, 6, 11))
    np.testing.assert_array_equal(first, kept)


def test_threads_each_get_their_own_answers() -> None:
    booster = _numeric_booster("multi:softprob")
    direct = DensePredictor(booster, margin=False, features=6)
    inputs = [_rows(1 + 37 * i, 6, 100 + i) for i in range(8)]
    expected = [booster.inplace_predict(rows) for rows in inputs]
    wrong: list[int] = []

    def work(index: int) -> None:
        for _ in range(50):
            if not np.array_equal(direct.predict(inputs[index]), expected[index], equal_nan=True):
                wrong.append(index)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(inputs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []


def test_installed_xgboost_takes_the_direct_path(binary_bundle: Path) -> None:
    metadata, booster = load_bundle(binary_bundle)
    assert ModelRuntime(metadata, booster).direct, (
        f"XGBoost {xgb.__version__}: the direct C predict no longer matches inplace_predict; "
        "see model_api/serving/xgb_direct.py"
    )
    assert not ModelRuntime(metadata, booster, direct=False).direct


def test_runtime_predictions_agree_with_and_without_the_direct_path(binary_bundle: Path) -> None:
    metadata, booster = load_bundle(binary_bundle)
    rows = np.random.default_rng(5).integers(0, 3, size=(30, 4)).astype(np.float32)
    fast = ModelRuntime(metadata, booster).predict(rows)
    wrapped = ModelRuntime(metadata, booster, direct=False).predict(rows)
    assert fast.proba is not None and wrapped.proba is not None
    np.testing.assert_array_equal(fast.proba, wrapped.proba)


def test_a_wrong_feature_count_is_refused_at_build_time() -> None:
    booster = _numeric_booster("binary:logistic")
    with pytest.raises(DirectPredictUnavailableError):
        DensePredictor(booster, margin=False, features=9)
