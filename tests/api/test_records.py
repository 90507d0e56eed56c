"""The fast paths for v1 bodies (native and msgspec) give exactly the careful path's matrix, or step aside.

Every valid body must produce the matrix ``FeatureEncoder.from_records`` produces; every body the
fast path cannot vouch for must return None, so the careful path can name what is wrong. Both
decoders are checked in every run (``native=False`` is the msgspec path); with the native
extension blocked (``TESTS_BLOCK_NATIVE_CODECS``) the tests of the native parser itself are skipped.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from model_api.codecs import records
from model_api.codecs.features import FeatureEncoder
from model_api.codecs.records import NATIVE_PARSER, ParseRecords, RecordsDecoder
from model_api.serving.bundle import BundleMetadata, FeatureSpec, load_bundle

from tests.support import BLOCK_NATIVE_CODECS

ROW = {"size": 9.5, "count": 3, "flag": True, "colour": "red"}
# The native parser is part of every build the suite runs on, unless this run blocks it.
native_only = pytest.mark.skipif(BLOCK_NATIVE_CODECS, reason="the native extension is blocked")
BOTH_DECODERS = pytest.mark.parametrize("native", [True, False], ids=["native", "msgspec"])


def _native_parser() -> ParseRecords:
    assert NATIVE_PARSER is not None, "model_api.codecs._records is not built"
    return NATIVE_PARSER


@pytest.fixture
def encoder(binary_bundle: Path) -> FeatureEncoder:
    return FeatureEncoder(load_bundle(binary_bundle)[0])


def _body(rows: Any, **extra: Any) -> bytes:
    return orjson.dumps({"instances": rows, **extra})


def _numeric_encoder(width: int, integers: int = 0) -> FeatureEncoder:
    """``width`` numeric features, the last ``integers`` of them of type integer."""
    features = [
        FeatureSpec(name=f"feature {i}.x", type="integer" if i >= width - integers else "numeric")
        for i in range(width)
    ]
    metadata = BundleMetadata(
        name="numbers",
        version="1",
        task="regression",
        features=features,
        created_at=datetime.now(UTC),
        xgboost_version="3",
        model_file="model.ubj",
        model_sha256="0" * 64,
    )
    return FeatureEncoder(metadata)


@pytest.mark.parametrize(
    "rows",
    [
        [ROW],
        [ROW, {"size": -1e-3, "count": 4.0, "flag": False, "colour": "blue"}],
        [{"colour": "green", "flag": False, "count": 0, "size": 3}] * 50,
    ],
)
def test_valid_mixed_rows_give_the_careful_paths_matrix(
    encoder: FeatureEncoder, rows: list[dict[str, Any]]
) -> None:
    fast = RecordsDecoder(encoder).matrix(_body(rows), max_rows=1000)
    assert fast is not None and fast.dtype == np.float32
    np.testing.assert_array_equal(fast, encoder.from_records(rows))


@BOTH_DECODERS
def test_valid_numeric_rows_give_the_careful_paths_matrix(native: bool) -> None:
    encoder = _numeric_encoder(20)
    values = np.round(np.random.default_rng(0).normal(size=(1000, 20)) * 1e3, 4)
    values[::5, 3] = 7  # whole numbers arrive as JSON integers
    rows = [dict(zip(encoder.names, map(float, row), strict=True)) for row in values]
    rows[1][encoder.names[0]] = 12  # an int where a float is expected is fine
    fast = RecordsDecoder(encoder, native=native).matrix(_body(rows), max_rows=1000)
    assert fast is not None
    np.testing.assert_array_equal(fast, encoder.from_records(rows))


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{not json",
        b"[]",
        _body([]),
        _body({"size": 1}),
        _body([ROW], extra=1),
        _body([{**ROW, "size": None}]),  # null (a missing value) is the careful path's job
        _body([{**ROW, "size": "9.5"}]),
        _body([{**ROW, "size": True}]),
        _body([{**ROW, "size": 1e300}]),
        _body([{**ROW, "count": 2.5}]),
        _body([{**ROW, "colour": "purple"}]),
        _body([{**ROW, "flag": "maybe"}]),
        _body([{**ROW, "extra": 1}]),
        _body([{k: v for k, v in ROW.items() if k != "size"}]),
        _body([ROW, [1, 2, 3, 4]]),
        _body([ROW] * 11),  # past max_rows
        b'{"instances": [{"size": 1e400, "count": 3, "flag": true, "colour": "red"}]}',
    ],
)
def test_anything_unusual_is_left_to_the_careful_path(encoder: FeatureEncoder, body: bytes) -> None:
    assert RecordsDecoder(encoder).matrix(body, max_rows=10) is None


@BOTH_DECODERS
@pytest.mark.parametrize(
    "row",
    [
        {"feature 0.x": None, "feature 1.x": 1, "feature 2.x": 2},
        {"feature 0.x": "1", "feature 1.x": 1, "feature 2.x": 2},
        {"feature 0.x": 1e300, "feature 1.x": 1, "feature 2.x": 2},
        {"feature 0.x": 1.5, "feature 1.x": 1, "feature 2.x": 2.5},  # integer feature
        {"feature 0.x": 1.5, "feature 1.x": 1},
        {"feature 0.x": 1.5, "feature 1.x": 1, "feature 2.x": 2, "extra": 1},
    ],
)
def test_unusual_numeric_rows_are_left_to_the_careful_path(
    native: bool, row: dict[str, Any]
) -> None:
    decoder = RecordsDecoder(_numeric_encoder(3, integers=1), native=native)
    assert decoder.matrix(_body([row]), max_rows=10) is None


@native_only
@pytest.mark.parametrize(
    ("values", "valid"),
    [
        ([1.5, -2, 3], True),
        ([1.5, -2, 3.0], True),  # a whole float is a fine integer
        ([1.5, -2, 2.5], False),
        ([1e300, -2, 3], False),  # past float32
        ([1.5, -1e39, 3], False),
    ],
)
def test_numeric_models_go_through_the_native_parser_with_the_same_checks(
    values: list[float], valid: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """All-numeric models take ``_records.parse_records``; its values get msgspec's checks."""
    encoder = _numeric_encoder(3, integers=1)
    rows = [dict(zip(encoder.names, values, strict=True))] * 2
    native_results: list[object] = []
    parse_records = _native_parser()

    def recorded(*args: Any) -> Any:
        native_results.append(parse_records(*args))
        return native_results[-1]

    monkeypatch.setattr(records, "NATIVE_PARSER", recorded)
    fast = RecordsDecoder(encoder).matrix(_body(rows), max_rows=10)
    assert len(native_results) == 1 and native_results[0] is not None  # the native parser read it
    if valid:
        assert fast is not None
        np.testing.assert_array_equal(fast, encoder.from_records(rows))
    else:
        assert fast is None


