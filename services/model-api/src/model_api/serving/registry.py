"""The model repository: finds bundles, loads them, and answers ``get(name, version)``."""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from model_api.codecs.features import FeatureEncoder
from model_api.codecs.records import RecordsDecoder, records_parser_name
from model_api.errors import BundleError, ModelNotFoundError, NotReadyError
from model_api.observability import metrics
from model_api.serving.aliases import ALIASES_FILE, NO_ALIASES, Aliases, read_aliases
from model_api.serving.batching import MicroBatcher, ObserveFn, inline_max_rows_for
from model_api.serving.bundle import METADATA_FILE, BundleMetadata, load_bundle
from model_api.serving.cpus import usable_cpus
from model_api.serving.runtime import ModelRuntime, Prediction
from model_api.settings import Settings

log = logging.getLogger("model_api.registry")


@functools.cache
def _inference_requests(name: str, version: str, endpoint: str) -> Any:
    return metrics.INFERENCE_REQUESTS.labels(name, version, endpoint)


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders "2" before "10" and "1.9" before "1.10"."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"[._-]", version))


@dataclass
class LoadedModel:
    """A servable model: its metadata, runtime, input encoder and micro-batcher."""

    name: str
    version: str
    path: Path
    metadata: BundleMetadata
    runtime: ModelRuntime
    encoder: FeatureEncoder
    records: RecordsDecoder = field(repr=False)
    batcher: MicroBatcher = field(repr=False)
    observe: ObserveFn = field(repr=False)

    async def predict(self, matrix: np.ndarray, tag: object = None) -> Prediction:
        """The prediction for ``matrix``, scored with whatever else is queued (``tag``: the
        request's entry in the prediction log, handed on with its batch)."""
        return await self.batcher.predict(matrix, tag)

    def count_request(self, endpoint: str) -> None:
        """Count one inference request (labelled series cached per model and endpoint)."""
        _inference_requests(self.name, self.version, endpoint).inc()


@dataclass
class RegistryState:
    loading: bool = True
    failures: dict[str, str] = field(default_factory=dict)
    # Failures found at start-up: the process is not ready until each is fixed or removed.
    # (One found later, by the watcher, is reported and leaves what serves serving.)
    blocking: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Served:
    """What serves, as one value: a change builds a new one and swaps it in whole, so a reader
    never sees a model half added or half removed."""

    models: dict[str, dict[str, LoadedModel]] = field(default_factory=dict)
    # Per model: the version the unversioned paths answer with (its aliases' default when that
    # version is served, else the newest).
    default: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, Aliases] = field(default_factory=dict)
    generation: int = 0  # counts the changes (what caches of the model list key on)

    def adding(self, model: LoadedModel) -> Served:
        models = {
            **self.models,
            model.name: {**self.models.get(model.name, {}), model.version: model},
        }
        return self._with(models, self.aliases)

    def removing(self, name: str, version: str) -> Served:
        versions = {v: m for v, m in self.models.get(name, {}).items() if v != version}
        models = {n: vs for n, vs in self.models.items() if n != name}
        if versions:
            models[name] = versions
        return self._with(models, self.aliases)

    def aliasing(self, name: str, aliases: Aliases) -> Served:
        others = {n: a for n, a in self.aliases.items() if n != name}
        return self._with(self.models, {**others, name: aliases} if aliases.aliases or
                          aliases.default else others)  # fmt: skip

    def _with(
        self, models: dict[str, dict[str, LoadedModel]], aliases: dict[str, Aliases]
    ) -> Served:
        default = {}
        for name, versions in models.items():
            asked = aliases.get(name, NO_ALIASES).default
            default[name] = asked if asked in versions else max(versions, key=version_key)
        return Served(models, default, aliases, self.generation + 1)

    def resolve(self, name: str, version: str) -> str | None:
        """The version ``version`` names: itself when served, else the version of the alias
        of that name (None: neither)."""
        if version in self.models.get(name, {}):
            return version
        return self.aliases.get(name, NO_ALIASES).aliases.get(version)


