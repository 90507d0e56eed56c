"""The HTTP client: real servers on loopback ports, retries with back-off, errors passed up intact."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest
from model_contract import EvaluationProgress
from model_ui.client import ApiClient, ApiError
from model_ui.settings import UISettings

from tests.support import Server, start_api

MODELS = {
    "models": [{"name": "m", "version": "1", "versions": ["1"], "task": "regression"}],
    "failed": {},
}


class FlakyHandler(BaseHTTPRequestHandler):
    """Answers 503 to the first ``failures`` requests, then 200 with a model list."""

    failures = 2
    seen: list[tuple[str, float, str | None]] = []  # noqa: RUF012  (reset per test)

    def _answer(self) -> None:
        FlakyHandler.seen.append((self.command, time.monotonic(), self.headers.get("X-API-Key")))
        if len(FlakyHandler.seen) <= FlakyHandler.failures:
            body, status = b'{"error": {"code": "not_ready", "message": "models are loading"}}', 503
        else:
            body, status = json.dumps(MODELS).encode(), 200
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def flaky_url() -> Iterator[str]:
    FlakyHandler.seen = []
    FlakyHandler.failures = 2
    server = ThreadingHTTPServer(("127.0.0.1", 0), FlakyHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_reads_are_retried_with_doubling_backoff_and_send_the_key(flaky_url: str) -> None:
    client = ApiClient(UISettings(api_url=flaky_url, retry_backoff_seconds=0.1, api_key="k1"))
    listing = client.list_models()
    assert [m.name for m in listing.models] == ["m"]
    times = [t for _, t, _ in FlakyHandler.seen]
    assert len(times) == 3
    assert times[1] - times[0] >= 0.1 and times[2] - times[1] >= 0.2
    assert {key for _, _, key in FlakyHandler.seen} == {"k1"}


def test_reads_give_up_after_the_retries_with_the_api_message(flaky_url: str) -> None:
    FlakyHandler.failures = 10
    client = ApiClient(UISettings(api_url=flaky_url, retry_backoff_seconds=0.01, read_retries=1))
    with pytest.raises(ApiError) as caught:
        client.list_models()
    assert len(FlakyHandler.seen) == 2
    assert (caught.value.status, caught.value.code, caught.value.message) == (
        503,
        "not_ready",
        "models are loading",
    )
    assert caught.value.url == f"{flaky_url}/v1/models"


def test_writes_are_not_retried(flaky_url: str) -> None:
    client = ApiClient(UISettings(api_url=flaky_url, retry_backoff_seconds=0.01))
    with pytest.raises(ApiError):
        client.predict("m", "1", [{"x": 1}])
    assert [method for method, _, _ in FlakyHandler.seen] == ["POST"]


def test_api_input_errors_come_through_intact(api_server: Server) -> None:
    client = ApiClient(UISettings(api_url=api_server.url))
    with pytest.raises(ApiError) as caught:
        client.predict("penguin-species", "1", [{"bill_length_mm": "long"}])
    error = caught.value
    assert (error.kind, error.status, error.code) == ("http", 422, "invalid_input")
    assert error.message.startswith("instances.0.")
    assert any(d.startswith("instances.0.bill_depth_mm: missing feature") for d in error.details)
    with pytest.raises(ApiError) as caught:
        client.metadata("no-such-model")
    assert caught.value.status == 404
    assert "model 'no-such-model' not found" in caught.value.message


def test_csv_scoring_and_readiness(api_server: Server) -> None:
    client = ApiClient(UISettings(api_url=api_server.url + "/"))
    header = 'bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,island,sex,extra,"price€, (a,b)"'
    scores = client.predict_csv(
        "penguin-species", None, f"{header}\n40,18,190,3600,Dream,female,1,2\n"
    )
    assert scores.ignored_columns == ["extra", "price€, (a,b)"]  # decoded from the header
    assert (
        scores.text.splitlines()[0]
        == "row,prediction_id,label,proba_Adelie,proba_Chinstrap,proba_Gentoo,error"
    )
    readiness = client.readiness()
    assert readiness.ready and readiness.models == {"penguin-mass": ["1"], "penguin-species": ["1"]}


def _labelled(rows: int) -> bytes:
    from model_api.authoring.examples import load_penguins_frame

    penguins = load_penguins_frame()
    return (
        pd.concat([penguins] * (rows // len(penguins) + 1)).head(rows).to_csv(index=False).encode()
    )


def test_an_evaluation_reports_its_progress_and_answers_as_without(api_server: Server) -> None:
    client = ApiClient(UISettings(api_url=api_server.url))
    data = _labelled(60_000)
    seen: list[EvaluationProgress] = []
    streamed = client.evaluate_csv("penguin-species", None, data, "species", progress=seen.append)
    plain = client.evaluate_csv("penguin-species", None, data, "species")
    assert (seen[0].rows, seen[0].stage) == (0, "scoring")
    assert (seen[-1].rows, seen[-1].stage, seen[-1].fraction) == (60_000, "metrics", 1.0)
    assert streamed.model_dump(exclude={"id", "created_at"}) == plain.model_dump(
        exclude={"id", "created_at"}
    )
    compared = client.compare_csv(
        "penguin-species", "1", data, "species", "penguin-species", "1", progress=seen.append
    )
    assert compared.disagreements.rows == 0 and seen[-1].stage == "metrics"


def test_an_error_in_the_progress_stream_comes_through_intact(
    example_repository: Path, tmp_path: Path
) -> None:
    server = start_api(example_repository, tmp_path, MODEL_API_MAX_EVALUATE_ROWS="100")
    try:
        client = ApiClient(UISettings(api_url=server.url))
        seen: list[EvaluationProgress] = []
        with pytest.raises(ApiError) as caught:
            client.evaluate_csv(
                "penguin-species", None, _labelled(342), "species", progress=seen.append
            )
    finally:
        server.stop()
    error = caught.value
    assert (error.kind, error.status, error.code) == ("http", 413, "payload_too_large")
    assert "MODEL_API_MAX_EVALUATE_ROWS" in error.message
    assert [p.rows for p in seen] == [0]  # the stream had started


@pytest.mark.parametrize(
    ("lines", "problem"),
    [
        (b'{"progress":{"rows":0,"fraction":0.0,"stage":"scoring"}}\n', "ended before its result"),
        (b"not json\n", "a progress line the UI does not understand"),
        (b'{"progress":{"rows":"many"}}\n', "a progress line the UI does not understand"),
        (b'{"result":{"model":"m"}}\n', "a progress line the UI does not understand"),
    ],
)
def test_a_broken_progress_stream_is_named(lines: bytes, problem: str) -> None:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.send_header("Content-Length", str(len(lines)))
            self.end_headers()
            self.wfile.write(lines)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = ApiClient(UISettings(api_url=f"http://127.0.0.1:{server.server_address[1]}"))
        with pytest.raises(ApiError) as caught:
            client.evaluate_csv("m", None, b"a,y\n1,2\n", "y", progress=lambda p: None)
    finally:
        server.shutdown()
        server.server_close()
    assert caught.value.kind == "invalid_response"
    assert problem in caught.value.message
