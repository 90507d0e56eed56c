"""The prediction log's writer: a queue the request path appends to, and one thread that writes
what it holds in batches.

The request path pays for one lock-protected append (``LogWriter.record``); serialising the
inputs and outputs and the database round trip happen in the thread, one transaction per batch.
When the queue is full, or the database fails, records are dropped and counted, never waited
for: a prediction must not depend on its log.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from model_api.observability import metrics
from model_api.store.encoding import (
    FLOAT32,
    ColumnPlan,
    batch_inputs_bytes,
    batch_output_bytes,
    column_plan,
    plan_key,
)
from model_api.store.ids import TIME_HEX
from model_api.store.records import PredictionRecord
from model_api.store.schema import prediction_batches

log = logging.getLogger("model_api.store")

# Wake the writer before its interval once this many records wait (big bursts write sooner).
WAKE_RECORDS = 512
# Longest pause after a failed write; the next batch tries again.
MAX_BACKOFF_SECONDS = 5.0
# A warning about dropped records at most this often (the counter has every one).
DROP_LOG_SECONDS = 60.0
# A batch row is closed once its matrix reaches this size (a request is never split): a lookup
# reads a slice of one, the retention purge deletes whole ones.
BATCH_INPUT_BYTES = 4 << 20


class _Flush:
    """A marker in the queue: set once every record queued before it is handled."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


class _Stop(_Flush):
    """The last marker: the thread ends after it."""


