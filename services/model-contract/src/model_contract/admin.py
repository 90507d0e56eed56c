"""The admin API's messages (``/v1/admin``, ``MODEL_API_ADMIN_KEY``): a model's aliases, and a
bundle uploaded into the repository."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from model_contract.answers import _EveryFieldSent
from model_contract.vocabulary import NAME_PATTERN


class AliasesRequest(BaseModel):
    """What a model's aliases.json is to say."""

    model_config = ConfigDict(extra="forbid")

    default: str | None = Field(
        None,
        pattern=NAME_PATTERN,
        description="The version the unversioned paths answer with (null: the newest).",
    )
    aliases: dict[str, str] = Field(
        default_factory=dict,
        description="Alias -> version; every version named must be served.",
    )


class AliasMove(BaseModel):
    """Where one alias is to point."""

    model_config = ConfigDict(extra="forbid")

    version: str = Field(pattern=NAME_PATTERN, description="A served version of the model.")


class ModelAliases(_EveryFieldSent):
    """A model's aliases as this API process serves them."""

    model: str
    default: str | None = Field(description="The default its aliases.json names (or null).")
    answering: str = Field(description="The version the unversioned paths answer with now.")
    aliases: dict[str, str]
    versions: list[str] = Field(description="Every version served, newest first.")


class BundleUploaded(_EveryFieldSent):
    """A bundle archive written into the repository and served."""

    model: str
    version: str
    replaced: bool = Field(description="Whether it replaced a version that was there.")
    model_sha256: str
    answering: str = Field(description="The version the unversioned paths answer with now.")
