"""The log keeps arrays, not JSON: what it gives back must be the answer's rows, byte for byte,
for every kind of answer, and the inputs as the user sent them."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import orjson
import pytest
from model_api.codecs.rows import prediction_rows_json
from model_api.protocol.prediction_log import answer_array, answer_names
from model_api.serving.runtime import Prediction
from model_api.store import PredictionRecord
from model_api.store.encoding import (
    ColumnPlan,
    batch_inputs_bytes,
    batch_output_bytes,
    column_plan,
    read_inputs,
    read_outputs,
)
from model_api.store.records import RecordBatch

RNG = np.random.default_rng(20261204)


def _predictions(rows: int) -> list[tuple[Any, Prediction]]:
    three = ["Adelie", "Chinstrap", "Gentoo"]
    proba3 = RNG.dirichlet([1, 1, 1], rows).astype(np.float32)
    proba2 = np.column_stack([1 - (p := RNG.random(rows, dtype=np.float32)), p])
    values = (RNG.standard_normal((rows, 3)) * 1e3).astype(np.float32)
    values[0, 0] = np.float32(1e-7)
    return [
        (SimpleNamespace(labels=three, output_names=[]), Prediction(proba=proba3)),
        (SimpleNamespace(labels=["no", "yes"], output_names=[]), Prediction(proba=proba2)),
        (
            SimpleNamespace(labels=["no", "yes"], output_names=[]),
            Prediction(classes=RNG.integers(0, 2, rows)),
        ),
        (SimpleNamespace(labels=[], output_names=[]), Prediction(values=values[:, 0].copy())),
        (
            SimpleNamespace(labels=[], output_names=["q0.1", "q0.5", "q0.9"]),
            Prediction(values=values),
        ),
        (
            SimpleNamespace(labels=[], output_names=[]),
            Prediction(values=values[:, 0].astype(np.float64)),
        ),
    ]


def _record(metadata: Any, prediction: Prediction, matrix: np.ndarray) -> PredictionRecord:
    kind, output = answer_array(prediction)
    return PredictionRecord(
        token="0" * 20,
        created_at=0.0,
        model="m",
        version="1",
        source="api",
        request_id=None,
        columns=("a", "b", "c"),
        matrix=matrix,
        categories={1: ("x", "y")},
        booleans=frozenset({2}),
        output_kind=kind,
        output=output,
        output_names=answer_names(metadata, kind),
    )


def output_bytes(record: PredictionRecord) -> bytes:
    return batch_output_bytes(RecordBatch.of(record))


def inputs_bytes(record: PredictionRecord, plan: ColumnPlan) -> bytes:
    return batch_inputs_bytes(RecordBatch.of(record), plan)


@pytest.mark.parametrize("rows", [1, 15, 16, 1000])
def test_logged_outputs_are_the_answer_rows_byte_for_byte(rows: int) -> None:
    matrix = np.zeros((rows, 3), dtype=np.float32)
    for metadata, prediction in _predictions(rows):
        record = _record(metadata, prediction, matrix)
        layout = orjson.loads(column_plan(record, frozenset()).layout)
        stored = output_bytes(record)
        rebuilt = read_outputs(layout, stored, rows)
        assert orjson.dumps(rebuilt) == prediction_rows_json(metadata, prediction), (
            record.output_kind
        )


def test_logged_inputs_read_back_as_sent() -> None:
    matrix = np.array(
        [[0.1, 1, 1], [np.nan, np.nan, 0], [3.4028235e38, 0, np.nan]], dtype=np.float32
    )
    record = _record(*_predictions(3)[0], matrix)
    plan = column_plan(record, frozenset({"c"}))
    layout = orjson.loads(plan.layout)
    inputs = read_inputs(layout, inputs_bytes(record, plan), 3)
    assert [inputs.row(i) for i in range(3)] == [
        {"a": 0.1, "b": "y"},
        {"a": None, "b": None},
        {"a": 3.4028235e38, "b": "x"},
    ]
    everything = column_plan(record, frozenset())
    full = read_inputs(orjson.loads(everything.layout), inputs_bytes(record, everything), 3)
    assert [full.row(i)["c"] for i in range(3)] == [True, False, None]


def test_a_micro_batch_is_grouped_by_recorded_request_and_second() -> None:
    """Queued micro-batches become the store's batches: the requests recorded, in order, with
    their own rows, split where their tokens' second changes; unrecorded parts left out."""
    from model_api.protocol.prediction_log import Logged, PredictionLog, _ScoredBatch

    store = SimpleNamespace(writer=SimpleNamespace(record=None), convert_with=lambda f: None)
    log = PredictionLog(store, 1.0)  # type: ignore[arg-type]
    feature = SimpleNamespace(name="x", categories=None, type="numeric")
    metadata = SimpleNamespace(features=[feature], labels=["no", "yes"], output_names=[])
    model = SimpleNamespace(name="m", version="1", metadata=metadata)
    matrix = np.arange(7, dtype=np.float32).reshape(7, 1)
    prediction = Prediction(proba=np.column_stack([1 - matrix[:, 0] / 10, matrix[:, 0] / 10]))

    def entry(second: str, n: int) -> Logged:
        return Logged(second + f"{n:014x}", "ui", f"r{n}")

    def rows_of(batch: RecordBatch) -> list[float]:
        return np.concatenate(batch.matrices)[:, 0].tolist()

    # All recorded, one second: one batch, the whole matrix.
    whole = _ScoredBatch(1.0, model, matrix[:3], prediction.slice(0, 3),
                         [(entry("000001", i), 1) for i in range(3)])  # fmt: skip
    # Mixed: two rows not recorded, then a request of two rows in the next second.
    parts = [(entry("000001", 3), 1), (None, 1), (None, 1), (entry("000002", 4), 2)]
    mixed = _ScoredBatch(2.0, model, matrix[:5], prediction.slice(0, 5), parts)
    first, second = log.to_batches([whole, mixed])
    assert first.tokens == [entry("000001", i).token for i in range(4)]
    assert first.rows == [1, 1, 1, 1] and rows_of(first) == [0.0, 1.0, 2.0, 0.0]
    assert first.times == [1.0, 1.0, 1.0, 2.0] and first.request_ids == ["r0", "r1", "r2", "r3"]
    assert second.tokens == [entry("000002", 4).token] and second.rows == [2]
    assert rows_of(second) == [3.0, 4.0]
    assert np.concatenate(second.outputs).tolist() == prediction.proba[3:5].tolist()
    assert first.output_kind == "proba" and first.output_names == ("no", "yes")
    # A batch whose tokens straddle a second, all recorded: split like the mixed one.
    straddle = _ScoredBatch(3.0, model, matrix[:2], prediction.slice(0, 2),
                            [(entry("000002", 5), 1), (entry("000003", 6), 1)])  # fmt: skip
    early, late = log.to_batches([straddle])
    assert rows_of(early) == [0.0] and rows_of(late) == [1.0]
    assert late.tokens == [entry("000003", 6).token]
