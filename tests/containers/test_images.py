"""The service images, built for real and run the way the cluster runs them.

What these tests prove: both Dockerfiles build from uv.lock on a base image passed as a build
argument; the containers run as uid 10001 with a read-only root filesystem, no capabilities and
no privilege escalation; their HEALTHCHECKs turn healthy; the UI runs Streamlit as PID 1 with the
service's config.toml and reaches the API by its Service name on a user-defined network; a
prediction through the API container equals the in-process one from the same bundle; user bundles
replace the baked-in examples through a volume; and neither image keeps the proxy CA, build
secrets, uv, pip caches or compilers, and the API image has no pandas.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from model_api.serving.bundle import load_bundle

from tests.containers.conftest import (
    API_SERVICE_NAME,
    API_URL_IN_NETWORK,
    BUILD_TIMEOUT,
    USER_ID,
    Container,
    Images,
    _running,
    _wait_http,
    docker,
)
from tests.support import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(BUILD_TIMEOUT + 600)]

IMAGE_PORTS = {"api": 8000, "ui": 8501}


def image_of(images: Images, which: str) -> str:
    return images.api if which == "api" else images.ui


@pytest.fixture(params=["api", "ui"])
def container(request: pytest.FixtureRequest) -> Container:
    """Each running container in turn."""
    fixture = "api_container" if request.param == "api" else "ui_container"
    running: Container = request.getfixturevalue(fixture)
    return running


def inspect(name: str) -> dict[str, Any]:
    data: list[dict[str, Any]] = json.loads(docker("inspect", name).stdout)
    return data[0]


def sh(image: str, script: str) -> str:
    """Run a shell script in a throw-away container of ``image`` as root, without network."""
    result = docker(
        "run", "--rm", "--network", "none", "--user", "0", "--entrypoint", "sh", image, "-c", script,
        timeout=300,
    )  # fmt: skip
    return result.stdout


# ------------------------------------------------------------------------------- image metadata
@pytest.mark.parametrize("which", ["api", "ui"])
def test_image_config_is_hardened_by_default(images: Images, which: str) -> None:
    config = inspect(image_of(images, which))["Config"]
    assert config["User"] == f"{USER_ID}:{USER_ID}"
    assert config["Healthcheck"]["Test"][0] == "CMD-SHELL"
    assert f"{IMAGE_PORTS[which]}/tcp" in config["ExposedPorts"]
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["HOME"] == "/tmp"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    if which == "api":
        assert env["MODEL_API_HOST"] == "0.0.0.0"
        assert env["MODEL_API_MODEL_REPOSITORY"] == "/models"
        # The prediction log's SQLite folder: a volume, writable on a read-only root filesystem.
        assert env["MODEL_API_DATA_DIR"] == "/var/lib/model-api"
        assert "/var/lib/model-api" in (config.get("Volumes") or {})
    else:
        assert env["STREAMLIT_SERVER_HEADLESS"] == "true"
        assert env["MODEL_UI_API_URL"] == API_URL_IN_NETWORK


def test_api_image_uses_cpu_xgboost_on_python_312_or_newer(images: Images) -> None:
    out = docker(
        "run", "--rm", "--network", "none", "--read-only", images.api, "python3", "-c",
        "import sys, xgboost, importlib.metadata as m; "
        "print(sys.version_info >= (3, 12), xgboost.build_info().get('USE_CUDA'), "
        "any(d.metadata['Name'].startswith('nvidia') for d in m.distributions()))",
    ).stdout.split()  # fmt: skip
    assert out == ["True", "False", "False"]


def test_api_image_serves_without_the_authoring_packages(images: Images) -> None:
    # pandas and palmerpenguins only train the examples (in a build stage); the serving
    # environment has neither. scikit-learn and scipy it has: evaluation's metrics.
    out = docker(
        "run", "--rm", "--network", "none", "--read-only", images.api, "python3", "-c",
        "import importlib.util as u; "
        "print(*[m for m in ('pandas', 'palmerpenguins', 'sklearn', 'scipy', "
        "'model_api.authoring') if u.find_spec(m) is not None])",
    ).stdout.split()  # fmt: skip
    # model_api.authoring itself ships (the package is one wheel); what it imports does not.
    assert out == ["sklearn", "scipy", "model_api.authoring"]


def test_ui_image_has_the_contract_and_not_the_api(images: Images) -> None:
    """The UI reads the API's answers with the shared model_contract package; the API package
    (its server, its models) is not in the UI image."""
    out = docker(
        "run", "--rm", "--network", "none", "--read-only", images.ui, "python3", "-c",
        "import importlib.util as u, model_contract; "
        "print(model_contract.ModelMetadata.__name__, u.find_spec('model_api') is None)",
    ).stdout.split()  # fmt: skip
    assert out == ["ModelMetadata", "True"]


# ------------------------------------------------------------------------ running like the pods
def test_runs_as_uid_10001(container: Container) -> None:
    status = docker("exec", container.name, "cat", "/proc/1/status").stdout
    uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
    assert uid_line.split()[1:] == [str(USER_ID)] * 4, uid_line
    gid_line = next(line for line in status.splitlines() if line.startswith("Gid:"))
    assert gid_line.split()[1:] == [str(USER_ID)] * 4, gid_line
    assert "CapEff:\t0000000000000000" in status


def test_root_filesystem_is_read_only(container: Container) -> None:
    host_config = inspect(container.name)["HostConfig"]
    assert host_config["ReadonlyRootfs"] is True
    assert host_config["CapDrop"] == ["ALL"]
    assert "no-new-privileges" in host_config["SecurityOpt"]
    for path in ("/probe", "/app/probe", "/etc/probe"):
        result = docker("exec", container.name, "sh", "-c", f"echo x > {path}", check=False)
        assert result.returncode != 0
        assert "Read-only file system" in result.stderr, result.stderr
    docker("exec", container.name, "sh", "-c", "echo x > /tmp/probe && rm /tmp/probe")
    if container.name == API_SERVICE_NAME:
        # The data folder (a volume) is writable by the runtime user, nothing else is.
        docker(
            "exec", container.name, "sh", "-c",
            "test \"$(stat -c %u:%g /var/lib/model-api)\" = 10001:10001 "
            "&& echo x > /var/lib/model-api/probe && rm /var/lib/model-api/probe",
        )  # fmt: skip


def test_healthcheck_turns_healthy(container: Container) -> None:
    deadline = time.monotonic() + 120
    status = ""
    while time.monotonic() < deadline:
        health = inspect(container.name)["State"]["Health"]
        status = health["Status"]
        if status == "healthy":
            return
        assert status in ("starting", "healthy"), json.dumps(health["Log"][-3:], indent=1)
        time.sleep(1)
    raise AssertionError(f"{container.name} still {status} after 120s:\n{container.logs()[-3000:]}")


def test_ui_reaches_the_api_by_its_service_name(ui_container: Container) -> None:
    script = (
        "import os, httpx; r = httpx.get(os.environ['MODEL_UI_API_URL'] + '/readyz', timeout=10); "
        "print(r.status_code); print(r.text)"
    )
    out = docker("exec", ui_container.name, "python3", "-c", script).stdout.splitlines()
    assert out[0] == "200", out
    body = json.loads(out[1])
    assert body["status"] == "ok"
    assert {"penguin-species", "penguin-mass"} <= set(body["models"])
    settings = docker(
        "exec", ui_container.name, "python3", "-c",
        "from model_ui.settings import UISettings; print(UISettings().base_url)",
    ).stdout.strip()  # fmt: skip
    assert settings == API_URL_IN_NETWORK


def test_ui_answers_from_the_host(ui_container: Container) -> None:
    health = httpx.get(f"{ui_container.url}/_stcore/health", timeout=10)
    assert health.status_code == 200
    assert health.text == "ok"
    page = httpx.get(ui_container.url, timeout=10)
    assert page.status_code == 200
    assert "<html" in page.text.lower()


def test_ui_runs_streamlit_as_pid_1_with_the_service_config(ui_container: Container) -> None:
    from model_ui.cli import config_flags

    expected = config_flags(ROOT / "services" / "ui" / ".streamlit" / "config.toml")
    cmdline = docker("exec", ui_container.name, "cat", "/proc/1/cmdline").stdout.split("\0")
    assert cmdline[1:4] == ["-m", "streamlit", "run"], cmdline
    assert "--server.maxUploadSize=20" in expected
    assert set(expected) <= set(cmdline), set(expected) - set(cmdline)


# ----------------------------------------------------------------------------------- predictions
def _penguin_rows(columns: list[str]) -> list[dict[str, Any]]:
    from palmerpenguins import load_penguins

    frame = load_penguins().iloc[[0, 3, 50, 120, 160, 200, 250, 300, 340]][columns]
    rows = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    for row in rows:  # JSON numbers, plain Python types
        for key, value in row.items():
            if isinstance(value, float | np.floating) and not math.isnan(value):
                row[key] = float(value)
            elif isinstance(value, np.integer):
                row[key] = int(value)
    return rows


def _in_process(bundle: Path, rows: list[dict[str, Any]]) -> tuple[list[str] | None, np.ndarray]:
    """Predict with XGBoost itself from the bundle's files, not through the API's code paths."""
    metadata, booster = load_bundle(bundle)
    frame = pd.DataFrame(rows, columns=[f.name for f in metadata.features])
    for feature in metadata.features:
        if feature.type == "categorical":
            frame[feature.name] = pd.Categorical(frame[feature.name], categories=feature.categories)
        else:
            frame[feature.name] = frame[feature.name].astype("float64")
    prediction = booster.predict(xgb.DMatrix(frame, enable_categorical=True))
    return metadata.class_labels, np.asarray(prediction, dtype=np.float64)


@pytest.fixture(scope="session")
def baked_models(api_container: Container, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundles inside the API image, copied out of the running container."""
    target = tmp_path_factory.mktemp("image-models")
    docker("cp", f"{api_container.name}:/models/.", str(target))
    return target


