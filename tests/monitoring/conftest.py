"""A real Prometheus (the Debian package's binary) scraping the real API every second."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from tests.support import (
    ROOT,
    Server,
    add_weak_species_version,
    free_port,
    start_api,
    start_server,
)

ALERTS = ROOT / "charts" / "model-serving" / "files" / "alerts.yaml"
DASHBOARD = ROOT / "charts" / "model-serving" / "files" / "dashboard.json"
JOB = "model-serving-api"


def alert_names() -> set[str]:
    """The alerts declared in alerts.yaml."""
    return {r["alert"] for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]}


def tool(name: str) -> str:
    """Path of a tool of the Debian package `prometheus`; a clear failure when it is missing."""
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if path is None:
        pytest.fail(
            f"`{name}` is not installed: run `scripts/setup.sh --test` (make setup-test), which "
            "installs the Debian package `prometheus` (prometheus and promtool)."
        )
    return path


@pytest.fixture(scope="session")
def api_server(
    example_repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """The API these tests scrape: the examples, and the species model shadowed by a weaker
    version "0", so that every panel (the shadow's too) has series."""
    folder = tmp_path_factory.mktemp("monitored-models")
    shutil.copytree(example_repository, folder, dirs_exist_ok=True)
    add_weak_species_version(folder)
    server = start_api(
        folder,
        tmp_path_factory.mktemp("logs"),
        MODEL_API_SHADOW=json.dumps({"penguin-species": "0"}),
    )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def promtool() -> str:
    return tool("promtool")


@dataclass
class Prometheus:
    url: str
    job: str

    def query(self, expr: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        assert response.status_code == 200, f"{expr}: {response.status_code} {response.text[:300]}"
        body = response.json()
        assert body["status"] == "success", body
        return body["data"]["result"]  # type: ignore[no-any-return]

    def get(self, path: str, **params: Any) -> Any:
        response = httpx.get(f"{self.url}{path}", params=params, timeout=10)
        assert response.status_code == 200, response.text[:300]
        return response.json()["data"]


def start_prometheus(folder: Path, config: dict[str, Any], port: int | None = None) -> Server:
    """The Debian package's Prometheus with ``config``, on ``port`` (default: a free one) of
    loopback, its data and log in ``folder``; returns once it is ready."""
    port = port or free_port()
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    return start_server(
        [tool("prometheus"), f"--config.file={folder / 'prometheus.yml'}",
         f"--storage.tsdb.path={folder / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
         "--log.level=warn"],
        port,
        "/-/ready",
        folder / "prometheus.log",
        timeout=30,
    )  # fmt: skip


@pytest.fixture(scope="session")
def prometheus(
    api_server: Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Prometheus]:
    """Prometheus on a free loopback port, scraping the API each second and evaluating alerts.yaml."""
    folder = tmp_path_factory.mktemp("prometheus")
    target = urlsplit(api_server.url).netloc
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ALERTS)],
        "scrape_configs": [
            {"job_name": JOB, "metrics_path": "/metrics", "static_configs": [{"targets": [target]}]}
        ],
    }
    server = start_prometheus(folder, config)
    try:
        yield Prometheus(server.url, JOB)
    finally:
        server.stop()
