"""Session fixtures of the image tests: a Docker engine, both images, and both containers running
the way the cluster runs them (service-name networking, read-only root, uid 10001, no capabilities).

The images are built once per session by the same scripts users run (`make images`), on the local
Debian base image from scripts/build-base-image.sh, because no image registry is reachable here.
Set CONTAINER_TEST_PYTHON_IMAGE to test another base (e.g. python:3.12-slim where Docker Hub works).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import ROOT, wait_until_answers

# The Helm chart (release `model-serving`, chart `model-serving`) names the API Service so; the UI
# finds the API by this name in the cluster, and by the same name on the test's Docker network.
API_SERVICE_NAME = "model-serving-api"
API_URL_IN_NETWORK = f"http://{API_SERVICE_NAME}:8000"
IMAGE_PREFIX = "model-serving"
IMAGE_TAG = "test"
LOCAL_BASE_IMAGE = "model-serving/python-base:3.13"
LABEL = "model-serving.test=containers"
USER_ID = 10001
# Cold builds on 2 cores: base image ~1 min, both images ~2-4 min (downloads from PyPI).
BUILD_TIMEOUT = 1800


def docker(
    *args: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the docker CLI; failures raise with the command's output."""
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"docker {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result


def _run_script(script: str, log_path: Path, env: dict[str, str]) -> tuple[int, float, str]:
    started = time.monotonic()
    with log_path.open("a") as log:
        log.write(f"\n$ {script}\n")
        log.flush()
        result = subprocess.run(
            [str(ROOT / "scripts" / script)],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=BUILD_TIMEOUT,
            check=False,
        )
    output = log_path.read_text(errors="replace")
    return result.returncode, time.monotonic() - started, output


def _tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])


@dataclass(frozen=True)
class Images:
    api: str
    ui: str
    base: str
    durations: dict[str, float]


@pytest.fixture(scope="session")
def container_output(output_dir: Path) -> Path:
    path = output_dir / "containers"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="session")
