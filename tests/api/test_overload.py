"""Overload: past the in-flight limit the API answers a fast 503 with Retry-After."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.support import ADELIE, running_api


def test_excess_requests_get_a_fast_503_with_retry_after(
    example_repository: Path, tmp_path: Path
) -> None:
    body = json.dumps({"instances": [ADELIE]}).encode()
    release = threading.Event()
    statuses: list[int] = []

    def stalled_body() -> Iterator[bytes]:
        yield body[:10]
        release.wait(20)
        yield body[10:]

    def stalled_request(url: str) -> None:
        response = httpx.post(
            url, content=stalled_body(), headers={"content-type": "application/json"}, timeout=30
        )
        statuses.append(response.status_code)

    with running_api(example_repository, tmp_path, MODEL_API_MAX_IN_FLIGHT="2") as server:
        url = f"{server.url}/v1/models/penguin-species/predict"
        holders = [threading.Thread(target=stalled_request, args=(url,)) for _ in range(2)]
        for holder in holders:
            holder.start()
        time.sleep(0.5)  # both now occupy the server

        started = time.monotonic()
        refused = httpx.post(url, json={"instances": [ADELIE]}, timeout=10)
        elapsed = time.monotonic() - started
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert "server busy" in refused.json()["error"]["message"]
        assert elapsed < 5  # refused at once, not queued behind the stalled requests
        assert httpx.get(f"{server.url}/readyz").status_code == 200  # probes are never refused

        release.set()
        for holder in holders:
            holder.join(30)
        assert statuses == [200, 200]
        assert httpx.post(url, json={"instances": [ADELIE]}).status_code == 200
