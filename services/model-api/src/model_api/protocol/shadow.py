"""Shadow scoring: what a model's default version answers on live traffic, also scored by another
version off the request path, and compared.

``MODEL_API_SHADOW`` names, per model, the version that shadows it. The request path hands each
micro-batch (v1 JSON, V2) and each chunk of a CSV upload to a bounded queue, one append, and
answers as before; one thread, at a lower scheduling priority, scores what was queued with the
shadow version every half second, a few thousand rows per XGBoost call (the per-call overhead is
most of a small batch's cost), compares the answers (classifiers: the class; regression: the
primary output, beyond a tolerance), counts both in
``model_api_shadow_rows_total`` and stores each disagreeing row (its inputs, both answers and
the prediction id the answer carried, when it was recorded) beside the prediction log, where
``GET /v1/models/{name}/shadow`` lists them for review. A full queue or a failure loses shadow
rows, counted, never an answer.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from model_api.codecs.rows import prediction_rows
from model_api.errors import ModelAPIError
from model_api.observability import metrics
from model_api.protocol.compare import incomparable
from model_api.protocol.prediction_log import Logged
from model_api.serving.cpus import yield_to_the_requests
from model_api.store import ShadowDisagreement, StoreUnavailable
from model_api.store.encoding import Inputs
from model_api.store.ids import prediction_id

if TYPE_CHECKING:
    from model_api.protocol.messages import Services
    from model_api.serving.registry import LoadedModel, ModelRegistry
    from model_api.serving.runtime import Prediction
    from model_api.settings import ShadowSpec

log = logging.getLogger("model_api.shadow")

# The thread scores what was queued this often, or sooner once a quarter of the queue waits.
CYCLE_SECONDS = 0.5
WAKE_SHARE = 0.25
# Rows scored per XGBoost call of the shadow: what the thread holds the GIL for between calls
# (joining the matrices, comparing) stays short, so a request never waits long for it.
CHUNK_ROWS = 4096
# Disagreements stored per model and cycle at most; the rest are counted only (a shadow that
# disagrees on everything must not turn the traffic into database writes).
STORED_PER_CYCLE = 500
# Regression: the default tolerance is this share of the training target's standard deviation,
# estimated from its first and ninth deciles (for a normal distribution they lie 2.563 standard
# deviations apart). Compare's default is the same share of the labelled data's spread.
TOLERANCE_SHARE = 0.1
DECILE_SPAN_IN_STD = 2.5631
WARNING_SECONDS = 60.0
CLOSE_SECONDS = 5.0


class _Queued(NamedTuple):
    pair: ShadowPair
    matrix: np.ndarray
    prediction: Prediction
    parts: list[tuple[object, int]]  # each request's prediction-log entry (or None) and rows


@dataclass
class ShadowPair:
    """A model's default version and the version that shadows it, with what they did so far
    (in this process)."""

    primary: LoadedModel
    shadow: LoadedModel
    tolerance: float | None  # None: a classifier (the class is compared)
    compared: int = 0
    disagreed: int = 0
    dropped: int = 0
    since: datetime = field(default_factory=lambda: datetime.now(UTC))
    # The features stored with a disagreement (the privacy exclusions left out).
    kept: np.ndarray = field(default_factory=lambda: np.empty(0, np.intp))
    kept_names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        labels = (self.primary.name, self.primary.version, self.shadow.version)
        self.agreed_rows = metrics.SHADOW_ROWS.labels(*labels, "agreed")
        self.disagreed_rows = metrics.SHADOW_ROWS.labels(*labels, "disagreed")
        self.dropped_rows = metrics.SHADOW_ROWS.labels(*labels, "dropped")

    def points(self, prediction: Prediction) -> np.ndarray:
        """What is compared of an answer: the class index, or the primary output's value."""
        if prediction.proba is not None:
            return np.argmax(prediction.proba, axis=1)
        if prediction.classes is not None:
            return prediction.classes
        assert prediction.values is not None
        values = prediction.values
        return values[:, self.primary.metadata.primary_output] if values.ndim == 2 else values

    def differ(self, mine: np.ndarray, theirs: np.ndarray) -> np.ndarray:
        if self.tolerance is None:
            return np.asarray(mine != theirs)
        mine, theirs = mine.astype(np.float64), theirs.astype(np.float64)
        within = np.abs(mine - theirs) <= self.tolerance
        both_missing = np.isnan(mine) & np.isnan(theirs)
        return np.asarray(~(within | both_missing))

    def drop(self, rows: int) -> None:
        self.dropped += rows
        self.dropped_rows.inc(rows)


