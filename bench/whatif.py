"""What-if runs: the API with an instrument applied *at run time*, to measure what a part costs.

The harness never edits ``services/``; these patches only live in the process this module starts.
The headline benchmark (``make bench``) always runs the API unmodified. Each patch first checks
that the code it replaces still has the shape it expects and is still on the prediction path, and
refuses to start otherwise (a what-if must not silently measure nothing).

Run: ``python -m bench --whatif LABEL=xgb-stub+no-observe`` (an extra API process next to the
unmodified one, judged against the same targets) or
``python -m bench profile --api-patches xgb-stub``.

Patches (instruments, not suggestions):

* ``no-observe``: the per-batch metrics callback does nothing (an upper bound of its cost).
* ``xgb-stub``: ``ModelRuntime.predict`` returns constant probabilities without calling XGBoost
  (neither ``xgb_direct.DensePredictor`` nor ``inplace_predict``), so "API minus stub" is what the
  XGBoost call costs inside the server, and "stub minus floor" is what everything else the API
  does per request costs.
* ``log-no-db``: the prediction log's writer thread takes the queue and serialises each batch as
  always but skips the database insert, so "API minus log-no-db" is what the database costs.
* ``log-keep``: the writer thread takes the queue as always and lets it go, neither grouping nor
  writing it: "log-keep minus log-discard" is what holding the records until the writer takes
  them costs the API, "API minus log-keep" what grouping and writing them costs.
* ``log-discard``: the prediction log drops every record at the queue (``LogWriter.record``
  returns at once), while requests still get their tokens and ids: "log-discard minus api-nolog"
  is the request path's share, "API minus log-discard" the writer thread's.
* ``gc-stats``: times every garbage collection per generation; SIGUSR1 writes the totals as JSON
  to ``$BENCH_GC_STATS`` (``python -m bench profile`` always adds it).
* ``python-codecs``: the API as where its native extension is not built: ``import
  model_api.codecs._records`` fails, so msgspec reads every v1 body (``--whatif
  python=python-codecs`` shows what the native parser saves). Applied before ``model_api.codecs``
  is imported, as the fallback is chosen at import.

Measured earlier and since landed in the API (so no longer patches here): async dependencies,
``gc.freeze()`` after loading, whole-tensor checks in ``FeatureEncoder.from_tensor``, V2 numeric
data converted in one numpy call (instead of a per-value scan in ``v2_codec._flatten``), batch
gathering (``batch-yield``, now ``MicroBatcher._gather_ready_requests``) and the access log of
successful requests at debug level (``lean-log``, now opt-in with ``MODEL_API_ACCESS_LOG``).
``bench/results/whatif/`` and ``bench/results/profile-whatif-batch-log.*`` still show those two
as measured before they landed.
"""

import argparse
from typing import Any

PATCHES = (
    "no-observe", "xgb-stub", "gc-stats", "python-codecs", "log-no-db", "log-keep", "log-discard",
)  # fmt: skip
NATIVE_EXTENSION = "model_api.codecs._records"


def _check_targets(patches: list[str]) -> None:
    """Refuse to run a patch whose target code has changed shape or left the prediction path."""
    import dataclasses
    import inspect

    from model_api.serving import registry, runtime

    problems = []
    # The targets are wired in where a model is loaded: the batcher scores with
    # ``runtime.predict`` and reports every batch to the callback ``_observer`` builds, and the
    # model's ``RecordsDecoder`` picks its v1 parser there.
    loading = inspect.getsource(registry.ModelRegistry._load_one) + inspect.getsource(
        registry.ModelRegistry._batcher
    )
    if "xgb-stub" in patches:
        fields = {f.name for f in dataclasses.fields(runtime.Prediction)}
        if not hasattr(runtime.ModelRuntime, "predict") or not {"proba", "values"} <= fields:
            problems.append("xgb-stub: ModelRuntime.predict or Prediction(proba, values) is gone")
        elif "runtime.predict" not in loading:
            problems.append("xgb-stub: the micro-batcher no longer scores with runtime.predict")
    if "no-observe" in patches:
        if not hasattr(registry, "_observer"):
            problems.append("no-observe: model_api.serving.registry._observer is gone")
        elif "_observer(" not in loading:
            problems.append("no-observe: loading a model no longer builds its _observer")
    if "python-codecs" in patches:
        from model_api.codecs import records

        if not hasattr(records, "NATIVE_PARSER"):
            problems.append("python-codecs: model_api.codecs.records.NATIVE_PARSER is gone")
        elif "RecordsDecoder(" not in loading:
            problems.append("python-codecs: loading a model no longer builds its RecordsDecoder")
    if {"log-no-db", "log-keep", "log-discard"} & set(patches):
        from model_api.store import writer

        source = inspect.getsource(writer.LogWriter)
        if "connection.execute(prediction_batches.insert(), params)" not in source:
            problems.append("log-no-db: LogWriter._write no longer inserts its params")
        if "def record(self, item: Any, rows: int)" not in source:
            problems.append("log-discard: LogWriter.record is gone")
        if "batches = self._convert(items)" not in source:
            problems.append("log-keep: LogWriter._drain no longer converts through _convert")
    if problems:
        raise SystemExit("what-if patches no longer apply: " + "; ".join(problems))


def apply(patches: list[str]) -> None:
    """Monkeypatch ``model_api`` before its models are loaded."""
    unknown = set(patches) - set(PATCHES)
    if unknown:
        raise SystemExit(
            f"unknown patches: {', '.join(sorted(unknown))}; known: {', '.join(PATCHES)}"
        )
    if "python-codecs" in patches:
        _block_native_codecs()
    _check_targets(patches)
    if "python-codecs" in patches:
        from model_api.codecs import records

        if records.NATIVE_PARSER is not None:
            raise SystemExit("python-codecs: the native parser still loads")
    if "gc-stats" in patches:
        _gc_stats()
    if "xgb-stub" in patches:
        import numpy as np
        from model_api.serving.runtime import ModelRuntime, Prediction

        def predict(self: Any, matrix: Any) -> Any:
            rows = matrix.shape[0]
            if self.metadata.task == "regression":
                return Prediction(values=np.full(rows, 0.5))
            classes = max(2, len(self.metadata.labels))
            return Prediction(proba=np.full((rows, classes), 1.0 / classes))

        ModelRuntime.predict = predict  # type: ignore[method-assign]
    if "log-no-db" in patches:
        from model_api.store import writer

        def _write(self: Any, batch: Any) -> None:
            params = [self._params(plan, group) for plan, group in self._groups(batch)]
            del params  # built as always, not inserted

        writer.LogWriter._write = _write  # type: ignore[method-assign]
    if "log-discard" in patches:
        from model_api.store import writer

        def record(self: Any, item: Any, rows: int) -> None:
            return None

        writer.LogWriter.record = record  # type: ignore[method-assign]
    if "log-keep" in patches:
        from model_api.store import writer

        def _convert(self: Any, items: list[Any]) -> list[Any]:
            return []  # taken from the queue and let go, never grouped or written

        writer.LogWriter._convert = _convert  # type: ignore[method-assign]
    if "no-observe" in patches:
        from model_api.serving import registry

        def _observer(*args: Any, **kwargs: Any) -> Any:
            return lambda matrix, prediction, seconds: None

        registry._observer = _observer


def _block_native_codecs() -> None:
    import sys

    if "model_api.codecs.records" in sys.modules:
        raise SystemExit("python-codecs must be applied before model_api.codecs is imported")
    sys.modules[NATIVE_EXTENSION] = None  # type: ignore[assignment]


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
