"""Start-up, readiness, broken bundles, JSON logs and graceful shutdown of the real server."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from model_api.http.app import create_app
from model_api.serving.bundle import sha256_of
from model_api.settings import Settings

from tests.support import ADELIE, Server, free_port, running_api, server_module, start_api


def _tamper(folder: Path) -> None:
    with (folder / "model.ubj").open("ab") as handle:
        handle.write(b"tampered")


def _corrupt(folder: Path) -> None:
    (folder / "model.ubj").write_bytes(b"\x00garbage, not a model")
    metadata = json.loads((folder / "metadata.json").read_text())
    metadata["model_sha256"] = sha256_of(folder / "model.ubj")
    (folder / "metadata.json").write_text(json.dumps(metadata))


def _disagree(folder: Path) -> None:
    metadata = json.loads((folder / "metadata.json").read_text())
    metadata["features"] = metadata["features"][:-1]
    (folder / "metadata.json").write_text(json.dumps(metadata))


BREAKERS = {
    "hash mismatch": _tamper,
    "cannot read model.ubj": _corrupt,
    "model expects 6 features, metadata lists 5": _disagree,
}


@pytest.fixture(params=list(BREAKERS))
def broken(
    request: pytest.FixtureRequest, example_repository: Path, tmp_path: Path
) -> tuple[Path, str]:
    """A copy of the example repository whose penguin-mass bundle is broken in one way."""
    repository = tmp_path / "repo"
    shutil.copytree(example_repository, repository)
    BREAKERS[request.param](repository / "penguin-mass" / "1")
    return repository, request.param


@pytest.fixture
def repository_with_a_broken_bundle(example_repository: Path, tmp_path: Path) -> Path:
    repository = tmp_path / "repo-tampered"
    shutil.copytree(example_repository, repository)
    _tamper(repository / "penguin-mass" / "1")
    return repository


def readiness_after_loading(server: Server, timeout: float = 30) -> httpx.Response:
    """The /readyz answer once loading has finished (whatever its outcome)."""
    deadline = time.monotonic() + timeout
    while (ready := httpx.get(f"{server.url}/readyz")).json()["status"] == "loading":
        assert time.monotonic() < deadline, "models still loading"
        time.sleep(0.1)
    return ready


def test_a_broken_bundle_is_named_and_the_others_keep_serving(
    broken: tuple[Path, str], tmp_path: Path
) -> None:
    repository, problem = broken
    server = start_api(repository, tmp_path, ready=False)
    try:
        ready = readiness_after_loading(server)
        assert ready.status_code == 503
        body = ready.json()
        assert body["status"] == "not_ready"
        assert "penguin-mass/1" in body["failed"]
        assert problem in body["failed"]["penguin-mass/1"]
        assert "penguin-mass" in body["failed"]["penguin-mass/1"]
        assert body["models"] == {"penguin-species": ["1"]}
        ok = httpx.post(
            f"{server.url}/v1/models/penguin-species/predict", json={"instances": [ADELIE]}
        )
        assert ok.status_code == 200
        refused = httpx.post(
            f"{server.url}/v1/models/penguin-mass/predict", json={"instances": [ADELIE]}
        )
        assert refused.status_code == 503
        assert problem in refused.json()["error"]["message"]
        assert httpx.get(f"{server.url}/v2/models/penguin-mass/ready").status_code == 503
        assert httpx.get(f"{server.url}/v2/health/ready").status_code == 503
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        assert "penguin-mass/1" in httpx.get(f"{server.url}/v1/models").json()["failed"]
        log_lines = [json.loads(line) for line in server.log().split("\n") if line.startswith("{")]
        failure = next(e for e in log_lines if e["message"] == "model bundle failed to load")
        assert failure["bundle"] == "penguin-mass/1"
        assert problem in failure["error"]
    finally:
        server.stop()


def test_strict_startup_refuses_to_start(
    repository_with_a_broken_bundle: Path, tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, *server_module("model_api.cli"), "serve", "--port", str(free_port())],
        env={
            "MODEL_API_MODEL_REPOSITORY": str(repository_with_a_broken_bundle),
            "MODEL_API_STRICT_STARTUP": "true",
            "MODEL_API_DATA_DIR": str(tmp_path / "data"),  # not the working folder
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "penguin-mass" in result.stderr and "hash mismatch" in result.stderr


def test_an_empty_repository_is_not_ready(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    server = start_api(empty, tmp_path / "logs", ready=False)
    try:
        ready = readiness_after_loading(server)
        assert ready.status_code == 503
        assert "holds no model bundles" in ready.json()["failed"]["<repository>"]
    finally:
        server.stop()


def test_requests_get_503_while_models_load(example_repository: Path) -> None:
    """Before the lifespan has loaded anything, readiness and predictions say "not yet"."""
    app = create_app(Settings(model_repository=example_repository))

    async def call() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=app)  # no lifespan: the registry is still loading
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return (
                await client.get("/readyz"),
                await client.post(
                    "/v1/models/penguin-species/predict", json={"instances": [ADELIE]}
                ),
                await client.get("/healthz"),
            )

    ready, predict, live = asyncio.run(call())
    assert ready.status_code == 503 and ready.json()["status"] == "loading"
    assert predict.status_code == 503 and "still loading" in predict.json()["error"]["message"]
    assert live.status_code == 200


def test_logs_are_json_with_the_request_id(example_repository: Path, tmp_path: Path) -> None:
    with running_api(example_repository, tmp_path, MODEL_API_ACCESS_LOG="true") as server:
        response = httpx.get(f"{server.url}/v1/models", headers={"X-Request-ID": "trace-abc-123"})
        assert response.headers["x-request-id"] == "trace-abc-123"
        time.sleep(0.2)
        entries = [json.loads(line) for line in server.log().split("\n") if line.strip()]
    access = [e for e in entries if e.get("request_id") == "trace-abc-123"]
    assert access and access[0]["path"] == "/v1/models" and access[0]["status"] == 200
    assert all({"time", "level", "message"} <= set(e) for e in entries)


def test_sigterm_finishes_requests_in_flight(example_repository: Path, tmp_path: Path) -> None:
    """A request whose body is still arriving when SIGTERM lands is answered; new ones are not."""
    server = start_api(example_repository, tmp_path)
    sent_half = threading.Event()
    result: dict[str, object] = {}
    body = json.dumps({"instances": [ADELIE] * 50}).encode()

    def slow_body():  # type: ignore[no-untyped-def]
        yield body[: len(body) // 2]
        sent_half.set()
        time.sleep(1.5)
        yield body[len(body) // 2 :]

    def send() -> None:
        try:
            response = httpx.post(
                f"{server.url}/v1/models/penguin-species/predict",
                content=slow_body(),
                headers={"content-type": "application/json"},
                timeout=30,
            )
            result["status"] = response.status_code
            result["rows"] = len(response.json()["predictions"])
        except Exception as exc:
            result["error"] = repr(exc)

    sender = threading.Thread(target=send)
    sender.start()
    assert sent_half.wait(10)
    time.sleep(0.2)
    server.process.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/healthz", timeout=2)  # the listener is closed: no new requests
    sender.join(30)
    assert result == {"status": 200, "rows": 50}
    # uvicorn re-raises the signal once shutdown is complete, so the exit status is "killed by TERM"
    assert server.process.wait(timeout=30) in (0, -signal.SIGTERM)
    assert "Finished server process" in server.log()


def test_by_default_only_failed_requests_are_logged(
    example_repository: Path, tmp_path: Path
) -> None:
    with running_api(example_repository, tmp_path) as server:
        ok = httpx.get(f"{server.url}/v1/models", headers={"X-Request-ID": "quiet-ok"})
        missing = httpx.get(f"{server.url}/v1/models/nope", headers={"X-Request-ID": "loud-404"})
        assert (ok.status_code, missing.status_code) == (200, 404)
        time.sleep(0.2)
        ids = {
            json.loads(line).get("request_id") for line in server.log().split("\n") if line.strip()
        }
    assert "loud-404" in ids
    assert "quiet-ok" not in ids
