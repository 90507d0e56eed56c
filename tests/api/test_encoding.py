"""Input conversion: fast paths give the right matrix, slow paths name every wrong field."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from model_api.codecs.features import FeatureEncoder
from model_api.errors import InvalidInputError
from model_api.serving.bundle import BundleMetadata, FeatureSpec, load_bundle

ROW = {"size": 9.5, "count": 3, "flag": True, "colour": "red"}


@pytest.fixture
def encoder(binary_bundle: Path) -> FeatureEncoder:
    return FeatureEncoder(load_bundle(binary_bundle)[0])


def test_records_become_the_model_matrix(encoder: FeatureEncoder) -> None:
    rows = [ROW, {"size": None, "count": 4.0, "flag": False, "colour": "blue"}]
    matrix = encoder.from_records(rows)
    assert matrix.dtype == np.float32
    np.testing.assert_array_equal(matrix[0], [9.5, 3, 1, 2])
    assert math.isnan(matrix[1, 0])
    np.testing.assert_array_equal(matrix[1, 1:], [4, 0, 0])


@pytest.mark.parametrize(
    ("change", "loc", "message"),
    [
        ({"size": "big"}, ["instances", 0, "size"], "expected a number (training range"),
        ({"size": True}, ["instances", 0, "size"], "got bool"),
        ({"size": 1e300}, ["instances", 0, "size"], "number out of range"),
        ({"count": 2.5}, ["instances", 0, "count"], "expected an integer"),
        ({"flag": "yes"}, ["instances", 0, "flag"], "expected a boolean"),
        (
            {"colour": "purple"},
            ["instances", 0, "colour"],
            "unknown category 'purple'; expected one of blue, green, red",
        ),
        ({"colour": 2}, ["instances", 0, "colour"], "expected a string, one of blue, green, red"),
        ({"colour": [1]}, ["instances", 0, "colour"], "expected a string"),
        ({"size": [1, 2]}, ["instances", 0, "size"], "got list"),
    ],
)
def test_wrong_values_are_named(
    encoder: FeatureEncoder, change: dict[str, object], loc: list[object], message: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        encoder.from_records([{**ROW, **change}])
    assert caught.value.details[0]["loc"] == loc
    assert message in caught.value.details[0]["msg"]


@pytest.mark.parametrize("wrong", [True, "9.5"])
def test_a_wrong_type_among_numbers_is_named_not_converted(
    encoder: FeatureEncoder, wrong: object
) -> None:
    # numpy alone would turn [9.5, True] into [9.5, 1.0] and ["9.5"] into 9.5
    rows = [ROW, {**ROW, "size": wrong}, {**ROW, "count": None}]
    with pytest.raises(InvalidInputError) as caught:
        encoder.from_records(rows)
    assert caught.value.details[0]["loc"] == ["instances", 1, "size"]


def test_bytes_columns_read_text_but_refuse_a_bool_for_a_number(encoder: FeatureEncoder) -> None:
    """V2 BYTES columns: "9.5" is a decimal number as CSV writes it; true is not a number."""
    columns = {"size": [9.5, "9.5"], "count": [1, 2], "flag": [True, False], "colour": ["red"] * 2}
    assert encoder.from_columns(columns, 2)[:, 0].tolist() == [9.5, 9.5]
    with pytest.raises(InvalidInputError) as caught:
        encoder.from_columns({**columns, "size": [9.5, True]}, 2)
    assert caught.value.message.startswith("size.1: expected a number")


def test_missing_and_unknown_features_are_all_listed(encoder: FeatureEncoder) -> None:
    row = {k: v for k, v in ROW.items() if k != "count"} | {"colour_code": 1}
    with pytest.raises(InvalidInputError) as caught:
        encoder.from_records([ROW, row])
    details = caught.value.details
    assert {"loc": ["instances", 1, "count"], "msg": details[0]["msg"]} == details[0]
    assert "missing feature" in details[0]["msg"]
    assert details[1]["loc"] == ["instances", 1, "colour_code"]
    assert "unknown feature" in details[1]["msg"]


@pytest.mark.parametrize("bad", [[], {}, "rows", [1, 2]])
def test_instances_must_be_objects(encoder: FeatureEncoder, bad: object) -> None:
    with pytest.raises(InvalidInputError):
        encoder.from_records(bad)


def test_columns_and_tensors(encoder: FeatureEncoder) -> None:
    columns = {
        "size": np.array([1.5, 2.0]),
        "count": [1, 2],
        "flag": [True, False],
        "colour": [b"green", "red"],
    }
    matrix = encoder.from_columns(columns, 2)
    np.testing.assert_array_equal(matrix, [[1.5, 1, 1, 1], [2.0, 2, 0, 2]])
    np.testing.assert_array_equal(encoder.from_tensor(matrix, "input-0"), matrix)
    with pytest.raises(InvalidInputError, match="not a category code of 'colour'"):
        encoder.from_tensor(np.array([[1, 1, 1, 3]], dtype=np.float32), "input-0")
    with pytest.raises(InvalidInputError, match=r"shape \[1, 3\], expected \[N, 4\]"):
        encoder.from_tensor(np.ones((1, 3)), "input-0")
    with pytest.raises(InvalidInputError, match="missing inputs: flag"):
        encoder.from_columns({k: v for k, v in columns.items() if k != "flag"}, 2)


def test_text_rows_report_bad_rows_without_failing_the_rest(encoder: FeatureEncoder) -> None:
    rows = [["9.5", "3", "true", "red"], ["x", "3", "true", "red"], ["", "1", "0", "teal"], ["1"]]
    matrix, errors = encoder.from_text_rows(rows, [0, 1, 2, 3], 4)
    np.testing.assert_array_equal(matrix[0], [9.5, 3, 1, 2])
    assert "size: 'x' is not a number" in errors[1]
    assert "unknown category 'teal'" in errors[2]
    assert "row has 1 fields, the header has 4" in errors[3]
    assert 0 not in errors


def test_a_text_row_needs_as_many_fields_as_the_header(encoder: FeatureEncoder) -> None:
    """A surplus field (an unquoted delimiter in a value) would shift values under wrong names."""
    rows = [["9.5", "3", "true", "red", "note"], ["9.5", "3", "true", "red", "a", "b"]]
    _, errors = encoder.from_text_rows(rows, [0, 1, 2, 3], 5)
    assert errors == {1: "row has 6 fields, the header has 5"}


@pytest.mark.parametrize("text", ["1e39", "-3.5e38", "inf", "1e400"])
def test_a_text_number_past_float32_is_refused(encoder: FeatureEncoder, text: str) -> None:
    """The one-numpy-call path used to turn 1e39 into float32 infinity and score it."""
    matrix, errors = encoder.from_text_rows(
        [["1", "3", "true", "red"], [text, "3", "true", "red"]], [0, 1, 2, 3], 4
    )
    assert list(errors) == [1] and "out of range" in errors[1]
    assert np.isfinite(matrix[0]).all()


def test_a_category_named_like_a_missing_value_is_that_category() -> None:
    metadata = _one_numeric_feature(0, 1).model_copy(
        update={
            "features": [
                FeatureSpec(name="region", type="categorical", categories=["EU", "NA", "None"])
            ]
        }
    )
    encoder = FeatureEncoder(metadata)
    matrix, errors = encoder.from_text_rows([["NA"], ["None"], [""], ["nan"]], [0], 1)
    assert not errors
    assert matrix[:2, 0].tolist() == [1.0, 2.0]
    assert np.isnan(matrix[2:, 0]).all()
    assert encoder.from_columns({"region": ["NA", None]}, 2)[0, 0] == 1.0


def test_bytes_cells_are_read_as_text(encoder: FeatureEncoder) -> None:
    """What tritonclient sends for an object array: every cell as its str()."""
    tensor = np.array(
        [
            ["5.1", "3", "True", "red"],
            ["-3e2", "0", "0", "blue"],
            ["", "1", "false", "green"],
            ["nan", "None", "1", "NA"],
            [7.5, 2, True, "red"],  # JSON values in a BYTES tensor still work
        ],
        dtype=object,
    )
    matrix = encoder.from_bytes_tensor(tensor, "rows")
    nan = np.nan
    expected = [[5.1, 3, 1, 2], [-300, 0, 0, 0], [nan, 1, 0, 1], [nan, nan, 1, nan], [7.5, 2, 1, 2]]
    np.testing.assert_array_equal(matrix, np.array(expected, dtype=np.float32))


@pytest.mark.parametrize(
    ("cell", "column", "message"),
    [
        ("abc", 0, "rows.1.size: 'abc' is not a number"),
        ("1e39", 0, "rows.1.size: '1e39' is out of range"),
        ("2.5", 1, "rows.1.count: '2.5' is not an integer"),
        ("maybe", 2, "rows.1.flag: 'maybe' is not a boolean"),
        ("purple", 3, "rows.1.colour: unknown category 'purple'"),
    ],
)
def test_a_wrong_bytes_cell_names_input_row_and_feature(
    encoder: FeatureEncoder, cell: str, column: int, message: str
) -> None:
    row = ["1.5", "3", "true", "red"]
    wrong = list(row)
    wrong[column] = cell
    with pytest.raises(InvalidInputError, match=message):
        encoder.from_bytes_tensor(np.array([row, wrong], dtype=object), "rows")


def test_drift_counts(encoder: FeatureEncoder) -> None:
    matrix = encoder.from_records([ROW, {**ROW, "size": None}, {**ROW, "size": 1e6}])
    missing, outside = encoder.drift_counts(matrix)
    assert missing.tolist() == [1, 0, 0, 0]
    assert outside.tolist() == [1, 0, 0, 0]
    assert encoder.drift_counts(matrix[:1])[0].tolist() == [0, 0, 0, 0]  # no NaN: the any() path


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=2, max_size=2),
    st.lists(st.floats(width=32), min_size=1, max_size=40),
)
def test_drift_counts_use_the_training_range_as_the_model_saw_it(
    bounds: list[float], values: list[float]
) -> None:
    """The model trained on float32 roundings: a value is outside the range when its float32
    value is outside [float32(min), float32(max)], for float32 and float64 matrices alike."""
    lower, upper = sorted(bounds)
    encoder = FeatureEncoder(_one_numeric_feature(lower, upper))
    # The bounds themselves and their float32 neighbours are where a wrong rounding miscounts.
    near = [
        float(v)
        for b in (lower, upper)
        if abs(b) <= 3.4e38
        for v in (
            b,
            np.nextafter(np.float32(b), np.float32(np.inf)),
            np.nextafter(np.float32(b), np.float32(-np.inf)),
        )
    ]
    column = np.array(values + near, dtype=np.float32).reshape(-1, 1)
    with np.errstate(invalid="ignore", over="ignore"):
        low32, high32 = np.float32(lower), np.float32(upper)
        expected = ((column < low32) | (column > high32)).sum()
    assert encoder.drift_counts(column)[1].tolist() == [expected]
    assert encoder.drift_counts(column.astype(np.float64))[1].tolist() == [expected]


def test_a_value_at_the_training_max_is_inside_the_range() -> None:
    """diabetes' ``sex`` max 0.0506801187398187 becomes a float32 just above it; sent as
    itself (the form's default can be that value) it must not count as out of range."""
    top = 0.0506801187398187
    assert float(np.float32(top)) > top
    encoder = FeatureEncoder(_one_numeric_feature(-0.0446416365069974, top))
    matrix = encoder.from_records([{"x": top}, {"x": -0.0446416365069974}])
    assert encoder.drift_counts(matrix)[1].tolist() == [0]


def _one_numeric_feature(lower: float, upper: float) -> BundleMetadata:
    return BundleMetadata(
        name="one",
        version="1",
        task="regression",
        features=[FeatureSpec(name="x", type="numeric", min=lower, max=upper)],
        created_at=datetime.now(UTC),
        xgboost_version="3",
        model_file="model.ubj",
        model_sha256="0" * 64,
    )


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ([1.0, 2.5, 1, 0], "expected integers"),
        ([1.0, 2, 0.5, 0], "expected 0 or 1"),
        ([1.0, 2, 1, -1], "not a category code of 'colour'"),
        ([np.inf, 2, 1, 0], "infinite value"),
        ([1e39, 2, 1, 0], "value too large"),
    ],
)
def test_tensor_values_are_checked(encoder: FeatureEncoder, row: list[float], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        encoder.from_tensor(np.array([row], dtype=np.float64), "input-0")
    nan_row = np.array([[np.nan, np.nan, np.nan, np.nan]])
    assert np.isnan(encoder.from_tensor(nan_row, "input-0")).all()
