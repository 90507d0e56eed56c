"""A recorded matrix as the JSON the log keeps, and back.

The log keeps what the user sent, not what XGBoost was fed: category codes become their labels,
boolean features true/false, missing values null, and numbers the shortest decimal that reads
back as the same float32 (orjson writes float32 so). Features left out for privacy are never
written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from model_api.store.records import PredictionRecord

NUMPY = orjson.OPT_SERIALIZE_NUMPY


@dataclass(frozen=True, slots=True)
class ColumnPlan:
    """How one model version's matrix columns are written (built once, reused per record)."""

    keep: np.ndarray | None  # column indexes written, None: all of them
    header: bytes  # b'{"columns":[...],"rows":'
    # Column (in the written matrix) -> labels, and the boolean columns: the few models that
    # have them take the slower path that rewrites those cells.
    categories: Mapping[int, Sequence[str]]
    booleans: frozenset[int]


def column_plan(record: PredictionRecord, exclude: frozenset[str]) -> ColumnPlan:
    columns = list(record.columns)
    kept = [j for j, name in enumerate(columns) if name not in exclude]
    position = {j: i for i, j in enumerate(kept)}
    header = orjson.dumps({"columns": [columns[j] for j in kept]})[:-1] + b',"rows":'
    return ColumnPlan(
        keep=None if len(kept) == len(columns) else np.asarray(kept, dtype=np.intp),
        header=header,
        categories={position[j]: v for j, v in record.categories.items() if j in position},
        booleans=frozenset(position[j] for j in record.booleans if j in position),
    )


def inputs_json(record: PredictionRecord, plan: ColumnPlan) -> bytes:
    """``{"columns": [...], "rows": [[...], ...]}`` of the record's matrix."""
    matrix = record.matrix if plan.keep is None else record.matrix[:, plan.keep]
    rows = orjson.dumps(matrix, option=NUMPY)  # NaN -> null, float32 shortest
    if plan.categories or plan.booleans:
        rows = orjson.dumps(_user_values(orjson.loads(rows), plan))
    return plan.header + rows + b"}"


def _user_values(rows: list[list[Any]], plan: ColumnPlan) -> list[list[Any]]:
    for row in rows:
        for j, labels in plan.categories.items():
            code = row[j]
            if code is not None:
                index = int(code)
                row[j] = labels[index] if 0 <= index < len(labels) else None
        for j in plan.booleans:
            if row[j] is not None:
                row[j] = row[j] != 0
    return rows


def row_inputs(inputs: str | bytes, row: int) -> dict[str, Any]:
    """Feature -> value of one logged row."""
    table = orjson.loads(inputs)
    return dict(zip(table["columns"], table["rows"][row], strict=True))


def row_output(outputs: str | bytes, row: int) -> dict[str, Any]:
    """The v1 prediction object of one logged row."""
    answer: dict[str, Any] = orjson.loads(outputs)[row]
    return answer
