"""The chart's Python scripts run for real: the model download init container and `helm test`.

They run in the cluster with the API image's python; here the same files run with this
environment's python against a local HTTP server, the real API and a real Streamlit server.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.chart.helm import CHART, deployment, render
from tests.support import Server, free_port, running_api, start_server

FETCH = CHART / "files" / "fetch-models.py"
HELM_TEST = CHART / "files" / "helm-test.py"


def run_script(
    script: Path, *args: str, timeout: float = 120, **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("MODELS_", "API_", "UI_"))
    }
    return subprocess.run(
        [sys.executable, str(script), *args],
        env={**environment, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def file_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP server of a folder: ``(base url, folder)``."""
    folder = tmp_path_factory.mktemp("www")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(folder), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", folder
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def models_archive(example_repository: Path, file_server: tuple[str, Path]) -> tuple[str, str]:
    """The example repository as a .tar.gz on the file server: ``(url, sha256)``."""
    base, folder = file_server
    archive = folder / "models.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for child in sorted(example_repository.iterdir()):
            tar.add(child, arcname=child.name)
    return f"{base}/models.tar.gz", hashlib.sha256(archive.read_bytes()).hexdigest()


def test_fetch_models_downloads_verifies_and_extracts(
    models_archive: tuple[str, str], example_repository: Path, tmp_path: Path
) -> None:
    url, sha256 = models_archive
    target = tmp_path / "models"
    target.mkdir()
    (target / "leftover-from-a-failed-attempt").write_text("x")
    result = run_script(FETCH, MODELS_URL=url, MODELS_SHA256=sha256, MODELS_DIR=str(target))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "bundles: penguin-mass/1, penguin-species/1" in result.stdout
    expected = sorted(str(p.relative_to(example_repository)) for p in example_repository.rglob("*"))
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*")) == expected


def test_fetch_models_refuses_a_wrong_checksum(
    models_archive: tuple[str, str], tmp_path: Path
) -> None:
    url, _ = models_archive
    result = run_script(FETCH, MODELS_URL=url, MODELS_SHA256="0" * 64, MODELS_DIR=str(tmp_path))
    assert result.returncode != 0
    assert "sha256 mismatch" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_fetch_models_refuses_unsafe_or_empty_archives(
    file_server: tuple[str, Path], tmp_path: Path
) -> None:
    base, folder = file_server
    evil = folder / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    target = tmp_path / "models"
    result = run_script(FETCH, MODELS_URL=f"{base}/evil.tar.gz", MODELS_DIR=str(target))
    assert result.returncode != 0
    assert not (tmp_path / "escaped.txt").exists()
    empty = folder / "empty.tar.gz"
    with tarfile.open(empty, "w:gz") as tar:
        info = tarfile.TarInfo("README")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    result = run_script(FETCH, MODELS_URL=f"{base}/empty.tar.gz", MODELS_DIR=str(target))
    assert result.returncode != 0 and "holds no bundle" in result.stderr
    result = run_script(FETCH, MODELS_URL="file:///etc/passwd", MODELS_DIR=str(target))
    assert result.returncode != 0 and "http(s) URL" in result.stderr


def test_downloaded_models_serve_and_pass_helm_test_with_api_key(
    models_archive: tuple[str, str], tmp_path: Path
) -> None:
    """download init container -> API with an API key -> the `helm test` API script passes."""
    url, sha256 = models_archive
    repository = tmp_path / "models"
    fetched = run_script(FETCH, MODELS_URL=url, MODELS_SHA256=sha256, MODELS_DIR=str(repository))
    assert fetched.returncode == 0, fetched.stderr
    with running_api(repository, tmp_path / "logs", MODEL_API_API_KEY="k3y-for-tests") as api:
        result = run_script(HELM_TEST, "api", API_URL=api.url, API_KEY="k3y-for-tests")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "ok: penguin-species v1" in result.stdout
        assert "ok: penguin-mass v1" in result.stdout
        assert "requests without the API key are refused" in result.stdout
        # Without the key the test fails, loudly.
        refused = run_script(HELM_TEST, "api", API_URL=api.url)
        assert refused.returncode != 0
        assert "answered 401" in refused.stderr


def test_helm_test_api_script_against_the_shared_api(api_server: Server) -> None:
    result = run_script(HELM_TEST, "api", API_URL=api_server.url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("passed")


@pytest.fixture(scope="module")
def streamlit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Streamlit server (a one-line app; the probes hit Streamlit's own health route)."""
    folder = tmp_path_factory.mktemp("streamlit")
    app = folder / "app.py"
    app.write_text("import streamlit as st\n\nst.write('probe target')\n")
    port = free_port()
    server = start_server(
        [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true",
         "--browser.gatherUsageStats", "false"],
        port,
        "/_stcore/health",
        folder / "streamlit.log",
        cwd=folder,
        env={**os.environ, "HOME": str(folder)},
    )  # fmt: skip
    try:
        yield server.url
    finally:
        server.stop()


def test_ui_probe_paths_answer_on_a_real_streamlit(streamlit_server: str) -> None:
    container = deployment(render(), "ui")["spec"]["template"]["spec"]["containers"][0]
    for kind in ("startup", "readiness", "liveness"):
        path = container[f"{kind}Probe"]["httpGet"]["path"]
        assert httpx.get(streamlit_server + path, timeout=10).status_code == 200, (
            f"{kind} probe {path}"
        )


def test_helm_test_ui_script_against_a_real_streamlit(streamlit_server: str) -> None:
    result = run_script(HELM_TEST, "ui", UI_URL=streamlit_server)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok: UI health" in result.stdout
