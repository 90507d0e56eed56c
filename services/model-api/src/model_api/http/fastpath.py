"""The prediction paths served straight from ASGI, ahead of FastAPI's router.

For an endpoint, FastAPI's own per-request work (trying the ~40 routes in turn, the request and
response wrappers, solving the parameters, the exception middleware) costs about as much as
XGBoost's prediction of one row. The four prediction paths (v1 predict and V2 infer, newest or one
version) are matched here with one regular expression and their handlers called directly. The
routes stay declared in FastAPI, so OpenAPI, /docs and every other path are unchanged, and errors
get the very answers the app's exception handlers give (``error_handlers.response_for``).
``RequestMiddleware`` (request ids, API key, limits, metrics, logs) still wraps every request.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from model_api.http import errors as error_handlers
from model_api.http.routes import v1, v2
from model_api.serving.registry import LoadedModel
from model_api.settings import Settings

Handler = Callable[[Request, LoadedModel, Settings], Awaitable[Response]]

# Same segments as Starlette's "{name}" convertor: anything but a slash.
PREDICTION_PATH = re.compile(
    r"^/(?P<api>v1|v2)/models/(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+))?/(?P<verb>predict|infer)$"
)
HANDLERS: dict[tuple[str, str], Handler] = {
    ("v1", "predict"): v1.serve_predict,
    ("v2", "infer"): v2.serve_infer,
}


class FastPathMiddleware:
    """Serves POST prediction paths itself; hands everything else to the app unchanged."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        declared = {getattr(route, "path", None): route for route in routes}
        # (api, verb, versioned) -> the handler, and the declared route, so that metrics and logs
        # label a fast-path request exactly as FastAPI would have (``scope["route"]``).
        self._targets: dict[tuple[str, str, bool], tuple[Handler, BaseRoute | None]] = {}
        for (api, verb), handler in HANDLERS.items():
            for versioned in (False, True):
                middle = "/versions/{version}" if versioned else ""
                route = declared.get(f"/{api}/models/{{name}}{middle}/{verb}")
                self._targets[api, verb, versioned] = (handler, route)

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
        handler, scope["route"] = target
        scope["path_params"] = (
            {"name": name} if version is None else {"name": name, "version": version}
        )
        request = Request(scope, receive, send)
        try:
            state = request.app.state
            registry, settings = state.registry, state.settings
            response = await handler(request, registry.get(name, version), settings)
        except Exception as exc:  # the app's own handlers decide the answer, as in FastAPI
            response = await error_handlers.response_for(request, exc)
        await response(scope, receive, send)
