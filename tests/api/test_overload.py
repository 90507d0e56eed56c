"""Overload: past the in-flight limit the API answers a fast 503 with Retry-After."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx

from tests.api.test_metrics import scrape, value
from tests.support import ADELIE, running_api

PREDICT = "/v1/models/penguin-species/predict"
CSV = {"content-type": "text/csv"}


def test_excess_requests_get_a_fast_503_with_retry_after(
    example_repository: Path, tmp_path: Path
) -> None:
    # Scored CSV answers larger than the socket buffers (the holders' receive buffer is kept
    # small): a client that does not read its answer keeps its request being served (a stalled
    # body does not, see test_slow_clients).
    rows = 100_000
    small_buffer = [(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)]
    row = ",".join(str(v) for v in ADELIE.values()) + "\n"
    upload = (",".join(ADELIE) + "\n" + row * rows).encode()
    with (
        running_api(example_repository, tmp_path, MODEL_API_MAX_IN_FLIGHT="2") as server,
        httpx.Client(
            base_url=server.url,
            timeout=60,
            transport=httpx.HTTPTransport(socket_options=small_buffer),
        ) as first,
        httpx.Client(
            base_url=server.url,
            timeout=60,
            transport=httpx.HTTPTransport(socket_options=small_buffer),
        ) as second,
        first.stream("POST", PREDICT, content=upload, headers=CSV) as held_first,
        second.stream("POST", PREDICT, content=upload, headers=CSV) as held_second,
    ):
        assert held_first.status_code == held_second.status_code == 200
        assert value(scrape(server), "model_api_http_requests_in_flight") == 2

        for method, path, body in (
            ("POST", PREDICT, {"instances": [ADELIE]}),  # refused once its body is in
            ("GET", "/v1/models", None),  # no body: refused at once
        ):
            started = time.monotonic()
            refused = httpx.request(method, f"{server.url}{path}", json=body, timeout=10)
            elapsed = time.monotonic() - started
            assert refused.status_code == 503
            assert refused.headers["retry-after"] == "1"
            assert "server busy: 2 requests in flight" in refused.json()["error"]["message"]
            assert elapsed < 5  # refused at once, not queued behind the held requests
        assert httpx.get(f"{server.url}/readyz").status_code == 200  # probes are never refused

        for held in (held_first, held_second):
            assert sum(1 for _ in held.iter_lines()) == 1 + rows
        assert first.post(PREDICT, json={"instances": [ADELIE]}).status_code == 200
        assert value(scrape(server), "model_api_http_requests_in_flight") == 0
