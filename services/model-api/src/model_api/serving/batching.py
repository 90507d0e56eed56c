"""Micro-batching: concurrent requests for one model are combined into one XGBoost call.

A request never waits for company when nobody else is queued (``max_wait`` defaults to 0):
requests that arrive while a batch is being computed simply form the next batch.
A request may carry a tag (the prediction log's entry for it): after each batch, the parts that
have one go to ``scored`` in one call, with the batch's own matrix and prediction, so that a log
keeps one matrix per batch instead of one per request. When another version shadows the model,
every batch also goes to ``shadow`` the same way.

Small batches run on the event loop (a thread hop costs more than the prediction); larger ones
run in a worker thread, so that with a second CPU the loop parses the next requests while
XGBoost (which releases the GIL) scores. With one usable CPU the two would only take turns on it,
and the hand-off would be pure cost: there every batch runs on the loop (``inline_max_rows_for``).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from model_api.serving.runtime import Prediction

log = logging.getLogger("model_api.serving")

YIELDS_FOR_COMPANY = 8
SMALL_BATCH_ROWS = 64
PredictFn = Callable[[np.ndarray], Prediction]
ObserveFn = Callable[[np.ndarray, Prediction, float], None]
# The batch's matrix and prediction, and each of its requests' (tag, rows), in order.
ScoredFn = Callable[[np.ndarray, Prediction, list[tuple[object, int]]], None]
Queued = tuple[np.ndarray, "asyncio.Future[Prediction]", object]


def inline_max_rows_for(cpus: float) -> int:
    """The largest batch to score on the event loop, for this many usable CPUs."""
    return SMALL_BATCH_ROWS if cpus > 1 else sys.maxsize


class MicroBatcher:
    """Queues matrices for one model and scores them in combined batches."""

    def __init__(
        self,
        predict: PredictFn,
        observe: ObserveFn,
        *,
        max_rows: int,
        max_wait_s: float = 0.0,
        inline_max_rows: int = SMALL_BATCH_ROWS,
    ) -> None:
        self._predict = predict
        self._observe = observe
        self._max_rows = max_rows
        self._max_wait_s = max_wait_s
        self._inline_max_rows = inline_max_rows
        self._queue: deque[Queued] = deque()
        # Set by the registry when a prediction log is on: tagged requests' batches go there.
        self.scored: ScoredFn | None = None
        # Set when another version shadows this one: every batch goes there (tagged or not).
        self.shadow: ScoredFn | None = None
        self._queued_rows = 0
        self._worker: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="xgboost")
        self._closed = False

    async def predict(self, matrix: np.ndarray, tag: object = None) -> Prediction:
        """Score ``matrix`` as part of the next batch and return its own rows' prediction
        (``tag``: handed to ``scored`` with the batch, when not None)."""
        future: asyncio.Future[Prediction] = asyncio.get_running_loop().create_future()
        self._queue.append((matrix, future, tag))
        self._queued_rows += matrix.shape[0]
        if self._worker is None:
            self._worker = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                if self._max_wait_s and self._queued_rows < self._max_rows:
                    await asyncio.sleep(self._max_wait_s)
                await self._gather_ready_requests()
                batch = self._take_batch()
                await self._run(batch)
        finally:
            self._worker = None

    async def _gather_ready_requests(self) -> None:
        """Let requests that have already arrived join this batch, without waiting for time.

        Each ``sleep(0)`` lets the event loop parse requests whose bytes are already in; we stop
        as soon as the queue stops growing, so a lone request still goes at once.
        """
        for _ in range(YIELDS_FOR_COMPANY):
            if self._queued_rows >= self._max_rows:
                return
            before = len(self._queue)
            await asyncio.sleep(0)
            if len(self._queue) == before:
                return

    def _take_batch(self) -> list[Queued]:
        batch = [self._queue.popleft()]
        rows = batch[0][0].shape[0]
        while self._queue and rows + self._queue[0][0].shape[0] <= self._max_rows:
            item = self._queue.popleft()
            rows += item[0].shape[0]
            batch.append(item)
        self._queued_rows -= rows
        return batch

    async def _run(self, batch: list[Queued]) -> None:
        matrix = batch[0][0] if len(batch) == 1 else np.concatenate([m for m, _, _ in batch])
        started = time.perf_counter()
        try:
            if matrix.shape[0] <= self._inline_max_rows or self._closed:
                prediction = self._predict(matrix)
            else:
                loop = asyncio.get_running_loop()
                prediction = await loop.run_in_executor(self._executor, self._predict, matrix)
        except Exception as exc:  # the model failed: every caller in the batch learns why
            for _, future, _ in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        self._observe(matrix, prediction, time.perf_counter() - started)
        start = 0
        tagged = False
        for part, future, tag in batch:
            stop = start + part.shape[0]
            if not future.done():  # a caller that went away has a cancelled future
                future.set_result(prediction if len(batch) == 1 else prediction.slice(start, stop))
                tagged = tagged or tag is not None
            start = stop
        scored, shadow = self.scored, self.shadow
        if (tagged and scored is not None) or shadow is not None:
            parts = [
                (None if future.cancelled() else tag, part.shape[0]) for part, future, tag in batch
            ]
            try:
                if tagged and scored is not None:
                    scored(matrix, prediction, parts)
                if shadow is not None:
                    shadow(matrix, prediction, parts)
            except Exception:  # the log and the shadow must never fail a prediction
                log.exception("a scored batch could not be handed on")

    def close(self) -> None:
        """Let the worker thread go; a request that still comes (one that found this model
        just before it was replaced) is scored on the event loop instead."""
        self._closed = True
        self._executor.shutdown(wait=False)
