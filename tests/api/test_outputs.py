"""The v1 response rows written straight as JSON are exactly what orjson makes of the dicts."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from model_api import outputs
from model_api.bundle import BundleMetadata, FeatureSpec
from model_api.outputs import prediction_rows, prediction_rows_json
from model_api.runtime import Prediction


def _metadata(task: str, labels: list[str] | None) -> BundleMetadata:
    return BundleMetadata(
        name="m",
        version="1",
        task=task,
        features=[FeatureSpec(name="x", type="numeric")],
        class_labels=labels,
        created_at=datetime.now(UTC),
        xgboost_version="3",
        model_file="model.ubj",
        model_sha256="0" * 64,
    )


def _same_as_dicts(metadata: BundleMetadata, prediction: Prediction) -> None:
    written = prediction_rows_json(metadata, prediction)
    assert written == orjson.dumps(prediction_rows(metadata, prediction))
    assert len(orjson.loads(written)) == len(prediction)


# Labels with quotes, backslashes, control characters and non-ASCII text must be escaped alike.
LABELS = st.text(min_size=0, max_size=6)
ROWS = st.integers(min_value=0, max_value=80)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), labels=st.lists(LABELS, min_size=2, max_size=5, unique=True), rows=ROWS)
def test_classifier_rows(data: st.DataObject, labels: list[str], rows: int) -> None:
    task = "binary" if len(labels) == 2 else "multiclass"
    proba = data.draw(
        hnp.arrays(np.float64, (rows, len(labels)), elements=st.floats(0.0, 1.0, width=64))
    )
    _same_as_dicts(_metadata(task, labels), Prediction(proba=proba))


@settings(max_examples=60, deadline=None)
@given(values=hnp.arrays(np.float64, st.integers(0, 80), elements=st.floats(width=64)))
def test_regression_rows_include_odd_floats(values: np.ndarray) -> None:
    # NaN and infinities become null, tiny and huge numbers keep their shortest form.
    _same_as_dicts(_metadata("regression", None), Prediction(values=values))


def test_many_rows_are_written_without_dicts(monkeypatch: pytest.MonkeyPatch) -> None:
    # Below MANY_ROWS the writer uses the dicts itself; from there on it must not.
    metadata = _metadata("binary", ["no", "yes"])
    prediction = Prediction(proba=np.random.default_rng(1).dirichlet([1, 1], size=1000))
    expected = orjson.dumps(prediction_rows(metadata, prediction))

    def no_dicts(*args: object) -> None:
        raise AssertionError("built the rows as dicts")

    monkeypatch.setattr(outputs, "prediction_rows", no_dicts)
    assert prediction_rows_json(metadata, prediction) == expected


def test_rows_of_a_non_contiguous_or_float32_prediction() -> None:
    proba = np.asfortranarray(np.random.default_rng(0).random((90, 3), dtype=np.float32))
    metadata = _metadata("multiclass", ["a", "b", "c"])
    # Python floats of the float32 values: the dict path's numbers, written the same way.
    expected = Prediction(proba=proba.astype(np.float64))
    assert prediction_rows_json(metadata, Prediction(proba=proba)) == orjson.dumps(
        prediction_rows(metadata, expected)
    )