# What a bundle folder's files were when last looked at: (path in the folder, size, mtime).
Fingerprint = tuple[tuple[str, int, int], ...]


def fingerprint(folder: Path) -> Fingerprint:
    """Changes whenever a file of the bundle is written, added or removed (hidden files, such
    as an upload being written, are left out)."""
    found = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts) or not path.is_file():
            continue
        if str(relative) == ALIASES_FILE:  # a flat bundle's folder is its model's too
            continue
        stat = path.stat()
        found.append((str(relative), stat.st_size, stat.st_mtime_ns))
    return tuple(found)


@dataclass
class Seen:
    """A bundle folder the registry has looked at: its files then, and what it serves (None:
    it failed)."""

    fingerprint: Fingerprint
    serves: tuple[str, str] | None  # (name, version)


@dataclass
class Changes:
    """What one look at the repository changed."""

    loaded: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)  # models whose aliases changed

    def __bool__(self) -> bool:
        return bool(self.loaded or self.replaced or self.removed or self.failed or self.aliases)


# A served model, a batch's matrix and prediction, and its requests' (tag, rows).
ScoredBatchFn = Callable[[LoadedModel, np.ndarray, Prediction, list[tuple[object, int]]], None]


class ModelRegistry:
    """Holds every model of the repository; loading runs once, in a background thread."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._served = Served()
        self._state = RegistryState()
        self._lock = threading.Lock()
        # Bundle folders by label (``<model>/<version>``): what each held when last looked at,
        # and, for one changed since, its files then (loaded once they stay the same).
        self._seen: dict[str, Seen] = {}
        self._settling: dict[str, Fingerprint] = {}
        self._vanishing: set[str] = set()  # folders found gone once (forgotten if still gone)
        self._refreshing = threading.Lock()  # one look at a time (the watcher, the admin API)
        # Each model's aliases.json when last read: (size, mtime).
        self._aliases_seen: dict[str, tuple[int, int]] = {}
        # Models replaced or removed, let go of once their requests are surely done.
        self._retired: list[tuple[float, LoadedModel]] = []
        self._scored: ScoredBatchFn | None = None
        configured = settings.batch_inline_max_rows
        cpus = usable_cpus()
        self.inline_max_rows = configured if configured is not None else inline_max_rows_for(cpus)
        log.info(
            "micro-batching",
            extra={
                "usable_cpus": cpus,
                "batches_scored_on_event_loop": "all"
                if self.inline_max_rows == sys.maxsize
                else f"up to {self.inline_max_rows} rows",
            },
        )
        log.info("codecs", extra={"v1_records": records_parser_name(settings.native_codecs)})

    # ------------------------------------------------------------------ loading
    def discover(self) -> list[tuple[str, str | None, Path]]:
        """``(name, folder version or None, path)`` for every bundle folder in the repository."""
        root = self.settings.model_repository
        if not root.is_dir():
            raise BundleError(f"model repository {root} does not exist or is not a folder")
        found: list[tuple[str, str | None, Path]] = []
        for model_dir in sorted(
            p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")
        ):
            if (model_dir / METADATA_FILE).exists() or any(model_dir.glob("model.*")):
                found.append((model_dir.name, None, model_dir))
                continue
            versions = [p for p in model_dir.iterdir() if p.is_dir() and not p.name.startswith(".")]
            if not versions:
                found.append(
                    (model_dir.name, None, model_dir)
                )  # reported as a missing metadata file
            for version_dir in sorted(versions, key=lambda p: version_key(p.name)):
                found.append((model_dir.name, version_dir.name, version_dir))
        return found

    def load_all(self) -> None:
        """Load every bundle; a bad one is recorded (and logged) while the rest keep serving.

        The recorded messages are shown by the unauthenticated ``/readyz``: they name bundles as
        ``<model>/<version>`` within the repository; filesystem paths go to the log only.
        """
        with self._refreshing:  # an admin upload meanwhile waits for the first load
            self._load_all()

    def _load_all(self) -> None:
        failures: dict[str, str] = {}
        root = self.settings.model_repository
        try:
            bundles = self.discover()
        except BundleError as exc:
            bundles = []
            failures["<repository>"] = "the model repository does not exist or is not a folder"
            log.error("model repository unusable", extra={"error": str(exc)})
        if not bundles and not failures:
            failures["<repository>"] = "the model repository holds no model bundles"
            log.error(failures["<repository>"], extra={"repository": str(root)})
        for name, folder_version, path in bundles:
            label = name if folder_version is None else f"{name}/{folder_version}"
            print_ = fingerprint(path)
            try:
                model = self._load_one(name, folder_version, path)
            except Exception as exc:
                failures[label] = _failure(label, path, exc)
                self._seen[label] = Seen(print_, None)
            else:
                self._serve(model)
                self._seen[label] = Seen(print_, (model.name, model.version))
        with self._lock:
            self._state = RegistryState(
                loading=False, failures=failures, blocking=frozenset(failures)
            )
        self._refresh_aliases(Changes())
        metrics.MODELS_READY.set(1 if self.ready else 0)

    # ------------------------------------------------------------------ watching
    def refresh(self, now: frozenset[str] = frozenset()) -> Changes:
        """Look at the repository again and serve what changed: a bundle added or changed is
        loaded and checked (its hash, its metadata, a test prediction) once its files have
        stayed the same for one look, then swapped in; one that fails is reported and what it
        would have replaced keeps serving; a folder removed stops serving once it is still gone
        at the next look (a folder replaced by a rename is away for an instant). Models
        replaced or removed are let go of a while later (their in-flight requests finish on
        them). ``now``: labels the caller wrote whole (the admin API), loaded or forgotten at
        once, without waiting for a second look."""
        with self._refreshing:
            return self._refresh(now)

    def _refresh(self, now: frozenset[str]) -> Changes:
        changes = Changes()
        try:
            bundles = self.discover()
        except BundleError as exc:
            # A repository gone (a volume unmounted, say) is a fault to report, not an order
            # to stop serving everything.
            log.error(
                "model repository unusable; serving what is loaded", extra={"error": str(exc)}
            )
            return changes
        if not bundles:
            log.error("the model repository holds no model bundles; serving what is loaded")
            return changes
        self._set_failure("<repository>", None)  # it has bundles (again)
        present: dict[str, tuple[str, str | None, Path]] = {}
        for name, folder_version, path in bundles:
            present[name if folder_version is None else f"{name}/{folder_version}"] = (
                name, folder_version, path,
            )  # fmt: skip
        for label in [label for label in self._seen if label not in present]:
            if label in self._vanishing or label in now:
                self._vanishing.discard(label)
                self._forget(label, changes)
            else:
                self._vanishing.add(label)  # gone, or being replaced: look again next time
        for label, (name, folder_version, path) in present.items():
            self._vanishing.discard(label)
            try:
                files = fingerprint(path)
            except OSError:  # removed while we looked: the next look sees it gone
                continue
            seen = self._seen.get(label)
            if label not in now:
                if seen is not None and seen.fingerprint == files:
                    self._settling.pop(label, None)
                    continue
                if self._settling.get(label) != files:
                    self._settling[label] = files  # still being written, maybe: look again
                    continue
            self._settling.pop(label, None)
            self._reload(label, name, folder_version, path, files, changes)
        self._refresh_aliases(changes)
        self._let_go_of_retired()
        if changes:
            metrics.MODELS_READY.set(1 if self.ready else 0)
            log.info("model repository changed", extra=vars(changes))
        return changes

    def _reload(
        self,
        label: str,
        name: str,
        folder_version: str | None,
        path: Path,
        now: Fingerprint,
        changes: Changes,
    ) -> None:
        seen = self._seen.get(label)
        try:
            model = self._load_one(name, folder_version, path, observed=False)
            _test_prediction(model)
        except Exception as exc:
            message = _failure(label, path, exc)
            self._set_failure(label, message)
            self._seen[label] = Seen(now, seen.serves if seen is not None else None)
            metrics.REPOSITORY_CHANGES.labels("failed").inc()
            changes.failed.append(label)
            return
        model = self._observed(model)  # checked: now it gets its metric series
        previous = seen.serves if seen is not None else None
        if previous is not None and previous != (model.name, model.version):
            self._unserve(*previous)  # a flat bundle whose metadata names another version
        replaced = self._serve(model)
        self._set_failure(label, None)
        self._seen[label] = Seen(now, (model.name, model.version))
        outcome = "replaced" if replaced or previous is not None else "loaded"
        metrics.REPOSITORY_CHANGES.labels(outcome).inc()
        (changes.replaced if outcome == "replaced" else changes.loaded).append(label)

    def _refresh_aliases(self, changes: Changes) -> None:
        """Read each model's ``aliases.json`` that is new or changed since the last look; one
        that cannot be used is reported and the aliases read before stay."""
        root = self.settings.model_repository
        present: dict[str, tuple[Path, tuple[int, int]]] = {}
        try:
            folders = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
            for folder in folders:
                file = folder / ALIASES_FILE
                if file.is_file():
                    stat = file.stat()
                    present[folder.name] = (file, (stat.st_size, stat.st_mtime_ns))
        except OSError:  # the repository is unusable: refresh has said so
            return
        for name in [n for n in self._aliases_seen if n not in present]:
            del self._aliases_seen[name]
            self._set_failure(f"{name}/{ALIASES_FILE}", None)
            self._set_aliases(name, NO_ALIASES, changes)
        for name, (file, stamp) in present.items():
            if self._aliases_seen.get(name) == stamp:
                continue
            self._aliases_seen[name] = stamp
            label = f"{name}/{ALIASES_FILE}"
            try:
                aliases = read_aliases(file, label)
            except BundleError as exc:
                self._set_failure(label, _failure(label, file, exc))
                metrics.REPOSITORY_CHANGES.labels("failed").inc()
                changes.failed.append(label)
                continue
            self._set_failure(label, None)
            self._set_aliases(name, aliases, changes)

    def _set_aliases(self, name: str, aliases: Aliases, changes: Changes) -> None:
        with self._lock:
            if self._served.aliases.get(name, NO_ALIASES) == aliases:
                return
            self._served = self._served.aliasing(name, aliases)
            default = self._served.default.get(name)
        metrics.REPOSITORY_CHANGES.labels("aliases").inc()
        changes.aliases.append(name)
        log.info(
            "model aliases changed",
            extra={"model": name, "default": default, "aliases": aliases.aliases},
        )
        if aliases.default is not None and aliases.default != default:
            log.warning(
                "the default version the aliases name is not served; the newest answers",
                extra={"model": name, "asked": aliases.default, "answering": default},
            )

    def _forget(self, label: str, changes: Changes) -> None:
        """A bundle folder that is gone: stop serving what it served, forget its failure."""
        seen = self._seen.pop(label)
        self._settling.pop(label, None)
        self._set_failure(label, None)
        if seen.serves is not None:
            self._unserve(*seen.serves)
        metrics.REPOSITORY_CHANGES.labels("removed").inc()
        changes.removed.append(label)

    def report(self, label: str, message: str | None) -> None:
        """Report (or, with None, clear) a problem of a model source that is not a bundle
        folder (an MLflow alias): listed with the failed bundles, never blocking readiness."""
        if message is not None:
            metrics.MODEL_LOAD_FAILURES.labels(label).set(1)
        self._set_failure(label, message)

    def _set_failure(self, label: str, message: str | None) -> None:
        with self._lock:
            failures = dict(self._state.failures)
            blocking = self._state.blocking
            if message is None:
                if failures.pop(label, None) is not None:
                    metrics.MODEL_LOAD_FAILURES.remove(label)
                blocking = blocking - {label}
            else:
                failures[label] = message
            self._state = RegistryState(self._state.loading, failures, blocking)

    def _unserve(self, name: str, version: str) -> None:
        with self._lock:
            model = self._served.models.get(name, {}).get(version)
            if model is None:
                return
            self._served = self._served.removing(name, version)
        metrics.MODEL_INFO.remove(*_info_labels(model))
        self._retire(model)
        log.info("model unloaded", extra={"model": name, "version": version})

    def _retire(self, model: LoadedModel) -> None:
        self._retired.append((time.monotonic() + self.settings.retired_model_seconds, model))

    def _let_go_of_retired(self) -> None:
        """Close the batchers of models retired long enough ago that no request still uses
        them, and break the references that would keep them in memory."""
        now = time.monotonic()
        due = [model for at, model in self._retired if at <= now]
        self._retired = [(at, model) for at, model in self._retired if at > now]
        for model in due:
            model.batcher.scored = None
            model.batcher.shadow = None
            model.batcher.close()

    def _serve(self, model: LoadedModel) -> LoadedModel | None:
        """Serve ``model``; the model it replaces (same name and version), if any."""
        replaced = self._add(model)
        if replaced is not None:
            metrics.MODEL_INFO.remove(*_info_labels(replaced))
            self._retire(replaced)
        metrics.MODEL_INFO.labels(*_info_labels(model)).set(1)
        log.info(
            "model loaded",
            extra={"model": model.name, "version": model.version, "task": model.metadata.task,
                   "path": str(model.path), "replaced": replaced is not None},
        )  # fmt: skip
        return replaced

    def _load_one(
        self,
        name: str,
        folder_version: str | None,
        path: Path,
        label: str | None = None,
        observed: bool = True,
    ) -> LoadedModel:
        """Everything a served model needs, built from its bundle (no logs; its metric series
        only when ``observed``: a bundle that is only checked must leave none behind)."""
        label = label or (name if folder_version is None else f"{name}/{folder_version}")
        metadata, booster = load_bundle(path, label=label, root=self.settings.model_repository)
        version = folder_version or metadata.version
        runtime = ModelRuntime(
            metadata,
            booster,
            threads=self.settings.xgboost_threads,
            direct=self.settings.direct_predict,
        )
        encoder = FeatureEncoder(metadata)
        observe = _observer(name, version, metadata, encoder) if observed else _unobserved
        return LoadedModel(
            name,
            version,
            path,
            metadata,
            runtime,
            encoder,
            RecordsDecoder(encoder, native=self.settings.native_codecs),
            self._batcher(runtime, observe),
            observe,
        )

    def _batcher(self, runtime: ModelRuntime, observe: ObserveFn) -> MicroBatcher:
        return MicroBatcher(
            runtime.predict,
            observe,
            max_rows=self.settings.batch_max_rows,
            max_wait_s=self.settings.batch_max_wait_ms / 1000.0,
            inline_max_rows=self.inline_max_rows,
        )

    def _observed(self, model: LoadedModel) -> LoadedModel:
        """A checked (unobserved) model made the served one: with its metric series."""
        observe = _observer(model.name, model.version, model.metadata, model.encoder)
        model.batcher.close()
        return dataclasses.replace(
            model, observe=observe, batcher=self._batcher(model.runtime, observe)
        )

    def _add(self, model: LoadedModel) -> LoadedModel | None:
        with self._lock:
            _hand_scored_batches(model, self._scored)
            replaced = self._served.models.get(model.name, {}).get(model.version)
            self._served = self._served.adding(model)
        return replaced

    def hand_scored_batches(self, scored: ScoredBatchFn | None) -> None:
        """Hand each batch with tagged requests, of every model served now or later, to
        ``scored`` (None: to nobody)."""
        with self._lock:
            self._scored = scored
            for versions in self._served.models.values():
                for model in versions.values():
                    _hand_scored_batches(model, scored)

    def close(self) -> None:
        for versions in self._served.models.values():
            for model in versions.values():
                model.batcher.close()
        for _, model in self._retired:
            model.batcher.close()

    # ------------------------------------------------------------------ queries
    @property
    def loading(self) -> bool:
        return self._state.loading

    @property
    def failures(self) -> dict[str, str]:
        return dict(self._state.failures)

    @property
    def ready(self) -> bool:
        """Ready when loading finished, at least one model serves and every bundle that failed
        at start-up has been fixed or removed since."""
        state = self._state
        return not state.loading and bool(self._served.models) and not state.blocking

    @property
    def generation(self) -> int:
        """Changes with every model added, replaced or removed."""
        return self._served.generation

    def names(self) -> list[str]:
        return sorted(self._served.models)

    def versions(self, name: str) -> list[str]:
        """Versions of a model, newest first."""
        return sorted(self._served.models.get(name, {}), key=version_key, reverse=True)

    def all_models(self) -> list[LoadedModel]:
        models = self._served.models
        return [
            models[n][v]
            for n in sorted(models)
            for v in sorted(models[n], key=version_key, reverse=True)
        ]

    def get(self, name: str, version: str | None = None) -> LoadedModel:
        """The model ``name`` at ``version`` (newest when None); 404 or 503 otherwise."""
        served = self._served  # one snapshot: a change swapped in meanwhile is not half seen
        versions = served.models.get(name)
        if not versions:
            if self._state.loading:
                raise NotReadyError("models are still loading; retry shortly")
            failed = [
                msg for label, msg in self._state.failures.items() if label.split("/")[0] == name
            ]
            if failed:
                raise NotReadyError(f"model {name!r} failed to load: {failed[0]}")
            known = ", ".join(self.names()) or "none"
            raise ModelNotFoundError(f"model {name!r} not found; available models: {known}")
        if version is None:
            return versions[served.default[name]]  # kept per change: no sorting per request
        model = versions.get(version)
        if model is not None:
            return model
        target = served.resolve(name, version)
        if target is None:
            aliases = served.aliases.get(name, NO_ALIASES).aliases
            named = f"; aliases: {', '.join(sorted(aliases))}" if aliases else ""
            raise ModelNotFoundError(
                f"model {name!r} has no version {version!r}; available versions: "
                f"{', '.join(self.versions(name))}{named}"
            )
        model = versions.get(target)
        if model is None:
            raise ModelNotFoundError(
                f"alias {version!r} of model {name!r} names version {target!r}, which is not "
                f"served; available versions: {', '.join(self.versions(name))}"
            )
        return model

    def aliases(self, name: str) -> Aliases:
        """The model's aliases as its ``aliases.json`` says (none when it has no such file)."""
        return self._served.aliases.get(name, NO_ALIASES)


