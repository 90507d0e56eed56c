"""The protocol's side of the prediction log: which requests are recorded, their ids, and the
record handed to the store.

A recorded request costs the request path one random token and one queue append
(``Store.record``); the inputs and outputs are serialised later, in the store's writer thread
(``PredictionRecord.outputs`` is a callable). A request that is not recorded gets no ids at all,
so that every id an answer carries can be looked up.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from model_api.observability.logs import request_id_var
from model_api.store import PredictionRecord, Store
from model_api.store.ids import new_token

if TYPE_CHECKING:
    from model_api.protocol.messages import Incoming
    from model_api.serving.bundle import BundleMetadata
    from model_api.serving.registry import LoadedModel
    from model_api.serving.runtime import Prediction

# Requests from the UI say so; they are always recorded, whatever the sample rate.
SOURCE_HEADER = "x-prediction-source"
UI_SOURCE = "ui"
API_SOURCE = "api"


@dataclass(frozen=True, slots=True)
class Logged:
    """A request that is recorded: its token (the ids' common part), source and request id."""

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


def answer(columns: _Columns, prediction: Prediction) -> dict[str, Any]:
    """The record's output fields: the prediction's array and what names its columns."""
    if prediction.classes is not None:
        return {
            "output_kind": "classes",
            "output": prediction.classes,
            "output_names": columns.labels,
        }
    if prediction.proba is not None:
        return {"output_kind": "proba", "output": prediction.proba, "output_names": columns.labels}
    assert prediction.values is not None
    if prediction.values.ndim == 2:
        return {
            "output_kind": "values",
            "output": prediction.values,
            "output_names": columns.output_names,
        }
    return {"output_kind": "value", "output": prediction.values, "output_names": _NO_NAMES}


class PredictionLog:
    """Decides per request whether it is recorded, and hands each scored matrix to the store.

    The request path queues a tuple of what it has at hand; the store's writer thread turns it
    into a ``PredictionRecord`` (``to_record``): on a single-row request every object the
    request path does not build is a noticeable share of its cost.
    """

    def __init__(self, store: Store, sample_rate: float) -> None:
        self.store = store
        self.sample_rate = sample_rate
        # id(metadata) -> (metadata, its columns): the metadata kept so that its id stays its own.
        self._columns: dict[int, tuple[BundleMetadata, _Columns]] = {}
        store.convert_with(self.to_record)

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
        self.store.record(
            (token or logged.token, time.time(), logged, model, matrix, prediction), len(matrix)
        )

    def to_record(self, item: tuple[Any, ...]) -> PredictionRecord:
        """A queued tuple as the store's record (in the store's writer thread)."""
        token, created_at, logged, model, matrix, prediction = item
        metadata = model.metadata
        known = self._columns.get(id(metadata))
        if known is None or known[0] is not metadata:
            known = (metadata, _columns(metadata))
            self._columns[id(metadata)] = known
        columns = known[1]
        return PredictionRecord(
            token=token,
            created_at=created_at,
            model=model.name,
            version=model.version,
            source=logged.source,
            request_id=logged.request_id,
            columns=columns.names,
            matrix=matrix,
            categories=columns.categories,
            booleans=columns.booleans,
            **answer(columns, prediction),
        )