def default_tolerance(model: LoadedModel) -> float | None:
    """A tenth of the training target's standard deviation (from its deciles), or None when the
    bundle has no deciles."""
    deciles = model.metadata.target_quantiles
    if not deciles or len(deciles) < 2:
        return None
    return TOLERANCE_SHARE * (max(deciles) - min(deciles)) / DECILE_SPAN_IN_STD


class ShadowScoring:
    """The configured shadows, their queue and the thread that scores it."""

    def __init__(self, services: Services) -> None:
        settings = services.settings
        self._services = services
        self._specs: dict[str, ShadowSpec] = dict(settings.shadow)
        self._exclude = frozenset(settings.prediction_log_exclude_features)
        self._pairs: dict[str, ShadowPair] = {}
        self._problems: dict[str, str] = {}
        self._attached = False
        self._queue: deque[_Queued] = deque()
        self._rows_in = 0  # the request path adds
        self._rows_out = 0  # the thread adds
        self._max_rows = settings.shadow_queue_rows
        self._wake_rows = max(1, int(self._max_rows * WAKE_SHARE))
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._last_warning = 0.0

    @property
    def configured(self) -> bool:
        return bool(self._specs)

    # Start and stop ---------------------------------------------------------------------------

    def attach(self, registry: ModelRegistry) -> None:
        """Pair every configured model with its shadow version (once the models have loaded,
        and again whenever the repository changes); a pair that cannot be made is reported, by
        name, and its model serves unshadowed."""
        for name, spec in sorted(self._specs.items()):
            # Made again when the repository changes: the old pair's hook comes off first.
            old = self._pairs.pop(name, None)
            if old is not None and old.primary.batcher.shadow is not None:
                old.primary.batcher.shadow = None
            self._problems.pop(name, None)
            try:
                pair = self._pair(registry, name, spec)
            except (ModelAPIError, Unpaired) as exc:
                self._problems[name] = str(exc)
                metrics.SHADOW_ACTIVE.labels(name, spec.version).set(0)
                log.error(
                    "shadow scoring off for a model",
                    extra={"model": name, "shadow_version": spec.version, "error": str(exc)},
                )
                continue
            self._pairs[name] = pair
            pair.primary.batcher.shadow = functools.partial(self.offer, pair)
            metrics.SHADOW_ACTIVE.labels(name, spec.version).set(1)
            log.info(
                "shadow scoring on",
                extra={
                    "model": name,
                    "version": pair.primary.version,
                    "shadow_version": pair.shadow.version,
                    "tolerance": pair.tolerance,
                    "disagreements_stored": self._services.log is not None,
                },
            )
        self._attached = True
        if self._pairs and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="shadow", daemon=True)
            self._thread.start()

    def _pair(self, registry: ModelRegistry, name: str, spec: ShadowSpec) -> ShadowPair:
        primary = registry.get(name)
        shadow = registry.get(name, spec.version)
        if shadow is primary:
            raise Unpaired(
                f"version {spec.version!r} is the default version of {name}: it cannot shadow "
                "itself; name another version"
            )
        problems = incomparable(primary, shadow)
        if problems:
            raise Unpaired(
                f"{name}@{shadow.version} cannot shadow {name}@{primary.version}: "
                + "; ".join(problems)
            )
        tolerance = None
        if not primary.metadata.labels:
            tolerance = spec.tolerance if spec.tolerance is not None else default_tolerance(primary)
            if tolerance is None:
                raise Unpaired(
                    f"{name}'s bundle has no training target deciles to derive a tolerance "
                    f'from; give one: {{"{name}": {{"version": "{spec.version}", '
                    '"tolerance": ...}}'
                )
        pair = ShadowPair(primary, shadow, tolerance)
        columns = [f.name for f in primary.metadata.features]
        kept = [j for j, column in enumerate(columns) if column not in self._exclude]
        pair.kept, pair.kept_names = np.asarray(kept, np.intp), [columns[j] for j in kept]
        return pair

    def close(self) -> None:
        """Stop the thread (what is still queued is not shadowed)."""
        for pair in self._pairs.values():
            pair.primary.batcher.shadow = None
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(CLOSE_SECONDS)

    # The request path -------------------------------------------------------------------------

    def offer(
        self,
        pair: ShadowPair,
        matrix: np.ndarray,
        prediction: Prediction,
        parts: list[tuple[object, int]],
    ) -> None:
        """Queue a batch the default version answered (dropped, counted, when the queue is
        full). Never blocks: a deque's append is atomic, and a lost update of the counters
        between threads only loosens the bound by a batch."""
        rows = len(matrix)
        waiting = self._rows_in - self._rows_out + rows
        if waiting > self._max_rows:
            pair.drop(rows)
            return
        self._rows_in += rows
        self._queue.append(_Queued(pair, matrix, prediction, parts))
        if waiting >= self._wake_rows and not self._wake.is_set():
            self._wake.set()

    # What the review endpoint reads -----------------------------------------------------------

    def status(self, name: str) -> dict[str, Any] | None:
        """The shadow of ``name``: which version, whether it scores, what it found; None when
        no shadow is configured for it."""
        spec = self._specs.get(name)
        if spec is None:
            return None
        pair = self._pairs.get(name)
        if pair is None:
            problem = self._problems.get(name) or "the models are still loading"
            return {
                "version": spec.version,
                "serving_version": None,
                "active": False,
                "problem": problem,
                "tolerance": spec.tolerance,
                "compared": 0,
                "disagreed": 0,
                "disagreement_rate": None,
                "dropped": 0,
                "since": None,
            }
        return {
            "version": pair.shadow.version,
            "serving_version": pair.primary.version,
            "active": True,
            "problem": None,
            "tolerance": pair.tolerance,
            "compared": pair.compared,
            "disagreed": pair.disagreed,
            "disagreement_rate": pair.disagreed / pair.compared if pair.compared else None,
            "dropped": pair.dropped,
            "since": pair.since,
        }

    # The thread -------------------------------------------------------------------------------

    def _run(self) -> None:
        # The request path keeps the CPU: the shadow scores with what the requests leave, and
        # when they leave none its queue fills and rows are dropped, counted, not answers slowed.
        yield_to_the_requests("shadow scoring")
        while not self._stopping:
            self._wake.wait(CYCLE_SECONDS)
            self._wake.clear()
            groups: dict[int, list[_Queued]] = {}
            queue = self._queue
            while queue:
                item = queue.popleft()
                self._rows_out += len(item.matrix)
                groups.setdefault(id(item.pair), []).append(item)
            for queued in groups.values():
                pair = queued[0].pair
                to_store = STORED_PER_CYCLE
                for items in _chunks(queued):
                    if self._stopping:
                        return
                    try:
                        to_store -= self._score(pair, items, to_store)
                    except Exception:  # the shadow must never end its thread
                        log.exception("shadow scoring failed", extra={"model": pair.primary.name})
                        pair.drop(sum(len(item.matrix) for item in items))

    def _score(self, pair: ShadowPair, items: list[_Queued], to_store: int) -> int:
        """Score one chunk with the shadow, count, and store at most ``to_store`` of its
        disagreements; how many were stored."""
        matrices = [item.matrix for item in items]
        matrix = matrices[0] if len(matrices) == 1 else np.concatenate(matrices)
        theirs = pair.shadow.runtime.predict(matrix)
        mine = pair.points(_joined([item.prediction for item in items]))
        differ = pair.differ(mine, pair.points(theirs))
        disagreed = int(np.count_nonzero(differ))
        pair.compared += len(matrix)
        pair.disagreed += disagreed
        pair.agreed_rows.inc(len(matrix) - disagreed)
        if not disagreed:
            return 0
        pair.disagreed_rows.inc(disagreed)
        store_log = self._services.log
        if store_log is None or to_store <= 0:  # the log is off, or enough this cycle: counted
            return 0
        try:
            where = np.flatnonzero(differ)[:to_store]
            store_log.store.save_disagreements(_disagreements(pair, items, matrix, theirs, where))
            return len(where)
        except Exception as exc:  # counted already; what is lost is the row's detail
            now = time.monotonic()
            if now - self._last_warning >= WARNING_SECONDS:
                self._last_warning = now
                log.warning(
                    "shadow disagreements not stored",
                    exc_info=not isinstance(exc, StoreUnavailable),
                    extra={"model": pair.primary.name, "rows": disagreed, "error": str(exc)},
                )
            return 0


