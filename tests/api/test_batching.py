"""Micro-batching: concurrent requests share one XGBoost call; each gets its own rows back."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from model_api.serving.batching import MicroBatcher
from model_api.serving.runtime import Prediction


class RecordingModel:
    """Stands in for the runtime: returns each row's first value and records call sizes."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.observed: list[int] = []

    def predict(self, matrix: np.ndarray) -> Prediction:
        self.calls.append(matrix.shape[0])
        return Prediction(values=matrix[:, 0].astype(np.float64))

    def observe(self, matrix: np.ndarray, prediction: Prediction, seconds: float) -> None:
        self.observed.append(matrix.shape[0])


def test_concurrent_requests_are_combined_and_split_back() -> None:
    model = RecordingModel()

    async def scenario() -> list[Prediction]:
        batcher = MicroBatcher(model.predict, model.observe, max_rows=100, inline_max_rows=0)
        jobs = [batcher.predict(np.full((i + 1, 2), float(i))) for i in range(10)]
        results = await asyncio.gather(*jobs)
        batcher.close()
        return results

    results = asyncio.run(scenario())
    for i, result in enumerate(results):
        assert result.values is not None
        assert result.values.tolist() == [float(i)] * (i + 1)
    assert sum(model.calls) == 55
    assert len(model.calls) < 10  # requests that queued during a call were combined
    assert model.observed == model.calls


def test_a_lone_request_is_flushed_at_once_and_batches_respect_max_rows() -> None:
    model = RecordingModel()

    async def scenario() -> None:
        batcher = MicroBatcher(model.predict, model.observe, max_rows=4)
        single = await batcher.predict(np.ones((1, 2)))
        assert single.values is not None and single.values.tolist() == [1.0]
        await asyncio.gather(*(batcher.predict(np.ones((2, 2))) for _ in range(5)))
        batcher.close()

    asyncio.run(scenario())
    assert model.calls[0] == 1
    assert max(model.calls) <= 4


def test_a_model_failure_reaches_every_caller_in_the_batch() -> None:
    def broken(matrix: np.ndarray) -> Prediction:
        raise RuntimeError("model exploded")

    async def scenario() -> None:
        batcher = MicroBatcher(broken, lambda *_: None, max_rows=10)
        results = await asyncio.gather(
            *(batcher.predict(np.ones((1, 1))) for _ in range(3)), return_exceptions=True
        )
        assert all(isinstance(r, RuntimeError) for r in results)
        batcher.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("wait_ms", [0.0, 2.0])
def test_waiting_for_company_still_answers(wait_ms: float) -> None:
    model = RecordingModel()

    async def scenario() -> None:
        batcher = MicroBatcher(model.predict, model.observe, max_rows=64, max_wait_s=wait_ms / 1000)
        await asyncio.gather(*(batcher.predict(np.ones((1, 1))) for _ in range(8)))
        batcher.close()

    asyncio.run(scenario())
    assert sum(model.calls) == 8


def test_requests_arriving_while_the_batch_forms_join_it() -> None:
    """Requests parsed one loop turn after another still share one call (no timer involved)."""
    model = RecordingModel()

    async def arrive_after(turns: int, batcher: MicroBatcher) -> Prediction:
        for _ in range(turns):
            await asyncio.sleep(0)
        return await batcher.predict(np.full((1, 1), float(turns)))

    async def scenario() -> list[Prediction]:
        batcher = MicroBatcher(model.predict, model.observe, max_rows=64)
        results = await asyncio.gather(*(arrive_after(i, batcher) for i in range(6)))
        batcher.close()
        return list(results)

    results = asyncio.run(scenario())
    assert model.calls == [6]
    assert [r.values.tolist() for r in results if r.values is not None] == [
        [float(i)] for i in range(6)
    ]
