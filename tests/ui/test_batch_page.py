"""Batch page (AppTest) against a real API: column checks, chunked scoring, the downloaded file."""

from __future__ import annotations

import csv
import io

import httpx
import pytest

from tests.support import Server
from tests.ui.helpers import open_app, plain, texts

HEADER = "bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,island,sex,note"
ROWS = [
    "39.1,18.7,181,3750,Torgersen,male,first",
    "46.5,17.9,192,3500,Dream,female,second",
    "abc,17.0,197,4050,Biscoe,male,not a number",
    "50.0,15.2,218,5700,Biscoe,male,fourth",
    "",  # a blank line is not a row
    "45.2,14.8,212,5200,Mars,female,unknown island",
    "49.5,19.0,200,3800,Dream,male,sixth",
    "38.0,17.5,,3450,Torgersen,,missing values",
]
UPLOAD = ("\n".join([HEADER, *ROWS]) + "\n").encode()


def scored_by_api(server: Server) -> list[dict[str, str]]:
    """What the API answers for the whole file in one request."""
    response = httpx.post(
        f"{server.url}/v1/models/penguin-species/predict",
        content=UPLOAD,
        headers={"Content-Type": "text/csv"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.text)))


def test_batch_scores_in_chunks_and_offers_the_file(
    ui_env: Server,
    monkeypatch: pytest.MonkeyPatch,
    capture_downloads: list[tuple[str | None, bytes]],
) -> None:
    monkeypatch.setenv("MODEL_UI_BATCH_CHUNK_ROWS", "3")  # 7 rows: three requests
    at = open_app("batch")
    at.file_uploader[0].set_value(("penguins.csv", UPLOAD, "text/csv")).run()
    assert not at.exception
    assert "The model does not know the column(s) note" in texts(at)
    assert "**7 rows** · columns match the model." in texts(at)
    score = next(b for b in at.button if b.label.startswith("Score"))
    assert score.label == "Score 7 rows"
    capture_downloads.clear()
    score.click().run()
    assert not at.exception

    expected = scored_by_api(ui_env)
    assert len(expected) == 7
    assert "Scored 5 of 7 rows; 2 rejected." in texts(at)

    result = next(
        df.value for df in at.dataframe if "error" in df.value.columns and len(df.value) == 7
    )
    assert list(result["row"]) == [int(r["row"]) for r in expected]
    assert list(result["label"].fillna("")) == [r["label"] for r in expected]
    assert list(result["note"]) == [
        "first",
        "second",
        "not a number",
        "fourth",
        "unknown island",
        "sixth",
        "missing values",
    ]
    assert list(result["error"]) == [r["error"] for r in expected]
    for column in ("proba_Adelie", "proba_Chinstrap", "proba_Gentoo"):
        got = [None if v != v else round(v, 5) for v in result[column]]
        assert got == [round(float(r[column]), 5) if r[column] else None for r in expected]

    rejected = next(df.value for df in at.dataframe if list(df.value.columns) == ["row", "error"])
    assert list(rejected["row"]) == [3, 5]
    assert "'abc' is not a number" in rejected["error"].iloc[0]
    assert "unknown category 'Mars'" in rejected["error"].iloc[1]

    files = [
        data
        for name, data in capture_downloads
        if name and name.endswith("-scored-penguin-species-v1.csv")
    ]
    assert len(files) == 1, capture_downloads
    downloaded = list(csv.DictReader(io.StringIO(files[0].decode())))
    assert [d["label"] for d in downloaded] == [r["label"] for r in expected]
    assert [d["error"] for d in downloaded] == [r["error"] for r in expected]
    assert downloaded[0]["island"] == "Torgersen" and downloaded[0]["note"] == "first"


def test_the_result_names_the_columns_the_api_ignored(ui_env: Server) -> None:
    header = 'island,sex,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,note,"€, (a,b)"'
    upload = f"{header}\nDream,female,46.5,17.9,192,3500,x,y\n".encode()
    at = open_app("batch")
    at.file_uploader[0].set_value(("odd.csv", upload, "text/csv")).run()
    next(b for b in at.button if b.label.startswith("Score")).click().run()
    assert not at.exception
    said = httpx.post(
        f"{ui_env.url}/v1/models/penguin-species/predict",
        content=upload,
        headers={"Content-Type": "text/csv"},
        timeout=30,
    ).headers["x-ignored-columns"]
    assert said == "note,%E2%82%AC%2C%20(a%2Cb)"  # percent-encoded by the API
    assert "The API ignored the column(s) note, €, (a,b): the model does not take them" in texts(at)


def test_missing_columns_are_named_before_anything_is_sent(ui_env: Server) -> None:
    at = open_app("batch")
    at.file_uploader[0].set_value(
        ("short.csv", b"bill_length_mm;island;colour\n40;Dream;red\n", "text/csv")
    ).run()
    assert not at.exception
    error = plain(at.error[0].value)
    assert (
        "lacks the feature column(s): bill_depth_mm, flipper_length_mm, body_mass_g, sex" in error
    )
    assert "Nothing was sent" in error
    assert "colour" in at.warning[0].value  # the unknown column, found with the sniffed ';'
    assert not [b for b in at.button if b.label.startswith("Score")]


def test_a_file_that_is_not_utf8_is_refused(ui_env: Server) -> None:
    at = open_app("batch")
    at.file_uploader[0].set_value(
        ("latin.csv", "island\nTorgersen\xe9\n".encode("latin-1"), "text/csv")
    ).run()
    assert "not UTF-8" in plain(at.error[0].value)


def test_the_template_scores_with_a_regression_model(
    ui_env: Server, capture_downloads: list[tuple[str | None, bytes]]
) -> None:
    at = open_app("batch", model="penguin-mass")
    template = next(data for name, data in capture_downloads if name == "penguin-mass-template.csv")
    at.file_uploader[0].set_value(("penguin-mass-template.csv", template, "text/csv")).run()
    next(b for b in at.button if b.label == "Score 1 row").click().run()
    assert not at.exception
    scored = httpx.post(
        f"{ui_env.url}/v1/models/penguin-mass/predict",
        content=template,
        headers={"Content-Type": "text/csv"},
        timeout=30,
    ).text
    value = float(next(csv.DictReader(io.StringIO(scored)))["value"])
    result = next(df.value for df in at.dataframe if "value" in df.value.columns)
    assert result["value"].tolist() == [pytest.approx(value)]
    assert result["error"].tolist() == [""]
