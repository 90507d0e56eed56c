"""The native parser's property tests, again on a build with AddressSanitizer and UBSan.

The properties in ``test_records_native.py`` check what the parser returns; an out-of-bounds read
or undefined behaviour can still return the right numbers. Here ``_records.cpp`` is compiled with
``-fsanitize=address,undefined`` into a temporary folder and those tests run against that build
in a subprocess (``TESTS_NATIVE_RECORDS_MODULE``, see ``tests/support.py``), with the sanitizers'
runtimes preloaded into the (uninstrumented) interpreter: any invalid access or UB aborts the run
with the sanitizer's report.
"""

from __future__ import annotations

import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

from tests.support import BLOCK_NATIVE_CODECS, NATIVE_RECORDS_MODULE, ROOT, run_pytest

if BLOCK_NATIVE_CODECS:
    pytest.skip("the native extension is blocked in this run", allow_module_level=True)

SOURCE = ROOT / "services" / "model-api" / "src" / "model_api" / "codecs" / "_records.cpp"
PROPERTIES = "tests/api/test_records_native.py"
LOADED = "tests/api/test_records_sanitized.py::test_the_build_under_test_is_the_sanitized_one"
SANITIZE = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-O1", "-g"]


def _compiler() -> str:
    compiler = shutil.which("g++")
    assert compiler is not None, "g++ is missing: scripts/setup.sh installs it"
    return compiler


def _runtime(compiler: str, library: str) -> str:
    """The sanitizer runtime g++ links against (it prints the bare name when it has none)."""
    found = subprocess.run(
        [compiler, f"-print-file-name={library}"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert Path(found).is_absolute() and Path(found).exists(), f"{library} is missing for g++"
    return found


def _sanitized_build(compiler: str, folder: Path) -> Path:
    module = folder / f"_records{sysconfig.get_config_var('EXT_SUFFIX')}"
    include = sysconfig.get_paths()["include"]
    command = [compiler, "-std=c++17", "-shared", "-fPIC", *SANITIZE, f"-I{include}"]
    subprocess.run([*command, str(SOURCE), "-o", str(module)], check=True, timeout=180)
    return module


@pytest.mark.timeout(600)
def test_native_parser_properties_hold_under_asan_and_ubsan(tmp_path: Path) -> None:
    if NATIVE_RECORDS_MODULE:
        pytest.skip("this run is the sanitized one")
    compiler = _compiler()
    module = _sanitized_build(compiler, tmp_path)
    preload = [_runtime(compiler, "libasan.so"), _runtime(compiler, "libubsan.so")]
    environment = {
        "TESTS_NATIVE_RECORDS_MODULE": str(module),
        "LD_PRELOAD": ":".join(preload),
        # CPython keeps much of its memory until exit by design: leak reports would be noise.
        "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1",
        "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1",
        # Every Python object from malloc, so the redzones surround each body the parser reads.
        "PYTHONMALLOC": "malloc",
    }
    # The properties' own example budgets (hypothesis settings in the file) bound the run.
    # --capture=sys leaves file descriptor 2 alone, so a sanitizer's report reaches stderr here,
    # and without faulthandler it is the last thing there.
    result, passed = run_pytest(
        [PROPERTIES, LOADED, "--capture=sys", "-p", "no:faulthandler"], environment, timeout=540
    )
    output = result.stderr[-8000:] + result.stdout[-4000:]
    assert result.returncode == 0, output
    assert LOADED in passed, output
    assert sum(test.startswith(PROPERTIES + "::") for test in passed) >= 10, output


def test_the_build_under_test_is_the_sanitized_one() -> None:
    """The parser the properties import is the build TESTS_NATIVE_RECORDS_MODULE names (in the
    sanitized run), else the one installed with the package."""
    from model_api.codecs import _records

    if NATIVE_RECORDS_MODULE:
        assert Path(_records.__file__).samefile(NATIVE_RECORDS_MODULE)
    else:
        installed = ROOT / "services" / "model-api" / "src" / "model_api" / "codecs"
        assert Path(_records.__file__).parent.samefile(installed) or "site-packages" in str(
            Path(_records.__file__)
        )
