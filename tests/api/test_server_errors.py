"""A bug in a handler: a 500 that carries the request id, a connection that keeps working, a log
line that names the request; a bug while a response streams: a cut answer, never a short one."""

from __future__ import annotations

import http.client
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.api.failing_server import FAILS, FAILS_WHILE_STREAMING
from tests.support import ROOT, Server, api_environment, free_port, server_module, start_server


@pytest.fixture(scope="module")
def failing_server(
    example_repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """The real API, served as `model-api serve` does, with two routes that fail on purpose."""
    port = free_port()
    environment = api_environment(example_repository, port, tmp_path_factory.mktemp("data"))
    server = start_server(
        [sys.executable, *server_module("tests.api.failing_server")],
        port,
        "/readyz",
        tmp_path_factory.mktemp("logs") / "failing-api.log",
        env=environment,
        cwd=ROOT,
    )
    yield server
    server.stop()


def log_lines(server: Server, request_id: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in server.log().split("\n") if line.startswith("{")]
    return [line for line in lines if line.get("request_id") == request_id]


def test_a_500_carries_the_request_id_and_the_connection_stays_usable(
    failing_server: Server,
) -> None:
    address = urlsplit(failing_server.url)
    # http.client reuses its socket unless the answer says Connection: close, and never retries:
    # a connection dropped after the answer fails the next request.
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
    try:
        for attempt in range(3):
            request_id = f"failure-{attempt}"
            connection.request("GET", FAILS, headers={"X-Request-ID": request_id})
            response = connection.getresponse()
            body = json.loads(response.read())
            assert response.status == 500
            assert response.getheader("x-request-id") == request_id
            assert body == {
                "error": {
                    "code": "internal_error",
                    "message": "internal error; see the server log",
                    "details": [],
                },
                "request_id": request_id,
            }
            connection.request("GET", "/healthz")
            follow_up = connection.getresponse()
            assert follow_up.status == 200, follow_up.read()
            follow_up.read()
    finally:
        connection.close()

    with httpx.Client(base_url=failing_server.url, timeout=10) as client:
        for _ in range(3):
            assert client.get(FAILS).status_code == 500
            assert client.get("/healthz").status_code == 200

    logged = log_lines(failing_server, "failure-0")
    assert [line["message"] for line in logged if line["level"] == "error"] == ["unhandled error"]
    assert "RuntimeError: failure on purpose" in logged[0]["exception"]


def test_a_failure_while_streaming_cuts_the_answer_and_names_the_request(
    failing_server: Server,
) -> None:
    with httpx.Client(base_url=failing_server.url, timeout=10) as client:
        with pytest.raises(httpx.RemoteProtocolError, match="incomplete chunked read"):
            client.get(FAILS_WHILE_STREAMING, headers={"X-Request-ID": "cut-stream"})
        assert client.get("/healthz").status_code == 200  # a fresh connection serves at once
        scraped = client.get("/metrics").text

    logged = log_lines(failing_server, "cut-stream")
    errors = [line for line in logged if line["level"] == "error"]
    assert errors, failing_server.log()[-3000:]
    assert "the connection is closed" in errors[0]["message"]
    assert "failure on purpose, mid-stream" in errors[0]["exception"]
    assert any(line.get("status") == 500 for line in logged)  # the access line
    assert (
        f'model_api_http_requests_total{{method="GET",route="{FAILS_WHILE_STREAMING}",status="500"}} 1.0'
        in scraped
    )
