"""Hostile input: each gets a 4xx with a clear message, and the server keeps serving."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator

import httpx
import pytest

from tests.support import ADELIE, Server

PREDICT = "/v1/models/penguin-species/predict"
INFER = "/v2/models/penguin-species/infer"
JSON = {"content-type": "application/json"}
CSV = {"content-type": "text/csv"}
HEADER = ",".join(ADELIE)
BINARY_HEADER = b'{"inputs": [{"name": "x", "shape": [1, 6], "datatype": "FP32", "parameters": {"binary_data_size": 99}}]}'


@pytest.fixture(scope="module")
def client(api_server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api_server.url, timeout=120) as http:
        yield http


@pytest.fixture(autouse=True)
def still_serving(client: httpx.Client) -> Iterator[None]:
    yield
    assert client.get("/healthz").status_code == 200
    assert (
        client.post(PREDICT, json={"instances": [ADELIE]}).json()["predictions"][0]["label"]
        == "Adelie"
    )


@pytest.mark.parametrize(
    ("path", "content", "headers", "status", "needle"),
    [
        (PREDICT, b'{"instances": [{"bill_length_mm": NaN}]}', JSON, 400, "not valid JSON"),
        (PREDICT, b'{"instances": [{"bill_length_mm": Infinity}]}', JSON, 400, "not valid JSON"),
        (PREDICT, b"[" * 5000 + b"]" * 5000, JSON, 400, "not valid JSON"),
        (PREDICT, b'{"instances": ' + b"[" * 200 + b"]" * 200 + b"}", JSON, 422, "instances"),
        (PREDICT, b"\xff\xfe\x00garbage", JSON, 400, "not valid JSON"),
        (PREDICT, b"", JSON, 400, "empty"),
        (PREDICT, b"<xml/>", {"content-type": "application/xml"}, 415, "application/json"),
        (PREDICT, b'{"instances": [{"bill_length_mm": 1e400}]}', JSON, 400, "infinity"),
        (
            PREDICT,
            json.dumps({"instances": [{**ADELIE, "bill_length_mm": 1e300}]}).encode(),
            JSON,
            422,
            "bill_length_mm: number out of range",
        ),
        (
            PREDICT,
            json.dumps({"instances": [{**ADELIE, "body_mass_g": 10**40}]}).encode(),
            JSON,
            422,
            "body_mass_g: number out of range",
        ),
        (
            PREDICT,
            json.dumps({"instances": [{**ADELIE, "body_mass_g": 10**39 + 1}]}).encode(),
            JSON,
            422,
            "body_mass_g: number out of range",
        ),
        (PREDICT, b"\xff\xfebad,csv\n1,2\n", CSV, 400, "not valid UTF-8"),
        (PREDICT, b"", CSV, 400, "empty"),
        (PREDICT, b"colour,size\nred,1\n", CSV, 422, "lacks feature columns: bill_length_mm"),
        (
            PREDICT,
            (HEADER.replace(",", ";") + "\n1;2;3;4;Dream;male\n").encode(),
            CSV,
            422,
            "another delimiter",
        ),
        (
            PREDICT + "?delimiter=%23",
            (HEADER + "\n").encode(),
            CSV,
            400,
            "delimiter '#' is not supported",
        ),
        (
            INFER,
            b'{"inputs": [{"name": "x", "shape": [2, 6], "datatype": "FP32", "data": [1, 2, 3, 4, 5, 6]}]}',
            JSON,
            400,
            "needs 12 values, got 6",
        ),
        (
            INFER,
            b'{"inputs": [{"name": "x", "shape": [1, 6], "datatype": "COMPLEX64", "data": [1, 2, 3, 4, 5, 6]}]}',
            JSON,
            400,
            "unknown datatype 'COMPLEX64'",
        ),
        (
            INFER,
            b'{"inputs": [{"name": "x", "shape": [-1, 6], "datatype": "FP32", "data": []}]}',
            JSON,
            400,
            "non-negative integers",
        ),
        (INFER, b'{"inputs": "everything"}', JSON, 400, "'inputs' must be a non-empty list"),
        (
            INFER,
            BINARY_HEADER,
            {**JSON, "inference-header-content-length": str(len(BINARY_HEADER))},
            400,
            "binary_data_size does not fit",
        ),
        (
            INFER,
            BINARY_HEADER,
            {**JSON, "inference-header-content-length": "9999"},
            400,
            "does not fit a body",
        ),
    ],
)
def test_hostile_requests_get_a_clear_4xx(
    client: httpx.Client,
    path: str,
    content: bytes,
    headers: dict[str, str],
    status: int,
    needle: str,
) -> None:
    response = client.post(path, content=content, headers=headers)
    assert response.status_code == status, response.text
    assert needle in response.text


def test_csv_missing_values_are_scored_as_missing(client: httpx.Client) -> None:
    body = f"{HEADER}\n39.1,,181,,Torgersen,\n,,,,,\n"
    rows = list(csv.DictReader(io.StringIO(client.post(PREDICT, content=body, headers=CSV).text)))
    assert [r["error"] for r in rows] == ["", ""]
    assert rows[0]["label"] == "Adelie"


def test_a_million_row_csv_is_streamed(client: httpx.Client) -> None:
    line = ",".join(str(v) for v in ADELIE.values()) + "\n"

    def upload() -> Iterator[bytes]:
        yield (HEADER + "\n").encode()
        block = (line * 10_000).encode()
        for _ in range(100):
            yield block

    rows = 0
    with client.stream("POST", PREDICT, content=upload(), headers=CSV) as response:
        assert response.status_code == 200
        for text in response.iter_lines():
            rows += 1
            if rows == 2:
                assert re.match(r"1,[0-9a-f]{20}-0,Adelie,", text), (
                    text
                )  # row, prediction id, label
    assert rows == 1 + 1_000_000
