"""The native v1 parser (``model_api.codecs._records``) reads exactly what orjson reads, or steps aside.

Its contract: for a plain body (``{"instances": [{name: number, ...}, ...]}``, every name once
per row) it returns the numbers as float64, bit for bit what ``orjson.loads`` gives; for anything
else it returns None, and never accepts a body that is not valid JSON. The properties below check
both halves against orjson on generated bodies: formatting, float spellings, key orders, and
mutated or truncated bytes.
"""

from __future__ import annotations

import ctypes
import json
import math
import struct
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.support import BLOCK_NATIVE_CODECS

if BLOCK_NATIVE_CODECS:
    pytest.skip("the native extension is blocked in this run", allow_module_level=True)
from model_api.codecs._records import parse_records

NAMES = ("f00", "f01", "f02", "a longer name", "ünïcode")
FINITE = st.floats(allow_nan=False, allow_infinity=False)


def _exact(body: bytes) -> Any:
    """The body in a buffer of exactly its length. A bytes object ends with a NUL past its last
    byte, which would hide a read one past the end from AddressSanitizer (test_records_sanitized)."""
    return (ctypes.c_char * len(body)).from_buffer_copy(body)


def _values(body: bytes) -> np.ndarray | None:
    parsed = parse_records(_exact(body), NAMES, 10_000)
    if parsed is None:
        return None
    rows, data = parsed
    return np.frombuffer(data, dtype=np.float64).reshape(rows, len(NAMES))


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _expected(body: bytes) -> np.ndarray:
    """The values by the standard library's strict reader (orjson agrees; json also names why)."""
    rows = json.loads(body, parse_constant=_reject_constant)["instances"]
    return np.array([[float(row[name]) for name in NAMES] for row in rows], dtype=np.float64)


def _same_bits(got: np.ndarray | None, expected: np.ndarray) -> None:
    assert got is not None
    assert got.shape == expected.shape
    # Bit patterns, so -0.0 vs 0.0 or a last-digit rounding difference fails too.
    np.testing.assert_array_equal(got.view(np.uint64), expected.view(np.uint64))


def _spell(value: float, style: int) -> str:
    """One of the ways a JSON writer may spell a float (all valid JSON numbers)."""
    spellings = [
        repr(value),  # shortest round-trip, e.g. 0.1 or 1e-07
        f"{value:.17g}",  # 17 significant digits: numpy's and C's %.17g
        f"{value:.4f}",  # fixed decimals
        f"{value:.6e}",  # exponent form
        f"{value:.20E}",  # more digits than a double holds, capital E
    ]
    text = spellings[style % len(spellings)]
    text = text.replace("inf", "").replace("nan", "")
    if "e" in text.lower():  # Python writes e+05 and e-05; JSON allows both signs and none
        mantissa, _, exponent = text.lower().partition("e")
        text = f"{mantissa}{'e' if style % 2 else 'E'}{int(exponent)}"
    return text


def _body(rows: list[list[float]], styles: list[int], orders: list[list[int]], space: str) -> bytes:
    row_texts = []
    for values, order in zip(rows, orders, strict=True):
        members = [
            f'"{NAMES[j]}"{space}:{space}{_spell(values[j], styles[j % len(styles)])}'
            for j in order
        ]
        row_texts.append("{" + f",{space}".join(members) + "}")
    return f'{space}{{"instances"{space}:{space}[{space}{",".join(row_texts)}]}}{space}'.encode()


@st.composite
def plain_bodies(draw: st.DrawFn) -> bytes:
    count = draw(st.integers(1, 6))
    rows = [[draw(FINITE) for _ in NAMES] for _ in range(count)]
    styles = draw(st.lists(st.integers(0, 9), min_size=1, max_size=len(NAMES)))
    orders = [draw(st.permutations(range(len(NAMES)))) for _ in range(count)]
    space = draw(st.sampled_from(["", " ", "\n\t", " \r\n "]))
    body = _body(rows, styles, orders, space)
    assume(all(math.isfinite(v) for row in orjson.loads(body)["instances"] for v in row.values()))
    return body


@settings(max_examples=400, deadline=None)
@given(plain_bodies())
def test_plain_bodies_read_as_orjson_reads_them(body: bytes) -> None:
    _same_bits(_values(body), _expected(body))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(-(2**70), 2**70), min_size=len(NAMES), max_size=len(NAMES)))
def test_integers_of_any_size_read_as_orjson_reads_them(values: list[int]) -> None:
    members = ",".join(f'"{name}":{value}' for name, value in zip(NAMES, values, strict=True))
    body = ('{"instances":[{' + members + "}]}").encode()
    _same_bits(_values(body), _expected(body))