class LogWriter:
    """The queue and its writing thread. ``tick`` runs in the thread after each batch (the
    store's periodic work: retention purge, agreement gauges)."""

    def __init__(
        self,
        engine: Engine,
        *,
        queue_rows: int,
        flush_seconds: float,
        exclude_features: frozenset[str],
        ready: Callable[[], bool],
        tick: Callable[[], None],
    ) -> None:
        self._engine = engine
        self._queue: deque[Any] = deque()
        self._rows_in = 0  # rows queued, ever (the request path adds)
        self._rows_out = 0  # rows taken from the queue, ever (the writer adds)
        # What turns a queued item into a PredictionRecord, in this thread (the API queues
        # what it has at hand and builds the record here, off the request path).
        self.convert: Callable[[Any], PredictionRecord] = _as_record
        self._max_rows = queue_rows
        self._interval = flush_seconds
        self._exclude = exclude_features
        self._ready = ready
        self._tick = tick
        self._wake = threading.Event()
        self._plans: dict[tuple[str, str, str, str], tuple[Any, Any, ColumnPlan]] = {}
        self._last_drop_log = 0.0
        self._dropped_since_log = 0
        self._failures = 0
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    # The request path -------------------------------------------------------------------------

    def record(self, item: Any, rows: int) -> None:
        """Queue ``item`` (a PredictionRecord, or what ``convert`` makes one of, in this
        thread); drop it (counted) when the queue is full. Never blocks.

        No lock: a deque's append and popleft are atomic, and the two counters each have one
        writer side (a lost update between two producer threads only loosens the bound by a
        request's rows).
        """
        if self._rows_in - self._rows_out + rows > self._max_rows:
            self._dropped(rows, "the queue is full (MODEL_API_PREDICTION_LOG_QUEUE_ROWS)")
            return
        self._rows_in += rows
        queue = self._queue
        queue.append(item)
        if len(queue) >= WAKE_RECORDS:
            self._wake.set()

    # Callers that wait ------------------------------------------------------------------------

    def flush(self, timeout: float) -> bool:
        """Wait until what is queued now is written (or dropped); False on timeout."""
        marker = _Flush()
        self._queue.append(marker)
        self._wake.set()
        return marker.done.wait(timeout)

    def close(self, timeout: float) -> None:
        """Write what is queued (waiting at most ``timeout``) and stop the thread."""
        self._queue.append(_Stop())
        self._wake.set()
        self._thread.join(timeout)

    # The thread -------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            batch, markers = self._drain()
            if batch:
                self._write(batch)
            metrics.PREDICTION_LOG_QUEUE_ROWS.set(self._rows_in - self._rows_out)
            for marker in markers:
                marker.done.set()
            if any(isinstance(m, _Stop) for m in markers):
                return
            try:
                self._tick()
            except Exception:  # the periodic work must never end the writer
                log.exception("prediction log: periodic work failed")

    def _drain(self) -> tuple[list[PredictionRecord], list[_Flush]]:
        batch: list[PredictionRecord] = []
        markers: list[_Flush] = []
        queue, convert = self._queue, self.convert
        rows = 0
        while queue:
            item = queue.popleft()
            if isinstance(item, _Flush):
                markers.append(item)
                continue
            try:
                record = convert(item)
            except Exception:  # never lose the writer to one bad record
                log.exception("prediction log: a record could not be read")
                continue
            rows += len(record.matrix)
            batch.append(record)
        self._rows_out += rows
        metrics.PREDICTION_LOG_QUEUE_ROWS.set(rows)  # being written now
        if batch and not self._ready():  # no schema yet (the database was unreachable at start)
            self._dropped(rows, "the database has not been reached yet")
            return [], markers
        return batch, markers

    def _write(self, batch: list[PredictionRecord]) -> None:
        rows = sum(len(r.matrix) for r in batch)
        try:
            # One database row per model version and token second (a few per flush), not one
            # per request: a row's cost in the database and its driver is what the log's share
            # of a single-row prediction was mostly made of.
            params = [self._params(plan, group) for plan, group in self._groups(batch)]
            with self._engine.begin() as connection:
                connection.execute(prediction_batches.insert(), params)
        except SQLAlchemyError as exc:
            metrics.DATABASE_UP.set(0)
            self._failures += 1
            self._dropped(rows, f"the database failed ({type(exc).__name__})")
            # Give a database that is down a moment before the next batch tries it.
            time.sleep(min(MAX_BACKOFF_SECONDS, 0.25 * 2 ** min(self._failures, 5)))
            return
        except Exception:  # a record that cannot be serialised: drop the batch, keep writing
            log.exception("prediction log: a batch could not be written")
            self._dropped(rows, "a record could not be serialised")
            return
        self._failures = 0
        metrics.DATABASE_UP.set(1)
        metrics.PREDICTION_LOG_ROWS.labels("written").inc(rows)

    def _groups(
        self, batch: list[PredictionRecord]
    ) -> Iterator[tuple[ColumnPlan, list[PredictionRecord]]]:
        """The records by plan (model version, answer kind) and token prefix, in order, each
        group cut where its matrix passes BATCH_INPUT_BYTES."""
        groups: dict[tuple[int, str], tuple[ColumnPlan, list[PredictionRecord]]] = {}
        for record in batch:
            plan = self._plan(record)
            key = (id(plan), record.token[:TIME_HEX])
            group = groups.get(key)
            if group is None:
                groups[key] = group = (plan, [])
            group[1].append(record)
        for plan, records in groups.values():
            start, size = 0, 0
            for end, record in enumerate(records):
                size += record.matrix.size * FLOAT32.itemsize
                if size > BATCH_INPUT_BYTES and end > start:
                    yield plan, records[start:end]
                    start, size = end, record.matrix.size * FLOAT32.itemsize
            yield plan, records[start:]

    def _params(self, plan: ColumnPlan, records: list[PredictionRecord]) -> dict[str, Any]:
        first = records[0]
        times = [r.created_at for r in records]
        rows = [len(r.matrix) for r in records]
        requests = {
            "tokens": [r.token for r in records],
            "times": times,
            "sources": [r.source for r in records],
            "request_ids": [r.request_id for r in records],
            "rows": rows,
        }
        return {
            "token_prefix": int(first.token[:TIME_HEX], 16),
            "created_at": datetime.fromtimestamp(min(times), UTC),
            "last_created_at": datetime.fromtimestamp(max(times), UTC),
            "model": first.model,
            "version": first.version,
            "n_requests": len(records),
            "n_rows": sum(rows),
            "requests": orjson.dumps(requests).decode(),
            "layout": plan.layout,
            "inputs": batch_inputs_bytes(records, plan),
            "outputs": batch_output_bytes(records),
        }

    def _plan(self, record: PredictionRecord) -> ColumnPlan:
        # Records of one model version share their columns and names objects: one plan per
        # version, made again when they are other objects (a reloaded bundle).
        key = plan_key(record)
        known = self._plans.get(key)
        if known is None or known[0] is not record.columns or known[1] is not record.output_names:
            known = (record.columns, record.output_names, column_plan(record, self._exclude))
            self._plans[key] = known
        return known[2]

    def _dropped(self, rows: int, why: str) -> None:
        metrics.PREDICTION_LOG_ROWS.labels("dropped").inc(rows)
        self._dropped_since_log += rows
        now = time.monotonic()
        if now - self._last_drop_log >= DROP_LOG_SECONDS:
            log.warning(
                "prediction log: rows dropped",
                extra={"dropped_rows": self._dropped_since_log, "reason": why},
            )
            self._last_drop_log = now
            self._dropped_since_log = 0


def _as_record(item: Any) -> PredictionRecord:
    assert isinstance(item, PredictionRecord)
    return item
