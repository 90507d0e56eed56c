"""Test helpers shared by every test folder: real servers on loopback ports."""

from __future__ import annotations

import csv
import importlib.util
import io
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent

# TESTS_BLOCK_NATIVE_CODECS=1 runs the tests as if the native extension had not been built: its
# import fails in the test process (tests/conftest.py) and in every API server started here, so
# the Python codecs serve. tests/api/test_python_codecs.py runs the API tests so.
NATIVE_EXTENSION = "model_api.codecs._records"
BLOCK_NATIVE_CODECS = os.environ.get("TESTS_BLOCK_NATIVE_CODECS") == "1"
_BLOCK_NATIVE_CODECS_CODE = f"import sys; sys.modules[{NATIVE_EXTENSION!r}] = None\n"


def server_code(code: str) -> str:
    """Python code (``python -c``) that starts an API server the tests run: with
    TESTS_BLOCK_NATIVE_CODECS, the native extension's import is made to fail first."""
    return (_BLOCK_NATIVE_CODECS_CODE if BLOCK_NATIVE_CODECS else "") + code


def server_module(module: str) -> list[str]:
    """The arguments after ``python`` that run ``module`` as ``python -m`` does; with
    TESTS_BLOCK_NATIVE_CODECS, through ``server_code``."""
    if not BLOCK_NATIVE_CODECS:
        return ["-m", module]
    return ["-c", server_code(f"import runpy; runpy.run_module({module!r}, run_name='__main__')")]


def api_environment(repository: Path, port: int, data_dir: Path, **env: str) -> dict[str, str]:
    """The environment of an API server process the tests start: this one's, plus its model
    repository, a loopback port and its prediction log's database in ``data_dir`` (never the
    working folder, which is the repository's), then ``env``."""
    return {
        **os.environ,
        "MODEL_API_MODEL_REPOSITORY": str(repository),
        "MODEL_API_PORT": str(port),
        "MODEL_API_HOST": "127.0.0.1",
        "MODEL_API_DATA_DIR": str(data_dir),
        **env,
    }


# TESTS_NATIVE_RECORDS_MODULE=<path of a compiled _records> makes the tests import that build of
# the native parser instead of the installed one (tests/api/test_records_sanitized.py runs the
# parser's property tests so on a build with AddressSanitizer and UBSan).
NATIVE_RECORDS_MODULE = os.environ.get("TESTS_NATIVE_RECORDS_MODULE", "")


