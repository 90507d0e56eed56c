"""V2 request JSON through simdjson reads exactly what orjson reads, with float data as numpy.

The only intended difference: ``inputs[i]["data"]`` of an FP16/FP32/FP64 input holding only
numbers is a flat float64 array. Everything else must equal ``orjson.loads`` of the same bytes.
(Bodies under ``SIMDJSON_MIN_BYTES`` go to orjson; these tests call the simdjson reader itself.)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from model_api.codecs.v2_json import SIMDJSON_MIN_BYTES, load_request, load_with_simdjson
from model_api.codecs.v2_tensors import decode_input
from model_api.errors import BadRequestError

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
NUMBERS = st.lists(
    st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**53), 2**53), max_size=30
)


def _flattened(data: Any) -> list[float]:
    if isinstance(data, list):
        return [value for item in data for value in _flattened(item)]
    return [float(data)]


def _equal_but_float_data(read: Any, expected: Any) -> None:
    """``read`` equals ``expected`` except float data, which is the flattened numbers as float64."""
    inputs = expected.get("inputs") if isinstance(expected, dict) else None
    if not isinstance(inputs, list):
        assert read == expected
        return
    assert {k: v for k, v in read.items() if k != "inputs"} == {
        k: v for k, v in expected.items() if k != "inputs"
    }
    for got, spec in zip(read["inputs"], inputs, strict=True):
        data = got.get("data") if isinstance(got, dict) else None
        if isinstance(data, np.ndarray):
            assert spec["datatype"] in ("FP16", "FP32", "FP64")
            assert data.dtype == np.float64
            np.testing.assert_array_equal(data, np.array(_flattened(spec["data"]), np.float64))
            got = {**got, "data": spec["data"]}
        assert got == spec


@settings(max_examples=150, deadline=None)
@given(
    datatype=st.sampled_from(["FP32", "FP64", "FP16", "INT64", "BYTES", "BOOL"]),
    numbers=NUMBERS,
    nested=st.booleans(),
    other=JSON_VALUES,
    extra=st.dictionaries(st.sampled_from(["id", "parameters", "outputs", "x"]), JSON_VALUES),
)
def test_reads_what_orjson_reads(
    datatype: str, numbers: list[float], nested: bool, other: Any, extra: dict[str, Any]
) -> None:
    data: Any = [numbers[i : i + 3] for i in range(0, len(numbers), 3)] if nested else numbers
    body = orjson.dumps(
        {
            **extra,
            "inputs": [
                {"name": "x", "shape": [len(numbers)], "datatype": datatype, "data": data},
                {"name": "y", "datatype": datatype, "data": other, "parameters": {"p": other}},
            ],
        }
    )
    read = load_with_simdjson(body)
    _equal_but_float_data(read, orjson.loads(body))
    if datatype.startswith("FP"):  # numbers only: read by simdjson into one array
        assert isinstance(read["inputs"][0]["data"], np.ndarray)


@settings(max_examples=100, deadline=None)
@given(document=JSON_VALUES)
def test_any_document_reads_as_orjson_reads_it(document: Any) -> None:
    body = orjson.dumps(document)
    _equal_but_float_data(load_with_simdjson(body), orjson.loads(body))


@pytest.mark.parametrize(
    "data",
    [[1.5, None], [1.5, True], ["1.5"], [{"a": 1}], 7.5, None],
)
def test_data_with_anything_but_numbers_stays_python(data: Any) -> None:
    body = orjson.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": data}]})
    assert load_with_simdjson(body) == orjson.loads(body)


@pytest.mark.parametrize(
    "document",
    [
        {"": None, "\x00": False},  # found by hypothesis: a lookup stops the key at the NUL
        {"inputs": [{"name": "x", "datatype": "FP32", "data": [1.5], "d\x00": 1, "d": 2}]},
    ],
)
def test_keys_with_nul_characters(document: dict[str, Any]) -> None:
    body = orjson.dumps(document)
    _equal_but_float_data(load_with_simdjson(body), orjson.loads(body))


def test_repeated_keys_keep_the_last_value_as_orjson_does() -> None:
    body = b'{"inputs": [], "inputs": [{"name": "x", "datatype": "FP32", "data": [1, 2], "data": [3]}]}'
    assert load_with_simdjson(body) == orjson.loads(body)


@pytest.mark.parametrize(
    "body",
    [b"{not json", b'{"inputs": [1,]}', b"\xff\xfe", b'{"inputs": [1e999999]}', b"[" * 5000],
)
def test_what_simdjson_refuses_gets_orjsons_message(body: bytes) -> None:
    with pytest.raises(BadRequestError, match="request body is not valid JSON"):
        load_with_simdjson(body)


@pytest.mark.parametrize(
    "body",
    [
        b'{"id": 123456789012345678901234}',  # past 64 bits: simdjson refuses, orjson reads a float
        b'{"inputs": [{"datatype": "FP32", "data": [1, 123456789012345678901234]}]}',
        b'{"id": 18446744073709551615}',
    ],
)
def test_integers_past_64_bits_read_as_orjson_reads_them(body: bytes) -> None:
    assert load_with_simdjson(body) == orjson.loads(body)


def test_float_data_decodes_to_the_declared_shape_as_written() -> None:
    """JSON float data keeps the numbers written (float64, as the encoder then checks them):
    FP16 and FP32 name the range, they do not round 40.1 to 40.09375."""
    spec = load_with_simdjson(
        orjson.dumps(
            {
                "inputs": [
                    {"name": "t", "shape": [2, 2], "datatype": "FP32", "data": [[1, 2.5], [3, 4]]}
                ]
            }
        )
    )["inputs"][0]
    name, array, _ = decode_input(spec, memoryview(b""), 0)
    assert isinstance(array, np.ndarray)
    assert (name, array.dtype, array.tolist()) == ("t", np.float64, [[1.0, 2.5], [3.0, 4.0]])
    spec["shape"] = [3, 2]
    with pytest.raises(BadRequestError, match=r"shape \[3, 2\] needs 6 values, got 4"):
        decode_input(spec, memoryview(b""), 0)
    half = {"name": "h", "shape": [2], "datatype": "FP16", "data": [40.1, -65504]}
    assert decode_input(half, memoryview(b""), 0)[1].tolist() == [40.1, -65504.0]
    half["data"] = [40.1, 65505]
    with pytest.raises(BadRequestError, match="FP16 data must be within float16's range"):
        decode_input(half, memoryview(b""), 0)


def test_small_bodies_go_to_orjson_and_large_ones_to_simdjson() -> None:
    def body(count: int) -> bytes:
        spec = {"name": "t", "shape": [count], "datatype": "FP32", "data": [0.25] * count}
        return orjson.dumps({"inputs": [spec]})

    assert len(body(4)) < SIMDJSON_MIN_BYTES <= len(body(1000))
    assert isinstance(load_request(body(4))["inputs"][0]["data"], list)
    assert isinstance(load_request(body(1000))["inputs"][0]["data"], np.ndarray)


def test_a_parser_held_by_an_earlier_document_is_replaced() -> None:
    from model_api.codecs import v2_json

    body = orjson.dumps({"inputs": [{"name": "t", "datatype": "FP32", "data": [1.0] * 600}]})
    held = v2_json._parse(body)  # an earlier document still alive, as in a traceback
    assert load_with_simdjson(body)["inputs"][0]["data"].size == 600
    assert held["inputs"][0]["datatype"] == "FP32"


def test_large_bodies_get_their_own_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    from model_api.codecs import v2_json

    small = orjson.dumps({"inputs": [{"name": "t", "datatype": "FP32", "data": [1.0] * 600}]})
    large = orjson.dumps({"inputs": [{"name": "t", "datatype": "FP32", "data": [2.0] * 900}]})
    monkeypatch.setattr(v2_json, "REUSED_PARSER_MAX_BYTES", len(small))
    held = v2_json._parse(small)  # the thread's parser, still in use
    reused = v2_json._thread.parser
    assert load_with_simdjson(large)["inputs"][0]["data"].size == 900
    assert v2_json._thread.parser is reused  # not replaced: the large body had its own
    assert held["inputs"][0]["datatype"] == "FP32"
