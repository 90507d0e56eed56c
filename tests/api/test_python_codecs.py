"""Without the native extension the API answers the same, and says at start-up which codecs it uses.

``model_api.codecs._records`` (C++) is optional: where it is not built (no compiler) or
``MODEL_API_NATIVE_CODECS`` is false, msgspec reads every v1 body. These tests check the start-up
log names the parser, that switching it off changes no byte of any answer, and run every API test
(``tests/api``, and the served user models of ``tests/byom``) again with the extension's import
blocked (``TESTS_BLOCK_NATIVE_CODECS``, see ``tests/support.py``), as on a machine where it was
never built.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pandas as pd
import pytest
import xgboost as xgb

from tests.support import BLOCK_NATIVE_CODECS, ROOT, Server, run_pytest, running_api

# Every API test, and the user models served against XGBoost's own answers; in that run
# test_the_served_api_names_its_records_parser checks its servers really use the Python codecs.
SELECTION = ["tests/api", "tests/byom/test_served.py"]
# The files that test the extension itself: in that run they are skipped, whole.
NATIVE_ONLY = {"tests/api/test_records_native.py", "tests/api/test_records_sanitized.py"}
NATIVE = "native (model_api.codecs._records)"
NOT_BUILT = "msgspec (the native extension model_api.codecs._records is not built)"
SWITCHED_OFF = "msgspec (MODEL_API_NATIVE_CODECS is false)"


def records_parser(server: Server) -> str:
    """The parser the server's start-up log names (there is exactly one such line).

    Log lines end in "\n" only: a logged path may hold U+2028 or U+0085, which ``splitlines``
    would take for line ends too (the fuzzer sends such paths)."""
    lines = [line for line in server.log().split("\n") if line.startswith("{")]
    entries = [entry for entry in map(json.loads, lines) if entry.get("message") == "codecs"]
    assert len(entries) == 1, server.log()
    return str(entries[0]["v1_records"])


def test_the_served_api_names_its_records_parser(api_server: Server) -> None:
    # A build whose extension failed to compile must not pass the suite unnoticed: only the run
    # that blocks it on purpose may serve without it.
    assert records_parser(api_server) == (NOT_BUILT if BLOCK_NATIVE_CODECS else NATIVE)


@pytest.fixture(scope="module")
def numeric_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An all-numeric model (the only kind the native parser reads), integers among its features."""
    from model_api.authoring import save_bundle

    rng = np.random.default_rng(7)
    frame = pd.DataFrame(rng.normal(size=(400, 5)), columns=[f"x{i}" for i in range(5)])
    frame["count"] = rng.integers(0, 9, len(frame))
    label = (frame["x0"] - frame["x1"] + 0.2 * frame["count"] > 0).astype(int)
    params = {"objective": "binary:logistic", "max_depth": 3, "nthread": 1}
    booster = xgb.train(params, xgb.DMatrix(frame, label=label), num_boost_round=8)
    root = tmp_path_factory.mktemp("numeric")
    save_bundle(booster, frame, root / "numeric" / "1", name="numeric", version="1")
    return root


def _bodies() -> list[bytes]:
    rng = np.random.default_rng(3)
    values = rng.normal(size=(1000, 5)) * rng.choice([1e-7, 1.0, 1e3, 1e12], size=(1000, 5))
    rows: list[dict[str, Any]] = [
        {**{f"x{i}": v for i, v in enumerate(row)}, "count": i % 9}
        for i, row in enumerate(values.tolist())
    ]
    spaced = json.dumps({"instances": rows[:20]}, indent=1).encode()  # whitespace, other spellings
    invalid = orjson.dumps({"instances": [{**rows[0], "x3": None}, {**rows[1], "count": 1.5}]})
    return [
        orjson.dumps({"instances": rows}),
        orjson.dumps({"instances": rows[:1]}),
        spaced,
        invalid,
    ]


def test_switching_the_native_parser_off_changes_no_answer(
    numeric_repository: Path, tmp_path: Path
) -> None:
    with (
        # The log off: the answers then carry no prediction ids, and compare byte for byte.
        running_api(numeric_repository, tmp_path, MODEL_API_PREDICTION_LOG="false") as default,
        running_api(
            numeric_repository,
            tmp_path,
            MODEL_API_NATIVE_CODECS="false",
            MODEL_API_PREDICTION_LOG="false",
        ) as python,
    ):
        assert records_parser(default) == (NOT_BUILT if BLOCK_NATIVE_CODECS else NATIVE)
        assert records_parser(python) == SWITCHED_OFF
        url = "/v1/models/numeric/predict"
        statuses = []
        for body in _bodies():
            # One request id for both, so that error bodies (which carry it) compare too.
            headers = {"Content-Type": "application/json", "X-Request-ID": "same-for-both"}
            expected = httpx.post(default.url + url, content=body, headers=headers, timeout=30)
            answer = httpx.post(python.url + url, content=body, headers=headers, timeout=30)
            assert (answer.status_code, answer.content) == (expected.status_code, expected.content)
            statuses.append(answer.status_code)
    assert statuses == [200, 200, 200, 422]


def _test_files() -> list[str]:
    files = [*sorted(ROOT.glob("tests/api/test_*.py")), ROOT / "tests/byom/test_served.py"]
    return [path.relative_to(ROOT).as_posix() for path in files]


@pytest.mark.timeout(1500)
def test_the_api_tests_pass_without_the_native_extension() -> None:
    if BLOCK_NATIVE_CODECS:
        pytest.skip("this run is the one without the native extension")
    result, passed = run_pytest(
        [*SELECTION, "-x"], {"TESTS_BLOCK_NATIVE_CODECS": "1"}, timeout=1400
    )
    output = result.stdout[-6000:] + result.stderr[-3000:]
    assert result.returncode == 0, output
    files = _test_files()
    assert len(files) > 30 and "tests/api/test_api_v2.py" in files, files
    # Every file took part but the extension's own; the servers used the Python codecs.
    for file in files:
        took_part = any(test.startswith(file + "::") for test in passed)
        assert took_part is (file not in NATIVE_ONLY), (file, output)
    assert "tests/api/test_python_codecs.py::test_the_served_api_names_its_records_parser" in passed
    # Nothing else skipped: a test skipping for any other reason would leave the fallback unrun.
    skipped = [line for line in result.stdout.splitlines() if line.startswith("SKIPPED ")]
    assert skipped, output
    assert all("native extension" in line for line in skipped), skipped