def docker_engine(container_output: Path) -> None:
    """A Docker engine that answers; started by scripts/docker-daemon.sh when none runs."""
    log_path = container_output / "docker-daemon.log"
    log_path.write_text("")
    code, _, output = _run_script("docker-daemon.sh", log_path, {})
    if code != 0:
        pytest.fail(
            "No Docker engine could be started for the image tests (scripts/docker-daemon.sh "
            f"exited {code}). Install docker.io with `scripts/setup.sh --test` and run the tests "
            f"as root, or start Docker yourself.\n{_tail(output)}",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def images(docker_engine: None, container_output: Path) -> Images:
    """Both service images, built once per session with scripts/build-images.sh."""
    log_path = container_output / "build.log"
    log_path.write_text("")
    durations: dict[str, float] = {}
    base = os.environ.get("CONTAINER_TEST_PYTHON_IMAGE", "")
    if not base:
        base = LOCAL_BASE_IMAGE
        existed = docker("image", "inspect", base, check=False).returncode == 0
        code, seconds, output = _run_script(
            "build-base-image.sh", log_path, {"BASE_IMAGE_TAG": base}
        )
        if code != 0:
            pytest.fail(
                f"building the local base image {base} failed:\n{_tail(output)}", pytrace=False
            )
        durations["base_image" if not existed else "base_image_reused"] = round(seconds, 1)
    code, seconds, output = _run_script(
        "build-images.sh",
        log_path,
        {"PYTHON_IMAGE": base, "IMAGE_PREFIX": IMAGE_PREFIX, "IMAGE_TAG": IMAGE_TAG},
    )
    if code != 0:
        pytest.fail(f"building the service images failed:\n{_tail(output)}", pytrace=False)
    durations["both_images"] = round(seconds, 1)
    for name, secs in re.findall(r"built (\S+):\S+ in (\d+)s", output):
        durations[name] = float(secs)
    (container_output / "build-durations.json").write_text(json.dumps(durations, indent=2) + "\n")
    return Images(
        api=f"{IMAGE_PREFIX}-api:{IMAGE_TAG}",
        ui=f"{IMAGE_PREFIX}-ui:{IMAGE_TAG}",
        base=base,
        durations=durations,
    )


@dataclass(frozen=True)
class Container:
    name: str
    url: str  # the published port on 127.0.0.1

    def logs(self) -> str:
        result = docker("logs", self.name, check=False)
        return result.stdout + result.stderr

    def exited(self) -> str | None:
        """Why the container is gone, or None while it runs."""
        state = docker("inspect", "-f", "{{.State.Status}}", self.name, check=False).stdout.strip()
        return f"container {self.name} {state}" if state in ("exited", "dead") else None


# How the cluster runs both pods (see the chart's securityContext): read-only root filesystem with
# a writable /tmp only, a numeric non-root user, no Linux capabilities, no privilege escalation.
HARDENED = [
    "--read-only",
    "--tmpfs",
    "/tmp:rw,nosuid,nodev,size=256m",
    "--user",
    f"{USER_ID}:{USER_ID}",
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
]


def _published(name: str, port: int) -> str:
    mapping = docker("port", name, f"{port}/tcp").stdout.splitlines()[0].strip()
    return f"http://127.0.0.1:{mapping.rsplit(':', 1)[1]}"


def _wait_http(container: Container, path: str, timeout: float = 120) -> None:
    wait_until_answers(
        container.url + path,
        container.exited,
        lambda: _tail(container.logs()),
        timeout=timeout,
        interval=0.5,
    )


def _remove_leftover(name: str) -> None:
    """A container of this name from an earlier, killed test run goes; anyone else's stays."""
    found = docker("ps", "-a", "--filter", f"name=^{name}$", "--format", "{{.Labels}}").stdout
    if not found.strip():
        return
    if LABEL not in found:
        pytest.fail(
            f"a container named {name} that these tests did not start exists", pytrace=False
        )
    docker("rm", "-f", name)


@pytest.fixture(scope="session")
def network(docker_engine: None) -> Iterator[str]:
    """A user-defined Docker network: containers on it resolve each other by name, like Services."""
    docker("network", "prune", "--force", "--filter", f"label={LABEL}")  # unused, from killed runs
    name = f"model-serving-test-{uuid.uuid4().hex[:8]}"
    docker("network", "create", "--label", LABEL, name)
    yield name
    docker("network", "rm", name, check=False)


@contextmanager
def _running(
    name: str, image: str, network: str, port: int, log_dir: Path, *args: str
) -> Iterator[Container]:
    _remove_leftover(name)
    try:
        docker(
            "run", "-d", "--name", name, "--label", LABEL, "--network", network, *HARDENED,
            "-p", f"127.0.0.1::{port}", *args, image,
        )  # fmt: skip
        yield Container(name, _published(name, port))
    finally:
        (log_dir / f"{name}.log").write_text(Container(name, "").logs())
        docker("rm", "-f", name, check=False)


@pytest.fixture(scope="session")
def api_container(images: Images, network: str, container_output: Path) -> Iterator[Container]:
    """The API image running hardened, named like the chart's API Service."""
    with _running(API_SERVICE_NAME, images.api, network, 8000, container_output) as api:
        _wait_http(api, "/readyz")
        yield api


@pytest.fixture(scope="session")
def ui_container(
    images: Images, network: str, api_container: Container, container_output: Path
) -> Iterator[Container]:
    """The UI image running hardened, pointed at the API by its Service name."""
    name = "model-serving-ui"
    with _running(
        name,
        images.ui,
        network,
        8501,
        container_output,
        "-e",
        f"MODEL_UI_API_URL={API_URL_IN_NETWORK}",
    ) as ui:
        _wait_http(ui, "/_stcore/health")
        yield ui
