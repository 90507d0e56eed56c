"""The model operations served straight from ASGI, ahead of FastAPI's router.

For an endpoint, FastAPI's own per-request work (trying every route in turn, the request and
response wrappers, solving the parameters, the exception middleware) is of the order of
XGBoost's prediction of one row, the API's most common request. So the paths of the operations
in ``operations.OPERATIONS`` (v1 predict and explain, V2 infer; newest or one version) are
matched here with one regular expression and served by the same ``operations.serve`` their
routes call. The routes stay
declared in FastAPI, so OpenAPI, /docs and every other path are unchanged, and errors get the
very answers the app's exception handlers give (``errors.response_for``).
``RequestMiddleware`` (request ids, API key, limits, metrics, logs) still wraps every request.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from model_api.http import errors as error_handlers
from model_api.http.operations import (
    OPERATIONS,
    Operation,
    check_served_alike,
    serve,
    served_routes,
)
from model_api.http.responses import ModelRequest


def _alternatives(words: set[str]) -> str:
    return "|".join(re.escape(word) for word in sorted(words))


# Same segments as Starlette's "{name}" convertor: anything but a slash.
PREDICTION_PATH = re.compile(
    rf"^/(?P<api>{_alternatives({o.api for o in OPERATIONS})})/models/(?P<name>[^/]+)"
    rf"(?:/versions/(?P<version>[^/]+))?/(?P<verb>{_alternatives({o.verb for o in OPERATIONS})})$"
)


class FastPathMiddleware:
    """Serves POST requests to the model operations itself; hands everything else to the app
    unchanged."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        check_served_alike(routes)
        declared = {getattr(route, "path", None): route for route in served_routes(routes)}
        # (api, verb, versioned) -> the operation, and its declared route, so that metrics and
        # logs label a fast-path request exactly as FastAPI would have (``scope["route"]``).
        self._targets: dict[tuple[str, str, bool], tuple[Operation, Any]] = {}
        for operation in OPERATIONS:
            for versioned in (False, True):
                route = declared.get(operation.path(versioned))
                self._targets[operation.api, operation.verb, versioned] = (operation, route)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        target = None
        # Behind a root_path Starlette strips a prefix first; leave those requests to it.
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            match = PREDICTION_PATH.match(scope["path"])
            if match is not None:
                name, version = match["name"], match["version"]
                target = self._targets.get((match["api"], match["verb"], version is not None))
        if target is None:
            await self.app(scope, receive, send)
            return
        operation, scope["route"] = target
        scope["path_params"] = (
            {"name": name} if version is None else {"name": name, "version": version}
        )
        request = ModelRequest(scope, receive, send)
        try:
            response = await serve(operation, request, name, version)
        except Exception as exc:  # the app's own handlers decide the answer, as in FastAPI
            response = await error_handlers.response_for(request, exc)
        await response(scope, receive, send)
