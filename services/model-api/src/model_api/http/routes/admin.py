"""The admin API (``/v1/admin``): a model's aliases read, set and moved, and bundle archives
uploaded into the repository or taken out, all served at once by this process (the other
replicas that share the repository follow at their next look).

Off unless ``MODEL_API_ADMIN_KEY`` is set, and open only to that key in ``X-Admin-Key``: the
middleware refuses everything else before a route runs (the client key never opens it).
"""

from __future__ import annotations

from tempfile import SpooledTemporaryFile
from typing import Annotated, Any

import anyio
import orjson
from fastapi import APIRouter, Path, Query, Request
from model_contract import NAME_PATTERN, AliasesRequest, AliasMove, BundleUploaded, ModelAliases
from pydantic import ValidationError
from starlette.responses import Response

from model_api.errors import (
    InvalidInputError,
    ModelNotFoundError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from model_api.http.deps import RegistryDep, SettingsDep
from model_api.http.middleware import BUNDLE_MEDIA_TYPES
from model_api.http.operations import V1_ERROR_RESPONSES
from model_api.protocol.messages import bare_media_type
from model_api.serving.aliases import Aliases
from model_api.serving.registry import ModelRegistry
from model_api.serving.uploads import install_bundle, remove_version, save_aliases
from model_api.settings import CSV_SPOOL_MEMORY_BYTES

router = APIRouter(prefix="/v1/admin", tags=["admin"])

ADMIN_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {
        "model": V1_ERROR_RESPONSES[404]["model"],
        "description": "No admin key in X-Admin-Key, or another one",
    },
    404: {
        "model": V1_ERROR_RESPONSES[404]["model"],
        "description": "The admin API is off (MODEL_API_ADMIN_KEY unset), or an unknown model, "
        "version or alias",
    },
    409: {
        "model": V1_ERROR_RESPONSES[404]["model"],
        "description": "The version exists (replace=true), an alias names the version to "
        "remove, or the repository cannot be written",
    },
    422: V1_ERROR_RESPONSES[422],
}
NamePath = Annotated[str, Path(pattern=NAME_PATTERN)]
UPLOAD_BODY = {
    "required": True,
    "description": "The bundle's files (metadata.json, the model file) as a tar or tar.gz "
    "archive, at its top or in one folder.",
    "content": {
        media_type: {"schema": {"type": "string", "format": "binary"}}
        for media_type in sorted(BUNDLE_MEDIA_TYPES)
    },
}


def _json(content: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type="application/json")


def _aliases_of(registry: ModelRegistry, name: str) -> dict[str, Any]:
    answering = registry.get(name).version  # 404 for a model that is not served
    aliases = registry.aliases(name)
    return {
        "model": name,
        "default": aliases.default,
        "answering": answering,
        "aliases": aliases.aliases,
        "versions": registry.versions(name),
    }


def _checked(registry: ModelRegistry, name: str, asked: AliasesRequest) -> Aliases:
    """The aliases asked for, refused (422, naming each problem) unless every name is a
    valid one that is not a version's, and every version named is served."""
    try:
        aliases = Aliases(default=asked.default, aliases=asked.aliases)
    except ValidationError as exc:
        details = [
            {"loc": ["body", *(str(p) for p in e["loc"])], "msg": e["msg"]} for e in exc.errors()
        ]
        raise InvalidInputError(f"aliases refused: {details[0]['msg']}", details) from None
    served = registry.versions(name)
    problems = [
        {"loc": ["body", "aliases", alias], "msg": f"version {version!r} is not served"}
        for alias, version in aliases.aliases.items()
        if version not in served
    ]
    problems += [
        {"loc": ["body", "aliases", alias], "msg": "a version's name: it cannot be an alias"}
        for alias in aliases.aliases
        if alias in served
    ]
    if aliases.default is not None and aliases.default not in served:
        problems.insert(
            0, {"loc": ["body", "default"], "msg": f"version {aliases.default!r} is not served"}
        )
    if problems:
        raise InvalidInputError(
            f"aliases of {name} refused: {problems[0]['msg']} (served: {', '.join(served)})",
            problems,
        )
    return aliases


def _save(registry: ModelRegistry, name: str, aliases: Aliases) -> Response:
    save_aliases(registry.settings.model_repository, name, aliases)
    registry.refresh()  # the file changed: read at once
    return _json(_aliases_of(registry, name))