def _chunks(queued: list[_Queued]) -> Iterator[list[_Queued]]:
    """The queued batches in runs of about CHUNK_ROWS rows (a larger batch alone)."""
    chunk: list[_Queued] = []
    rows = 0
    for item in queued:
        if chunk and rows + len(item.matrix) > CHUNK_ROWS:
            yield chunk
            chunk, rows = [], 0
        chunk.append(item)
        rows += len(item.matrix)
    if chunk:
        yield chunk


def _joined(predictions: list[Prediction]) -> Prediction:
    """One model's predictions as one (a numpy call per array, not one per batch)."""
    if len(predictions) == 1:
        return predictions[0]
    first = predictions[0]

    def joined(arrays: list[np.ndarray | None]) -> np.ndarray | None:
        return None if arrays[0] is None else np.concatenate(arrays)  # type: ignore[arg-type]

    return type(first)(
        proba=joined([p.proba for p in predictions]),
        values=joined([p.values for p in predictions]),
        classes=joined([p.classes for p in predictions]),
    )


def _disagreements(
    pair: ShadowPair,
    items: list[_Queued],
    matrix: np.ndarray,
    theirs: Prediction,
    where: np.ndarray,
) -> list[ShadowDisagreement]:
    """Disagreeing rows ``where``, as stored: inputs, both answers, the id."""
    metadata = pair.primary.metadata
    categories = {f.name: f.categories for f in metadata.features if f.categories}
    booleans = frozenset(f.name for f in metadata.features if f.type == "boolean")
    kept = np.ascontiguousarray(matrix[:, pair.kept])
    inputs = Inputs(pair.kept_names, kept, categories, booleans)
    starts = np.cumsum([0] + [len(item.matrix) for item in items])
    now = datetime.now(UTC)
    rows = []
    for row in where.tolist():
        at = int(np.searchsorted(starts, row, side="right")) - 1
        item, within = items[at], row - int(starts[at])
        rows.append(
            ShadowDisagreement(
                created_at=now,
                model=pair.primary.name,
                version=pair.primary.version,
                shadow_version=pair.shadow.version,
                prediction_id=_id_of(item.parts, within),
                inputs=inputs.row(row),
                answer=prediction_rows(metadata, item.prediction.slice(within, within + 1))[0],
                shadow_answer=prediction_rows(pair.shadow.metadata, theirs.slice(row, row + 1))[0],
            )
        )
    return rows


def _id_of(parts: list[tuple[object, int]], row: int) -> str | None:
    """The prediction id the answer gave batch row ``row`` (None: its request was not recorded)."""
    start = 0
    for entry, rows in parts:
        if row < start + rows:
            return prediction_id(entry.token, row - start) if isinstance(entry, Logged) else None
        start += rows
    return None


class Unpaired(Exception):  # noqa: N818 (it reads as what happened)
    """A configured shadow that cannot shadow its model (reported, never raised to a client)."""
