"""The MLflow model registry as a source of bundles: each model named in ``MODEL_API_MLFLOW_MODELS``
follows a registered model's alias (``models:/<registered>@<alias>``).

Every ``MODEL_API_MLFLOW_POLL_SECONDS`` the alias is resolved; a model version not yet in the
repository is downloaded (the bundle ``log_bundle`` logged), checked as the server checks a bundle,
and renamed into ``<name>/<version>`` whole, and the model's ``aliases.json`` is pointed at it:
the registry then serves it like any other version, and moving the alias back is the rollback.
The last ``MODEL_API_MLFLOW_KEEP_VERSIONS`` versions downloaded stay (a rollback needs no
download); older ones are taken out. A registry that cannot be reached, or a version that fails
its checks, is reported and changes nothing: what serves keeps serving.

Only the lightweight client (``mlflow-skinny``) is used, imported when a source is configured.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from model_api.errors import BundleError
from model_api.observability import metrics
from model_api.serving.aliases import ALIASES_FILE, Aliases, read_aliases, write_aliases
from model_api.serving.registry import ModelRegistry, check_bundle, version_key
from model_api.settings import MLFLOW_MODELS_URI, Settings

log = logging.getLogger("model_api.registry")

MLFLOW_HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}
# Written into each downloaded version's folder (hidden: not part of the bundle's files).
MARKER = ".mlflow-source.json"


@dataclass(frozen=True)
class Source:
    """A served model following a registered model's alias."""

    name: str  # the name it is served under
    registered: str
    alias: str

    @property
    def label(self) -> str:
        return f"{self.name}@mlflow"


def parse_sources(models: dict[str, str]) -> list[Source]:
    """The sources ``MODEL_API_MLFLOW_MODELS`` names; ValueError naming a URI of another form."""
    sources = []
    for name, uri in sorted(models.items()):
        found = MLFLOW_MODELS_URI.match(uri)
        if found is None:
            raise ValueError(
                f"MODEL_API_MLFLOW_MODELS: {name}: {uri!r} is not models:/<registered model>@<alias>"
            )
        sources.append(Source(name, found["registered"], found["alias"]))
    return sources


class MlflowSync:
    """Brings the versions the aliases name into the repository (``sync``, blocking)."""

    def __init__(self, registry: ModelRegistry, settings: Settings) -> None:
        self._registry = registry
        self._settings = settings
        self._sources = parse_sources(settings.mlflow_models)
        self._client: Any = None
        self._next = 0.0
        for source in self._sources:
            for outcome in ("synced", "unchanged", "failed"):
                metrics.MLFLOW_SYNCS.labels(source.name, outcome)

    def due(self) -> bool:
        return time.monotonic() >= self._next

    def sync(self) -> frozenset[str]:
        """Resolve every alias and bring what changed; the bundle labels written (to be loaded
        at once)."""
        self._next = time.monotonic() + self._settings.mlflow_poll_seconds
        written: set[str] = set()
        for source in self._sources:
            try:
                label = self._sync_one(source)
            except Exception as exc:  # the registry down, a refused bundle: report, serve on
                message = f"{source.label} (models:/{source.registered}@{source.alias}): {exc}"
                self._registry.report(source.label, message)
                metrics.MLFLOW_SYNCS.labels(source.name, "failed").inc()
                log.error(
                    "MLflow source not synced; what serves keeps serving",
                    extra={"model": source.name, "error": str(exc)},
                )
                continue
            self._registry.report(source.label, None)
            metrics.MLFLOW_SYNCS.labels(source.name, "synced" if label else "unchanged").inc()
            if label:
                written.add(label)
        return frozenset(written)

    def _mlflow(self) -> Any:
        if self._client is None:
            # MLflow retries a registry that does not answer for minutes by default; the
            # watcher's thread also looks at the repository, so it gives up sooner (MLflow's
            # own variables, when set, still decide).
            for name, value in MLFLOW_HTTP_DEFAULTS.items():
                os.environ.setdefault(name, value)
            from mlflow import MlflowClient

            uri = self._settings.mlflow_tracking_uri
            self._client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        return self._client

    def _sync_one(self, source: Source) -> str | None:
        client = self._mlflow()
        found = client.get_model_version_by_alias(source.registered, source.alias)
        version = str(found.version)
        repository = self._settings.model_repository
        folder = repository / source.name
        target = folder / version
        label = None
        if not target.is_dir():
            self._download(source, found, target)
            label = f"{source.name}/{version}"
        path = folder / ALIASES_FILE
        wanted = Aliases(default=version, aliases={source.alias: version})
        current = read_aliases(path, f"{source.name}/{ALIASES_FILE}") if path.exists() else None
        if current != wanted:
            write_aliases(path, wanted)
            log.info(
                "MLflow alias followed",
                extra={"model": source.name, "alias": source.alias, "version": version},
            )
        self._prune(folder, version)
        return label

    def _download(self, source: Source, found: Any, target: Path) -> None:
        """The model version's bundle, downloaded beside ``target``, checked, renamed into it."""
        from mlflow.artifacts import download_artifacts

        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.parent / f".mlflow-{secrets.token_hex(8)}"
        staging.mkdir()
        try:
            downloaded = Path(
                download_artifacts(
                    artifact_uri=found.source,
                    dst_path=str(staging),
                    tracking_uri=self._settings.mlflow_tracking_uri,
                )
            )
            bundle = downloaded if downloaded.is_dir() else downloaded.parent
            label = f"{source.name}/{target.name}"
            try:
                check_bundle(bundle, label=label, repository=self._settings.model_repository)
            except BundleError as exc:
                raise BundleError(f"version {target.name} is refused: {exc}") from None
            (bundle / MARKER).write_bytes(
                orjson.dumps(
                    {
                        "registered_model": source.registered,
                        "version": target.name,
                        "source": found.source,
                        "run_id": found.run_id,
                    }
                )
            )
            bundle.rename(target)
            log.info(
                "MLflow model version downloaded",
                extra={"model": source.name, "version": target.name, "source": found.source},
            )
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _prune(self, folder: Path, current: str) -> None:
        """Take out downloaded versions past the newest ``MODEL_API_MLFLOW_KEEP_VERSIONS``
        (the one the alias names always stays)."""
        downloaded = sorted(
            (p.name for p in folder.iterdir() if (p / MARKER).is_file()),
            key=version_key,
            reverse=True,
        )
        keep = {current, *downloaded[: self._settings.mlflow_keep_versions]}
        for version in downloaded:
            if version not in keep:
                gone = folder / f".mlflow-removed-{secrets.token_hex(8)}"
                (folder / version).rename(gone)
                shutil.rmtree(gone, ignore_errors=True)
                log.info("MLflow model version taken out", extra={"version": version})
