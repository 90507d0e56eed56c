"""The ASGI fast path answers exactly as the FastAPI routes it stands in front of.

The same requests go to the app as built and to the same app without ``FastPathMiddleware``
(so FastAPI's router serves them); status, headers and bodies must be identical.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from model_api.http.app import create_app, load_models
from model_api.http.fastpath import PREDICTION_PATH, FastPathMiddleware
from model_api.http.middleware import RequestMiddleware
from model_api.settings import Settings

from tests.support import ADELIE

V2_TENSOR = {
    "inputs": [
        {
            "name": "input-0",
            "shape": [1, 6],
            "datatype": "BYTES",
            "data": [39.1, 18.7, 181, 3750, "Torgersen", "male"],
        }
    ]
}
CASES: list[tuple[str, str, bytes, dict[str, str]]] = [
    (
        "v1 newest",
        "/v1/models/penguin-species/predict",
        orjson.dumps({"instances": [ADELIE] * 3}),
        {},
    ),
    (
        "v1 version",
        "/v1/models/penguin-species/versions/1/predict",
        orjson.dumps({"instances": [ADELIE]}),
        {},
    ),
    (
        "v1 regression",
        "/v1/models/penguin-mass/predict",
        orjson.dumps({"instances": [{**ADELIE, "species": "Adelie"} | {"body_mass_g": None}]}),
        {},
    ),
    (
        "v1 wrong field",
        "/v1/models/penguin-species/predict",
        orjson.dumps({"instances": [{**ADELIE, "bill_length_mm": "long"}]}),
        {},
    ),
    ("v1 unknown model", "/v1/models/nope/predict", orjson.dumps({"instances": [ADELIE]}), {}),
    (
        "v1 unknown version",
        "/v1/models/penguin-species/versions/9/predict",
        orjson.dumps({"instances": [ADELIE]}),
        {},
    ),
    ("v1 not json", "/v1/models/penguin-species/predict", b"{oops", {}),
    ("v1 wrong type", "/v1/models/penguin-species/predict", b"x", {"content-type": "text/plain"}),
    (
        "v1 csv",
        "/v1/models/penguin-species/predict?delimiter=%3B",
        b"bill_length_mm;bill_depth_mm;flipper_length_mm;body_mass_g;island;sex\n39.1;18.7;181;3750;Torgersen;male\n",
        {"content-type": "text/csv"},
    ),
    ("v2 newest", "/v2/models/penguin-species/infer", orjson.dumps(V2_TENSOR), {}),
    (
        "v2 version",
        "/v2/models/penguin-species/versions/1/infer",
        orjson.dumps({**V2_TENSOR, "id": "r1"}),
        {},
    ),
    (
        "v2 bad shape",
        "/v2/models/penguin-species/infer",
        orjson.dumps({"inputs": [{**V2_TENSOR["inputs"][0], "shape": [2, 6]}]}),
        {},
    ),
    ("v2 unknown model", "/v2/models/nope/infer", orjson.dumps(V2_TENSOR), {}),
    ("verbs swapped", "/v1/models/penguin-species/infer", orjson.dumps(V2_TENSOR), {}),
    ("verbs swapped v2", "/v2/models/penguin-species/predict", orjson.dumps(V2_TENSOR), {}),
    (
        "explain (not fast)",
        "/v1/models/penguin-species/explain",
        orjson.dumps({"instances": [ADELIE]}),
        {},
    ),
]


def _without_fast_path(app: FastAPI) -> FastAPI:
    app.user_middleware = [m for m in app.user_middleware if m.cls is not FastPathMiddleware]
    return app


@pytest.fixture(scope="module")
def apps(example_repository: Path) -> Iterator[tuple[FastAPI, FastAPI]]:
    built = []
    for strip in (False, True):
        app = create_app(Settings(model_repository=example_repository))
        load_models(app.state.registry)
        built.append(_without_fast_path(app) if strip else app)
    yield built[0], built[1]
    for app in built:
        app.state.registry.close()


async def _call(app: FastAPI, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        sent = {"content-type": "application/json", "x-request-id": "same-id", **headers}
        return await client.post(path, content=body, headers=sent)


def _comparable(response: httpx.Response) -> dict[str, Any]:
    return {
        "status": response.status_code,
        "headers": dict(response.headers),
        "body": response.content,
    }


@pytest.mark.parametrize(("label", "path", "body", "headers"), CASES, ids=[c[0] for c in CASES])
def test_fast_path_answers_like_fastapi(
    apps: tuple[FastAPI, FastAPI], label: str, path: str, body: bytes, headers: dict[str, str]
) -> None:
    fast, routed = apps
    got = asyncio.run(_call(fast, path, body, headers))
    expected = asyncio.run(_call(routed, path, body, headers))
    assert _comparable(got) == _comparable(expected), label


def test_the_fast_path_matches_only_the_prediction_paths() -> None:
    served = [
        "/v1/models/m/predict",
        "/v1/models/m/versions/2/predict",
        "/v2/models/m/infer",
        "/v2/models/m.x-1/versions/2024-01/infer",
    ]
    passed_on = [
        "/v1/models/m/explain",
        "/v1/models/m/predict/",
        "/v1/models//predict",
        "/v1/models/a/b/predict",
        "/v2/models/m/ready",
        "/v1/models/m/versions/2/explain",
        "/v3/models/m/infer",
    ]
    assert all(PREDICTION_PATH.match(p) for p in served)
    assert not any(PREDICTION_PATH.match(p) for p in passed_on)


def test_prediction_paths_never_reach_the_router(apps: tuple[FastAPI, FastAPI]) -> None:
    fast, _ = apps
    reached: list[str] = []

    async def router(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["path"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    middleware = FastPathMiddleware(router, routes=[])

    async def call(path: str) -> int:
        sent: list[dict[str, Any]] = []
        body = orjson.dumps({"instances": [ADELIE]})
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "method": "POST",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [(b"content-type", b"application/json")],
            "app": fast,
        }
        await middleware(scope, receive, send)
        return int(sent[0]["status"])

    assert asyncio.run(call("/v1/models/penguin-species/predict")) == 200
    assert reached == []
    assert asyncio.run(call("/v1/models/penguin-species/explain")) == 204
    assert reached == ["/v1/models/penguin-species/explain"]


def test_create_app_puts_the_fast_path_inside_the_request_middleware(
    apps: tuple[FastAPI, FastAPI],
) -> None:
    # Outermost first: RequestMiddleware (request ids, API key, limits, metrics) must wrap the
    # fast path, or a prediction would skip the API key check.
    order = [m.cls for m in apps[0].user_middleware]
    assert order[0] is RequestMiddleware
    assert order[-1] is FastPathMiddleware