def _failure(label: str, path: Path, exc: Exception) -> str:
    """Log why a bundle failed (with its path) and return what ``/readyz`` may show."""
    metrics.MODEL_LOAD_FAILURES.labels(label).set(1)
    if isinstance(exc, BundleError):
        log.error(
            "model bundle failed to load",
            extra={"bundle": label, "path": str(path), "error": str(exc)},
        )
        return str(exc)
    # Unexpected: its message may hold paths or file content, so only the log gets it.
    log.error(
        "model bundle failed to load", exc_info=exc, extra={"bundle": label, "path": str(path)}
    )
    return f"bundle {label}: {type(exc).__name__} (see the server log)"


def check_bundle(
    folder: Path, *, label: str | None = None, repository: Path | None = None
) -> BundleMetadata:
    """Build everything the server builds to serve the bundle at ``folder``, then let it go.

    ``model-api validate`` and ``save_bundle`` call this, so they refuse exactly the bundles the
    server refuses. ``repository`` is the model repository the bundle will be served from
    (symlinks may point anywhere inside it); without one they must stay inside the bundle.
    """
    registry = ModelRegistry(Settings(model_repository=repository or folder))
    label = label or str(folder)
    model = registry._load_one(label, None, folder, label=label, observed=False)
    try:
        _test_prediction(model)
    except Exception as exc:
        raise BundleError(f"bundle {label}: a test prediction failed ({exc})") from None
    finally:
        model.batcher.close()
    return model.metadata