def use_native_records_module(path: str) -> None:
    """Import ``model_api.codecs._records`` from ``path`` in this process, before anything else."""
    if NATIVE_EXTENSION in sys.modules:
        raise RuntimeError(f"too late to load {path}: {NATIVE_EXTENSION} is imported")
    spec = importlib.util.spec_from_file_location(NATIVE_EXTENSION, path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"{path} is not an extension module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[NATIVE_EXTENSION] = module


def block_native_codecs() -> None:
    """Make ``import model_api.codecs._records`` fail in this process, as where it is not built."""
    if "model_api.codecs.records" in sys.modules:
        raise RuntimeError("too late to block the native codecs: model_api.codecs is imported")
    sys.modules[NATIVE_EXTENSION] = None  # type: ignore[assignment]


# One real penguin (an Adelie) in the shape the penguin-species model takes.
ADELIE = {
    "bill_length_mm": 39.1,
    "bill_depth_mm": 18.7,
    "flipper_length_mm": 181,
    "body_mass_g": 3750,
    "island": "Torgersen",
    "sex": "male",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A real process serving HTTP on a loopback port."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)


def wait_until_answers(
    url: str,
    exited: Callable[[], str | None],
    log: Callable[[], str],
    timeout: float = 60,
    status: int = 200,
    interval: float = 0.1,
) -> None:
    """Poll ``url`` until it answers ``status``.

    ``exited()`` says why the server is gone (None while it runs) and ends the wait at once;
    ``log()`` is the server's log, part of every error."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        gone = exited()
        if gone is not None:
            raise RuntimeError(f"{gone}:\n{log()}")
        try:
            response = httpx.get(url, timeout=2)
            if response.status_code == status:
                return
            last = f"{response.status_code} {response.text[:200]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(interval)
    raise RuntimeError(f"{url} not answering {status} after {timeout}s (last: {last}):\n{log()}")


def wait_for(
    url: str,
    process: subprocess.Popen[bytes],
    log_path: Path,
    timeout: float = 60,
    status: int = 200,
) -> None:
    """Wait until ``url`` answers ``status``; fail at once, with the log, if ``process`` exits."""
    wait_until_answers(
        url,
        lambda: None if process.poll() is None else f"server exited with {process.returncode}",
        lambda: log_path.read_text(errors="replace"),
        timeout=timeout,
        status=status,
    )


def start_server(
    command: list[str],
    port: int,
    health_path: str,
    log_path: Path,
    timeout: float = 60,
    **popen: Any,
) -> Server:
    """Start a server process on a loopback ``port``; wait until ``health_path`` answers 200.

    A process that dies or never answers is killed and its log is in the error."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, **popen)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{url}{health_path}", process, log_path, timeout=timeout)
    except BaseException:
        process.kill()  # never leave a half-started server behind
        process.wait()
        raise
    return Server(url, process, log_path)


def start_api(
    repository: Path, log_dir: Path, ready: bool = True, port: int | None = None, **env: str
) -> Server:
    """Start ``model-api serve`` as its own process; wait until /readyz (or /healthz) answers.

    The prediction log is on, as by default, with its SQLite database in a folder of its own
    under ``log_dir`` (``MODEL_API_DATA_DIR`` in ``env`` puts it elsewhere)."""
    port = port or free_port()
    environment = api_environment(repository, port, log_dir / f"data-{port}", **env)
    serve = [*server_module("model_api.cli"), "serve"]
    return start_server(
        [sys.executable, *serve],
        port,
        "/readyz" if ready else "/healthz",
        log_dir / f"api-{port}.log",
        env=environment,
    )


PREDICTION_ID = re.compile(r"^[0-9a-f]{20}-[0-9]+$")


def without_ids(answer: Any) -> Any:
    """A v1 or V2 JSON answer as it is with the prediction log off: each row's ``id`` (checked to
    be a prediction id) left out, and a V2 answer's token ``id`` and ``prediction_ids`` too."""
    if isinstance(answer, dict) and "predictions" in answer:
        rows = []
        for row in answer["predictions"]:
            row = dict(row)
            assert PREDICTION_ID.match(row.pop("id", "0" * 20 + "-0")), row
            rows.append(row)
        return {**answer, "predictions": rows}
    if isinstance(answer, dict) and "outputs" in answer:
        answer = dict(answer)
        parameters = dict(answer.pop("parameters", None) or {})
        ids = parameters.pop("prediction_ids", None)
        if ids is not None:
            assert all(PREDICTION_ID.match(i) for i in ids), ids
            if answer.get("id") == ids[0].rsplit("-", 1)[0]:
                del answer["id"]  # the token, given because the request named no id
        if parameters:
            answer["parameters"] = parameters
        return answer
    return answer


def csv_without_ids(text: str) -> str:
    """A scored CSV as it is with the prediction log off: its ``prediction_id`` column dropped."""
    lines = list(csv.reader(io.StringIO(text)))
    if not lines or "prediction_id" not in lines[0]:
        return text
    column = lines[0].index("prediction_id")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for line in lines:
        writer.writerow(line[:column] + line[column + 1 :])
    return out.getvalue()


@contextmanager
def running_api(repository: Path, log_dir: Path, **env: str) -> Iterator[Server]:
    server = start_api(repository, log_dir, **env)
    try:
        yield server
    finally:
        server.stop()


def run_pytest(
    args: list[str], env: dict[str, str], timeout: float
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run pytest on ``args`` in a child process from the repository root, with ``env`` added to
    this one's environment: its result, and the node ids that passed (``-rA`` lists each as
    ``PASSED <node id>``)."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *args, "-q", "-rA", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    passed = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("PASSED ")]
    return result, passed


def start_ui(api_url: str, log_path: Path) -> Server:
    """``model-ui`` (the console entry point's module) against ``api_url``, on a free port, from
    the repository root (the service's config.toml must still apply)."""
    port = free_port()
    return start_server(
        [sys.executable, "-m", "model_ui.cli", "--api-url", api_url,
         "--port", str(port), "--address", "127.0.0.1"],
        port,
        "/_stcore/health",
        log_path,
        cwd=ROOT,
    )  # fmt: skip


def strictly(model: type[Any], answer: Any) -> Any:
    """``answer`` read with the contract's ``model``, unknown fields refused."""
    strict = type(
        model.__name__, (model,), {"model_config": {**model.model_config, "extra": "forbid"}}
    )
    return strict.model_validate(answer)


SPECIES_FEATURES = [
    "bill_length_mm",
    "bill_depth_mm",
    "flipper_length_mm",
    "body_mass_g",
    "island",
    "sex",
]
MASS_FEATURES = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "species", "island", "sex"]


def add_weak_species_version(
    repository: Path, version: str = "0", features: list[str] | None = None
) -> None:
    """A weaker version of the example species model in ``repository`` (two rounds of stumps,
    the same features, unless ``features`` names others, and classes): something to compare the
    real one with. "0" sorts before "1", so the example stays the newest."""
    import xgboost as xgb
    from model_api.authoring import save_bundle
    from model_api.authoring.examples import load_penguins_frame

    penguins = load_penguins_frame()
    x = penguins[features or SPECIES_FEATURES]
    weak = xgb.train(
        {"objective": "multi:softprob", "num_class": 3, "max_depth": 1, "nthread": 1, "seed": 0},
        xgb.DMatrix(x, label=penguins["species"].cat.codes, enable_categorical=True),
        num_boost_round=2,
    )
    save_bundle(
        weak,
        x,
        repository / "penguin-species" / version,
        name="penguin-species",
        version=version,
        target="species",
        class_labels=list(penguins["species"].cat.categories),
    )


def add_weak_mass_version(repository: Path, version: str = "0") -> None:
    """A weaker version of the example mass model (ten rounds of depth-2 trees, the same
    features), with its training target's deciles like the example's."""
    import xgboost as xgb
    from model_api.authoring import save_bundle
    from model_api.authoring.examples import load_penguins_frame

    penguins = load_penguins_frame()
    x, y = penguins[MASS_FEATURES], penguins["body_mass_g"]
    weak = xgb.train(
        {"objective": "reg:squarederror", "max_depth": 2, "eta": 0.3, "nthread": 1, "seed": 0},
        xgb.DMatrix(x, label=y, enable_categorical=True),
        num_boost_round=10,
    )
    save_bundle(
        weak,
        x,
        repository / "penguin-mass" / version,
        name="penguin-mass",
        version=version,
        target="body_mass_g",
        target_sample=y,
    )
