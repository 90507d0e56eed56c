"""Property-based fuzzing of the API from its own OpenAPI document (schemathesis).

Every operation (v1, V2, CSV, health, per-model typed paths) is called with generated inputs,
in-process through ASGI and against a live server: no 5xx, and every response conforms to the
documented status codes, content types and schemas. (schemathesis' own pytest plugin does not
run under pytest 9 yet, so the operations are driven with hypothesis directly.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from model_api.main import create_app
from model_api.settings import Settings
from schemathesis import checks

from tests.support import Server

EXAMPLES_PER_OPERATION = 40
# What the API promises: no 5xx, and statuses, content types, headers and bodies as documented.
# (Acceptance of "schema-valid" data is not asserted: the generic {name} paths and the CSV body
# are documented loosely on purpose; the typed per-model paths carry the precise schemas.)
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]


@pytest.fixture(scope="module")
def loaded_app(example_repository: Path) -> FastAPI:
    app = create_app(Settings(model_repository=example_repository))
    app.state.registry.load_all()  # what the lifespan does, done up front for in-process calls
    return app


def fuzz(schema: Any, call: dict[str, Any]) -> tuple[int, list[str]]:
    """Run every operation of ``schema``; return (cases run, failures)."""
    cases = 0
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20, [op.label for op in operations]
    for operation in operations:

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        @given(case=operation.as_strategy())
        def run(case: schemathesis.Case) -> None:
            nonlocal cases
            cases += 1
            case.call_and_validate(checks=CHECKS, **call)

        try:
            run()
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    return cases, failures


def record(output_dir: Path, mode: str, cases: int) -> None:
    path = output_dir / "schemathesis-cases.json"
    counts = json.loads(path.read_text()) if path.exists() else {}
    counts[mode] = cases
    path.write_text(json.dumps(counts, indent=2))
    print(f"\nschemathesis {mode}: {cases} cases")


def test_asgi_app_conforms_to_its_schema(loaded_app: FastAPI, output_dir: Path) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", loaded_app)
    cases, failures = fuzz(schema, {})
    record(output_dir, "asgi", cases)
    assert not failures, "\n\n".join(failures)


def test_live_server_conforms_to_its_schema(api_server: Server, output_dir: Path) -> None:
    schema = schemathesis.openapi.from_url(f"{api_server.url}/openapi.json")
    cases, failures = fuzz(schema, {"timeout": 30})
    record(output_dir, "live", cases)
    assert not failures, "\n\n".join(failures)
