"""Hostile V2 requests: each a 400 naming the input and the problem; the server keeps serving.

(CSV reading has its own file, test_csv_reading.py.)
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from tests.support import ADELIE, Server

INFER = "/v2/models/penguin-species/infer"
FEATURES = list(ADELIE)
ROW = list(ADELIE.values())
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def client(api_server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api_server.url, timeout=60) as http:
        yield http


@pytest.fixture(autouse=True)
def still_serving(client: httpx.Client) -> Iterator[None]:
    yield
    good = {"inputs": [{"name": "x", "shape": [1, 6], "datatype": "BYTES", "data": ROW}]}
    assert client.post(INFER, json=good).json()["outputs"][0]["data"] == ["Adelie"]


def tensor(shape: list[int], datatype: str, data: Any) -> dict[str, Any]:
    return {"inputs": [{"name": "x", "shape": shape, "datatype": datatype, "data": data}]}


def nested(depth: int) -> bytes:
    """A BYTES input whose data nests ``depth`` lists deep (past Python's recursion limit)."""
    spec = b'{"name": "x", "shape": [1], "datatype": "BYTES", "data": '
    return b'{"inputs": [' + spec + b"[" * depth + b"1" + b"]" * depth + b"}]}"


def assert_refused(response: httpx.Response, needle: str) -> None:
    assert response.status_code == 400, response.text[:500]
    body = response.json()
    assert list(body) == ["error"]
    assert needle in body["error"], body["error"]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (tensor([], "FP32", [1]), "input 'x': shape has 0 dimensions"),
        (tensor([], "BYTES", ["a"]), "input 'x': shape has 0 dimensions"),
        (tensor([1] * 65, "FP32", [1]), "input 'x': shape has 65 dimensions"),
        (tensor([1, 1, 6], "FP32", [*ROW[:4], 0, 1]), "input 'x': shape has 3 dimensions"),
        (tensor([1, 12], "BYTES", ROW * 2), "input 'x' has shape [1, 12], expected [N, 6]"),
        (tensor([3, 4], "BYTES", ROW * 2), "input 'x' has shape [3, 4], expected [N, 6]"),
        (tensor([12], "BYTES", ROW * 2), "input 'x' has shape [12], expected [N, 6]"),
        (tensor([2, 6], "BYTES", [ROW, ROW[:3]]), "needs 12 values, got 9"),
        (
            {
                "inputs": [
                    {"name": f, "shape": [2, 3] if f == "island" else [6], "datatype": "BYTES"}
                    | {"data": [v] * 6}
                    for f, v in ADELIE.items()
                ]
            },
            "input 'island' has shape [2, 3]; a per-feature input must be [N] or [N, 1]",
        ),
        (tensor([1, 6], "INT64", [39.5, 18, 181, 3750, 2, 1]), "INT64 data must be whole numbers"),
        (tensor([1, 6], "INT32", [39, 18, 181, 2**40, 2, 1]), "INT32 data must be whole numbers"),
        (tensor([1, 6], "UINT8", [39, 18, -181, 37, 2, 1]), "UINT8 data must be whole numbers"),
    ],
)
def test_tensors_that_do_not_fit_the_model_are_refused(
    client: httpx.Client, body: dict[str, Any], needle: str
) -> None:
    assert_refused(client.post(INFER, content=orjson.dumps(body), headers=JSON), needle)


def test_data_nested_deeper_than_its_shape_is_refused(client: httpx.Client) -> None:
    for depth in (3, 990):
        response = client.post(INFER, content=nested(depth), headers=JSON)
        assert_refused(response, "input 'x': data nests lists deeper than its shape")


@pytest.mark.parametrize("length", [b"\xb2", b"9" * 5000, b"-1", b"1e3", b"0x10", b"1 2", b""])
def test_a_header_length_that_is_no_byte_count_is_refused(
    client: httpx.Client, length: bytes
) -> None:
    body = orjson.dumps(tensor([1, 6], "FP32", [39.1, 18.7, 181, 3750, 2, 1]))
    response = client.post(
        INFER, content=body, headers=[(b"inference-header-content-length", length)]
    )
    assert response.status_code == 400, response.text[:300]
    assert "Inference-Header-Content-Length" in response.json()["error"]


def binary_request(
    elements: list[tuple[int, bytes]], size: Any = None, after: bytes = b""
) -> tuple[bytes, dict[str, str]]:
    """island as BYTES in the binary extension (elements: (declared length, bytes)), the rest JSON."""
    raw = b"".join(struct.pack("<I", length) + data for length, data in elements)
    island = {
        "name": "island",
        "shape": [1],
        "datatype": "BYTES",
        "parameters": {"binary_data_size": len(raw) if size is None else size},
    }
    others = [
        {"name": f, "shape": [1], "datatype": "BYTES" if f == "sex" else "FP32", "data": [v]}
        for f, v in ADELIE.items()
        if f != "island"
    ]
    header = orjson.dumps({"inputs": [island, *others]})
    headers = {
        "content-type": "application/octet-stream",
        "inference-header-content-length": str(len(header)),
    }
    return header + raw + after, headers


def test_a_true_binary_request_is_served(client: httpx.Client) -> None:
    body, headers = binary_request([(9, b"Torgersen")])
    response = client.post(INFER, content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["data"] == ["Adelie"]


@pytest.mark.parametrize(
    ("elements", "size", "after", "needle"),
    [
        ([(50, b"Torgersen")], None, b"", "BYTES element 0 claims 50 bytes, but only 9 are left"),
        ([(9, b"Torgersen")], -3, b"", "binary_data_size does not fit the body (-3;"),
        ([(9, b"Torgersen")], True, b"", "binary_data_size does not fit the body (True;"),
        ([(9, b"Torgersen")], 13.0, b"", "binary_data_size does not fit the body (13.0;"),
        ([(9, b"Torgersen")], "13", b"", "binary_data_size does not fit the body ('13';"),
        ([(9, b"Torgersen")], 2**62, b"", "binary_data_size does not fit the body"),
        ([(9, b"Torgersen")], None, b"junk", "4 bytes of binary data follow the inputs"),
        ([(9, b"Torgersen"), (5, b"Dream")], None, b"", "shape [1] needs 1 values, got 2"),
    ],
)
def test_binary_sizes_that_lie_are_refused(
    client: httpx.Client, elements: list[tuple[int, bytes]], size: Any, after: bytes, needle: str
) -> None:
    body, headers = binary_request(elements, size, after)
    response = client.post(INFER, content=body, headers=headers)
    assert_refused(response, needle)
    assert "island" in response.json()["error"] or "follow the inputs" in needle


def test_numeric_binary_data_must_be_used_up(client: httpx.Client) -> None:
    raw = struct.pack("<6f", 39.1, 18.7, 181, 3750, 2, 1)
    spec = {"name": "x", "shape": [1, 6], "datatype": "FP32"}
    header = orjson.dumps({"inputs": [spec | {"parameters": {"binary_data_size": len(raw)}}]})
    headers = {"inference-header-content-length": str(len(header))}
    assert client.post(INFER, content=header + raw, headers=headers).status_code == 200
    response = client.post(INFER, content=header + raw + b"\0" * 8, headers=headers)
    assert_refused(response, "8 bytes of binary data follow the inputs")
