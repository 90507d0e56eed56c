"""Reading a CSV upload: bounded header, safe X-Ignored-Columns, and every row answered.

Against a real server: a row that is not valid CSV, is too long or has the wrong field count
fails on its own line of the answer (naming its lines of the file) and the rows after it are
scored; the answer never silently has fewer rows than the file.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest

from tests.support import ADELIE, Server, running_api

PREDICT = "/v1/models/penguin-species/predict"
CSV = {"content-type": "text/csv"}
HEADER = ",".join(ADELIE)
ROW = ",".join(str(v) for v in ADELIE.values())
ROW_LIMIT = 128 * 1024  # MODEL_API_MAX_CSV_ROW_BYTES' default
LINES = re.compile(r"^lines? (\d+)(?:-(\d+))?: ")


@pytest.fixture(scope="module")
def client(api_server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api_server.url, timeout=120) as http:
        yield http


def scored(client: httpx.Client, text: str) -> tuple[httpx.Response, list[dict[str, str]]]:
    response = client.post(PREDICT, content=text.encode(), headers=CSV)
    assert response.status_code == 200, response.text
    return response, list(csv.DictReader(io.StringIO(response.text)))


def lines_of(error: str) -> tuple[int, int]:
    """The (first, last) file lines an unreadable row's error names."""
    match = LINES.match(error)
    assert match is not None, error
    first = int(match[1])
    return first, int(match[2] or first)


def test_a_too_long_field_fails_only_its_row(client: httpx.Client) -> None:
    """The issue's case: one 140 KB field at row 10,000 of 20,000 used to lose 8,191 rows."""
    lines = [f"{ROW},ok"] * 20_000
    lines[9_999] = f"{ROW},{'x' * 140_000}"
    _, rows = scored(client, "\n".join([f"{HEADER},note", *lines]) + "\n")
    assert len(rows) == 20_000
    assert [r["row"] for r in rows] == [str(n) for n in range(1, 20_001)]
    bad = rows.pop(9_999)
    assert bad["label"] == ""
    assert (
        bad["error"]
        == f"line 10001: row longer than {ROW_LIMIT} bytes (MODEL_API_MAX_CSV_ROW_BYTES)"
    )
    assert {(r["label"], r["error"]) for r in rows} == {("Adelie", "")}


def test_a_quote_never_closed_says_which_lines_it_took(client: httpx.Client) -> None:
    lines = [f"{ROW},ok"] * 10
    lines[4] = f'{ROW},"oops'  # the quote takes the rest of the file as one field
    _, rows = scored(client, "\n".join([f"{HEADER},note", *lines]) + "\n")
    assert [r["label"] for r in rows] == ["Adelie"] * 4 + [""]
    assert rows[4]["error"] == (
        "lines 6-11: the file ends inside a quoted field (a quote is never closed)"
    )


def test_reading_resumes_after_an_open_quote_passes_the_row_limit(client: httpx.Client) -> None:
    data_lines = 8_000  # ~40 bytes each: the open quote passes 128 KiB after ~3,300 lines
    lines = [f"{ROW},ok"] * data_lines
    lines[2] = f'{ROW},"oops'
    _, rows = scored(client, "\n".join([f"{HEADER},note", *lines]) + "\n")
    assert [r["row"] for r in rows] == [str(n) for n in range(1, len(rows) + 1)]
    bad = [r for r in rows if r["error"]]
    assert len(bad) == 1 and bad[0]["row"] == "3"
    assert bad[0]["error"].endswith(
        f"row longer than {ROW_LIMIT} bytes (MODEL_API_MAX_CSV_ROW_BYTES); is a quote left open?"
    )
    first, last = lines_of(bad[0]["error"])
    assert first == 4 and 3_000 < last < data_lines  # line 1 is the header
    # Every line of the file is in the answer: one per scored row, plus those the error names.
    assert len(rows) - 1 + (last - first + 1) == data_lines
    assert all(r["label"] == "Adelie" for r in rows if not r["error"])


def test_each_bad_row_fails_alone_and_names_its_problem(client: httpx.Client) -> None:
    bad = {
        2: (f"{ROW},ok,surplus", "row has 8 fields, the header has 7"),
        4: ("1e39,18.7,181,3750,Torgersen,male,ok", "bill_length_mm: '1e39' is out of range"),
        6: (f'{ROW},"quoted"tail', "line 7: not valid CSV"),
        7: (ROW, "row has 6 fields, the header has 7"),
    }
    lines = [bad[n][0] if n in bad else f"{ROW},ok" for n in range(1, 10)]
    _, rows = scored(client, "\n".join([f"{HEADER},note", *lines]) + "\n")
    assert len(rows) == 9
    for number, row in enumerate(rows, start=1):
        if number in bad:
            assert row["label"] == "" and bad[number][1] in row["error"], (number, row)
        else:
            assert (row["label"], row["error"]) == ("Adelie", ""), (number, row)


