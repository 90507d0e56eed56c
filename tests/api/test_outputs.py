"""The v1 response rows written straight as JSON are exactly what orjson makes of the dicts."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from model_api.codecs import rows as outputs
from model_api.codecs.rows import prediction_rows, prediction_rows_json
from model_api.serving.bundle import BundleMetadata, FeatureSpec, OutputSpec
from model_api.serving.runtime import Prediction


def _metadata(
    task: str,
    labels: list[str] | None,
    outputs: list[str] | None = None,
    objective: str | None = None,
) -> BundleMetadata:
    return BundleMetadata(
        name="m",
        version="1",
        task=task,
        objective=objective,
        features=[FeatureSpec(name="x", type="numeric")],
        class_labels=labels,
        outputs=[OutputSpec(name=n) for n in outputs] if outputs else None,
        created_at=datetime.now(UTC),
        xgboost_version="3",
        model_file="model.ubj",
        model_sha256="0" * 64,
    )


# A prediction log token: with one, every row's first key is its id, "<token>-<row>".
TOKEN = "3f9a0c1be27d44a1c9e0"


def _same_as_dicts(metadata: BundleMetadata, prediction: Prediction) -> None:
    written = prediction_rows_json(metadata, prediction)
    assert written == orjson.dumps(prediction_rows(metadata, prediction))
    assert len(orjson.loads(written)) == len(prediction)
    with_ids = prediction_rows_json(metadata, prediction, TOKEN)
    assert with_ids == orjson.dumps(prediction_rows(metadata, prediction, TOKEN))
    rows = orjson.loads(with_ids)
    assert [next(iter(row)) for row in rows] == ["id"] * len(prediction)
    assert [row.pop("id") for row in rows] == [f"{TOKEN}-{i}" for i in range(len(prediction))]
    assert rows == orjson.loads(written)


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


@settings(max_examples=60, deadline=None)
@given(data=st.data(), names=st.lists(LABELS.filter(bool), min_size=2, max_size=4, unique=True))
def test_multi_output_rows_name_every_output(data: st.DataObject, names: list[str]) -> None:
    values = data.draw(
        hnp.arrays(np.float64, (data.draw(ROWS), len(names)), elements=st.floats(width=64))
    )
    metadata = _metadata("regression", None, outputs=names)
    _same_as_dicts(metadata, Prediction(values=values))
    rows = orjson.loads(prediction_rows_json(metadata, Prediction(values=values)))
    assert all(list(row) == ["values"] and list(row["values"]) == names for row in rows)


@settings(max_examples=40, deadline=None)
@given(labels=st.lists(LABELS, min_size=2, max_size=2, unique=True), rows=ROWS, seed=st.integers())
def test_label_only_rows_have_no_probabilities(labels: list[str], rows: int, seed: int) -> None:
    classes = np.random.default_rng(seed % 2**32).integers(0, 2, rows)
    metadata = _metadata("binary", labels, objective="binary:hinge")
    _same_as_dicts(metadata, Prediction(classes=classes))
    written = orjson.loads(prediction_rows_json(metadata, Prediction(classes=classes)))
    assert written == [{"label": labels[c]} for c in classes.tolist()]


def test_many_rows_are_written_without_dicts(monkeypatch: pytest.MonkeyPatch) -> None:
    # Below MANY_ROWS the writer uses the dicts itself; from there on it must not.
    metadata = _metadata("binary", ["no", "yes"])
    prediction = Prediction(proba=np.random.default_rng(1).dirichlet([1, 1], size=1000))
    expected = orjson.dumps(prediction_rows(metadata, prediction))

    def no_dicts(*args: object) -> None:
        raise AssertionError("built the rows as dicts")

    expected_with_ids = orjson.dumps(prediction_rows(metadata, prediction, TOKEN))
    monkeypatch.setattr(outputs, "prediction_rows", no_dicts)
    monkeypatch.setattr(outputs, "_prediction_rows", no_dicts)
    assert prediction_rows_json(metadata, prediction) == expected
    assert prediction_rows_json(metadata, prediction, TOKEN) == expected_with_ids


def test_rows_of_a_non_contiguous_or_float32_prediction() -> None:
    proba = np.asfortranarray(np.random.default_rng(0).random((90, 3), dtype=np.float32))
    metadata = _metadata("multiclass", ["a", "b", "c"])
    # Python floats of the float32 values: the dict path's numbers, written the same way.
    expected = Prediction(proba=proba.astype(np.float64))
    assert prediction_rows_json(metadata, Prediction(proba=proba)) == orjson.dumps(
        prediction_rows(metadata, expected)
    )


def _written_like_orjson(numbers: list[float]) -> None:
    """The row writer gives byte for byte what orjson gives for the same rows as dicts."""
    values = np.array(numbers, dtype=np.float64).reshape(-1, 1)
    written = outputs._rows_json(values, [b'{"v":'], [b"}"])
    assert written == orjson.dumps([{"v": v} for v in values[:, 0].tolist()])


@settings(max_examples=500, deadline=None)
@given(st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=20))
def test_any_double_is_written_as_orjson_writes_it(bit_patterns: list[int]) -> None:
    # Uniform over bit patterns: every exponent, subnormals, NaNs with payloads, infinities.
    _written_like_orjson(np.array(bit_patterns, dtype=np.uint64).view(np.float64).tolist())


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(), min_size=1, max_size=20))
def test_any_float_is_written_as_orjson_writes_it(numbers: list[float]) -> None:
    _written_like_orjson(numbers)


def test_notation_boundaries_are_written_as_orjson_writes_them() -> None:
    # orjson switches between 0.00001 / 1e-6 and 1000000000000000.0 / 1e+16; check both sides of
    # every power of ten, and a few classics.
    powers = [10.0**k for k in range(-323, 309)]
    numbers = [*powers, *np.nextafter(powers, 0).tolist(), *np.nextafter(powers, np.inf).tolist()]
    numbers += [0.0, -0.0, 5e-324, 1.7976931348623157e308, 0.1, 0.30000000000000004, 1 / 3]
    numbers += [-x for x in numbers] + [float("nan"), float("inf"), float("-inf")]
    _written_like_orjson(numbers)


def test_each_row_starts_with_its_chosen_piece() -> None:
    values = np.zeros((3, 2))
    chosen = outputs._rows_json(values, [b"{", b"["], [b",", b"}"], np.array([1, 0, 1]))
    assert chosen == b"[[0.0,0.0},{0.0,0.0},[0.0,0.0}]"
    assert outputs._rows_json(values, [b"<"], [b",", b">"]) == b"[<0.0,0.0>,<0.0,0.0>,<0.0,0.0>]"
    assert outputs._rows_json(np.zeros((0, 2)), [b"{"], [b",", b"}"]) == b"[]"


def test_row_ids_past_the_kept_numbers_and_after_a_larger_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Row numbers come from a cache that grows with the largest answer, up to a bound; answers
    # past it make their own. Every path must number the rows alike.
    monkeypatch.setattr(outputs, "ROW_NUMBERS_KEPT", 1_500)
    monkeypatch.setattr(outputs, "_ROW_NUMBERS", [])
    metadata = _metadata("binary", ["no", "yes"])
    hinge = _metadata("binary", ["no", "yes"], objective="binary:hinge")
    rng = np.random.default_rng(7)
    for rows in (20, 1_200, 40, 1_499, 1_500, 1_501, 3_000, 30):
        _same_as_dicts(metadata, Prediction(proba=rng.dirichlet([1, 1], size=rows)))
        _same_as_dicts(hinge, Prediction(classes=rng.integers(0, 2, rows)))
