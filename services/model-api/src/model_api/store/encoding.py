"""A recorded request as the log keeps it, and back as the user sent it and got it.

The log keeps the matrix XGBoost was fed, as little-endian float32 bytes (``inputs``: rows x
columns, row-major), and the model's answer as the array the v1 rows are made from (``outputs``),
beside a small JSON description of both (``layout``: the columns' names, each categorical
column's labels, the boolean columns; the answer's kind, names and dtype). Writing costs a copy,
not a JSON serialisation of every cell: the writer shares the API's CPU, and a 1,000-row request
would otherwise cost a good part of what scoring it does. Reading gives the values as the user
means them (category labels, true/false, null for missing, numbers as the shortest decimal that
reads back as the same float32) and the v1 prediction objects exactly as the answer had them.
Features left out for privacy are never written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from model_api.store.records import PredictionRecord, RecordBatch

FLOAT32 = np.dtype("<f4")


@dataclass(frozen=True, slots=True)
class ColumnPlan:
    """How one model version's matrix columns are written (built once, reused per record)."""

    keep: np.ndarray | None  # column indexes written, None: all of them
    layout: str  # the ``layout`` JSON of every record of this version (and answer dtype)


def column_plan(record: PredictionRecord | RecordBatch, exclude: frozenset[str]) -> ColumnPlan:
    columns = list(record.columns)
    kept = [j for j, name in enumerate(columns) if name not in exclude]
    names = [columns[j] for j in kept]
    layout = {
        "columns": names,
        "categories": {columns[j]: list(v) for j, v in record.categories.items() if j in kept},
        "booleans": [columns[j] for j in sorted(record.booleans) if j in kept],
        "output": {
            "kind": record.output_kind,
            "names": list(record.output_names),
            "dtype": record.output_dtype.newbyteorder("<").str,
        },
    }
    return ColumnPlan(
        keep=None if len(kept) == len(columns) else np.asarray(kept, dtype=np.intp),
        layout=orjson.dumps(layout).decode(),
    )


def plan_key(record: PredictionRecord | RecordBatch) -> tuple[str, str, str, str]:
    """Which plan a record uses: one per model version and answer kind and dtype (bounded by
    what is served; the writer also checks the plan was made from this record's objects)."""
    return record.model, record.version, record.output_kind, record.output_dtype.str


def batch_inputs_bytes(batch: RecordBatch, plan: ColumnPlan) -> bytes:
    """The batch's matrices (the kept columns), one after the other, as little-endian float32."""
    matrices = batch.matrices
    matrix = matrices[0] if len(matrices) == 1 else np.concatenate(matrices)
    matrix = matrix if plan.keep is None else matrix[:, plan.keep]
    return np.ascontiguousarray(matrix, dtype=FLOAT32).tobytes()


def batch_output_bytes(batch: RecordBatch) -> bytes:
    """The batch's answers (one kind and dtype), one after the other, little-endian and row-major."""
    outputs = batch.outputs
    output = outputs[0] if len(outputs) == 1 else np.concatenate(outputs)
    return np.ascontiguousarray(output, dtype=batch.output_dtype.newbyteorder("<")).tobytes()


def row_bytes(layout: dict[str, Any]) -> tuple[int, int]:
    """The bytes one row takes in ``inputs`` and in ``outputs``."""
    output = layout["output"]
    width = len(output["names"]) if output["kind"] in ("proba", "values") else 1
    return FLOAT32.itemsize * len(layout["columns"]), np.dtype(output["dtype"]).itemsize * width


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


def read_inputs(layout: dict[str, Any], inputs: bytes, n_rows: int) -> Inputs:
    columns = layout["columns"]
    matrix = np.frombuffer(inputs, dtype=FLOAT32).reshape(n_rows, len(columns))
    return Inputs(columns, matrix, layout["categories"], frozenset(layout["booleans"]))


def read_outputs(layout: dict[str, Any], outputs: bytes, n_rows: int) -> list[dict[str, Any]]:
    """The v1 prediction objects (without ids) of a logged request, made from the stored array
    as the answer's were (the label: the most probable class; numbers: the array's as float)."""
    output = layout["output"]
    kind, names = output["kind"], output["names"]
    array = np.frombuffer(outputs, dtype=np.dtype(output["dtype"]))
    if kind == "classes":
        return [{"label": names[c]} for c in array.tolist()]
    if kind == "value":
        return [{"value": v} for v in array.tolist()]
    table = array.reshape(n_rows, len(names))
    if kind == "values":
        return [{"values": dict(zip(names, v, strict=True))} for v in table.tolist()]
    winners = np.argmax(table, axis=1).tolist()
    return [
        {"label": names[w], "probabilities": dict(zip(names, p, strict=True))}
        for w, p in zip(winners, table.tolist(), strict=True)
    ]
