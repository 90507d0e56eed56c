"""The live repository, against the real API: versions added, replaced and removed while it
serves (and while clients keep asking, with no failed request), a broken bundle refused with the
version it would replace still serving, a pod that started with a broken bundle ready once it
is fixed, and the OpenAPI document following along."""

from __future__ import annotations

import concurrent.futures
import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import Server, add_weak_species_version, start_api

SPECIES = "penguin-species"
POLL = "0.2"
ROW = {"bill_length_mm": 47.5, "bill_depth_mm": 15.0, "flipper_length_mm": 215,
       "body_mass_g": 5200, "island": "Biscoe", "sex": "male"}  # fmt: skip


def _eventually[T](check: Callable[[], T | None], what: str, seconds: float = 30.0) -> T:
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        time.sleep(0.1)


def _versions(api: Server) -> list[str]:
    listed = httpx.get(f"{api.url}/v1/models", timeout=10).json()["models"]
    return next(m["versions"] for m in listed if m["name"] == SPECIES)


def _probabilities(api: Server, version: str | None = None) -> dict[str, float]:
    path = f"/versions/{version}" if version else ""
    answer = httpx.post(
        f"{api.url}/v1/models/{SPECIES}{path}/predict", json={"instances": [ROW]}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    probabilities: dict[str, float] = answer.json()["predictions"][0]["probabilities"]
    return probabilities


def _metric(api: Server, line_start: str) -> float | None:
    for line in httpx.get(f"{api.url}/metrics", timeout=10).text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


@pytest.fixture
def repository(example_repository: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    shutil.copytree(example_repository, folder)
    return folder


@pytest.fixture
def weak_bundle(tmp_path: Path) -> Path:
    """A weaker version of the species model, written elsewhere (to be copied in)."""
    elsewhere = tmp_path / "elsewhere"
    add_weak_species_version(elsewhere, "2")
    return elsewhere / SPECIES / "2"


@pytest.fixture
def api(repository: Path, tmp_path: Path) -> Iterator[Server]:
    server = start_api(repository, tmp_path / "logs", MODEL_API_REPOSITORY_POLL_SECONDS=POLL)
    yield server
    server.stop()


class Hammer:
    """Clients asking all the time (the default version, and version 1 by name) while the
    repository changes; every answer is kept."""

    def __init__(
        self, api: Server, clients: int = 4, headers: dict[str, str] | None = None
    ) -> None:
        self.api, self.clients, self.headers = api, clients, headers or {}
        self.statuses: list[int] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._pool = concurrent.futures.ThreadPoolExecutor(clients)
        self._running: list[concurrent.futures.Future[None]] = []

    def __enter__(self) -> Hammer:
        for i in range(self.clients):
            self._running.append(self._pool.submit(self._ask, "" if i % 2 else "/versions/1"))
        return self

    def _ask(self, path: str) -> None:
        url = f"{self.api.url}/v1/models/{SPECIES}{path}/predict"
        with httpx.Client(timeout=30, headers=self.headers) as client:
            while not self._stop.is_set():
                try:
                    answer = client.post(url, json={"instances": [ROW]})
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                    continue
                self.statuses.append(answer.status_code)
                if answer.status_code != 200:
                    self.failures.append(answer.text)

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        for running in self._running:
            running.result()
        self._pool.shutdown()


def test_versions_added_replaced_and_removed_serve_without_a_failed_request(
    api: Server, repository: Path, weak_bundle: Path
) -> None:
    first = _probabilities(api, "1")
    with Hammer(api) as hammer:
        # Added: a copy of version 1, as `kubectl cp` or `cp -r` would write it.
        shutil.copytree(repository / SPECIES / "1", repository / SPECIES / "2")
        _eventually(lambda: _versions(api) == ["2", "1"], "version 2 served")
        assert _probabilities(api, "2") == first
        assert _probabilities(api) == first  # the newest answers by default

        # Replaced: version 2 becomes the weak model.
        shutil.copytree(weak_bundle, repository / SPECIES / "2", dirs_exist_ok=True)
        weak = _eventually(
            lambda: (p := _probabilities(api, "2")) != first and p, "version 2 replaced"
        )
        assert _probabilities(api) == weak

        # Removed: version 1 answers by default again; version 2 is not found.
        shutil.rmtree(repository / SPECIES / "2")
        _eventually(lambda: _versions(api) == ["1"], "version 2 removed")
        gone = httpx.post(
            f"{api.url}/v1/models/{SPECIES}/versions/2/predict",
            json={"instances": [ROW]},
            timeout=10,
        )
        assert gone.status_code == 404, gone.text
        assert _probabilities(api) == first
        time.sleep(0.5)
    assert hammer.failures == [], hammer.failures[:3]
    assert len(hammer.statuses) > 100, "the clients hardly asked"
    assert _metric(api, 'model_api_repository_changes_total{outcome="loaded"}') == 1
    assert _metric(api, 'model_api_repository_changes_total{outcome="replaced"}') == 1
    assert _metric(api, 'model_api_repository_changes_total{outcome="removed"}') == 1


def test_the_openapi_document_follows_the_repository(api: Server, repository: Path) -> None:
    def paths() -> list[str]:
        document = httpx.get(f"{api.url}/openapi.json", timeout=30).json()
        return [p for p in document["paths"] if p.startswith(f"/v1/models/{SPECIES}/versions/")]

    assert all("/versions/1/" in p for p in paths())
    shutil.copytree(repository / SPECIES / "1", repository / SPECIES / "7")
    _eventually(lambda: any("/versions/7/predict" in p for p in paths()), "version 7 documented")
    shutil.rmtree(repository / SPECIES / "7")
    _eventually(lambda: not any("/versions/7/" in p for p in paths()), "version 7 gone")


def test_a_broken_bundle_is_refused_and_the_version_it_would_replace_keeps_serving(
    api: Server, repository: Path, weak_bundle: Path
) -> None:
    first = _probabilities(api, "1")
    broken = repository / SPECIES / "1" / "model.ubj"
    data = bytearray(broken.read_bytes())
    data[len(data) // 2] ^= 0xFF  # the model file no longer has the hash its metadata names
    broken.write_bytes(bytes(data))

    def reported() -> str | None:
        failed: dict[str, str] = httpx.get(f"{api.url}/v1/models", timeout=10).json()["failed"]
        return failed.get(f"{SPECIES}/1")

    message = _eventually(reported, "the broken bundle reported")
    assert "sha256" in message.lower() or "hash" in message.lower(), message
    assert _probabilities(api, "1") == first  # the version that loaded before still answers
    ready = httpx.get(f"{api.url}/readyz", timeout=10)
    assert ready.status_code == 200  # found while serving: reported, not fatal
    assert ready.json()["failed"] == {f"{SPECIES}/1": message}
    assert _metric(api, f'model_api_model_load_failed{{bundle="{SPECIES}/1"}}') == 1
    assert _metric(api, 'model_api_repository_changes_total{outcome="failed"}') == 1

    # Fixed: a good bundle in its place serves, and the failure is gone.
    shutil.rmtree(repository / SPECIES / "1")
    shutil.copytree(weak_bundle, repository / SPECIES / "1")
    _eventually(lambda: reported() is None, "the failure cleared")
    assert _probabilities(api, "1") != first
    assert _metric(api, f'model_api_model_load_failed{{bundle="{SPECIES}/1"}}') is None


def test_a_bundle_broken_at_start_up_keeps_the_pod_unready_until_it_is_fixed(
    repository: Path, tmp_path: Path
) -> None:
    bad = repository / SPECIES / "9"
    bad.mkdir()
    (bad / "metadata.json").write_text("{}")
    server = start_api(
        repository, tmp_path / "logs", ready=False, MODEL_API_REPOSITORY_POLL_SECONDS=POLL
    )
    try:
        _eventually(
            lambda: httpx.get(f"{server.url}/readyz", timeout=10).status_code == 503,
            "not ready with the broken bundle",
        )
        shutil.rmtree(bad)
        _eventually(
            lambda: httpx.get(f"{server.url}/readyz", timeout=10).status_code == 200,
            "ready once the broken bundle is gone",
        )
        assert _metric(server, "model_api_ready") == 1
    finally:
        server.stop()


def test_with_polling_off_the_repository_is_read_once(repository: Path, tmp_path: Path) -> None:
    server = start_api(repository, tmp_path / "logs", MODEL_API_REPOSITORY_POLL_SECONDS="0")
    try:
        shutil.copytree(repository / SPECIES / "1", repository / SPECIES / "2")
        time.sleep(1.5)
        assert _versions(server) == ["1"]
    finally:
        server.stop()


def _answering_version(api: Server, version: str | None = None) -> str:
    path = f"/versions/{version}" if version else ""
    answer = httpx.post(
        f"{api.url}/v1/models/{SPECIES}{path}/predict", json={"instances": [ROW]}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    answered: str = answer.json()["version"]
    return answered


def _tensor(name: str, value: object) -> dict[str, Any]:
    datatype = "BYTES" if isinstance(value, str) else "FP64"
    return {"name": name, "shape": [1], "datatype": datatype, "data": [value]}


def _summary(api: Server) -> dict[str, Any]:
    listed = httpx.get(f"{api.url}/v1/models", timeout=10).json()["models"]
    summary: dict[str, Any] = next(m for m in listed if m["name"] == SPECIES)
    return summary


def test_aliases_name_versions_and_which_one_answers_by_default(
    api: Server, repository: Path
) -> None:
    shutil.copytree(repository / SPECIES / "1", repository / SPECIES / "2")
    _eventually(lambda: _versions(api) == ["2", "1"], "version 2 served")
    assert _answering_version(api) == "2"  # without aliases the newest answers
    aliases = repository / SPECIES / "aliases.json"

    # Version 1 stays the default while version 2 is the candidate, reachable by name.
    aliases.write_text(
        json.dumps({"default": "1", "aliases": {"production": "1", "candidate": "2"}})
    )
    _eventually(lambda: _summary(api)["version"] == "1", "the default moved to version 1")
    assert _summary(api)["aliases"] == {"production": "1", "candidate": "2"}
    assert _answering_version(api) == "1"
    assert _answering_version(api, "candidate") == "2"
    assert _answering_version(api, "production") == "1"
    v2 = httpx.post(
        f"{api.url}/v2/models/{SPECIES}/versions/candidate/infer",
        json={"inputs": [_tensor(name, value) for name, value in ROW.items()]},
        timeout=10,
    )
    assert v2.status_code == 200 and v2.json()["model_version"] == "2", v2.text
    metadata = httpx.get(f"{api.url}/v1/models/{SPECIES}/versions/candidate", timeout=10).json()
    assert (metadata["version"], metadata["aliases"]["candidate"]) == ("2", "2")
    unknown = httpx.post(
        f"{api.url}/v1/models/{SPECIES}/versions/staging/predict",
        json={"instances": [ROW]},
        timeout=10,
    )
    assert unknown.status_code == 404
    assert "aliases: candidate, production" in unknown.json()["error"]["message"]

    # Promoted, then rolled back: the alias file moves, what answers follows.
    aliases.write_text(json.dumps({"default": "2", "aliases": {"production": "2"}}))
    _eventually(lambda: _answering_version(api) == "2", "version 2 promoted")
    assert _answering_version(api, "production") == "2"
    aliases.write_text(json.dumps({"default": "1", "aliases": {"production": "1"}}))
    _eventually(lambda: _answering_version(api) == "1", "rolled back to version 1")

    # An alias of a version that is not served is a 404 that says so.
    aliases.write_text(json.dumps({"default": "1", "aliases": {"next": "3"}}))
    _eventually(lambda: "next" in _summary(api)["aliases"], "the alias of version 3 read")
    missing = httpx.post(
        f"{api.url}/v1/models/{SPECIES}/versions/next/predict",
        json={"instances": [ROW]},
        timeout=10,
    )
    assert missing.status_code == 404
    assert "names version '3', which is not served" in missing.json()["error"]["message"]

    # A file that cannot be used is reported; the aliases read before stay.
    aliases.write_text('{"aliases": {"bad name!": "1"}}')
    label = f"{SPECIES}/aliases.json"
    message = _eventually(
        lambda: httpx.get(f"{api.url}/v1/models", timeout=10).json()["failed"].get(label),
        "the broken alias file reported",
    )
    assert "bad name!" in message
    assert _summary(api)["aliases"] == {"next": "3"} and _answering_version(api) == "1"
    assert _metric(api, f'model_api_model_load_failed{{bundle="{label}"}}') == 1

    # No file: the newest answers again.
    aliases.unlink()
    _eventually(lambda: _answering_version(api) == "2", "the newest answers again")
    assert _summary(api)["aliases"] == {}
    assert label not in httpx.get(f"{api.url}/v1/models", timeout=10).json()["failed"]
