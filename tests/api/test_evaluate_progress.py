"""Evaluate and compare as a progress stream (``Accept: application/x-ndjson``), against the real
API: progress lines while the file is judged, then the very answer the plain request gets; an
error found before the stream is a plain 4xx, one found after is an error line; and the
evaluation slot is given back however the stream ends."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from model_contract import ComparisonResponse, EvaluationProgress, EvaluationResponse

from tests.support import Server, add_weak_species_version, start_api

SPECIES = "penguin-species"
CSV = {"content-type": "text/csv"}
STREAM = {**CSV, "accept": "application/x-ndjson"}
# Enough rows that judging them takes well over the 0.25 s between progress lines.
ROWS = 300_000
MAX_ROWS = 500


@pytest.fixture(scope="module")
def api(example_repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("progress-models")
    shutil.copytree(example_repository, folder, dirs_exist_ok=True)
    add_weak_species_version(folder)
    server = start_api(
        folder, tmp_path_factory.mktemp("progress-logs"), MODEL_API_CSV_CHUNK_ROWS="4096"
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def big_file(penguins: pd.DataFrame) -> bytes:
    return penguins.iloc[np.arange(ROWS) % len(penguins)].to_csv(index=False).encode()


def _lines(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in response.text.splitlines()]


def _post(api: Server, verb: str, data: bytes, headers: dict[str, str], **params: str) -> Any:
    return httpx.post(
        f"{api.url}/v1/models/{SPECIES}/{verb}",
        content=data,
        headers=headers,
        params=params,
        timeout=300,
    )


def _unstamped(evaluation: dict[str, Any]) -> dict[str, Any]:
    """An evaluation without what differs between two runs of it (its run id and time)."""
    return {k: v for k, v in evaluation.items() if k not in ("id", "created_at")}


def _progress_of(lines: list[dict[str, Any]], rows: int) -> list[EvaluationProgress]:
    """The progress lines, checked: every line but the last, from nothing to every row read
    (scoring, then the metrics), never going back."""
    assert all(set(line) == {"progress"} for line in lines[:-1]), lines[:-1]
    shown = [EvaluationProgress.model_validate(line["progress"]) for line in lines[:-1]]
    assert (shown[0].rows, shown[0].fraction, shown[0].stage) == (0, 0.0, "scoring")
    assert (shown[-1].rows, shown[-1].fraction, shown[-1].stage) == (rows, 1.0, "metrics")
    assert [p.rows for p in shown] == sorted(p.rows for p in shown)
    assert [p.fraction for p in shown] == sorted(p.fraction for p in shown)
    assert all(0.0 <= p.fraction <= 1.0 for p in shown)
    return shown


def test_an_evaluation_streams_its_progress_then_the_plain_answer(
    api: Server, big_file: bytes
) -> None:
    lines = _lines(_post(api, "evaluate", big_file, STREAM))
    shown = _progress_of(lines, ROWS)
    midway = [p for p in shown if p.stage == "scoring" and 0 < p.rows < ROWS]
    assert midway, f"no progress while the rows were judged: {shown}"
    assert all(0.0 < p.fraction < 1.0 for p in midway)
    assert set(lines[-1]) == {"result"}
    streamed = EvaluationResponse.model_validate(lines[-1]["result"])
    assert streamed.rows == ROWS and streamed.id is not None

    plain = _post(api, "evaluate", big_file, CSV)
    assert plain.status_code == 200, plain.text[:500]
    assert _unstamped(lines[-1]["result"]) == _unstamped(plain.json())
    # Stored like any run: it is read back as streamed.
    stored = httpx.get(f"{api.url}/v1/evaluations/{streamed.id}", timeout=30).json()
    assert stored == lines[-1]["result"]


def test_a_comparison_streams_its_progress_then_the_plain_answer(
    api: Server, penguins: pd.DataFrame
) -> None:
    data = penguins.to_csv(index=False).encode()
    params = {"other_version": "0"}
    lines = _lines(_post(api, "compare", data, STREAM, **params))
    _progress_of(lines, len(penguins))
    streamed = ComparisonResponse.model_validate(lines[-1]["result"])
    assert streamed.disagreements.rows > 0  # the weak version is another model indeed

    plain = _post(api, "compare", data, CSV, **params).json()
    for answer in (lines[-1]["result"], plain):
        answer["evaluations"] = [_unstamped(e) for e in answer["evaluations"]]
    assert lines[-1]["result"] == plain


@pytest.mark.parametrize(
    ("verb", "params", "status", "code"),
    [
        ("evaluate", {"target": "nope"}, 422, "invalid_input"),  # the header lacks it
        ("evaluate", {"delimiter": "?"}, 400, "bad_request"),
        ("compare", {"other_model": "nope"}, 404, "model_not_found"),
    ],
)
def test_an_error_found_before_the_stream_is_a_plain_error(
    api: Server,
    penguins: pd.DataFrame,
    verb: str,
    params: dict[str, str],
    status: int,
    code: str,
) -> None:
    answer = _post(api, verb, penguins.to_csv(index=False).encode(), STREAM, **params)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["error"]["code"] == code


def test_an_error_found_in_the_stream_is_its_last_line_and_frees_the_slot(
    example_repository: Path, tmp_path: Path, penguins: pd.DataFrame
) -> None:
    server = start_api(example_repository, tmp_path, MODEL_API_MAX_EVALUATE_ROWS=str(MAX_ROWS))
    try:
        over = pd.concat([penguins] * 2).to_csv(index=False).encode()
        lines = _lines(_post(server, "evaluate", over, STREAM))
        assert len(lines) == 2 and set(lines[0]) == {"progress"}, lines
        error = lines[-1]["error"]
        assert (error["status"], error["code"]) == (413, "payload_too_large")
        assert "MODEL_API_MAX_EVALUATE_ROWS" in error["message"]
        assert lines[-1]["request_id"]
        # The one evaluation slot is free again.
        again = _post(server, "evaluate", penguins.to_csv(index=False).encode(), CSV)
        assert again.status_code == 200, again.text
    finally:
        server.stop()


def test_a_client_that_leaves_mid_stream_frees_the_slot(
    api: Server, big_file: bytes, penguins: pd.DataFrame
) -> None:
    with httpx.Client(timeout=300) as client:
        url = f"{api.url}/v1/models/{SPECIES}/evaluate"
        with client.stream("POST", url, content=big_file, headers=STREAM) as response:
            assert response.status_code == 200
            first = next(response.iter_lines())
            assert json.loads(first)["progress"]["rows"] == 0
        # The connection is closed with most of the file unjudged.
    small = penguins.to_csv(index=False).encode()
    deadline = time.monotonic() + 60
    while True:
        answer = _post(api, "evaluate", small, CSV)
        if answer.status_code != 503 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert answer.status_code == 200, answer.text
