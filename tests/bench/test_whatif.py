"""The what-if patches (``bench/whatif.py``) still reach the API code they replace.

They monkeypatch ``model_api`` at run time, so a change to the API can leave a patch measuring
nothing; ``_check_targets`` must then refuse it, and every patch it accepts must take effect.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from model_api.observability.metrics import REGISTRY
from model_api.serving import registry as registry_module
from model_api.serving.registry import ModelRegistry
from model_api.serving.runtime import ModelRuntime
from model_api.settings import Settings

from bench import whatif
from tests.support import ROOT


def test_every_patch_still_applies() -> None:
    whatif._check_targets(list(whatif.PATCHES))


def test_unknown_patch_is_refused() -> None:
    with pytest.raises(SystemExit, match="unknown patches: batch-yield"):
        whatif.apply(["batch-yield"])


def test_patch_whose_target_moved_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def _load_one(self: Any, name: str, folder_version: str | None, path: Path) -> Any:
        return None  # the scoring and the metrics callback are wired in somewhere else now

    def _batcher(self: Any, runtime: Any, observe: Any) -> Any:
        return None

    monkeypatch.setattr(ModelRegistry, "_load_one", _load_one)
    monkeypatch.setattr(ModelRegistry, "_batcher", _batcher)
    with pytest.raises(SystemExit, match="xgb-stub: the micro-batcher no longer scores"):
        whatif.apply(["xgb-stub"])
    with pytest.raises(SystemExit, match="no-observe: loading a model no longer builds"):
        whatif.apply(["no-observe"])
    monkeypatch.delattr(registry_module, "_observer")
    with pytest.raises(
        SystemExit, match=r"no-observe: model_api\.serving\.registry\._observer is gone"
    ):
        whatif.apply(["no-observe"])


def test_stub_and_no_observe_take_effect(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from model_api.authoring import save_bundle

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    label = (frame["a"] + frame["b"] > 0).astype(int)
    params = {"objective": "binary:logistic", "max_depth": 2, "nthread": 1}
    booster = xgb.train(params, xgb.DMatrix(frame, label=label), num_boost_round=5)
    save_bundle(booster, frame, tmp_path / "whatif-toy" / "1", name="whatif-toy", version="1")
    matrix = frame.to_numpy(dtype=np.float32)[:4]
    real_predict = ModelRuntime.predict
    # Registered first, so the originals are back after the test whatever apply() replaced.
    monkeypatch.setattr(ModelRuntime, "predict", real_predict)
    monkeypatch.setattr(registry_module, "_observer", registry_module._observer)

    whatif.apply(["xgb-stub", "no-observe"])
    registry = ModelRegistry(Settings(model_repository=tmp_path))
    registry.load_all()
    try:
        model = registry.get("whatif-toy")
        labels = {"model": "whatif-toy", "version": "1"}
        rows_before = REGISTRY.get_sample_value("model_api_inference_rows_total", labels)
        prediction = asyncio.run(model.predict(matrix))  # through the micro-batcher
        rows_after = REGISTRY.get_sample_value("model_api_inference_rows_total", labels)
    finally:
        registry.close()
    assert prediction.proba is not None
    np.testing.assert_array_equal(prediction.proba, np.full((4, 2), 0.5))
    real = real_predict(model.runtime, matrix).proba
    assert real is not None and not np.allclose(real, 0.5)  # the stub is not the model
    assert rows_after == rows_before  # the per-batch metrics did not run


def test_python_codecs_is_refused_once_the_codecs_are_imported() -> None:
    # The fallback is chosen at import; blocking the extension afterwards would measure nothing.
    with pytest.raises(SystemExit, match=r"before model_api\.codecs is imported"):
        whatif.apply(["python-codecs"])


def test_python_codecs_takes_effect(tmp_path: Path) -> None:
    """In the process it starts, every loaded all-numeric model reads its bodies with msgspec."""
    from model_api.authoring import save_bundle

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(100, 3)), columns=["a", "b", "c"])
    booster = xgb.train({"max_depth": 2, "nthread": 1}, xgb.DMatrix(frame, label=frame["a"]), 3)
    save_bundle(booster, frame, tmp_path / "numeric" / "1", name="numeric", version="1")
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from bench import whatif\n"
        "whatif.apply(['python-codecs'])\n"
        "from model_api.serving.registry import ModelRegistry\n"
        "from model_api.settings import Settings\n"
        "registry = ModelRegistry(Settings(model_repository=Path(sys.argv[1])))\n"
        "registry.load_all()\n"
        "print(registry.get('numeric').records._native is None)\n"
        "registry.close()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True"]
    # Unpatched, the same model takes the native parser: the check above can fail.
    registry = ModelRegistry(Settings(model_repository=tmp_path))
    registry.load_all()
    try:
        assert registry.get("numeric").records._native is not None
    finally:
        registry.close()


def test_gc_stats_reports_collections(tmp_path: Path) -> None:
    target = tmp_path / "gc.json"
    script = (
        "import gc, os, signal\n"
        "from bench import whatif\n"
        "whatif.apply(['gc-stats'])\n"
        "gc.collect()\n"
        "os.kill(os.getpid(), signal.SIGUSR1)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "BENCH_GC_STATS": str(target)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    stats = json.loads(target.read_text())
    assert stats["collections"][2] >= 1
    assert stats["seconds"][2] > 0


@pytest.mark.parametrize("patch", ["log-no-db", "log-keep", "log-discard"])
def test_log_patches_take_effect(
    patch: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """log-no-db builds each batch but writes nothing; log-keep takes the queue and builds
    nothing; log-discard queues nothing. Unpatched, the same record is written and read back,
    so the checks can fail."""
    from model_api.store import Store, StoreConfig, writer
    from model_api.store.ids import prediction_id

    from tests.store.test_store import _record

    # Registered first, so the originals are back after the test whatever apply() replaced.
    monkeypatch.setattr(writer.LogWriter, "_write", writer.LogWriter._write)
    monkeypatch.setattr(writer.LogWriter, "record", writer.LogWriter.record)
    monkeypatch.setattr(writer.LogWriter, "_convert", writer.LogWriter._convert)
    built: list[int] = []
    params = writer.LogWriter._params

    def counting_params(self: Any, plan: Any, batch: Any) -> Any:
        built.append(len(batch.tokens))
        return params(self, plan, batch)

    monkeypatch.setattr(writer.LogWriter, "_params", counting_params)

    def logged(store: Store) -> bool:
        record = _record(np.array([[39.1, 2, 1, 7]]))
        store.record(record)
        store.flush()
        return store.prediction(prediction_id(record.token, 0)) is not None

    config = StoreConfig(url=f"sqlite:///{tmp_path / 'log.db'}", flush_seconds=0.05)
    store = Store.open(config)
    try:
        assert logged(store) and built == [1]  # unpatched: built, written, found
        whatif.apply([patch])
        assert not logged(store)
        assert built == ([1, 1] if patch == "log-no-db" else [1])
    finally:
        store.close()
