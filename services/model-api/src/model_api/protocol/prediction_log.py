"""The protocol's side of the prediction log: which requests are recorded, their ids, and the
record handed to the store.

A recorded request costs the request path one random token and one queue append
(``Store.record``); the writer thread groups what was queued into the store's batches
(``PredictionLog.to_batches``) and serialises them. A request that is not recorded gets no ids
at all, so that every id an answer carries can be looked up.
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


def answer(columns: _Columns, prediction: Prediction) -> dict[str, Any]:
    """A ``PredictionRecord``'s output fields for ``prediction``."""
    kind, output = answer_array(prediction)
    return {"output_kind": kind, "output": output, "output_names": answer_names(columns, kind)}


class PredictionLog:
    """Decides per request whether it is recorded, and hands each scored matrix to the store.

    The request path queues a tuple of what it has at hand; the store's writer thread groups
    the tuples into batches (``to_batches``): on a single-row request every object the request
    path does not build is a noticeable share of its cost.
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
        token: str | None = None,
    ) -> None:
        """Queue one scored matrix and the model's answer (``token``: its own, for the chunks
        of a CSV upload)."""
        self._queue(
            (token or logged.token, time.time(), logged, model, matrix, prediction), len(matrix)
        )

    def to_batches(self, items: list[Any]) -> list[RecordBatch]:
        """The queued tuples as the store's batches, one per model version, kind of answer and
        token second, in order (in the store's writer thread)."""
        batches: dict[tuple[Any, ...], RecordBatch] = {}
        for token, created_at, logged, model, matrix, prediction in items:
            kind, output = answer_array(prediction)
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
            batch.tokens.append(token)
            batch.times.append(created_at)
            batch.sources.append(logged.source)
            batch.request_ids.append(logged.request_id)
            batch.rows.append(len(matrix))
            batch.matrices.append(matrix)
            batch.outputs.append(output)
        return list(batches.values())

    def _columns_of(self, metadata: BundleMetadata) -> _Columns:
        known = self._columns.get(id(metadata))
        if known is None or known[0] is not metadata:
            known = (metadata, _columns(metadata))
            self._columns[id(metadata)] = known
        return known[1]
