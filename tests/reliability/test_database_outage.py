"""The database goes down and comes back while a client keeps predicting: no prediction fails,
the records that could not be written are counted as dropped, and once the real PostgreSQL
server is back new predictions are logged and feedback works again."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import ADELIE, Server, start_api

PREDICT = "/v1/models/penguin-species/predict"


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def _dropped(api: Server) -> float:
    text = httpx.get(f"{api.url}/metrics").text
    return _metric(text, 'model_api_prediction_log_rows_total{outcome="dropped"}')


def _database_up(api: Server) -> float:
    return _metric(httpx.get(f"{api.url}/metrics").text, "model_api_database_up")


def _wait(condition: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"not true within {timeout}s: {condition}")


@pytest.fixture
def api(
    example_repository: Path, tmp_path: Path, postgres_server: Any, fresh_postgres_url: str
) -> Iterator[Server]:
    server = start_api(
        example_repository,
        tmp_path,
        MODEL_API_DATABASE_URL=fresh_postgres_url,
        MODEL_API_PREDICTION_LOG_FLUSH_SECONDS="0.05",
    )
    yield server
    server.stop()


def test_predictions_never_fail_while_the_database_is_down(
    api: Server, postgres_server: Any
) -> None:
    failures: list[str] = []
    answered = 0
    stop = threading.Event()

    def client() -> None:
        nonlocal answered
        with httpx.Client(base_url=api.url, timeout=10) as http:
            while not stop.is_set():
                response = http.post(PREDICT, json={"instances": [ADELIE]})
                if response.status_code != 200:
                    failures.append(f"{response.status_code} {response.text[:200]}")
                answered += 1

    worker = threading.Thread(target=client, daemon=True)
    worker.start()
    try:
        time.sleep(1)
        assert _database_up(api) == 1
        before = _dropped(api)
        postgres_server.stop()
        _wait(lambda: _dropped(api) > before and _database_up(api) == 0)
        # Feedback needs the database: a clear 503, not a hang or a 500.
        (row,) = httpx.post(f"{api.url}{PREDICT}", json={"instances": [ADELIE]}).json()[
            "predictions"
        ]
        down = httpx.post(
            f"{api.url}/v1/feedback",
            json={
                "prediction_id": row.get("id", "0" * 20 + "-0"),
                "verdict": "right",
                "author": "ops",
            },
            timeout=30,
        )
        assert down.status_code in (404, 503), down.text
        postgres_server.start()
        _wait(lambda: _database_up(api) == 1)
        time.sleep(1)
    finally:
        stop.set()
        worker.join(timeout=30)
    assert failures == [] and answered > 50, (failures[:5], answered)

    (fresh,) = httpx.post(f"{api.url}{PREDICT}", json={"instances": [ADELIE]}).json()["predictions"]
    logged = httpx.get(f"{api.url}/v1/predictions/{fresh['id']}", timeout=30)
    assert logged.status_code == 200, logged.text
    saved = httpx.post(
        f"{api.url}/v1/feedback",
        json={"prediction_id": fresh["id"], "actual": "Adelie", "author": "ops"},
        timeout=30,
    )
    assert saved.status_code == 201, saved.text
