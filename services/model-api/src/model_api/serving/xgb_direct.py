"""XGBoost's dense prediction called through its C API, with the call's arguments built once.

``Booster.inplace_predict`` ends in the C function ``XGBoosterPredictFromDense``; on the way it
does per call in Python what never changes for a model (type dispatch over pandas/arrow/cupy,
argument JSON, array-interface dicts, output wrapping), and the C side builds a new proxy DMatrix
whose set-up reads the cgroup CPU quota from /sys: together more than XGBoost's own work for one
row. This
module makes the same C call with the argument JSON prepared per model and a proxy DMatrix kept
per thread, and copies the output straight into numpy. ``DensePredictor`` checks itself against
``inplace_predict`` when it is built; if the library differs in any way it refuses, and the
runtime keeps using ``inplace_predict``.
"""

from __future__ import annotations

import ctypes
import json
import math
import threading
from typing import Any

import numpy as np
import xgboost as xgb

try:  # where XGBoost 3.x keeps its loaded library; with another layout the wrapper is used
    from xgboost import _c_api
    from xgboost.core import _ProxyDMatrix
except ImportError:  # pragma: no cover - depends on the installed XGBoost
    _c_api = None  # type: ignore[assignment]

# numpy's array interface for a C-contiguous float32 [rows, columns] matrix at an address.
_DENSE_F32 = b'{"data":[%d,true],"shape":[%d,%d],"strides":null,"typestr":"<f4","version":3}'
_FLOAT_P = ctypes.POINTER(ctypes.c_float)
_SHAPE_P = ctypes.POINTER(ctypes.c_uint64)
_per_thread = threading.local()


def _thread_proxy() -> Any:
    """This thread's proxy DMatrix, made once.

    Without one, every call builds a fresh proxy whose context reads the cgroup CPU quota from
    /sys (system calls on every prediction); the proxy only holds the input of the call in
    progress, so one per thread is safe.
    """
    proxy = getattr(_per_thread, "proxy", None)
    if proxy is None:
        proxy = _per_thread.proxy = _ProxyDMatrix()
    return proxy.handle


class DirectPredictUnavailableError(RuntimeError):
    """The direct call disagrees with ``inplace_predict`` (or fails) for this model."""


def _arguments(margin: bool) -> bytes:
    """The JSON ``inplace_predict`` sends: all trees, NaN as missing, no caching."""
    return json.dumps(
        {
            "type": 1 if margin else 0,
            "training": False,
            "iteration_begin": 0,
            "iteration_end": 0,
            "missing": float("nan"),
            "strict_shape": False,
            "cache_id": 0,
        }
    ).encode()


class DensePredictor:
    """``predict(matrix)`` ≡ ``booster.inplace_predict(matrix[, predict_type="margin"])``.

    Thread-safe: XGBoost keeps the output buffer per thread, and every call has its own
    out-parameters and copies the output before returning.
    """

    def __init__(self, booster: xgb.Booster, margin: bool, features: int) -> None:
        if _c_api is None:
            raise DirectPredictUnavailableError("this XGBoost has no xgboost._c_api module")
        self._booster = booster  # keeps the handle alive
        self._call = _c_api._LIB.XGBoosterPredictFromDense
        self._check_call = _c_api._check_call
        self._handle = booster.handle
        self._args = _arguments(margin)
        self._check_against_xgboost(margin, features)

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        """[N, F] matrix → output as XGBoost shapes it ([N] or [N, K]).

        The result is a read-only array of its own (a copy of XGBoost's buffer)."""
        # XGBoost reads the memory as described below: it must be float32, C order (no copy when
        # it already is, as the encoders' matrices are).
        matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        interface = _DENSE_F32 % (matrix.ctypes.data, *matrix.shape)
        shape, dims, output = _SHAPE_P(), ctypes.c_uint64(), _FLOAT_P()
        self._check_call(
            self._call(
                self._handle,
                interface,
                self._args,
                _thread_proxy(),
                ctypes.byref(shape),
                ctypes.byref(dims),
                ctypes.byref(output),
            )
        )
        out_shape = tuple(shape[i] for i in range(dims.value))
        # The buffer belongs to XGBoost and is reused by this thread's next call: copy it now.
        copied = ctypes.string_at(output, math.prod(out_shape) * 4)
        return np.frombuffer(copied, dtype=np.float32).reshape(out_shape)

    def _check_against_xgboost(self, margin: bool, features: int) -> None:
        """Predict probe rows both ways; any difference means this library is not the one
        this module was written for."""
        probe = np.random.default_rng(0).normal(size=(5, features)).astype(np.float32)
        probe[1, :] = 0.0
        probe[2, ::2] = np.nan
        kind = "margin" if margin else "value"
        for rows in (probe[:1], probe):
            try:
                expected: Any = self._booster.inplace_predict(
                    rows, predict_type=kind, validate_features=False
                )
                got = self.predict(rows)
            except Exception as exc:
                raise DirectPredictUnavailableError(
                    f"probe prediction failed: {str(exc).splitlines()[0]}"
                ) from exc
            if got.shape != np.shape(expected) or not np.array_equal(got, expected, equal_nan=True):
                raise DirectPredictUnavailableError("direct predict differs from inplace_predict")
