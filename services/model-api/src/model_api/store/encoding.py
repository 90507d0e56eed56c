"""A recorded matrix as the log keeps it, and back as the user sent it.

The log keeps the matrix XGBoost was fed, as little-endian float32 bytes (``inputs``: rows x
columns, row-major), beside a small JSON description of its columns (``features``: their names,
each categorical column's labels, the boolean columns). Writing it costs a copy, not a JSON
serialisation of every cell: the writer shares the API's CPU, and a 1,000-row request would
otherwise cost a good part of what scoring it does. Reading gives the values as the user means
them: category labels, true/false, null for missing, and numbers as the shortest decimal that
reads back as the same float32. Features left out for privacy are never written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from model_api.store.records import PredictionRecord

FLOAT32 = np.dtype("<f4")


@dataclass(frozen=True, slots=True)
class ColumnPlan:
    """How one model version's matrix columns are written (built once, reused per record)."""

    keep: np.ndarray | None  # column indexes written, None: all of them
    features: str  # the ``features`` JSON of every record of this version


def column_plan(record: PredictionRecord, exclude: frozenset[str]) -> ColumnPlan:
    columns = list(record.columns)
    kept = [j for j, name in enumerate(columns) if name not in exclude]
    names = [columns[j] for j in kept]
    features = {
        "columns": names,
        "categories": {columns[j]: list(v) for j, v in record.categories.items() if j in kept},
        "booleans": [columns[j] for j in sorted(record.booleans) if j in kept],
    }
    return ColumnPlan(
        keep=None if len(kept) == len(columns) else np.asarray(kept, dtype=np.intp),
        features=orjson.dumps(features).decode(),
    )


def inputs_bytes(record: PredictionRecord, plan: ColumnPlan) -> bytes:
    """The record's matrix (the kept columns) as little-endian float32 bytes."""
    matrix = record.matrix if plan.keep is None else record.matrix[:, plan.keep]
    return np.ascontiguousarray(matrix, dtype=FLOAT32).tobytes()


@dataclass(frozen=True, slots=True)
class Inputs:
    """A logged request's matrix, readable row by row."""

    columns: Sequence[str]
    matrix: np.ndarray
    categories: Mapping[str, Sequence[str]]
    booleans: frozenset[str]

    def row(self, index: int) -> dict[str, Any]:
        """Feature -> value of one row, as the user means it."""
        # float32 -> shortest decimal that reads back the same: orjson writes float32 so.
        values = orjson.loads(orjson.dumps(self.matrix[index], option=orjson.OPT_SERIALIZE_NUMPY))
        row: dict[str, Any] = {}
        for name, value in zip(self.columns, values, strict=True):
            if value is not None and name in self.categories:
                labels = self.categories[name]
                code = int(value)
                value = labels[code] if 0 <= code < len(labels) else None
            elif value is not None and name in self.booleans:
                value = value != 0
            row[name] = value
        return row


def read_inputs(features: str | bytes, inputs: bytes, n_rows: int) -> Inputs:
    described = orjson.loads(features)
    columns = described["columns"]
    matrix = np.frombuffer(inputs, dtype=FLOAT32).reshape(n_rows, len(columns))
    return Inputs(columns, matrix, described["categories"], frozenset(described["booleans"]))


def read_outputs(outputs: str | bytes) -> list[dict[str, Any]]:
    """The v1 prediction objects of a logged request, without their ids (the answer's own rows
    are stored as they were sent)."""
    rows: list[dict[str, Any]] = orjson.loads(outputs)
    for row in rows:
        row.pop("id", None)
    return rows
