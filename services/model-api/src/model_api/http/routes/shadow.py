"""A model's shadow version on live traffic (``MODEL_API_SHADOW``): what it found, and the rows
where it answered otherwise, for review.

The store's calls block, so the endpoint is a plain function, run in FastAPI's worker threads.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query
from starlette.responses import Response

from model_api.http.deps import RegistryDep, ServicesDep
from model_api.http.routes.feedback import FEEDBACK_RESPONSES, MAX_PAGE
from model_api.protocol.schemas import ShadowReport

router = APIRouter(prefix="/v1", tags=["evaluate"])

CURSOR_PATTERN = r"^[1-9][0-9]{0,17}$"


@router.get(
    "/models/{name}/shadow",
    response_model=ShadowReport,
    summary="The model's shadow version on live traffic, and where it answered otherwise",
    responses={404: FEEDBACK_RESPONSES[404], 503: FEEDBACK_RESPONSES[503]},
)
def shadow_report(
    name: str,
    registry: RegistryDep,
    services: ServicesDep,
    version: Annotated[str | None, Query(description="Only rows this version answered.")] = None,
    shadow_version: Annotated[
        str | None, Query(description="Only rows this shadow version scored.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Rows per page.")] = 50,
    cursor: Annotated[
        str | None,
        Query(pattern=CURSOR_PATTERN, description="The `next_cursor` of the previous page."),
    ] = None,
) -> Response:
    registry.get(name)  # 404 for a model that is not served
    shadow = services.shadow
    status = None if shadow is None else shadow.status(name)
    log = services.log
    rows: list[dict[str, Any]] = []
    next_cursor = None
    if log is not None:
        rows, after = log.store.disagreements(
            name,
            version=version,
            shadow_version=shadow_version,
            before=None if cursor is None else int(cursor),
            limit=limit,
        )
        next_cursor = None if after is None else str(after)
    report = {
        "model": name,
        "shadow": status,
        "stored": log is not None,
        "disagreements": rows,
        "next_cursor": next_cursor,
    }
    return Response(orjson.dumps(report), media_type="application/json")
