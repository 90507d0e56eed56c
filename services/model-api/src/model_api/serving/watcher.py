"""The repository watcher: one background thread that looks at the model repository every few
seconds (``MODEL_API_REPOSITORY_POLL_SECONDS``) and has the registry serve what changed.

Polling rather than file events: events are not delivered on network volumes (NFS, most
Kubernetes PersistentVolumes), and a look costs a directory listing and a ``stat`` per file.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from model_api.observability import metrics
from model_api.serving.cpus import yield_to_the_requests
from model_api.serving.mlflow_source import MlflowSync
from model_api.serving.registry import Changes, ModelRegistry

log = logging.getLogger("model_api.registry")
CLOSE_SECONDS = 5.0


class RepositoryWatcher:
    """Calls ``registry.refresh()`` every ``interval`` seconds (after bringing what the MLflow
    aliases name, when they are due), and ``changed`` after a look that changed what serves (the
    shadow pairs are made again then)."""

    def __init__(
        self,
        registry: ModelRegistry,
        interval: float,
        changed: Callable[[Changes], None],
        mlflow: MlflowSync | None = None,
    ) -> None:
        self._registry = registry
        self._interval = interval
        self._changed = changed
        self.mlflow = mlflow
        # Every outcome's series exists from the start (at 0), so a rate is never "no data".
        for outcome in ("loaded", "replaced", "removed", "failed", "aliases"):
            metrics.REPOSITORY_CHANGES.labels(outcome)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="repository-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(CLOSE_SECONDS)

    def _run(self) -> None:
        # Loading a bundle parses its model file: the requests keep the CPU meanwhile.
        yield_to_the_requests("the repository watcher")
        while not self._stop.wait(self._interval):
            try:
                written = frozenset[str]()
                if self.mlflow is not None and self.mlflow.due():
                    written = self.mlflow.sync()  # versions written whole: loaded at once
                changes = self._registry.refresh(written)
                if changes:
                    self._changed(changes)
            except Exception:  # the watcher must never end: the next look may do better
                log.exception("looking at the model repository failed")
