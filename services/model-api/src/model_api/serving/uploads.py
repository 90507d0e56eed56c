"""Writing the model repository for the admin API: a bundle archive unpacked, checked and moved
into place whole, a version folder taken out, a model's aliases written.

Everything is written beside its destination under a hidden name first (``.upload-…``), which
the registry never reads, and renamed into place once complete: the watcher of this process and
of every other replica sharing the volume sees the old folder or the new one, never half of one.
"""

from __future__ import annotations

import secrets
import shutil
import tarfile
from pathlib import Path
from typing import IO

from model_api.errors import BundleError, ConflictError, InvalidInputError
from model_api.serving.aliases import ALIASES_FILE, Aliases, write_aliases
from model_api.serving.registry import check_bundle

# An archive holds a bundle (a metadata file, a model file, maybe a few more), not a tree.
MAX_ARCHIVE_MEMBERS = 64


def _hidden(folder: Path, what: str) -> Path:
    return folder / f".{what}-{secrets.token_hex(8)}"


def _unpack(archive: IO[bytes], into: Path, max_bytes: int) -> Path:
    """Unpack a tar (or tar.gz) archive into ``into``; the bundle's folder in it (the archive's
    top, or its one top-level folder). Unsafe members (absolute paths, ``..``, links leading out,
    devices) are refused by tarfile's "data" filter; sizes and counts are checked first."""
    try:
        with tarfile.open(fileobj=archive, mode="r:*") as tar:
            members = tar.getmembers()
            if len(members) > MAX_ARCHIVE_MEMBERS:
                raise InvalidInputError(
                    f"the archive has {len(members)} members; a bundle has at most "
                    f"{MAX_ARCHIVE_MEMBERS}",
                    [{"loc": ["body"], "msg": "too many members"}],
                )
            unpacked = sum(m.size for m in members if m.isfile())
            if unpacked > max_bytes:
                raise InvalidInputError(
                    f"the archive unpacks to {unpacked} bytes, more than the {max_bytes} an "
                    "upload may hold (MODEL_API_MAX_CSV_BYTES)",
                    [{"loc": ["body"], "msg": "unpacks too large"}],
                )
            tar.extractall(into, filter="data")
    except tarfile.FilterError as exc:
        raise InvalidInputError(
            f"the archive is refused: {exc}", [{"loc": ["body"], "msg": "unsafe archive member"}]
        ) from None
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise InvalidInputError(
            f"the body is not a readable tar or tar.gz archive ({type(exc).__name__}: {exc})",
            [{"loc": ["body"], "msg": "not a tar archive"}],
        ) from None
    entries = [p for p in into.iterdir() if not p.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return into


def install_bundle(
    repository: Path,
    name: str,
    version: str,
    archive: IO[bytes],
    *,
    replace: bool,
    max_bytes: int,
) -> bool:
    """Unpack ``archive`` as ``<repository>/<name>/<version>``: checked as the server checks a
    bundle (422 naming the problem), then moved into place whole. True when it replaced a
    version that was there (409 when one is there and ``replace`` is False)."""
    model_folder = repository / name
    target = model_folder / version
    if target.exists() and not replace:
        raise ConflictError(
            f"{name} already has a version {version!r}; send ?replace=true to replace it"
        )
    try:
        model_folder.mkdir(parents=True, exist_ok=True)
        staging = _hidden(model_folder, "upload")
        staging.mkdir()
    except OSError as exc:
        raise ConflictError(
            f"the model repository cannot be written ({type(exc).__name__}); the admin API "
            "needs a writable repository (a PersistentVolumeClaim)"
        ) from None
    try:
        bundle = _unpack(archive, staging, max_bytes)
        try:
            check_bundle(bundle, label=f"{name}/{version}", repository=repository)
        except BundleError as exc:
            raise InvalidInputError(
                f"the bundle is refused: {exc}", [{"loc": ["body"], "msg": "invalid bundle"}]
            ) from None
        replaced = target.exists()
        if replaced:
            # Moved aside, then the new one in: the watcher waits one look before it takes a
            # folder for removed, so the version never stops serving.
            old = _hidden(model_folder, "replaced")
            target.rename(old)
            bundle.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            bundle.rename(target)
        return replaced
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def remove_version(repository: Path, name: str, version: str, aliases: Aliases) -> None:
    """Take ``<name>/<version>`` out of the repository (409 while an alias names it)."""
    naming = sorted(a for a, v in aliases.aliases.items() if v == version)
    if aliases.default == version:
        naming.insert(0, "default")
    if naming:
        raise ConflictError(
            f"{', '.join(naming)} of {name} name(s) version {version!r}: move them first"
        )
    target = repository / name / version
    if not target.is_dir():
        raise ConflictError(f"{name}/{version} is not a version folder of the repository")
    gone = _hidden(repository / name, "removed")
    try:
        target.rename(gone)
    except OSError as exc:
        raise ConflictError(
            f"the model repository cannot be written ({type(exc).__name__})"
        ) from None
    shutil.rmtree(gone, ignore_errors=True)


def save_aliases(repository: Path, name: str, aliases: Aliases) -> None:
    """Write the model's ``aliases.json`` atomically (none left when ``aliases`` is empty)."""
    path = repository / name / ALIASES_FILE
    try:
        if not aliases.aliases and aliases.default is None:
            path.unlink(missing_ok=True)
        else:
            write_aliases(path, aliases)
    except OSError as exc:
        raise ConflictError(
            f"the model repository cannot be written ({type(exc).__name__}); the admin API "
            "needs a writable repository (a PersistentVolumeClaim)"
        ) from None
