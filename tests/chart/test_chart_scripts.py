"""The chart's Python scripts run for real: the model download init container and `helm test`.

They run in the cluster with the API image's python; here the same files run with this
environment's python against a local HTTP server, the real API and a real Streamlit server.
"""

from __future__ import annotations

import hashlib
import http.server
import importlib.util
import io
import os
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from tests.chart.helm import CHART, deployment, render
from tests.support import Server, free_port, running_api, start_server

FETCH = CHART / "files" / "fetch-models.py"
HELM_TEST = CHART / "files" / "helm-test.py"
# The chart's default api.models.download.sizeLimit: the size cap of the downloads below.
SIZE_LIMIT = "1Gi"


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


def fetch(
    url: str, target: Path, timeout: float = 120, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run the download init container's script with the chart's default size cap."""
    return run_script(
        FETCH,
        timeout=timeout,
        **{"MODELS_URL": url, "MODELS_DIR": str(target), "MODELS_SIZE_LIMIT": SIZE_LIMIT, **env},
    )


def init_container_env(*sets: str) -> dict[str, str]:
    """The environment the chart gives the fetch-models init container for these --set values."""
    spec = deployment(render(sets=["api.models.source=download", *sets]), "api")["spec"]
    (init,) = spec["template"]["spec"]["initContainers"]
    return {e["name"]: e["value"] for e in init["env"]}


def write_tar_gz(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> str:
    """Write a .tar.gz of ``members``; its sha256."""
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            info.size = len(data) if info.isfile() else 0
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def folder_member(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    return info


class SlowOrEndlessHandler(http.server.BaseHTTPRequestHandler):
    """``/trickle-headers`` and ``/trickle-body`` send one byte a second; ``/endless`` sends
    zeros with no Content-Length. Each stops when the client hangs up (or after a bound)."""

    def do_GET(self) -> None:
        try:
            if self.path == "/endless":
                self.wfile.write(b"HTTP/1.0 200 OK\r\nContent-Type: application/gzip\r\n\r\n")
                for _ in range(64):
                    self.wfile.write(bytes(1 << 20))
                return
            head = b"HTTP/1.0 200 OK\r\nContent-Length: 120\r\n\r\n"
            if self.path == "/trickle-body":
                self.wfile.write(head)
                head = b""
            for byte in [head[i : i + 1] for i in range(len(head))] + [b"x"] * 120:
                self.wfile.write(byte)
                self.wfile.flush()
                time.sleep(1)
        except OSError:
            pass  # the client went away

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def slow_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SlowOrEndlessHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def fetch_module() -> ModuleType:
    """The script as a module (its main only runs as a script), for its quantity parser."""
    spec = importlib.util.spec_from_file_location("fetch_models", FETCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


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
    result = fetch(url, target, MODELS_SHA256=sha256)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"sha256 {sha256} checked" in result.stdout
    assert "bundles: penguin-mass/1, penguin-species/1" in result.stdout
    expected = sorted(str(p.relative_to(example_repository)) for p in example_repository.rglob("*"))
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*")) == expected


def test_fetch_models_refuses_a_wrong_checksum(
    models_archive: tuple[str, str], tmp_path: Path
) -> None:
    url, _ = models_archive
    result = fetch(url, tmp_path, MODELS_SHA256="0" * 64)
    assert result.returncode != 0
    assert "sha256 mismatch" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_fetch_models_refuses_unsafe_or_empty_archives(
    file_server: tuple[str, Path], tmp_path: Path
) -> None:
    base, folder = file_server
    escape = tarfile.TarInfo("../escaped.txt")
    sha256 = write_tar_gz(folder / "evil.tar.gz", [(escape, b"hi")])
    target = tmp_path / "models"
    result = fetch(f"{base}/evil.tar.gz", target, MODELS_SHA256=sha256)
    assert result.returncode != 0
    assert "fetch-models: the archive holds an unsafe member" in result.stderr, result.stderr
    assert not (tmp_path / "escaped.txt").exists()
    sha256 = write_tar_gz(folder / "empty.tar.gz", [(tarfile.TarInfo("README"), b"hi")])
    result = fetch(f"{base}/empty.tar.gz", target, MODELS_SHA256=sha256)
    assert result.returncode != 0 and "holds no bundle" in result.stderr, result.stderr
    (folder / "not-a-tar.gz").write_bytes(b"plain text")
    result = fetch(f"{base}/not-a-tar.gz", target, MODELS_INSECURE_SKIP_CHECKSUM="true")
    assert result.returncode != 0 and "not a readable .tar.gz" in result.stderr, result.stderr
    result = fetch(f"{base}/missing.tar.gz", target, MODELS_INSECURE_SKIP_CHECKSUM="true")
    assert result.returncode != 0 and "failed: HTTP Error 404" in result.stderr, result.stderr
    result = fetch("file:///etc/passwd", target, MODELS_INSECURE_SKIP_CHECKSUM="true")
    assert result.returncode != 0 and "http(s) URL" in result.stderr


@pytest.mark.parametrize(
    "env",
    [{}, {"MODELS_SHA256": " "}, {"MODELS_INSECURE_SKIP_CHECKSUM": "yes"}],
    ids=["unset", "blank", "opt-out-not-true"],
)
def test_fetch_models_refuses_to_download_without_a_checksum(
    models_archive: tuple[str, str], tmp_path: Path, env: dict[str, str]
) -> None:
    """Defence in depth behind the chart's own refusal: no checksum, no download."""
    url, _ = models_archive
    target = tmp_path / "models"
    result = fetch(url, target, **env)
    assert result.returncode != 0
    assert "no checksum given" in result.stderr, result.stderr
    assert "api.models.download.sha256" in result.stderr
    assert "api.models.download.insecureSkipChecksum: true" in result.stderr
    assert "downloading" not in result.stdout and not target.exists()


def test_fetch_models_without_a_checksum_only_when_opted_out_by_name(
    models_archive: tuple[str, str], tmp_path: Path
) -> None:
    url, _ = models_archive  # plain http: the opt-out covers it too
    result = fetch(url, tmp_path, MODELS_INSECURE_SKIP_CHECKSUM="true")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "NOT checked (insecureSkipChecksum)" in result.stdout
    assert "bundles: penguin-mass/1, penguin-species/1" in result.stdout


@pytest.mark.parametrize("path", ["/trickle-headers", "/trickle-body"])
def test_fetch_models_deadline_covers_the_whole_download(
    slow_server: str, tmp_path: Path, path: str
) -> None:
    """A server sending a byte a second never trips a per-read timeout; the deadline still ends it."""
    started = time.monotonic()
    result = fetch(
        slow_server + path,
        tmp_path,
        timeout=30,
        MODELS_TIMEOUT_SECONDS="2",
        MODELS_INSECURE_SKIP_CHECKSUM="true",
    )
    elapsed = time.monotonic() - started
    assert result.returncode != 0
    assert "did not finish within its deadline of 2 s" in result.stderr, result.stderr
    assert "api.models.download.timeoutSeconds" in result.stderr
    assert elapsed < 15, f"took {elapsed:.1f} s with a 2 s deadline"


def test_fetch_models_refuses_an_archive_past_the_size_cap(
    file_server: tuple[str, Path], slow_server: str, tmp_path: Path
) -> None:
    base, folder = file_server
    big = folder / "big.tar.gz"
    big.write_bytes(os.urandom(2 << 20))
    declared = fetch(
        f"{base}/big.tar.gz",
        tmp_path,
        MODELS_SIZE_LIMIT="1Mi",
        MODELS_SHA256=hashlib.sha256(big.read_bytes()).hexdigest(),
    )
    assert declared.returncode != 0
    assert "the archive is 2097152 bytes (its Content-Length)" in declared.stderr, declared.stderr
    assert "over the size cap of 1Mi (1048576 bytes, api.models.download.sizeLimit" in (
        declared.stderr
    )
    # No Content-Length: counted while it streams, refused once past the cap.
    streamed = fetch(
        f"{slow_server}/endless",
        tmp_path,
        MODELS_SIZE_LIMIT="1Mi",
        MODELS_INSECURE_SKIP_CHECKSUM="true",
    )
    assert streamed.returncode != 0
    assert "the archive passed 1048576 bytes: over the size cap of 1Mi" in streamed.stderr, (
        streamed.stderr
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("bomb", ["one-huge-file", "many-folders"])
def test_fetch_models_refuses_an_archive_that_expands_past_the_size_cap(
    file_server: tuple[str, Path], tmp_path: Path, bomb: str
) -> None:
    """A small archive (a gzip bomb) that would fill the volume is refused before it does,
    even with the right checksum: the checksum vouches for the bytes, not for their size."""
    base, folder = file_server
    members = [(folder_member("bomb"), b"")]
    if bomb == "one-huge-file":
        members.append((tarfile.TarInfo("bomb/zeros"), bytes(8 << 20)))
    else:
        members += [(folder_member(f"bomb/{i:04d}"), b"") for i in range(600)]
    archive = folder / f"{bomb}.tar.gz"
    sha256 = write_tar_gz(archive, members)
    assert archive.stat().st_size < 64 << 10
    target = tmp_path / "models"
    result = fetch(f"{base}/{bomb}.tar.gz", target, MODELS_SIZE_LIMIT="1Mi", MODELS_SHA256=sha256)
    assert result.returncode != 0
    assert "would fill" in result.stderr and "over the size cap of 1Mi" in result.stderr, (
        result.stderr
    )
    assert not (target / "bomb" / "zeros").exists()
    assert len(list(target.rglob("*"))) < 300


def test_chart_sets_the_scripts_deadline_and_size_cap(
    file_server: tuple[str, Path], slow_server: str, tmp_path: Path
) -> None:
    """The init container's environment, as the chart renders it, drives the script."""
    base, folder = file_server
    sha256 = write_tar_gz(
        folder / "chart-bomb.tar.gz", [(tarfile.TarInfo("zeros"), bytes(4 << 20))]
    )
    env = init_container_env(
        f"api.models.download.url={base}/chart-bomb.tar.gz",
        f"api.models.download.sha256={sha256}",
        "api.models.download.sizeLimit=2Mi",
    )
    result = run_script(FETCH, **{**env, "MODELS_DIR": str(tmp_path / "bomb")})
    assert result.returncode != 0 and "over the size cap of 2Mi" in result.stderr, result.stderr
    env = init_container_env(
        f"api.models.download.url={slow_server}/trickle-body",
        "api.models.download.insecureSkipChecksum=true",
        "api.models.download.timeoutSeconds=2",
    )
    result = run_script(FETCH, timeout=30, **{**env, "MODELS_DIR": str(tmp_path / "slow")})
    assert result.returncode != 0 and "deadline of 2 s" in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("quantity", "size"),
    [
        ("512Mi", 512 << 20),
        ("1Gi", 1 << 30),
        ("1G", 10**9),
        ("1.5Ki", 1536),
        ("1048576", 1 << 20),
        ("1.073741824e+09", 1 << 30),  # how helm writes a number from a values file
        ("2E", 2 * 10**18),
        ("1500m", 2),  # milli-bytes round up
    ],
)
def test_size_limit_quantities(fetch_module: ModuleType, quantity: str, size: int) -> None:
    assert fetch_module.quantity_bytes(quantity) == size


@pytest.mark.parametrize("quantity", ["", "lots", "1 Gi", "1GB", "0", "-1Mi"])
def test_size_limit_must_be_a_positive_quantity(
    models_archive: tuple[str, str], tmp_path: Path, quantity: str
) -> None:
    url, sha256 = models_archive
    result = fetch(url, tmp_path, MODELS_SHA256=sha256, MODELS_SIZE_LIMIT=quantity)
    assert result.returncode != 0 and "MODELS_SIZE_LIMIT must be" in result.stderr, result.stderr


def test_numeric_size_limit_from_a_values_file_reaches_the_script(
    fetch_module: ModuleType, tmp_path: Path
) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(
        "api:\n  models:\n    source: download\n    download:\n"
        "      url: https://models.example.com/m.tar.gz\n      insecureSkipChecksum: true\n"
        "      sizeLimit: 1073741824\n"
    )
    spec = deployment(render([values]), "api")["spec"]["template"]["spec"]
    env = {e["name"]: e["value"] for e in spec["initContainers"][0]["env"]}
    assert fetch_module.quantity_bytes(env["MODELS_SIZE_LIMIT"]) == 1 << 30


def test_downloaded_models_serve_and_pass_helm_test_with_api_key(
    models_archive: tuple[str, str], tmp_path: Path
) -> None:
    """download init container -> API with an API key -> the `helm test` API script passes."""
    url, sha256 = models_archive
    repository = tmp_path / "models"
    env = init_container_env(
        f"api.models.download.url={url}", f"api.models.download.sha256={sha256}"
    )
    fetched = run_script(FETCH, **{**env, "MODELS_DIR": str(repository)})
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
