"""The feedback loop against the real API: every recorded answer carries ids that resolve, people
and programs post feedback on them (ground truth days later), and the engineer reads it back as
pages, a summary, metrics and a CSV that appends to the training set. Each test runs on the
embedded SQLite database and on a real PostgreSQL server."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from model_contract import (
    FeedbackPage,
    FeedbackResponse,
    FeedbackSummary,
    LoggedPrediction,
    ModelMetadata,
)

from tests.support import (
    ADELIE,
    PREDICTION_ID,
    Server,
    csv_without_ids,
    start_api,
    strictly,
    without_ids,
)

SPECIES = "penguin-species"
MASS = "penguin-mass"
GENTOO = {
    "bill_length_mm": 47.5,
    "bill_depth_mm": 14.2,
    "flipper_length_mm": 217,
    "body_mass_g": 5200,
    "island": "Biscoe",
    "sex": "female",
}
PENGUIN = {k: v for k, v in ADELIE.items() if k != "body_mass_g"} | {"species": "Adelie"}
FEATURES = list(ADELIE)
MASS_FEATURES = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "species", "island", "sex"]
UI = {"X-Prediction-Source": "ui"}


@pytest.fixture(scope="module")
def api(
    example_repository: Path, tmp_path_factory: pytest.TempPathFactory, database: dict[str, str]
) -> Iterator[Server]:
    server = start_api(
        example_repository,
        tmp_path_factory.mktemp("logs"),
        MODEL_API_PREDICTION_LOG_FLUSH_SECONDS="0.05",
        **database,
    )
    yield server
    server.stop()


def _predict(
    api: Server,
    rows: list[dict[str, Any]],
    model: str = SPECIES,
    headers: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    response = httpx.post(
        f"{api.url}/v1/models/{model}/predict",
        json={"instances": rows},
        headers=headers,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    predictions: list[dict[str, Any]] = response.json()["predictions"]
    return predictions


def _feedback(api: Server, **body: Any) -> httpx.Response:
    return httpx.post(f"{api.url}/v1/feedback", json=body, timeout=10)


def _error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    return error


def test_every_answer_carries_ids_that_resolve(api: Server) -> None:
    rows = _predict(api, [ADELIE, GENTOO], headers={"X-Request-ID": "traced-request-1"})
    assert [next(iter(row)) for row in rows] == ["id", "id"]
    token = rows[0]["id"].rsplit("-", 1)[0]
    assert [row["id"] for row in rows] == [f"{token}-0", f"{token}-1"]
    assert all(PREDICTION_ID.match(row["id"]) for row in rows)
    # 80 random bits per request: never sequential, never repeated.
    assert _predict(api, [ADELIE])[0]["id"].split("-")[0] != token

    logged = httpx.get(f"{api.url}/v1/predictions/{rows[1]['id']}", timeout=10)
    assert logged.status_code == 200, logged.text
    prediction = strictly(LoggedPrediction, logged.json())
    assert (prediction.model, prediction.version, prediction.row) == (SPECIES, "1", 1)
    assert prediction.source == "api"
    assert prediction.inputs == GENTOO  # values as they were sent
    assert prediction.output == {k: v for k, v in rows[1].items() if k != "id"}
    assert prediction.feedback == []
    assert prediction.request_id == "traced-request-1"

    # CSV: a prediction_id column right after row; each id resolves to its row's inputs.
    text = "bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,island,sex\n"
    text += (
        "39.1,18.7,181,3750,Torgersen,male\n"
        + "oops,1,1,1,Biscoe,male\n"
        + "47.5,14.2,217,5200,Biscoe,female\n"
    )
    scored = httpx.post(
        f"{api.url}/v1/models/{SPECIES}/predict",
        content=text,
        headers={"content-type": "text/csv"},
        timeout=10,
    )
    assert scored.status_code == 200, scored.text
    lines = list(csv.DictReader(io.StringIO(scored.text)))
    assert list(lines[0])[:2] == ["row", "prediction_id"]
    assert lines[1]["prediction_id"] == "" and lines[1]["error"]  # a rejected row has no id
    for line, sent in ((lines[0], ADELIE), (lines[2], GENTOO)):
        found = httpx.get(f"{api.url}/v1/predictions/{line['prediction_id']}", timeout=10).json()
        assert found["inputs"] == sent
        assert found["output"]["label"] == line["label"]
    assert "prediction_id" not in csv_without_ids(scored.text)

    # V2: the request's own id stays; the rows' ids are in parameters.prediction_ids.
    infer = {
        "id": "my-request",
        "inputs": [{"name": "input-0", "shape": [1, 6], "datatype": "BYTES",
                    "data": [str(v) for v in ADELIE.values()]}],
    }  # fmt: skip
    answer = httpx.post(f"{api.url}/v2/models/{SPECIES}/infer", json=infer, timeout=10).json()
    assert answer["id"] == "my-request"
    (v2_id,) = answer["parameters"]["prediction_ids"]
    assert httpx.get(f"{api.url}/v1/predictions/{v2_id}", timeout=10).json()["row"] == 0
    del infer["id"]
    anonymous = httpx.post(f"{api.url}/v2/models/{SPECIES}/infer", json=infer, timeout=10).json()
    assert anonymous["parameters"]["prediction_ids"] == [f"{anonymous['id']}-0"]
    assert without_ids(anonymous) == {
        k: v for k, v in answer.items() if k not in ("id", "parameters")
    }

    # Explanations are never recorded.
    explained = httpx.post(
        f"{api.url}/v1/models/{SPECIES}/explain", json={"instances": [ADELIE]}, timeout=10
    ).json()
    assert "id" not in explained["explanations"][0]

    metadata = strictly(
        ModelMetadata, httpx.get(f"{api.url}/v1/models/{SPECIES}", timeout=10).json()
    )
    assert metadata.feedback.enabled and metadata.feedback.endpoint == "/v1/feedback"


def test_feedback_is_created_then_updated_per_author(api: Server) -> None:
    (row,) = _predict(api, [ADELIE], headers=UI)
    first = _feedback(api, prediction_id=row["id"], verdict="wrong", actual="Gentoo",
                      comment="=not an Adelie, look at the bill", author="  Ada  ")  # fmt: skip
    assert first.status_code == 201, first.text
    saved = strictly(FeedbackResponse, first.json())
    assert saved.created and saved.feedback.author == "Ada"
    assert (saved.feedback.verdict, saved.feedback.actual) == ("wrong", "Gentoo")
    again = _feedback(api, prediction_id=row["id"], verdict="right", author="Ada")
    assert again.status_code == 200, again.text
    updated = strictly(FeedbackResponse, again.json())
    assert not updated.created and updated.feedback.verdict == "right"
    other = _feedback(api, prediction_id=row["id"], actual="Adelie", author="Grace")
    assert other.status_code == 201 and other.json()["feedback"]["verdict"] == "right"

    logged = strictly(LoggedPrediction, httpx.get(f"{api.url}/v1/predictions/{row['id']}").json())
    assert logged.source == "ui"
    assert sorted((f.author, f.verdict) for f in logged.feedback) == [
        ("Ada", "right"),
        ("Grace", "right"),
    ]


def test_feedback_refusals_name_the_problem(api: Server) -> None:
    (row,) = _predict(api, [ADELIE])
    unknown = _error(
        _feedback(api, prediction_id="0" * 20 + "-0", verdict="right", author="a"),
        404,
        "prediction_not_found",
    )
    assert "0" * 20 in unknown["message"]
    beyond = row["id"].rsplit("-", 1)[0] + "-7"  # the request had one row
    _error(
        _feedback(api, prediction_id=beyond, verdict="right", author="a"),
        404,
        "prediction_not_found",
    )
    malformed = _error(
        _feedback(api, prediction_id="12", verdict="right", author="a"), 422, "invalid_input"
    )
    assert malformed["details"][0]["loc"] == ["body", "prediction_id"]
    assert "hex" in malformed["message"]
    label = _error(
        _feedback(api, prediction_id=row["id"], actual="Emperor", author="a"), 422, "invalid_input"
    )
    assert label["details"][0]["loc"] == ["body", "actual"]
    assert all(name in label["message"] for name in ("Adelie", "Chinstrap", "Gentoo"))
    nothing = _error(
        _feedback(api, prediction_id=row["id"], comment="hm", author="a"), 422, "invalid_input"
    )
    assert "verdict" in nothing["message"]
    too_long = _feedback(
        api, prediction_id=row["id"], verdict="right", comment="x" * 2001, author="a"
    )
    assert _error(too_long, 422, "invalid_input")["details"][0]["loc"] == ["body", "comment"]
    _error(
        _feedback(api, prediction_id=row["id"], verdict="right", author="   "), 422, "invalid_input"
    )
    _error(
        _feedback(api, prediction_id=row["id"], verdict="maybe", author="a"), 422, "invalid_input"
    )
    _error(httpx.get(f"{api.url}/v1/predictions/nope"), 422, "invalid_input")
    _error(httpx.get(f"{api.url}/v1/predictions/{'a' * 20}-0"), 404, "prediction_not_found")

    (mass,) = _predict(api, [PENGUIN], model=MASS)
    for wrong in ("heavy", True):
        _error(
            _feedback(api, prediction_id=mass["id"], actual=wrong, author="a"), 422, "invalid_input"
        )
    # 1e400 reads as infinity: not a value a model predicts.
    body = f'{{"prediction_id": "{mass["id"]}", "actual": 1e400, "author": "a"}}'
    infinite = httpx.post(
        f"{api.url}/v1/feedback", content=body, headers={"content-type": "application/json"}
    )
    assert _error(infinite, 422, "invalid_input")["details"][0]["loc"] == ["body", "actual"]


def test_ground_truth_posted_later_derives_the_verdict(api: Server) -> None:
    rows = _predict(api, [ADELIE, GENTOO])
    labels = [row["label"] for row in rows]
    # Days later an application knows the truth: the label alone.
    right = _feedback(api, prediction_id=rows[0]["id"], actual=labels[0], author="lab-system")
    wrong_label = "Chinstrap" if labels[1] != "Chinstrap" else "Adelie"
    wrong = _feedback(api, prediction_id=rows[1]["id"], actual=wrong_label, author="lab-system")
    assert right.json()["feedback"]["verdict"] == "right"
    assert wrong.json()["feedback"]["verdict"] == "wrong"

    (mass,) = _predict(api, [PENGUIN], model=MASS)
    truth = _feedback(api, prediction_id=mass["id"], actual=3650, author="scale")
    assert truth.status_code == 201, truth.text
    assert truth.json()["feedback"]["actual"] == 3650.0
    assert truth.json()["feedback"]["verdict"] is None  # a number has no right or wrong


def test_pages_filter_and_follow_the_cursor(api: Server) -> None:
    since = datetime.now(UTC).isoformat()
    time.sleep(0.01)
    rows = _predict(api, [ADELIE] * 5)
    for i, row in enumerate(rows):
        verdict = "right" if i % 2 == 0 else "wrong"
        assert (
            _feedback(
                api, prediction_id=row["id"], verdict=verdict, comment=f"c{i}", author="pager"
            ).status_code
            == 201
        )

    def page(**query: Any) -> FeedbackPage:
        response = httpx.get(
            f"{api.url}/v1/models/{SPECIES}/feedback", params={"since": since, **query}
        )
        assert response.status_code == 200, response.text
        return strictly(FeedbackPage, response.json())

    everything = page()
    assert [i.prediction_id for i in everything.items] == [
        r["id"] for r in reversed(rows)
    ]  # newest first
    assert everything.next_cursor is None
    assert (
        everything.items[0].inputs == ADELIE
        and everything.items[0].output["label"] == rows[0]["label"]
    )
    assert [i.comment for i in page(verdict="wrong").items] == ["c3", "c1"]
    assert page(version="2").items == []
    seen, cursor, pages = [], None, 0
    while True:
        chunk = page(limit=2, **({"cursor": cursor} if cursor else {}))
        seen += [i.prediction_id for i in chunk.items]
        pages += 1
        cursor = chunk.next_cursor
        if cursor is None:
            break
    assert seen == [i.prediction_id for i in everything.items] and pages == 3
    until = httpx.get(f"{api.url}/v1/models/{SPECIES}/feedback", params={"until": since})
    assert rows[0]["id"] not in until.text
    _error(
        httpx.get(f"{api.url}/v1/models/{SPECIES}/feedback", params={"limit": 0}),
        422,
        "invalid_input",
    )
    # A body that is not even UTF-8 is refused like any body that is not the JSON it takes.
    unreadable = httpx.post(
        f"{api.url}/v1/feedback", content=b"\xff", headers={"content-type": "application/json"}
    )
    assert _error(unreadable, 422, "invalid_input")["details"] == [
        {"loc": ["body"], "msg": "not a JSON document (UTF-8)"}
    ]
    # A cursor is a position: its form is declared and checked; any such position pages on.
    for bad in ({"cursor": "!!not ours"}, {"cursor": ""}, {"until": "0.5"}, {"since": "1"}):
        refused = httpx.get(f"{api.url}/v1/models/{SPECIES}/feedback", params=bad)
        _error(refused, 422, "invalid_input")
        assert refused.json()["error"]["details"][0]["loc"] == ["query", *bad], refused.text
    start = httpx.get(f"{api.url}/v1/models/{SPECIES}/feedback", params={"cursor": "0.0"})
    assert start.status_code == 200 and start.json()["items"] == []
    _error(
        httpx.get(f"{api.url}/v1/models/{SPECIES}/feedback", params={"verdict": "meh"}),
        422,
        "invalid_input",
    )


def test_the_export_appends_to_the_training_set(api: Server) -> None:
    since = datetime.now(UTC).isoformat()
    time.sleep(0.01)
    rows = _predict(api, [ADELIE, GENTOO, {**ADELIE, "sex": None}])
    _feedback(api, prediction_id=rows[0]["id"], verdict="right", author="eng")
    _feedback(
        api,
        prediction_id=rows[1]["id"],
        actual="Chinstrap",
        comment='=SUM(A1) "quoted", comma',
        author="eng",
    )
    _feedback(api, prediction_id=rows[2]["id"], verdict="wrong", author="eng")  # no actual known
    response = httpx.get(f"{api.url}/v1/models/{SPECIES}/feedback/export", params={"since": since})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == (
        f"attachment; filename=\"{SPECIES}-feedback.csv\"; filename*=UTF-8''{SPECIES}-feedback.csv"
    )
    # Any model name makes a valid header: no quote, backslash or control character gets in.
    odd = httpx.get(f"{api.url}/v1/models/%18a%22b%5C%C3%A9/feedback/export")
    assert odd.status_code == 200, odd.text
    assert odd.headers["content-disposition"] == (
        "attachment; filename=\"_a_b__-feedback.csv\"; filename*=UTF-8''%18a%22b%5C%C3%A9-feedback.csv"
    )
    exported = pd.read_csv(io.StringIO(response.text))
    assert list(exported.columns) == [
        *FEATURES, "species", "prediction_id", "model_version", "predicted",
        "verdict", "comment", "author", "predicted_at", "judged_at",
    ]  # fmt: skip
    by_id = exported.set_index("prediction_id")
    assert (
        by_id.loc[rows[0]["id"], "species"] == rows[0]["label"]
    )  # right: the prediction was the truth
    assert by_id.loc[rows[1]["id"], "species"] == "Chinstrap"
    assert pd.isna(by_id.loc[rows[2]["id"], "species"])
    assert by_id.loc[rows[1]["id"], "comment"] == '=SUM(A1) "quoted", comma'  # data, left as it is
    assert pd.isna(by_id.loc[rows[2]["id"], "sex"])
    assert by_id.loc[rows[1]["id"], "flipper_length_mm"] == 217
    assert by_id.loc[rows[0]["id"], "island"] == "Torgersen"

    # Exactly the training set's shape: the features and the target append as they are.
    training = pd.DataFrame([{**ADELIE, "species": "Adelie"}])
    appended = pd.concat([training, exported[[*FEATURES, "species"]]], ignore_index=True)
    assert list(appended.columns) == [*FEATURES, "species"] and len(appended) == 4
    # And the rows score again through the CSV endpoint, read as the training sample was.
    again = httpx.post(
        f"{api.url}/v1/models/{SPECIES}/predict",
        content=exported[FEATURES].to_csv(index=False),
        headers={"content-type": "text/csv"},
    )
    assert [line["label"] for line in csv.DictReader(io.StringIO(again.text))] == exported[
        "predicted"
    ].tolist()

    (mass,) = _predict(api, [PENGUIN], model=MASS)
    _feedback(api, prediction_id=mass["id"], actual=3700, author="eng")
    regression = pd.read_csv(io.StringIO(
        httpx.get(f"{api.url}/v1/models/{MASS}/feedback/export", params={"since": since}).text
    ))  # fmt: skip
    assert list(regression.columns)[:7] == [*MASS_FEATURES, "body_mass_g"]
    assert regression["body_mass_g"].tolist() == [3700.0]
    assert regression["predicted"].tolist() == pytest.approx([mass["value"]])


def test_the_summary_counts_agreement_per_version(api: Server) -> None:
    def summary() -> FeedbackSummary:
        response = httpx.get(f"{api.url}/v1/models/{SPECIES}/feedback/summary", params={"days": 7})
        assert response.status_code == 200, response.text
        return strictly(FeedbackSummary, response.json())

    before = summary()
    counts = {v.version: v for v in before.versions}
    right0 = counts["1"].right if "1" in counts else 0
    judged0 = counts["1"].judged if "1" in counts else 0
    rows = _predict(api, [ADELIE] * 4)
    for row, verdict in zip(rows, ["right", "right", "right", "wrong"], strict=True):
        _feedback(api, prediction_id=row["id"], verdict=verdict, author="summary")
    after = summary()
    (version,) = [v for v in after.versions if v.version == "1"]
    assert (version.judged - judged0, version.right - right0) == (4, 3)
    assert version.agreement == pytest.approx(version.right / version.judged)
    assert after.days == 7 and after.total_feedback >= before.total_feedback + 4
    today = datetime.now(UTC).date().isoformat()
    assert any(d.day == today and d.version == "1" for d in after.daily)

    metrics = httpx.get(f"{api.url}/metrics").text
    assert f'model_api_feedback_total{{model="{SPECIES}",verdict="right",version="1"}}' in metrics
    assert f'model_api_feedback_agreement_ratio{{model="{SPECIES}",version="1"}}' in metrics
    assert 'model_api_prediction_log_rows_total{outcome="written"}' in metrics
    assert "model_api_database_up 1.0" in metrics


def test_sampling_and_exclusions(
    example_repository: Path, tmp_path: Path, database: dict[str, str]
) -> None:
    """Sample rate 0: API clients' answers carry no ids (nothing recorded), the UI's always do;
    an excluded feature is never stored and exports empty."""
    with_settings = start_api(
        example_repository,
        tmp_path,
        MODEL_API_PREDICTION_LOG_SAMPLE_RATE="0",
        MODEL_API_PREDICTION_LOG_EXCLUDE_FEATURES='["sex", "island"]',
        **database,
    )
    try:
        plain = _predict(with_settings, [ADELIE])
        assert "id" not in plain[0]
        scored = httpx.post(
            f"{with_settings.url}/v1/models/{SPECIES}/predict",
            content="bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,island,sex\n39.1,18.7,181,3750,Torgersen,male\n",
            headers={"content-type": "text/csv"},
        )
        assert scored.text.startswith("row,label,")
        (ui,) = _predict(with_settings, [ADELIE], headers=UI)
        logged = httpx.get(f"{with_settings.url}/v1/predictions/{ui['id']}").json()
        assert logged["inputs"] == {k: v for k, v in ADELIE.items() if k not in ("sex", "island")}
        assert logged["source"] == "ui"
        since = datetime.now(UTC).isoformat()
        _feedback(with_settings, prediction_id=ui["id"], verdict="right", author="privacy")
        export = pd.read_csv(io.StringIO(httpx.get(
            f"{with_settings.url}/v1/models/{SPECIES}/feedback/export", params={"since": since}
        ).text))  # fmt: skip
        assert list(export.columns)[: len(FEATURES)] == FEATURES  # the column stays, empty
        assert export["sex"].isna().all() and export["island"].isna().all()
        assert export["bill_length_mm"].tolist() == [39.1]
    finally:
        with_settings.stop()


def _batches_scored(api: Server) -> float:
    text = httpx.get(f"{api.url}/metrics", timeout=10).text
    found = re.search(
        rf'^model_api_batch_rows_count{{[^}}]*model="{SPECIES}"[^}}]*}} (\S+)$', text, re.M
    )
    return float(found.group(1)) if found else 0.0


def test_requests_scored_together_are_each_logged_as_their_own(
    example_repository: Path, tmp_path: Path, database: dict[str, str]
) -> None:
    """Concurrent requests share micro-batches, recorded (UI) and not (API, sample rate 0)
    side by side, v1 and V2: every id resolves to its own request's inputs and answer, and a
    request that is not recorded has none."""
    server = start_api(
        example_repository, tmp_path, MODEL_API_PREDICTION_LOG_SAMPLE_RATE="0", **database
    )
    lengths = [30.0 + i / 4 for i in range(96)]

    async def send(client: httpx.AsyncClient, i: int) -> tuple[int, httpx.Response]:
        row = {**ADELIE, "bill_length_mm": lengths[i]}
        headers = UI if i % 2 == 0 else {}
        if i % 3 == 0:
            inputs = [
                {"name": name, "shape": [1], "datatype": "BYTES" if isinstance(value, str) else "FP64", "data": [value]}
                for name, value in row.items()
            ]  # fmt: skip
            url = f"/v2/models/{SPECIES}/infer"
            return i, await client.post(url, json={"inputs": inputs}, headers=headers)
        url = f"/v1/models/{SPECIES}/predict"
        return i, await client.post(url, json={"instances": [row]}, headers=headers)

    async def send_all() -> list[tuple[int, httpx.Response]]:
        limits = httpx.Limits(max_connections=len(lengths))
        async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=30) as client:
            return await asyncio.gather(*(send(client, i) for i in range(len(lengths))))

    try:
        before = _batches_scored(server)
        answers = asyncio.run(send_all())
        assert _batches_scored(server) - before < len(lengths)  # some requests shared a batch
        for i, response in answers:
            assert response.status_code == 200, response.text
            body = response.json()
            if "outputs" in body:
                ids = body.get("parameters", {}).get("prediction_ids")
                label = body["outputs"][0]["data"][0]
            else:
                ids = [p["id"] for p in body["predictions"] if "id" in p] or None
                label = body["predictions"][0]["label"]
            if i % 2:
                assert ids is None, body  # an API client's request, not sampled
                continue
            assert ids is not None and len(ids) == 1, body
            logged = httpx.get(f"{server.url}/v1/predictions/{ids[0]}", timeout=10).json()
            assert logged["inputs"]["bill_length_mm"] == lengths[i], (i, logged)
            assert logged["output"]["label"] == label
            assert logged["source"] == "ui"
    finally:
        server.stop()


def test_log_off_answers_as_before_and_feedback_is_unavailable(
    example_repository: Path, tmp_path: Path, api: Server
) -> None:
    off = start_api(example_repository, tmp_path, MODEL_API_PREDICTION_LOG="false")
    try:
        on = httpx.post(
            f"{api.url}/v1/models/{SPECIES}/predict", json={"instances": [ADELIE]}
        ).json()
        plain = httpx.post(
            f"{off.url}/v1/models/{SPECIES}/predict", json={"instances": [ADELIE]}
        ).json()
        assert "id" not in plain["predictions"][0]
        assert without_ids(on) == plain
        _error(
            _feedback(off, prediction_id="0" * 20 + "-0", verdict="right", author="a"),
            503,
            "feedback_unavailable",
        )
        _error(httpx.get(f"{off.url}/v1/models/{SPECIES}/feedback"), 503, "feedback_unavailable")
        metadata = httpx.get(f"{off.url}/v1/models/{SPECIES}").json()
        assert metadata["feedback"] == {"enabled": False, "endpoint": "/v1/feedback"}
        assert not list(tmp_path.glob("data-*/model-api.db"))  # nothing opened
        assert "model_api_database_up" not in httpx.get(f"{off.url}/metrics").text
    finally:
        off.stop()


def test_migrate_applies_the_migrations_and_exits(tmp_path: Path, database: dict[str, str]) -> None:
    # SQLite: a folder nothing has opened yet (the module's API uses the fixture's).
    env = {**database, "MODEL_API_DATA_DIR": str(tmp_path / "fresh")}
    for _ in range(2):  # twice: migrating a migrated database changes nothing
        result = subprocess.run(
            [sys.executable, "-m", "model_api.cli", "migrate"],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "database migrated" in result.stdout
        assert ":***@" in result.stdout or "sqlite" in result.stdout  # the password never shows
    if "MODEL_API_DATABASE_URL" not in database:
        assert (tmp_path / "fresh" / "model-api.db").is_file()
