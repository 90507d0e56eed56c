"""Typed FastAPI dependencies: the registry, the settings and the services live on ``app.state``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from model_api.errors import FeedbackUnavailableError
from model_api.protocol.messages import Services
from model_api.serving.registry import ModelRegistry
from model_api.settings import Settings
from model_api.store import Store


# Both are ``async``: FastAPI runs plain ``def`` dependencies in a worker thread, and that hop
# would cost more than a whole single-row prediction.
async def get_registry(request: Request) -> ModelRegistry:
    registry: ModelRegistry = request.app.state.registry
    return registry


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_store(request: Request) -> Store:
    """The prediction log's store; 503 ``feedback_unavailable`` when the log is off."""
    services: Services = request.app.state.services
    if services.log is None:
        raise FeedbackUnavailableError(
            "feedback is off on this server: the prediction log is disabled "
            "(MODEL_API_PREDICTION_LOG=false)"
        )
    return services.log.store


RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ServicesDep = Annotated[Services, Depends(get_services)]
StoreDep = Annotated[Store, Depends(get_store)]
