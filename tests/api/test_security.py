"""The optional API key: required everywhere but health and metrics, never leaked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import ADELIE, Server, running_api

KEY = "s3cret-test-key-0123456789"
PROTECTED = [
    ("GET", "/v1/models", None),
    ("GET", "/v1/models/penguin-species", None),
    ("POST", "/v1/models/penguin-species/predict", {"instances": [ADELIE]}),
    ("POST", "/v1/models/penguin-species/explain", {"instances": [ADELIE]}),
    ("GET", "/v2", None),
    ("GET", "/v2/models/penguin-species", None),
    (
        "POST",
        "/v2/models/penguin-species/infer",
        {
            "inputs": [
                {
                    "name": "x",
                    "shape": [1, 6],
                    "datatype": "FP32",
                    "data": [39.1, 18.7, 181, 3750, 2, 1],
                }
            ]
        },
    ),
]  # /openapi.json without the key is the public document: tests/api/test_openapi.py


@pytest.fixture(scope="module")
def keyed_server(
    example_repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    with running_api(
        example_repository, tmp_path_factory.mktemp("keyed"), MODEL_API_API_KEY=KEY
    ) as server:
        yield server


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
def test_protected_endpoints_need_the_key(
    keyed_server: Server, method: str, path: str, body: object
) -> None:
    url = keyed_server.url + path
    missing = httpx.request(method, url, json=body)
    assert missing.status_code == 401
    assert "missing API key" in missing.text
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong = httpx.request(method, url, json=body, headers={"X-API-Key": "wrong"})
    assert wrong.status_code == 401
    assert "invalid API key" in wrong.text
    assert wrong.headers["www-authenticate"] == "Bearer"
    right = httpx.request(method, url, json=body, headers={"X-API-Key": KEY})
    assert right.status_code == 200, right.text
    bearer = httpx.request(method, url, json=body, headers={"Authorization": f"Bearer {KEY}"})
    assert bearer.status_code == 200


def test_v2_refusal_uses_the_protocol_shape(keyed_server: Server) -> None:
    response = httpx.get(f"{keyed_server.url}/v2/models/penguin-species")
    assert response.status_code == 401
    assert response.json() == {"error": "missing API key: send it in the X-API-Key header"}


@pytest.mark.parametrize(
    "path", ["/healthz", "/readyz", "/metrics", "/v2/health/live", "/v2/health/ready"]
)
def test_health_and_metrics_are_open(keyed_server: Server, path: str) -> None:
    assert httpx.get(keyed_server.url + path).status_code == 200


def test_the_key_never_appears_in_logs_or_errors(keyed_server: Server) -> None:
    httpx.get(f"{keyed_server.url}/v1/models", headers={"X-API-Key": KEY})
    httpx.get(f"{keyed_server.url}/v1/models", headers={"X-API-Key": KEY[:-1]})
    response = httpx.post(
        f"{keyed_server.url}/v1/models/penguin-species/predict",
        json={"instances": [{"x": KEY}]},
        headers={"X-API-Key": KEY},
    )
    assert response.status_code == 422
    assert KEY not in response.text
    assert KEY[:-1] not in keyed_server.log()  # neither the key nor the wrong one


def test_cors_is_off_by_default_and_follows_the_setting(example_repository: Path) -> None:
    import asyncio

    from model_api.http.app import create_app
    from model_api.settings import Settings

    origin = {"Origin": "https://app.example"}

    async def preflight(settings: Settings) -> tuple[httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=create_app(settings))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return (
                await client.options(
                    "/v1/models", headers={**origin, "Access-Control-Request-Method": "GET"}
                ),
                await client.get("/v1/models", headers=origin),
            )

    closed, _ = asyncio.run(preflight(Settings(model_repository=example_repository)))
    assert "access-control-allow-origin" not in closed.headers
    # With a key required too: the preflight (which never carries credentials) passes, the
    # request itself still needs the key.
    opened, keyless = asyncio.run(
        preflight(
            Settings(
                model_repository=example_repository,
                cors_origins=["https://app.example"],
                api_key=KEY,
            )
        )
    )
    assert opened.status_code == 200
    assert opened.headers["access-control-allow-origin"] == "https://app.example"
    assert keyless.status_code == 401
