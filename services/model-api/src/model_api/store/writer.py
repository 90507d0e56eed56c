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
from model_api.store.records import PredictionRecord, RecordBatch
from model_api.store.schema import prediction_batches

log = logging.getLogger("model_api.store")

# Wake the writer before its interval once this share of the queue's rows wait (a burst of
# large requests is written sooner). Not sooner: each transaction has a fixed cost, and the
# writer shares the API's CPU.
WAKE_SHARE = 0.25
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
        # What turns the queued items into batches, in this thread (the API queues what it has
        # at hand and groups it here, off the request path).
        self.convert: Callable[[list[Any]], list[RecordBatch]] = _as_batches
        self._max_rows = queue_rows
        self._wake_rows = max(1, int(queue_rows * WAKE_SHARE))
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
        """Queue ``item`` (a PredictionRecord, or what ``convert`` takes, in this thread); drop
        it (counted) when the queue is full. Never blocks.

        No lock: a deque's append and popleft are atomic, and the two counters each have one
        writer side (a lost update between two producer threads only loosens the bound by a
        request's rows).
        """
        waiting = self._rows_in - self._rows_out + rows
        if waiting > self._max_rows:
            self._dropped(rows, "the queue is full (MODEL_API_PREDICTION_LOG_QUEUE_ROWS)")
            return
        self._rows_in += rows
        self._queue.append(item)
        if waiting >= self._wake_rows and not self._wake.is_set():
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

    def _drain(self) -> tuple[list[RecordBatch], list[_Flush]]:
        items: list[Any] = []
        markers: list[_Flush] = []
        queue = self._queue
        while queue:
            item = queue.popleft()
            if isinstance(item, _Flush):
                markers.append(item)
            else:
                items.append(item)
        batches = self._convert(items) if items else []
        rows = sum(sum(b.rows) for b in batches)
        self._rows_out += rows
        metrics.PREDICTION_LOG_QUEUE_ROWS.set(rows)  # being written now
        if batches and not self._ready():  # no schema yet (the database was unreachable at start)
            self._dropped(rows, "the database has not been reached yet")
            return [], markers
        return batches, markers

    def _convert(self, items: list[Any]) -> list[RecordBatch]:
        try:
            return self.convert(items)
        except Exception:  # one bad item: convert them one by one, never lose the writer
            batches = []
            for item in items:
                try:
                    batches += self.convert([item])
                except Exception:
                    log.exception("prediction log: a record could not be read")
            return batches

    def _write(self, batches: list[RecordBatch]) -> None:
        rows = sum(sum(b.rows) for b in batches)
        try:
            # One database row per model version and token second (a few per flush), not one
            # per request: a row's cost in the database and its driver is what the log's share
            # of a single-row prediction was mostly made of.
            params = [self._params(plan, part) for plan, part in self._groups(batches)]
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

    def _groups(self, batches: list[RecordBatch]) -> Iterator[tuple[ColumnPlan, RecordBatch]]:
        """The batches merged by plan (model version, answer kind) and token prefix, in order,
        each cut where its matrices pass BATCH_INPUT_BYTES (a request is never split)."""
        groups: dict[tuple[int, str], tuple[ColumnPlan, RecordBatch]] = {}
        for batch in batches:
            plan = self._plan(batch)
            key = (id(plan), batch.tokens[0][:TIME_HEX])
            group = groups.get(key)
            if group is None:
                groups[key] = (plan, batch)
            else:
                group[1].extend(batch)
        for plan, batch in groups.values():
            row_bytes = len(batch.columns) * FLOAT32.itemsize
            start, size = 0, 0
            for end, rows in enumerate(batch.rows):
                size += rows * row_bytes
                if size > BATCH_INPUT_BYTES and end > start:
                    yield plan, batch.part(start, end)
                    start, size = end, rows * row_bytes
            yield plan, batch if start == 0 else batch.part(start, len(batch.rows))

    def _params(self, plan: ColumnPlan, batch: RecordBatch) -> dict[str, Any]:
        times = batch.times
        requests = {
            "tokens": batch.tokens,
            "times": times,
            "sources": batch.sources,
            "request_ids": batch.request_ids,
            "rows": batch.rows,
        }
        return {
            "token_prefix": int(batch.tokens[0][:TIME_HEX], 16),
            "created_at": datetime.fromtimestamp(min(times), UTC),
            "last_created_at": datetime.fromtimestamp(max(times), UTC),
            "model": batch.model,
            "version": batch.version,
            "n_requests": len(batch.tokens),
            "n_rows": sum(batch.rows),
            "requests": orjson.dumps(requests).decode(),
            "layout": plan.layout,
            "inputs": batch_inputs_bytes(batch, plan),
            "outputs": batch_output_bytes(batch),
        }

    def _plan(self, batch: RecordBatch) -> ColumnPlan:
        # Batches of one model version share their columns and names objects: one plan per
        # version, made again when they are other objects (a reloaded bundle).
        key = plan_key(batch)
        known = self._plans.get(key)
        if known is None or known[0] is not batch.columns or known[1] is not batch.output_names:
            known = (batch.columns, batch.output_names, column_plan(batch, self._exclude))
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


def _as_batches(items: list[Any]) -> list[RecordBatch]:
    """PredictionRecords queued as they are: a batch of one request each."""
    batches = []
    for item in items:
        assert isinstance(item, PredictionRecord)
        batches.append(RecordBatch.of(item))
    return batches
