"""A model's aliases: which version answers by default, and other names for versions, read
from ``<model>/aliases.json`` in the repository (the watcher follows it like a bundle).

    {"default": "2", "aliases": {"production": "2", "candidate": "3"}}

Requests may name an alias wherever they name a version (``/versions/production/predict``);
moving an alias back is the rollback. A version's own name wins over an alias of that name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
from model_contract import NAME_PATTERN
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from model_api.errors import BundleError

ALIASES_FILE = "aliases.json"
# At most this many bytes: a few names, not a data file.
MAX_ALIASES_BYTES = 64 * 1024

Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]


class Aliases(BaseModel):
    """The content of a model's ``aliases.json``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: Name | None = Field(
        None, description="The version the unversioned paths answer with (default: the newest)."
    )
    aliases: dict[Name, Name] = Field(
        default_factory=dict, description="Alias -> version, e.g. production -> 2."
    )


NO_ALIASES = Aliases()


def read_aliases(path: Path, label: str) -> Aliases:
    """The aliases in ``path`` (``label`` names it in errors); BundleError when unreadable."""
    try:
        data = path.read_bytes()[: MAX_ALIASES_BYTES + 1]
    except OSError as exc:
        raise BundleError(f"{label}: cannot be read ({type(exc).__name__})") from None
    if len(data) > MAX_ALIASES_BYTES:
        raise BundleError(f"{label}: larger than {MAX_ALIASES_BYTES} bytes")
    try:
        return Aliases.model_validate(orjson.loads(data))
    except orjson.JSONDecodeError as exc:
        raise BundleError(f"{label}: not JSON ({exc})") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}" for e in exc.errors()
        )
        raise BundleError(f"{label}: {problems}") from None


def write_aliases(path: Path, aliases: Aliases) -> None:
    """Write ``aliases`` to ``path`` atomically (a reader sees the old file or the new one)."""
    temporary = path.with_name(f".{path.name}.writing")
    temporary.write_bytes(
        orjson.dumps(aliases.model_dump(exclude_defaults=True), option=orjson.OPT_INDENT_2)
    )
    temporary.replace(path)