@native_only
def test_numeric_bodies_the_native_parser_leaves_alone_still_decode_with_msgspec() -> None:
    """An escaped key is valid JSON the native parser does not read: msgspec takes the body."""
    encoder = _numeric_encoder(3, integers=1)
    rows = [dict(zip(encoder.names, [1.5, -2.0, 3.0], strict=True))] * 2
    body = _body(rows).replace(b'"feature 0.x"', b'"feature \\u0030.x"')
    assert _native_parser()(body, encoder.names, 10) is None
    fast = RecordsDecoder(encoder).matrix(body, max_rows=10)
    assert fast is not None
    np.testing.assert_array_equal(fast, encoder.from_records(rows))


def _refuse(*args: Any) -> Any:
    raise AssertionError("the native parser was called")


def test_without_the_native_parser_msgspec_reads_every_body(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``native=False`` (MODEL_API_NATIVE_CODECS) and a build without the extension alike."""
    encoder = _numeric_encoder(3, integers=1)
    rows = [dict(zip(encoder.names, [1.5, -2.0, 3.0], strict=True))] * 2
    monkeypatch.setattr(records, "NATIVE_PARSER", _refuse)
    switched_off = RecordsDecoder(encoder, native=False).matrix(_body(rows), max_rows=10)
    monkeypatch.setattr(records, "NATIVE_PARSER", None)
    not_built = RecordsDecoder(encoder).matrix(_body(rows), max_rows=10)
    for matrix in (switched_off, not_built):
        assert matrix is not None
        np.testing.assert_array_equal(matrix, encoder.from_records(rows))


def test_the_start_up_log_names_the_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    assert records.records_parser_name(False).startswith("msgspec")
    monkeypatch.setattr(records, "NATIVE_PARSER", None)
    assert "not built" in records.records_parser_name(True)
    monkeypatch.setattr(records, "NATIVE_PARSER", _refuse)
    assert records.records_parser_name(True).startswith("native")