def _info_labels(model: LoadedModel) -> tuple[str, str, str, str, str]:
    metadata = model.metadata
    return (
        model.name,
        model.version,
        metadata.task,
        metadata.model_sha256,
        metadata.xgboost_version,
    )


def _test_prediction(model: LoadedModel) -> None:
    """One row with every feature missing scored by the model, as it will be served: a bundle
    that loads but cannot predict fails here, before it replaces anything."""
    row = np.full((1, len(model.metadata.features)), np.nan, dtype=np.float32)
    prediction = model.runtime.predict(row)
    del prediction


def _hand_scored_batches(model: LoadedModel, scored: ScoredBatchFn | None) -> None:
    model.batcher.scored = None if scored is None else functools.partial(scored, model)


def _unobserved(matrix: np.ndarray, prediction: Prediction, seconds: float) -> None:
    """The observer of a model that is checked, never served."""


def _observer(
    name: str, version: str, metadata: BundleMetadata, encoder: FeatureEncoder
) -> ObserveFn:
    """Build the per-batch callback that records inference, prediction and drift metrics."""
    rows_counter = metrics.INFERENCE_ROWS.labels(name, version)
    duration = metrics.INFERENCE_DURATION.labels(name, version)
    batch_rows = metrics.BATCH_ROWS.labels(name, version)
    labels = metadata.labels
    class_counters = [metrics.PREDICTED_CLASS.labels(name, version, label) for label in labels]
    value_histogram = metrics.PREDICTED_VALUE.labels(name, version)
    watched = metadata.primary_output  # multi-output models: the value metrics watch this output
    deciles = np.asarray(metadata.target_quantiles or [], dtype=np.float64)
    decile_counters = [
        metrics.PREDICTED_DECILE.labels(name, version, f"d{i + 1}") for i in range(len(deciles) + 1)
    ]
    missing_counters = [
        metrics.FEATURE_MISSING.labels(name, version, f.name) for f in metadata.features
    ]
    outside_counters = [
        metrics.FEATURE_OUT_OF_RANGE.labels(name, version, f.name) for f in metadata.features
    ]

    def observe(matrix: np.ndarray, prediction: Prediction, seconds: float) -> None:
        rows = matrix.shape[0]
        rows_counter.inc(rows)
        duration.observe(seconds)
        batch_rows.observe(rows)
        classes = prediction.classes
        if prediction.proba is not None:
            classes = np.argmax(prediction.proba, axis=1)
        if classes is not None:
            counts = np.bincount(classes, minlength=len(labels))
            for counter, count in zip(class_counters, counts, strict=False):
                if count:
                    counter.inc(int(count))
        elif prediction.values is not None:
            values = prediction.values
            if values.ndim == 2:
                values = values[:, watched]
            for value in values:
                value_histogram.observe(float(value))
            if deciles.size:
                bins = np.bincount(np.searchsorted(deciles, values), minlength=deciles.size + 1)
                for counter, count in zip(decile_counters, bins, strict=False):
                    if count:
                        counter.inc(int(count))
        missing, outside = encoder.drift_counts(matrix)
        for j in np.flatnonzero(missing):
            missing_counters[j].inc(int(missing[j]))
        for j in np.flatnonzero(outside):
            outside_counters[j].inc(int(outside[j]))

    return observe
