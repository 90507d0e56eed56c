"""The ASGI fast path answers exactly as the FastAPI routes it stands in front of.

The same requests go to the app as built, to the same app without ``FastPathMiddleware`` (so
FastAPI's router serves them) and to the app as built behind a proxy's path prefix (a root_path,
which the fast path leaves to the router); status, headers and bodies must be identical. Both
are built from one table of model operations (``http.operations``), and a route of an operation
that takes more than the fast path gives it (a dependency, a parameter) is refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, Request
from model_api.http.app import create_app, load_models
from model_api.http.fastpath import PREDICTION_PATH, FastPathMiddleware
from model_api.http.middleware import RequestMiddleware
from model_api.http.operations import (
    OPERATIONS,
    check_served_alike,
    include_operations,
    served_routes,
)
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
        "v1 csv empty delimiter",
        "/v1/models/penguin-species/predict?delimiter=",
        b"bill_length_mm\n1\n",
        {"content-type": "text/csv"},
    ),
    (
        "v1 csv bad header",
        "/v1/models/penguin-species/predict",
        b"bill_length_mm\n1\n",
        {"content-type": "text/csv"},
    ),
    (
        "v2 binary output",
        "/v2/models/penguin-species/infer",
        orjson.dumps({**V2_TENSOR, "parameters": {"binary_data_output": True}}),
        {},
    ),
    (
        "explain",
        "/v1/models/penguin-species/explain",
        orjson.dumps({"instances": [ADELIE]}),
        {},
    ),
    (
        "explain version, unknown output",
        "/v1/models/penguin-mass/versions/1/explain?output=q0.5",
        orjson.dumps({"instances": [{**ADELIE, "species": "Adelie"}]}),
        {},
    ),
    (
        "explain csv refused",
        "/v1/models/penguin-species/explain",
        b"bill_length_mm\n1\n",
        {"content-type": "text/csv"},
    ),
]
PROXY_PREFIX = "/behind-a-proxy"


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


async def _call(
    app: FastAPI, path: str, body: bytes, headers: dict[str, str], root_path: str = ""
) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, root_path=root_path)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        sent = {"content-type": "application/json", "x-request-id": "same-id", **headers}
        return await client.post(root_path + path, content=body, headers=sent)


def _comparable(response: httpx.Response, prefix: str = "") -> dict[str, Any]:
    """Status, headers and body; behind a proxy's ``prefix`` an answer that names the path it
    was asked (a 404) names it with the prefix, which is left out here."""
    body = response.content.replace(prefix.encode(), b"") if prefix else response.content
    headers = {**response.headers, "content-length": str(len(body))}
    return {"status": response.status_code, "headers": headers, "body": body}


@pytest.mark.parametrize(("label", "path", "body", "headers"), CASES, ids=[c[0] for c in CASES])
def test_fast_path_answers_like_fastapi(
    apps: tuple[FastAPI, FastAPI], label: str, path: str, body: bytes, headers: dict[str, str]
) -> None:
    fast, routed = apps
    got = asyncio.run(_call(fast, path, body, headers))
    expected = asyncio.run(_call(routed, path, body, headers))
    behind_proxy = asyncio.run(_call(fast, path, body, headers, root_path=PROXY_PREFIX))
    assert _comparable(got) == _comparable(expected), label
    assert _comparable(behind_proxy, PROXY_PREFIX) == _comparable(expected), label


def test_the_fast_path_matches_only_the_prediction_paths() -> None:
    served = [
        "/v1/models/m/predict",
        "/v1/models/m/versions/2/predict",
        "/v1/models/m/explain",
        "/v1/models/m/versions/2/explain",
        "/v2/models/m/infer",
        "/v2/models/m.x-1/versions/2024-01/infer",
    ]
    passed_on = [
        "/v1/models/m",
        "/v1/models/m/predict/",
        "/v1/models//predict",
        "/v1/models/a/b/predict",
        "/v2/models/m/ready",
        "/v1/models/m/versions/2/ready",
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
    assert asyncio.run(call("/v1/models/penguin-species/explain")) == 200
    assert reached == []
    assert asyncio.run(call("/v1/models/penguin-species")) == 204
    assert reached == ["/v1/models/penguin-species"]


def test_create_app_puts_the_fast_path_inside_the_request_middleware(
    apps: tuple[FastAPI, FastAPI],
) -> None:
    # Outermost first: RequestMiddleware (request ids, API key, limits, metrics) must wrap the
    # fast path, or a prediction would skip the API key check.
    order = [m.cls for m in apps[0].user_middleware]
    assert order[0] is RequestMiddleware
    assert order[-1] is FastPathMiddleware


def _operation_routes(app: FastAPI) -> list[Any]:
    paths = {op.path(versioned) for op in OPERATIONS for versioned in (False, True)}
    return [r for r in served_routes(app.routes) if getattr(r, "path", None) in paths]


def test_every_operation_is_routed_once_on_both_paths(apps: tuple[FastAPI, FastAPI]) -> None:
    routes = _operation_routes(apps[0])
    assert sorted(r.path for r in routes) == sorted(
        op.path(versioned) for op in OPERATIONS for versioned in (False, True)
    )
    assert all(r.methods == {"POST"} for r in routes)
    assert {(op.api, op.verb) for op in OPERATIONS} == {
        ("v1", "predict"),
        ("v1", "explain"),
        ("v1", "evaluate"),
        ("v1", "compare"),
        ("v2", "infer"),
    }


def test_operation_routes_take_only_what_the_fast_path_gives(
    apps: tuple[FastAPI, FastAPI],
) -> None:
    check_served_alike(apps[0].routes)  # the app as built passes
    for route in _operation_routes(apps[0]):
        dependant = route.dependant
        assert dependant.dependencies == [], route.path
        assert not dependant.query_params + dependant.header_params + dependant.body_params
        expected = ["name", "version"] if "{version}" in route.path else ["name"]
        assert [p.name for p in dependant.path_params] == expected, route.path


async def _api_key(x_api_key: str = Header("")) -> str:
    return x_api_key


@pytest.mark.parametrize(
    "added",
    [
        {"dependencies": [Depends(_api_key)]},  # on the route
        {"parameter": "limit"},  # a query parameter the fast path would never read
    ],
    ids=["dependency", "parameter"],
)
def test_a_route_that_takes_more_is_refused_at_start(added: dict[str, Any]) -> None:
    router = APIRouter()
    path = OPERATIONS[0].path(versioned=False)
    if "dependencies" in added:

        async def endpoint(request: Request, name: str) -> None:
            return None

        router.add_api_route(path, endpoint, methods=["POST"], dependencies=added["dependencies"])
    else:

        async def endpoint_with_limit(request: Request, name: str, limit: int = 10) -> None:
            return None

        router.add_api_route(path, endpoint_with_limit, methods=["POST"])
    with pytest.raises(RuntimeError, match="takes only its path parameters"):
        FastPathMiddleware(router, routes=router.routes)


def test_a_dependency_added_where_a_router_is_included_is_refused_at_start(
    example_repository: Path,
) -> None:
    app = create_app(Settings(model_repository=example_repository))
    app.build_middleware_stack()  # the app as built starts
    extra = APIRouter(prefix="/v1")
    include_operations(extra, "v1")
    app.include_router(extra, dependencies=[Depends(_api_key)])
    with pytest.raises(RuntimeError, match="takes only its path parameters"):
        app.build_middleware_stack()