@pytest.mark.parametrize(
    "number",
    [
        "0",
        "-0",
        "-0.0",
        "0.1",
        "0.30000000000000004",
        "1e22",
        "1e23",
        "9007199254740993",
        "123456789012345.678",
        "2.2250738585072011e-308",
        "4.9e-324",
        "1.7976931348623157e308",
        "0.000000000000000000000000000001",
        "1E+2",
        "1e-2",
        "-12.5e0",
        "5e-324",
        "179769313486231570000000000000000000000000000000000000000000000000000000000000000000",
    ],
)
def test_awkward_numbers_read_as_orjson_reads_them(number: str) -> None:
    body = ('{"instances":[{' + ",".join(f'"{n}":{number}' for n in NAMES) + "}]}").encode()
    _same_bits(_values(body), _expected(body))


GOOD_ROW = ",".join(f'"{n}":1' for n in NAMES)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   ",
        b"[]",
        b'{"instances":[]}',  # no rows: the careful path says what is wrong
        b'{"instances":{}}',
        f'{{"instances":[{{{GOOD_ROW}}}],"extra":1}}'.encode(),
        f'{{"instances":[{{{GOOD_ROW}}}]}} x'.encode(),
        f'{{"instances":[{{{GOOD_ROW}}},]}}'.encode(),
        f'{{"instances":[{{{GOOD_ROW},}}]}}'.encode(),
        f'{{"instances":[{{{GOOD_ROW},"f00":1}}]}}'.encode(),  # repeated key
        f'{{"instances":[{{{GOOD_ROW},"other":1}}]}}'.encode(),
        f'{{"instances":[{{{GOOD_ROW.replace(""""f00":1,""", "")}}}]}}'.encode(),  # missing key
        f'{{"instances":[{{{GOOD_ROW.replace("f00", "f\\u0030")}}}]}}'.encode(),  # escaped key
        f'{{"\\u0069nstances":[{{{GOOD_ROW}}}]}}'.encode(),
        f'{{"instances":[{{{GOOD_ROW}}}, [1]]}}'.encode(),
        *[
            f'{{"instances":[{{{GOOD_ROW.replace(""""f00":1""", '"f00":' + bad)}}}]}}'.encode()
            for bad in [
                "null",
                "true",
                '"1"',
                "[1]",
                "{}",
                "01",
                "1.",
                ".5",
                "+1",
                "-",
                "1e",
                "1e+",
                "NaN",
                "Infinity",
                "-Infinity",
                "1e400",
                "-1e400",
                "0x10",
                "1_000",
                "١",
            ]
        ],
        f'{{"instances":[{{{GOOD_ROW}}}]}}'.encode().replace(b"f01", b"f\xff1"),  # not UTF-8
    ],
)
def test_anything_but_the_plain_shape_returns_none(body: bytes) -> None:
    assert _values(body) is None


def test_rows_past_the_limit_return_none() -> None:
    body = f'{{"instances":[{",".join([f"{{{GOOD_ROW}}}"] * 3)}]}}'.encode()
    assert parse_records(_exact(body), NAMES, 3) is not None
    assert parse_records(_exact(body), NAMES, 2) is None


def test_every_truncation_of_a_plain_body_returns_none() -> None:
    body = _body(
        [[1.5, -2, 3e-5, 4, 5]] * 2, [0, 1, 2, 3, 4], [[0, 1, 2, 3, 4], [4, 3, 2, 1, 0]], " "
    )
    assert _values(body) is not None
    for end in range(len(body.rstrip())):
        assert _values(body[:end]) is None, body[:end]


@settings(max_examples=500, deadline=None)
@given(plain_bodies(), st.data())
def test_mutated_bodies_are_refused_or_read_as_orjson_reads_them(body: bytes, data: Any) -> None:
    """Replace, insert or delete a few bytes: the parser may accept only what orjson accepts."""
    mutated = bytearray(body)
    for _ in range(data.draw(st.integers(1, 3))):
        position = data.draw(st.integers(0, len(mutated) - 1))
        byte = data.draw(st.sampled_from(list(b'{}[]":,-+.eE0123456789 \\nulx\xc3\xa9')))
        action = data.draw(st.sampled_from(["replace", "insert", "delete"]))
        if action == "replace":
            mutated[position] = byte
        elif action == "insert":
            mutated.insert(position, byte)
        else:
            del mutated[position]
    got = _values(bytes(mutated))
    if got is None:
        return
    expected = _expected(bytes(mutated))  # raises if the parser accepted invalid JSON
    _same_bits(got, expected)


def test_names_must_be_strings() -> None:
    with pytest.raises(TypeError):
        parse_records(b"{}", [b"f00"], 10)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="empty"):
        parse_records(b"{}", [], 10)


def test_values_are_native_endian_float64() -> None:
    parsed = parse_records(
        ('{"instances":[{' + GOOD_ROW.replace(":1", ":0.5") + "}]}").encode(), NAMES, 1
    )
    assert parsed is not None
    assert parsed[0] == 1
    assert struct.unpack(f"={len(NAMES)}d", parsed[1]) == (0.5,) * len(NAMES)
