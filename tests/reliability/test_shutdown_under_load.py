"""SIGTERM in the middle of a load run: every request the server accepted is answered."""

from __future__ import annotations

import json
import signal
import threading
import time
import uuid
from pathlib import Path

import httpx

from tests.support import ADELIE, start_api

WORKERS = 16
GRACE_SECONDS = 10


def test_sigterm_during_load_loses_no_accepted_request(
    example_repository: Path, tmp_path: Path, output_dir: Path
) -> None:
    server = start_api(
        example_repository,
        tmp_path,
        MODEL_API_GRACEFUL_SHUTDOWN_SECONDS=str(GRACE_SECONDS),
        MODEL_API_ACCESS_LOG="true",  # the log lists every request the server answered
    )
    url = f"{server.url}/v1/models/penguin-species/predict"
    answered: dict[str, int] = {}
    refused: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()

    def worker() -> None:
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                request_id = uuid.uuid4().hex
                try:
                    response = client.post(
                        url, json={"instances": [ADELIE] * 20}, headers={"X-Request-ID": request_id}
                    )
                    with lock:
                        answered[request_id] = response.status_code
                except httpx.TransportError as exc:
                    # The listener is closed or an idle keep-alive connection was shut:
                    # the server never read this request.
                    with lock:
                        refused.append(type(exc).__name__)
                    time.sleep(0.01)

    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    time.sleep(2.0)
    signalled = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    server.process.wait(timeout=GRACE_SECONDS + 10)
    exit_seconds = time.monotonic() - signalled
    stop.set()
    for thread in threads:
        thread.join(30)

    logged = {}
    for line in server.log().split("\n"):
        entry = json.loads(line) if line.startswith("{") else {}
        if entry.get("message") == "request" and entry.get("path", "").endswith("/predict"):
            logged[entry["request_id"]] = entry["status"]
    lost = {rid: status for rid, status in logged.items() if rid not in answered}
    summary = (
        f"shutdown under load: {len(answered)} answered, {len(refused)} refused after SIGTERM "
        f"({sorted(set(refused))}), exit {exit_seconds:.2f}s after SIGTERM"
    )
    (output_dir / "shutdown-under-load.txt").write_text(summary + "\n")
    print(summary)
    assert len(answered) > 50
    assert set(answered.values()) == {200}
    assert lost == {}, f"the server handled {len(lost)} requests whose answers never arrived"
    assert logged.keys() == answered.keys()
    assert exit_seconds < GRACE_SECONDS
    assert "Finished server process" in server.log()
