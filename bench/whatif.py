"""What-if runs: the API with a suggested change applied *at run time*, to measure its gain.

The harness never edits ``services/``; these patches only live in the process this module starts,
so a suggestion can come with a measurement. The headline benchmark (``make bench``) always runs
the API unmodified. Each patch first checks that the code it replaces still has the shape it
expects, and refuses to start otherwise (a what-if must not silently measure nothing).

Run: ``python -m bench --whatif LABEL=batch-yield+lean-log`` (an extra API process next to the
unmodified one, judged against the same targets) or
``python -m bench profile --api-patches batch-yield,lean-log``.

Patches (each mirrors a change suggested in the README's Performance section):

* ``batch-yield``: ``MicroBatcher._drain`` lets the event loop run the requests that are already
  runnable (``await asyncio.sleep(0)``, until the queue stops growing, at most 8 times; it never
  waits for time) before it takes a batch. Without it a one-row batch is scored inline at once,
  the loop never gets to parse the other connections' requests meanwhile, and concurrent single
  rows are never combined into one XGBoost call.
* ``lean-log``: the per-request access log line only at debug level (as for probes).
* ``no-observe``: the per-batch metrics callback does nothing (an upper bound of its cost).
* ``xgb-stub`` (an instrument): ``ModelRuntime.predict`` returns constant probabilities without
  calling XGBoost, so "API minus stub" is what the XGBoost call costs inside the server, and
  "stub minus floor" is what everything else the API does per request costs.
* ``gc-stats`` (an instrument, not a suggestion): times every garbage collection per generation;
  SIGUSR1 writes the totals as JSON to ``$BENCH_GC_STATS`` (used by ``python -m bench profile``).

Measured earlier and since landed in the API (so no longer patches here): async dependencies,
``gc.freeze()`` after loading, whole-tensor checks in ``FeatureEncoder.from_tensor``, V2 numeric
data converted in one numpy call (instead of a per-value scan in ``v2_codec._flatten``).
"""

import argparse
import logging
from typing import Any

PATCHES = ("batch-yield", "lean-log", "no-observe", "xgb-stub", "gc-stats")


def _check_targets(patches: list[str]) -> None:
    """Refuse to run a patch whose target code has changed shape."""
    import inspect

    from model_api import batching, middleware, registry, runtime

    problems = []
    if "batch-yield" in patches:
        source = inspect.getsource(batching.MicroBatcher)
        for name in ("_queue", "_queued_rows", "_max_rows", "_max_wait_s", "_take_batch", "_run"):
            if name not in source:
                problems.append(f"batch-yield: MicroBatcher has no {name}")
    if "xgb-stub" in patches and not hasattr(runtime.ModelRuntime, "predict"):
        problems.append("xgb-stub: ModelRuntime.predict is gone")
    if "lean-log" in patches and "isEnabledFor" not in inspect.getsource(middleware):
        problems.append("lean-log: the middleware no longer asks log.isEnabledFor")
    if "no-observe" in patches and not hasattr(registry, "_observer"):
        problems.append("no-observe: model_api.registry._observer is gone")
    if problems:
        raise SystemExit("what-if patches no longer apply: " + "; ".join(problems))


def apply(patches: list[str]) -> None:
    """Monkeypatch ``model_api`` before its routes are imported."""
    unknown = set(patches) - set(PATCHES)
    if unknown:
        raise SystemExit(
            f"unknown patches: {', '.join(sorted(unknown))}; known: {', '.join(PATCHES)}"
        )
    _check_targets(patches)
    if "lean-log" in patches:
        from model_api import middleware

        access = logging.getLogger("model_api.access")
        original = access.isEnabledFor

        def enabled(level: int) -> bool:
            return level > logging.INFO and original(level)

        access.isEnabledFor = enabled  # type: ignore[method-assign]
        _ = middleware
    if "batch-yield" in patches:
        _patch_batch_yield()
    if "gc-stats" in patches:
        _gc_stats()
    if "xgb-stub" in patches:
        import numpy as np
        from model_api.runtime import ModelRuntime, Prediction

        def predict(self: Any, matrix: Any) -> Any:
            rows = matrix.shape[0]
            if self.metadata.task == "regression":
                return Prediction(values=np.full(rows, 0.5))
            classes = max(2, len(self.metadata.labels))
            return Prediction(proba=np.full((rows, classes), 1.0 / classes))

        ModelRuntime.predict = predict  # type: ignore[method-assign]
    if "no-observe" in patches:
        from model_api import registry

        def _observer(*args: Any, **kwargs: Any) -> Any:
            return lambda matrix, prediction, seconds: None

        registry._observer = _observer


def _patch_batch_yield() -> None:
    import asyncio

    from model_api import batching

    async def _drain(self: Any) -> None:
        try:
            while self._queue:
                for _ in range(8):  # let already-runnable requests reach the queue; never sleep
                    queued = len(self._queue)
                    await asyncio.sleep(0)
                    if len(self._queue) == queued or self._queued_rows >= self._max_rows:
                        break
                if self._max_wait_s and self._queued_rows < self._max_rows:
                    await asyncio.sleep(self._max_wait_s)
                batch = self._take_batch()
                await self._run(batch)
        finally:
            self._worker = None

    batching.MicroBatcher._drain = _drain  # type: ignore[method-assign]


def _gc_stats() -> None:
    import gc
    import json
    import os
    import signal
    import time
    from pathlib import Path

    stats: dict[str, list[float]] = {"collections": [0, 0, 0], "seconds": [0.0, 0.0, 0.0]}
    started = [0.0]

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        generation = info["generation"]
        stats["collections"][generation] += 1
        stats["seconds"][generation] += time.perf_counter() - started[0]

    def dump(signum: int, frame: Any) -> None:
        target = os.environ.get("BENCH_GC_STATS")
        if target:
            Path(target).write_text(json.dumps(stats))

    gc.callbacks.append(callback)
    signal.signal(signal.SIGUSR1, dump)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patches", default="")
    args = parser.parse_args()
    apply([p for p in args.patches.split(",") if p])
    from model_api.cli import main as cli_main

    raise SystemExit(cli_main(["serve"]))


if __name__ == "__main__":
    main()