@router.get(
    "/models/{name}/aliases",
    response_model=ModelAliases,
    responses=ADMIN_RESPONSES,
    summary="A model's aliases and the version that answers by default",
)
def read_aliases(name: NamePath, registry: RegistryDep) -> Response:
    return _json(_aliases_of(registry, name))


@router.put(
    "/models/{name}/aliases",
    response_model=ModelAliases,
    responses=ADMIN_RESPONSES,
    summary="Set a model's aliases and default version (its aliases.json, written atomically)",
)
def set_aliases(name: NamePath, body: AliasesRequest, registry: RegistryDep) -> Response:
    registry.get(name)
    return _save(registry, name, _checked(registry, name, body))


@router.put(
    "/models/{name}/aliases/{alias}",
    response_model=ModelAliases,
    responses=ADMIN_RESPONSES,
    summary="Point one alias at a version (moving it back is the rollback)",
)
def move_alias(name: NamePath, alias: NamePath, body: AliasMove, registry: RegistryDep) -> Response:
    current = registry.aliases(name)
    registry.get(name)
    asked = AliasesRequest(
        default=current.default, aliases={**current.aliases, alias: body.version}
    )
    return _save(registry, name, _checked(registry, name, asked))


@router.delete(
    "/models/{name}/aliases/{alias}",
    response_model=ModelAliases,
    responses=ADMIN_RESPONSES,
    summary="Remove one alias",
)
def remove_alias(name: NamePath, alias: NamePath, registry: RegistryDep) -> Response:
    registry.get(name)
    current = registry.aliases(name)
    if alias not in current.aliases:
        raise ModelNotFoundError(f"model {name!r} has no alias {alias!r}")
    kept = {a: v for a, v in current.aliases.items() if a != alias}
    return _save(registry, name, Aliases(default=current.default, aliases=kept))


@router.post(
    "/models/{name}/versions/{version}",
    status_code=201,
    response_model=BundleUploaded,
    responses={
        **ADMIN_RESPONSES,
        413: V1_ERROR_RESPONSES[413],
        415: V1_ERROR_RESPONSES[415],
    },
    openapi_extra={"requestBody": UPLOAD_BODY},
    summary="Upload a bundle archive as a version: checked, written atomically, served",
)
async def upload_bundle(
    name: NamePath,
    version: NamePath,
    request: Request,
    registry: RegistryDep,
    settings: SettingsDep,
    replace: Annotated[bool, Query(description="Replace the version if it exists.")] = False,
) -> Response:
    media_type = bare_media_type(request.headers.get("content-type", ""))
    if media_type not in BUNDLE_MEDIA_TYPES:
        raise UnsupportedMediaTypeError(
            f"content type {media_type!r} is not a bundle archive; send a tar or tar.gz "
            f"archive as one of {', '.join(sorted(BUNDLE_MEDIA_TYPES))}"
        )
    limit = settings.max_csv_bytes
    with SpooledTemporaryFile(max_size=CSV_SPOOL_MEMORY_BYTES) as archive:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLargeError(
                    f"the archive exceeds the limit of {limit} bytes (MODEL_API_MAX_CSV_BYTES)"
                )
            archive.write(chunk)
        archive.seek(0)
        replaced = await anyio.to_thread.run_sync(
            lambda: install_bundle(
                settings.model_repository,
                name,
                version,
                archive,
                replace=replace,
                max_bytes=limit,
            )
        )
    await anyio.to_thread.run_sync(registry.refresh, frozenset({f"{name}/{version}"}))
    model = registry.get(name, version)
    return _json(
        {
            "model": name,
            "version": version,
            "replaced": replaced,
            "model_sha256": model.metadata.model_sha256,
            "answering": registry.get(name).version,
        },
        201,
    )


@router.delete(
    "/models/{name}/versions/{version}",
    status_code=204,
    responses=ADMIN_RESPONSES,
    summary="Take a version out of the repository (refused while an alias names it)",
)
def delete_version(name: NamePath, version: NamePath, registry: RegistryDep) -> Response:
    if version not in registry.versions(name):
        registry.get(name)  # 404 for an unknown model
        if not (registry.settings.model_repository / name / version).is_dir():
            raise ModelNotFoundError(f"model {name!r} has no version {version!r}")
    remove_version(registry.settings.model_repository, name, version, registry.aliases(name))
    registry.refresh(frozenset({f"{name}/{version}"}))
    return Response(status_code=204)