def test_ignored_column_names_are_percent_encoded(client: httpx.Client) -> None:
    """``price€`` used to answer 500, a name with a line break to drop the connection."""
    names = ["price€", "a,b", "line\nbreak", "tab\there", "50% off", "naïve"]
    header = ",".join([HEADER, *(f'"{n}"' for n in names)])
    # The header takes two lines (a quoted line break): the bad row is on line 4.
    text = f"{header}\n{ROW},1,2,3,4,5,6\n{ROW},1,2,3,4,5\n"
    response, rows = scored(client, text)
    value = response.headers["x-ignored-columns"]
    assert value.isascii() and " " not in value and "\n" not in value
    assert [unquote(n) for n in value.split(",")] == names
    assert rows[0]["label"] == "Adelie"
    assert rows[1]["error"] == "row has 11 fields, the header has 12"
    # Line numbers count the header's two lines: the unreadable row is on line 4.
    one_short = f'{header}\n{ROW},1,2,3,4,5,6\n{ROW},1,2,3,4,5,"open\n'
    _, rows = scored(client, one_short)
    assert rows[1]["error"].startswith("line 4: the file ends inside a quoted field")


def test_the_ignored_columns_header_stays_small(client: httpx.Client) -> None:
    extra = [f"extra_{i}" for i in range(300)]
    response, _ = scored(client, ",".join([HEADER, *extra]) + "\n" + ROW + ",0" * 300 + "\n")
    listed = response.headers["x-ignored-columns"].split(",")
    assert listed[:-1] == extra[:50] and listed[-1] == "...and 250 more"
    long_name = "n" * 20_000
    response, _ = scored(client, f"{HEADER},{long_name}\n{ROW},0\n")
    assert response.headers["x-ignored-columns"] == "...and 1 more"


@pytest.mark.parametrize(
    ("header", "status", "needle"),
    [
        (HEADER + ",x" * 40_000, 413, "longer than 65536 bytes (MODEL_API_MAX_CSV_HEADER_BYTES)"),
        (HEADER + "," + "y" * 8_000_000, 413, "MODEL_API_MAX_CSV_HEADER_BYTES"),
        (
            HEADER + ",c" * 2_000,
            413,
            "2006 columns, more than the 2000 allowed (MODEL_API_MAX_CSV_COLUMNS)",
        ),
        (HEADER + ",island", 422, "feature column(s) more than once: island"),
        ('"' + HEADER, 413, "MODEL_API_MAX_CSV_HEADER_BYTES"),  # an open quote takes the file
    ],
)
def test_a_header_past_its_limits_is_refused_naming_them(
    client: httpx.Client, header: str, status: int, needle: str
) -> None:
    body = f"{header}\n" + f"{ROW}\n" * 2_000
    response = client.post(PREDICT, content=body.encode(), headers=CSV)
    assert response.status_code == status, response.text[:300]
    assert needle in response.json()["error"]["message"]
    assert "x-ignored-columns" not in response.headers
    assert client.post(PREDICT, content=f"{HEADER}\n{ROW}\n", headers=CSV).status_code == 200


def test_the_csv_limits_are_settings(example_repository: Path, tmp_path: Path) -> None:
    limits = {
        "MODEL_API_MAX_CSV_HEADER_BYTES": "256",
        "MODEL_API_MAX_CSV_COLUMNS": "8",
        "MODEL_API_MAX_CSV_ROW_BYTES": "300",
    }
    with (
        running_api(example_repository, tmp_path, **limits) as server,
        httpx.Client(base_url=server.url, timeout=30) as http,
    ):

        def post(text: str) -> httpx.Response:
            return http.post(PREDICT, content=text.encode(), headers=CSV)

        too_wide = post(HEADER + ",a,b,c\n" + ROW + ",1,2,3\n")
        assert too_wide.status_code == 413
        assert "9 columns, more than the 8 allowed" in too_wide.text
        too_long = post(HEADER + "," + "h" * 300 + "\n")
        assert too_long.status_code == 413 and "longer than 256 bytes" in too_long.text
        rows = list(
            csv.DictReader(io.StringIO(post(f"{HEADER},note\n{ROW},{'x' * 300}\n{ROW},ok\n").text))
        )
        assert rows[0]["error"] == "line 2: row longer than 300 bytes (MODEL_API_MAX_CSV_ROW_BYTES)"
        assert rows[1]["label"] == "Adelie"


def test_a_chunk_holds_a_bounded_amount_of_text() -> None:
    """Wide rows end a chunk early, so chunk_rows of them never pile up in memory."""
    from model_api.codecs.csv import CHUNK_MAX_BYTES, row_chunks

    row = ",".join(["1234567"] * 1_000) + "\n"  # 8 KB
    text = io.StringIO(row * 2_000, newline="")
    chunks = list(row_chunks(text, ",", ROW_LIMIT, first_line=2, chunk_rows=8_192))
    assert sum(len(rows) for rows, _ in chunks) == 2_000
    assert max(len(rows) for rows, _ in chunks) * len(row) <= CHUNK_MAX_BYTES + len(row)
    assert all(not errors for _, errors in chunks)