def test_species_prediction_matches_in_process(
    api_container: Container, baked_models: Path
) -> None:
    rows = _penguin_rows(
        ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "island", "sex"]
    )
    response = httpx.post(
        f"{api_container.url}/v1/models/penguin-species/predict",
        json={"instances": rows},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    labels, expected = _in_process(baked_models / "penguin-species" / "1", rows)
    assert labels is not None
    served = np.array([[p["probabilities"][label] for label in labels] for p in predictions])
    np.testing.assert_allclose(served, expected, rtol=0, atol=1e-6)
    assert [p["label"] for p in predictions] == [labels[i] for i in expected.argmax(axis=1)]


def test_the_image_evaluates_a_labelled_file(api_container: Container) -> None:
    """scikit-learn's metrics in the serving image (without pandas), on rows it predicts."""
    from palmerpenguins import load_penguins

    frame = load_penguins().dropna()
    text = frame.to_csv(index=False)
    response = httpx.post(
        f"{api_container.url}/v1/models/penguin-species/evaluate",
        content=text.encode(),
        headers={"content-type": "text/csv"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["rows"], result["scored"], result["failed"]) == (len(frame), len(frame), 0)
    predicted = httpx.post(
        f"{api_container.url}/v1/models/penguin-species/predict",
        content=text.encode(),
        headers={"content-type": "text/csv"},
        timeout=60,
    )
    labels = [row["label"] for row in csv.DictReader(io.StringIO(predicted.text))]
    right = sum(a == b for a, b in zip(labels, frame["species"], strict=True))
    assert result["classification"]["accuracy"] == right / len(frame)


def test_mass_prediction_matches_in_process(api_container: Container, baked_models: Path) -> None:
    rows = _penguin_rows(
        ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "species", "island", "sex"]
    )
    response = httpx.post(
        f"{api_container.url}/v1/models/penguin-mass/predict", json={"instances": rows}, timeout=30
    )
    assert response.status_code == 200, response.text
    served = np.array([p["value"] for p in response.json()["predictions"]])
    _, expected = _in_process(baked_models / "penguin-mass" / "1", rows)
    np.testing.assert_allclose(served, expected, rtol=1e-6, atol=1e-3)


@pytest.fixture
def user_repository(example_repository: Path) -> Iterator[Path]:
    """A model repository with one bundle, readable by uid 10001 (pytest's tmp dirs are 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="model-serving-user-models-"))
    try:
        folder.chmod(0o755)
        shutil.copytree(example_repository / "penguin-mass", folder / "penguin-mass")
        for path in folder.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_user_bundles_replace_the_examples(
    images: Images, network: str, user_repository: Path, container_output: Path
) -> None:
    with _running(
        "model-serving-api-user-bundles", images.api, network, 8000, container_output,
        "-v", f"{user_repository}:/data/models:ro", "-e", "MODEL_API_MODEL_REPOSITORY=/data/models",
    ) as api:  # fmt: skip
        _wait_http(api, "/readyz")
        models = httpx.get(f"{api.url}/v1/models", timeout=10).json()["models"]
        assert [m["name"] for m in models] == ["penguin-mass"]


# ------------------------------------------------------------------- nothing left from the build
@pytest.mark.parametrize("which", ["api", "ui"])
def test_no_ca_secret_uv_or_caches_left_in_the_image(images: Images, which: str) -> None:
    image = image_of(images, which)
    history = docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", image).stdout
    assert "BEGIN CERTIFICATE" not in history
    for build_step in ("uv sync", "pip install", "SSL_CERT_FILE", "PIP_CERT"):
        assert build_step not in history, f"{build_step!r} ran in the final stage:\n{history}"

    leftovers = sh(
        image,
        "for p in /run/secrets /opt/uv /root/.cache /app/.venv/bin/uv /app/.venv/bin/pip; do "
        '  [ -e "$p" ] && echo "present: $p"; done; '
        'for tool in uv gcc g++ cc c++ make; do command -v $tool >/dev/null && echo "tool: $tool"; done; '
        "find / -xdev \\( -path '*/.cache/uv' -o -path '*/.cache/pip' -o -name 'archive-v0' "
        "  -o -name '*.whl' -path '/app/*' \\) -print 2>/dev/null | sed 's/^/cache: /'; "
        "ls -A /tmp | sed 's/^/tmp: /'; true",
    )
    assert leftovers.strip() == ""

    # The CA bundle handed to the build as a secret: no file of the image is a copy of it ...
    bundle = Path(os.environ.get("BUILD_CA_FILE") or "/etc/ssl/certs/ca-certificates.crt")
    if bundle.is_file():
        digest = hashlib.sha256(bundle.read_bytes()).hexdigest()
        same_size = sh(
            image,
            f"find / -xdev -type f -size {bundle.stat().st_size}c -exec sha256sum {{}} + 2>/dev/null; true",
        )
        assert digest not in same_size, same_size
    # ... and the machine's own extra CAs (the proxy's) appear nowhere in the image.
    markers = []
    for pem in sorted(Path("/usr/local/share/ca-certificates").rglob("*.crt")):
        lines = [ln for ln in pem.read_text(errors="replace").splitlines() if len(ln) == 64]
        if lines:
            markers.append(lines[len(lines) // 2])
    if markers:
        patterns = " ".join(f"-e '{marker}'" for marker in markers)
        found = sh(
            image,
            f"grep -rlF {patterns} / --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev "
            "2>/dev/null; true",
        )
        assert found.strip() == "", f"the proxy CA is in the image: {found}"


def test_build_durations_and_sizes_are_recorded(images: Images, container_output: Path) -> None:
    sizes = {
        which: int(docker("image", "inspect", "-f", "{{.Size}}", image_of(images, which)).stdout)
        for which in ("api", "ui")
    }
    record = {"base_image": images.base, "durations_s": images.durations, "sizes_bytes": sizes}
    (container_output / "images.json").write_text(json.dumps(record, indent=2) + "\n")
    assert {"model-serving-api", "model-serving-ui"} <= set(images.durations)
    assert all(size > 0 for size in sizes.values())
