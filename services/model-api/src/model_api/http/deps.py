"""Typed FastAPI dependencies: the registry and the settings live on ``app.state``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from model_api.serving.registry import ModelRegistry
from model_api.settings import Settings


# Both are ``async``: FastAPI runs plain ``def`` dependencies in a worker thread, and that hop
# would cost more than a whole single-row prediction.
async def get_registry(request: Request) -> ModelRegistry:
    registry: ModelRegistry = request.app.state.registry
    return registry


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
