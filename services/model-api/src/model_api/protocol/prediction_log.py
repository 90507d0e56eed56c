"""The protocol's side of the prediction log: which requests are recorded, their ids, and the
record handed to the store.

A recorded request costs the request path one random token; its entry (``Logged``) goes with its
matrix into the model's micro-batch, and each batch is queued once (``record_batch``, one append
to the store's queue), its own matrix and prediction with its requests' entries. The writer
thread groups what was queued into the store's batches (``PredictionLog.to_batches``) and
serialises them. A request that is not recorded gets no ids at all, so that every id an answer
carries can be looked up.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from model_api.observability.logs import request_id_var
from model_api.store import RecordBatch, Store
from model_api.store.ids import TIME_HEX, new_token

if TYPE_CHECKING:
    from model_api.protocol.messages import Incoming
    from model_api.serving.bundle import BundleMetadata
    from model_api.serving.registry import LoadedModel
    from model_api.serving.runtime import Prediction

# Requests from the UI say so; they are always recorded, whatever the sample rate.
SOURCE_HEADER = "x-prediction-source"
UI_SOURCE = "ui"
API_SOURCE = "api"


class Logged(NamedTuple):
    """A request that is recorded: its token (the ids' common part), source and request id.
    (A tuple: made on every recorded request, and a tuple is the cheapest object to make.)"""

    token: str
    source: str
    request_id: str | None


@dataclass(frozen=True, slots=True)
class _Columns:
    """What the store needs of a model's matrix columns (built once per model version)."""

    names: Sequence[str]
    categories: Mapping[int, Sequence[str]]
    booleans: frozenset[int]
    # The answer's names, kept here: the metadata's properties build a new list on each call,
    # and the store keys its per-version work by these objects.
    labels: tuple[str, ...]
    output_names: tuple[str, ...]


def _columns(metadata: BundleMetadata) -> _Columns:
    features = metadata.features
    return _Columns(
        [f.name for f in features],
        {j: f.categories for j, f in enumerate(features) if f.categories},
        frozenset(j for j, f in enumerate(features) if f.type == "boolean"),
        tuple(metadata.labels),
        tuple(metadata.output_names),
    )


_NO_NAMES: tuple[str, ...] = ()


def answer_array(prediction: Prediction) -> tuple[str, np.ndarray]:
    """The kind of the model's answer and the array the v1 rows are made from."""
    if prediction.classes is not None:
        return "classes", prediction.classes
    if prediction.proba is not None:
        return "proba", prediction.proba
    assert prediction.values is not None
    return ("values" if prediction.values.ndim == 2 else "value"), prediction.values


def answer_names(columns: _Columns, kind: str) -> Sequence[str]:
    """What names the answer array's columns: the classes, the outputs, or nothing."""
    if kind in ("classes", "proba"):
        return columns.labels
    return columns.output_names if kind == "values" else _NO_NAMES


class _ScoredBatch(NamedTuple):
    """What is queued: a micro-batch's (or a CSV chunk's) matrix, the model's answer, and each
    request's entry (None: not recorded) and rows, in order."""

    created_at: float
    model: LoadedModel
    matrix: np.ndarray
    prediction: Prediction
    parts: list[tuple[object, int]]


class PredictionLog:
    """Decides per request whether it is recorded, and hands what was scored to the store.

    The request path queues nothing of its own: what it has at hand is queued once per
    micro-batch, or once per chunk of a CSV upload, and the store's writer thread groups it
    (``to_batches``). On a single-row request every object made, and every object kept until
    the writer takes it, is a noticeable share of its cost.
    """

    def __init__(self, store: Store, sample_rate: float) -> None:
        self.store = store
        self.sample_rate = sample_rate
        self._queue = store.writer.record  # Store.record without its own call
        # id(metadata) -> (metadata, its columns): the metadata kept so that its id stays its own.
        self._columns: dict[int, tuple[BundleMetadata, _Columns]] = {}
        store.convert_with(self.to_batches)

    def begin(self, incoming: Incoming) -> Logged | None:
        """The request's token when it is recorded (UI traffic always; API clients' requests
        at the sample rate), else None: then its answer carries no ids."""
        source = UI_SOURCE if incoming.header(SOURCE_HEADER) == UI_SOURCE else API_SOURCE
        rate = self.sample_rate
        if source == API_SOURCE and rate < 1.0 and (rate <= 0.0 or random.random() >= rate):  # noqa: S311 (sampling, not secrecy)
            return None
        return Logged(new_token(), source, request_id_var.get())

    def record(
        self,
        logged: Logged,
        model: LoadedModel,
        matrix: np.ndarray,
        prediction: Prediction,
    ) -> None:
        """Queue a matrix scored outside the micro-batcher and the model's answer (a chunk of
        a CSV upload, its entry carrying the chunk's own token)."""
        parts: list[tuple[object, int]] = [(logged, len(matrix))]
        self._queue(_ScoredBatch(time.time(), model, matrix, prediction, parts), len(matrix))

    def record_batch(
        self,
        model: LoadedModel,
        matrix: np.ndarray,
        prediction: Prediction,
        parts: list[tuple[object, int]],
    ) -> None:
        """Queue a micro-batch whose requests were tagged with their ``Logged`` entries (the
        registry calls this after each such batch)."""
        rows = sum(n for logged, n in parts if logged is not None)
        self._queue(_ScoredBatch(time.time(), model, matrix, prediction, parts), rows)

    def to_batches(self, items: list[_ScoredBatch]) -> list[RecordBatch]:
        """The queued items as the store's batches, one per model version, kind of answer and
        token second, in order (in the store's writer thread)."""
        batches: dict[tuple[Any, ...], RecordBatch] = {}
        for item in items:
            self._add_scored_batch(batches, item)
        return list(batches.values())

    def _add_scored_batch(
        self, batches: dict[tuple[Any, ...], RecordBatch], item: _ScoredBatch
    ) -> None:
        """A micro-batch's recorded requests, their rows taken as runs of the batch's arrays."""
        created_at, model, matrix, prediction, parts = item
        kind, output = answer_array(prediction)
        entries = [logged for logged, _ in parts]
        first = entries[0]
        if isinstance(first, Logged) and None not in entries:
            # The usual batch: every request recorded, all in one second (tokens are made in
            # the order the batch is queued): one view of the arrays, the lists in C.
            tokens, sources, request_ids = zip(*entries, strict=True)
            # Every token between the least and the greatest shares their common prefix.
            prefix = min(tokens)[:TIME_HEX]
            if max(tokens)[:TIME_HEX] == prefix:
                batch = self._batch(batches, model, kind, output, prefix)
                batch.tokens += tokens
                batch.sources += sources
                batch.request_ids += request_ids
                batch.times += [created_at] * len(parts)
                batch.rows += [rows for _, rows in parts]
                batch.matrices.append(matrix)
                batch.outputs.append(output)
                return
        run: RecordBatch | None = None
        run_start = start = 0
        for logged, rows in parts:
            into = None
            if isinstance(logged, Logged):
                into = self._batch(batches, model, kind, output, logged.token)
                into.tokens.append(logged.token)
                into.times.append(created_at)
                into.sources.append(logged.source)
                into.request_ids.append(logged.request_id)
                into.rows.append(rows)
            if into is not run:
                if run is not None:
                    run.matrices.append(matrix[run_start:start])
                    run.outputs.append(output[run_start:start])
                run, run_start = into, start
            start += rows
        if run is not None:
            run.matrices.append(matrix[run_start:start])
            run.outputs.append(output[run_start:start])

    def _batch(
        self,
        batches: dict[tuple[Any, ...], RecordBatch],
        model: LoadedModel,
        kind: str,
        output: np.ndarray,
        token: str,
    ) -> RecordBatch:
        """The batch of this model version, kind of answer and token second."""
        key = (id(model), kind, output.dtype, token[:TIME_HEX])
        batch = batches.get(key)
        if batch is None:
            columns = self._columns_of(model.metadata)
            batches[key] = batch = RecordBatch(
                model.name,
                model.version,
                columns.names,
                columns.categories,
                columns.booleans,
                kind,
                answer_names(columns, kind),
                output.dtype,
            )
        return batch

    def _columns_of(self, metadata: BundleMetadata) -> _Columns:
        known = self._columns.get(id(metadata))
        if known is None or known[0] is not metadata:
            known = (metadata, _columns(metadata))
            self._columns[id(metadata)] = known
        return known[1]
