"""The fast path for v1 JSON bodies: ``{"instances": [{feature: value, ...}, ...]}``.

Two decoders, fastest first:

* When every feature is numeric, ``_records.parse_records`` (C++, ``_records.cpp``) reads the body
  straight into doubles, where msgspec would create, copy and free a Python float per value. It
  takes only the plain shape (numbers, each feature once per row, no escapes) and returns None for
  anything else. It is compiled when the package is installed; where it could not be (no C++
  compiler, a platform without a wheel) or ``MODEL_API_NATIVE_CODECS`` is false, msgspec reads
  every body, to the same matrix.
* msgspec decodes the body into one small struct per row, typed from the model's features: it
  checks field names and numeric types while it parses, with no dict per row. It serves bodies with
  categorical or boolean features, and plain-looking bodies the native parser left alone.

Anything unusual (malformed JSON, a missing or unknown field, null, a string where a number
belongs, a value out of range) returns None and the caller takes the careful path in
``features.py``, which names every wrong field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from itertools import chain
from typing import Any

import msgspec
import numpy as np

from model_api.codecs.features import FLOAT32_MAX, NUMBER_TYPES, FeatureEncoder

ParseRecords = Callable[[bytes, Sequence[str], int], tuple[int, bytes] | None]


def _native_parser() -> ParseRecords | None:
    try:
        from model_api.codecs._records import parse_records
    except ImportError:  # not compiled where the package was installed: msgspec reads every body
        return None
    return parse_records


NATIVE_PARSER = _native_parser()


def records_parser_name(native: bool) -> str:
    """Which parser reads the bodies of all-numeric models, in words for the start-up log."""
    if not native:
        return "msgspec (MODEL_API_NATIVE_CODECS is false)"
    if NATIVE_PARSER is None:
        return "msgspec (the native extension model_api.codecs._records is not built)"
    return "native (model_api.codecs._records)"


class RecordsDecoder:
    """Decodes valid v1 bodies for one model into its float32 [N, F] matrix."""

    def __init__(self, encoder: FeatureEncoder, native: bool = True) -> None:
        self._encoder = encoder
        self._names = tuple(encoder.names)
        features = encoder.features
        self._numeric = [j for j, f in enumerate(features) if f.type in NUMBER_TYPES]
        self._others = [j for j, f in enumerate(features) if f.type not in NUMBER_TYPES]
        self._integer = [k for k, j in enumerate(self._numeric) if features[j].type == "integer"]
        # Chosen once per model: the native parser reads numbers only.
        self._native = NATIVE_PARSER if native and not self._others else None
        # Numeric fields first, so a row's tuple starts with the numeric block. Struct attributes
        # must be identifiers; ``rename`` maps them to the feature names used in JSON.
        order = self._numeric + self._others
        fields = [(f"c{j}", float if j in self._numeric else Any) for j in order]
        row = msgspec.defstruct(
            "Row",
            fields,
            rename={f"c{j}": features[j].name for j in order},
            forbid_unknown_fields=True,
            gc=False,
        )
        body = msgspec.defstruct(
            "Body",
            [("instances", list[row])],  # type: ignore[valid-type]
            forbid_unknown_fields=True,
            gc=False,
        )
        self._decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(body)

    def matrix(self, body: bytes, max_rows: int) -> np.ndarray | None:
        """The matrix of a plainly valid body of at most ``max_rows`` rows, else None."""
        if self._native is not None:
            parsed = self._native(body, self._names, max_rows)
            if parsed is not None:
                count, data = parsed
                block = self._numeric_block(np.frombuffer(data, dtype=np.float64), count)
                return None if block is None else block.astype(np.float32)
        return self._matrix_with_msgspec(body, max_rows)

    def _matrix_with_msgspec(self, body: bytes, max_rows: int) -> np.ndarray | None:
        try:
            rows: list[Any] = self._decoder.decode(body).instances
        except (msgspec.ValidationError, msgspec.DecodeError):
            return None
        if not rows or len(rows) > max_rows:
            return None
        tuples = list(map(msgspec.structs.astuple, rows))
        matrix = np.empty((len(rows), len(self._encoder.features)), dtype=np.float32)
        if self._numeric:
            width = len(self._numeric)
            block = self._numeric_block(
                chain.from_iterable(values[:width] for values in tuples), len(rows)
            )
            if block is None:
                return None
            matrix[:, self._numeric] = block
        for position, j in enumerate(self._others, start=len(self._numeric)):
            column = [values[position] for values in tuples]
            converted = self._encoder.fast_column(self._encoder.features[j], column)
            if converted is None:
                return None
            matrix[:, j] = converted
        return matrix

    def _numeric_block(self, values: Iterable[float] | np.ndarray, rows: int) -> np.ndarray | None:
        """The numeric features' values, row after row, as a float64 [rows, numeric] block."""
        width = len(self._numeric)
        if not isinstance(values, np.ndarray):
            values = np.fromiter(values, dtype=np.float64, count=rows * width)
        block = values.reshape(rows, width)
        # Finite and within float32 (the matrix type); NaN cannot come from JSON numbers.
        if not (np.abs(block) <= FLOAT32_MAX).all():
            return None
        if self._integer:
            integers = block[:, self._integer]
            if (integers != np.floor(integers)).any():
                return None
        return block
