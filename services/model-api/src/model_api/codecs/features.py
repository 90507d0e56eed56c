"""Turn user input (JSON records, named columns, tensors, CSV rows) into the model's matrix.

Each entry point has a fast path built on numpy's own conversion and, only when that fails, a
slow path that walks the values to say exactly which field is wrong and what was expected.
(Plainly valid v1 bodies never get here: ``records.py`` decodes them; ``from_records`` serves
the rest.)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from model_api.errors import InvalidInputError
from model_api.serving.bundle import BundleMetadata, FeatureSpec

MAX_LISTED_ERRORS = 20
NUMBER_TYPES = frozenset({"numeric", "integer"})
NUMBER_PY_TYPES = frozenset({float, int})
NUMERIC_KINDS = frozenset("iuf")
TRUE_STRINGS = frozenset({"true", "1", "yes", "t", "y"})
FALSE_STRINGS = frozenset({"false", "0", "no", "f", "n"})
MISSING_STRINGS = frozenset({"NA", "NAN", "NULL", "NONE"})  # compared upper-cased; "" too
TEXT_NUMBER_TYPES = frozenset({str, float, int})
FLOAT32_MAX = float(np.finfo(np.float32).max)


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__.replace("str", "string")


class FeatureEncoder:
    """Knows a model's features and converts every input style into a float32 [N, F] matrix."""

    def __init__(self, metadata: BundleMetadata) -> None:
        self.features = metadata.features
        self.names = [f.name for f in metadata.features]
        self.name_set = frozenset(self.names)
        self.codes = {
            f.name: {c: float(i) for i, c in enumerate(f.categories or [])} for f in self.features
        }
        self.lower = np.array([np.nan if f.min is None else f.min for f in self.features])
        self.upper = np.array([np.nan if f.max is None else f.max for f in self.features])
        # The model sees float32 values: XGBoost trained on the sample's float32 roundings, and a
        # value sent as exactly the sample's max becomes float32(max), which can lie above the
        # float64 max. So the range is checked in float32 terms, with the bounds rounded to the
        # nearest float32 as the training values were; float64 matrices use the same bounds.
        with np.errstate(over="ignore"):  # a bound past float32's range becomes an infinity
            self._lower32 = self.lower.astype(np.float32)
            self._upper32 = self.upper.astype(np.float32)
        self._lower_seen = self._lower32.astype(np.float64)
        self._upper_seen = self._upper32.astype(np.float64)
        # Tensor checks: columns that must hold whole numbers, category codes, or 0/1 flags.
        self._whole_cols = [
            j
            for j, f in enumerate(self.features)
            if f.type in ("integer", "categorical", "boolean")
        ]
        self._category_cols = [j for j, f in enumerate(self.features) if f.type == "categorical"]
        self._category_counts = np.array(
            [len(self.features[j].categories or []) for j in self._category_cols], dtype=np.float64
        )
        self._boolean_cols = [j for j, f in enumerate(self.features) if f.type == "boolean"]

    # ---------------------------------------------------------------- JSON records
    def from_records(self, rows: Any, field: str = "instances") -> np.ndarray:
        """``[{feature: value, ...}, ...]`` → matrix; 422 naming every wrong field otherwise."""
        if not isinstance(rows, list) or not rows:
            raise InvalidInputError(
                f"'{field}' must be a non-empty array of objects",
                [{"loc": [field], "msg": "expected a non-empty array of objects"}],
            )
        name_set = self.name_set
        for row in rows:
            if type(row) is not dict or row.keys() != name_set:
                self._raise_record_errors(rows, field)
        matrix = np.empty((len(rows), len(self.names)), dtype=np.float32)
        problems: list[dict[str, Any]] = []
        for j, feature in enumerate(self.features):
            name = feature.name
            column = [row[name] for row in rows]
            converted = self.fast_column(feature, column)
            if converted is None:
                converted = self._slow_column(
                    feature, column, lambda i, n=name: [field, i, n], problems
                )
            matrix[:, j] = converted
        _raise_if(problems)
        return matrix

    def _raise_record_errors(self, rows: list[Any], field: str) -> None:
        details: list[dict[str, Any]] = []
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                details.append(
                    {
                        "loc": [field, i],
                        "msg": f"expected an object of features, got {_type_name(row)}",
                    }
                )
                continue
            for name in self.names:
                if name not in row:
                    feature = next(f for f in self.features if f.name == name)
                    details.append(
                        {
                            "loc": [field, i, name],
                            "msg": f"missing feature; expected {_expected(feature)}",
                        }
                    )
            for key in row:
                if key not in self.name_set:
                    details.append(
                        {
                            "loc": [field, i, key],
                            "msg": f"unknown feature; the model's features are {', '.join(self.names)}",
                        }
                    )
            if len(details) >= MAX_LISTED_ERRORS:
                break
        raise InvalidInputError(_summary(details), details[:MAX_LISTED_ERRORS])

    # ---------------------------------------------------------------- named columns (V2)
    def from_columns(
        self,
        columns: Mapping[str, Sequence[Any] | np.ndarray],
        rows: int,
        tensor_name: str | None = None,
    ) -> np.ndarray:
        """One array per feature (V2 named inputs, or the columns of ``tensor_name``) → matrix.

        Lists and object arrays are BYTES cells: JSON values, or text read as a CSV cell is
        (``"5.1"``, ``"true"``, a category's name; ``""``, ``"NaN"``, ``"None"`` are missing).
        """
        missing = [n for n in self.names if n not in columns]
        unknown = [n for n in columns if n not in self.name_set]
        if missing or unknown:
            parts = []
            if missing:
                parts.append(f"missing inputs: {', '.join(missing)}")
            if unknown:
                parts.append(f"unknown inputs: {', '.join(unknown)}")
            raise InvalidInputError(
                "; ".join(parts) + f" (the model's inputs are {', '.join(self.names)})"
            )
        matrix = np.empty((rows, len(self.names)), dtype=np.float32)
        problems: list[dict[str, Any]] = []
        for j, feature in enumerate(self.features):
            values = columns[feature.name]
            if len(values) != rows:
                raise InvalidInputError(
                    f"input {feature.name!r} has {len(values)} values, expected {rows} (one per row)"
                )
            if isinstance(values, np.ndarray) and values.dtype.kind in NUMERIC_KINDS | {"b"}:
                converted = self._check_array(feature, values, [feature.name])
            else:
                column = values.tolist() if isinstance(values, np.ndarray) else list(values)
                column = [v.decode() if isinstance(v, bytes) else v for v in column]
                loc_of = (
                    (lambda i, n=feature.name: [n, i])
                    if tensor_name is None
                    else (lambda i, n=feature.name: [tensor_name, i, n])
                )
                converted = self._cells_column(feature, column, loc_of, problems)
            matrix[:, j] = converted
        _raise_if(problems)
        return matrix

    def _cells_column(
        self, feature: FeatureSpec, column: list[Any], loc_of: Any, problems: list[dict[str, Any]]
    ) -> np.ndarray:
        fast = self.fast_column(feature, column)
        if fast is None:
            fast = _text_numbers(feature, column)  # tritonclient sends numbers as "5.1"
        if fast is not None:
            return fast
        return self._slow_column(feature, column, loc_of, problems, self._cell_value)

    def _cell_value(self, feature: FeatureSpec, value: Any) -> float:
        if isinstance(value, str):
            return self._parse_text(feature, value.strip())
        return self._json_value(feature, value)

    # ---------------------------------------------------------------- [N, F] tensors (V2)
    def from_bytes_tensor(self, tensor: np.ndarray, input_name: str) -> np.ndarray:
        """A BYTES [N, F] tensor (object cells: category names, numbers, decimal strings)."""
        columns = {name: tensor[:, j].tolist() for j, name in enumerate(self.names)}
        return self.from_columns(columns, len(tensor), input_name)

    def from_tensor(self, tensor: np.ndarray, input_name: str) -> np.ndarray:
        """A numeric [N, F] tensor; categorical columns carry category codes (list index)."""
        if tensor.ndim != 2 or tensor.shape[1] != len(self.names):
            raise InvalidInputError(
                f"input {input_name!r} has shape {list(tensor.shape)}, expected [N, {len(self.names)}] "
                f"with columns {', '.join(self.names)}"
            )
        values = tensor.astype(np.float64, copy=False)
        if self._tensor_is_valid(values):
            return values.astype(np.float32)
        # Something is off: check column by column to name the column and the problem.
        matrix = np.empty(tensor.shape, dtype=np.float32)
        for j, feature in enumerate(self.features):
            matrix[:, j] = self._check_array(
                feature, tensor[:, j], [input_name, f"column {j} ({feature.name})"]
            )
        return matrix

    def _tensor_is_valid(self, values: np.ndarray) -> bool:
        """Whole-tensor checks in a few numpy calls (the per-column pass only runs on failure)."""
        with np.errstate(invalid="ignore"):
            magnitude = np.abs(values)
            if (magnitude > FLOAT32_MAX).any():  # also catches infinities; NaN compares False
                return False
            whole = (values == np.floor(values)) | np.isnan(values)
            if self._whole_cols and not whole[:, self._whole_cols].all():
                return False
            if self._category_cols:
                codes = values[:, self._category_cols]
                inside = (codes >= 0) & (codes < self._category_counts) | np.isnan(codes)
                if not inside.all():
                    return False
            if self._boolean_cols:
                flags = values[:, self._boolean_cols]
                if not ((flags == 0) | (flags == 1) | np.isnan(flags)).all():
                    return False
        return True

    def _check_array(self, feature: FeatureSpec, values: np.ndarray, loc: list[Any]) -> np.ndarray:
        as_float = values.astype(np.float64)
        present = ~np.isnan(as_float)
        if np.isinf(as_float).any():
            raise InvalidInputError(f"{_loc(loc)}: infinite value; expected {_expected(feature)}")
        if feature.type == "categorical":
            codes = as_float[present]
            bad = (
                (codes != np.floor(codes)) | (codes < 0) | (codes >= len(feature.categories or []))
            )
            if bad.any():
                raise InvalidInputError(
                    f"{_loc(loc)}: {codes[bad][0]!r} is not a category code of {feature.name!r}; "
                    f"expected an integer 0..{len(feature.categories or []) - 1} for "
                    f"{', '.join(feature.categories or [])}"
                )
        elif feature.type == "boolean":
            if not np.isin(as_float[present], (0.0, 1.0)).all():
                raise InvalidInputError(f"{_loc(loc)}: expected 0 or 1 (boolean)")
        elif feature.type == "integer":
            chosen = as_float[present]
            if (chosen != np.floor(chosen)).any():
                raise InvalidInputError(f"{_loc(loc)}: expected integers")
        if (np.abs(as_float[present]) > FLOAT32_MAX).any():
            raise InvalidInputError(f"{_loc(loc)}: value too large; expected {_expected(feature)}")
        return as_float.astype(np.float32)

    # ---------------------------------------------------------------- CSV rows
    def from_text_rows(
        self, rows: list[list[str]], order: list[int], columns: int
    ) -> tuple[np.ndarray, dict[int, str]]:
        """CSV cells → (matrix, {row index: reason}) ; bad rows become NaN and are reported.

        ``columns`` is the header's: a row with more or fewer fields is refused, since its values
        may sit under the wrong names (an unquoted delimiter inside a value shifts the rest).
        """
        matrix = np.empty((len(rows), len(self.names)), dtype=np.float32)
        errors: dict[int, str] = {}
        for i, row in enumerate(rows):
            if len(row) != columns:
                errors[i] = f"row has {len(row)} fields, the header has {columns}"
        for j, (feature, position) in enumerate(zip(self.features, order, strict=True)):
            column = [row[position] if len(row) > position else "" for row in rows]
            matrix[:, j] = self._text_column(feature, column, errors)
        return matrix, errors

    def _text_column(
        self, feature: FeatureSpec, column: list[str], errors: dict[int, str]
    ) -> np.ndarray:
        fast = _text_numbers(feature, column)
        if fast is not None:
            return fast
        out = np.empty(len(column), dtype=np.float32)
        for i, text in enumerate(column):
            try:
                out[i] = self._parse_text(feature, text.strip())
            except ValueError as exc:
                out[i] = np.nan
                errors.setdefault(i, f"{feature.name}: {exc}")
        return out

    def _parse_text(self, feature: FeatureSpec, text: str) -> float:
        if feature.type == "categorical":
            code = self.codes[feature.name].get(text)  # first: a category may be called "NA"
            if code is not None:
                return code
        if text == "" or text.upper() in MISSING_STRINGS:
            return math.nan
        if feature.type == "categorical":
            raise ValueError(
                f"unknown category {text!r}; expected one of {', '.join(feature.categories or [])}"
            )
        if feature.type == "boolean":
            lowered = text.lower()
            if lowered in TRUE_STRINGS:
                return 1.0
            if lowered in FALSE_STRINGS:
                return 0.0
            raise ValueError(f"{text!r} is not a boolean; expected true or false")
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a number; expected {_expected(feature)}") from None
        if not math.isfinite(value) or abs(value) > FLOAT32_MAX:
            raise ValueError(f"{text!r} is out of range; expected a finite number")
        if feature.type == "integer" and value != math.floor(value):
            raise ValueError(f"{text!r} is not an integer")
        return value

    # ---------------------------------------------------------------- shared helpers
    def fast_column(self, feature: FeatureSpec, column: list[Any]) -> np.ndarray | None:
        """Convert a column of JSON values, or None when anything needs a closer look."""
        if feature.type == "categorical":
            codes = self.codes[feature.name]
            try:
                return np.array([codes[v] for v in column], dtype=np.float32)
            except (KeyError, TypeError):
                return None
        if feature.type != "boolean" and not set(map(type, column)) <= NUMBER_PY_TYPES:
            return None  # null, string, bool (numpy would turn [1.5, True] into [1.5, 1.0])...
        try:
            array = np.array(column)
        except (ValueError, TypeError, OverflowError):
            return None
        if array.ndim != 1:
            return None
        kind = array.dtype.kind
        if feature.type == "boolean":
            return array.astype(np.float32) if kind == "b" else None
        if kind not in NUMERIC_KINDS:
            return None
        if kind == "f":
            if feature.type == "integer" and (array != np.floor(array)).any():
                return None
            if not np.isfinite(array).all() or (np.abs(array) > FLOAT32_MAX).any():
                return None
        elif kind in "iu" and (np.abs(array) > FLOAT32_MAX).any():
            return None
        return array.astype(np.float32)

    def _slow_column(
        self,
        feature: FeatureSpec,
        column: list[Any],
        loc_of: Any,
        problems: list[dict[str, Any]],
        convert: Callable[[FeatureSpec, Any], float] | None = None,
    ) -> np.ndarray:
        """Convert value by value (JSON rules unless ``convert`` says otherwise), adding one
        problem per wrong value to ``problems``."""
        convert = convert or self._json_value
        out = np.empty(len(column), dtype=np.float32)
        for i, value in enumerate(column):
            try:
                out[i] = convert(feature, value)
            except ValueError as exc:
                out[i] = np.nan
                if len(problems) < MAX_LISTED_ERRORS:
                    problems.append({"loc": loc_of(i), "msg": str(exc)})
                else:
                    problems.append({})  # counted, not listed
        return out

    def _json_value(self, feature: FeatureSpec, value: Any) -> float:
        if value is None:
            return math.nan  # null means "missing"; XGBoost routes it down the default branch
        if feature.type == "categorical":
            if not isinstance(value, str):
                raise ValueError(
                    f"expected a string, one of {', '.join(feature.categories or [])}; got {_type_name(value)}"
                )
            code = self.codes[feature.name].get(value)
            if code is None:
                raise ValueError(
                    f"unknown category {value!r}; expected one of {', '.join(feature.categories or [])}"
                )
            return code
        if feature.type == "boolean":
            if isinstance(value, bool):
                return float(value)
            raise ValueError(f"expected a boolean (true or false), got {_type_name(value)}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"expected {_expected(feature)}, got {_type_name(value)}")
        number = float(value) if abs(value) < 1e309 else math.inf
        if not math.isfinite(number) or abs(number) > FLOAT32_MAX:
            raise ValueError(f"number out of range; expected {_expected(feature)}")
        if feature.type == "integer" and number != math.floor(number):
            raise ValueError(f"expected an integer, got {value!r}")
        return number

    def drift_counts(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-feature counts of missing values and of values outside the training range."""
        nan = np.isnan(matrix)
        # Most batches have no missing value: any() stops early, a column sum never does.
        missing = nan.sum(axis=0) if nan.any() else np.zeros(matrix.shape[1], dtype=np.intp)
        lower, upper = (
            (self._lower32, self._upper32)
            if matrix.dtype == np.float32
            else (self._lower_seen, self._upper_seen)
        )
        with np.errstate(invalid="ignore"):
            outside = ((matrix < lower) | (matrix > upper)).sum(axis=0)
        return missing, outside


def _text_numbers(feature: FeatureSpec, column: list[Any]) -> np.ndarray | None:
    """Decimal strings (or numbers) of a number feature in one numpy call; None when any cell
    needs a closer look (an empty cell, a word, a value past float32, a fraction for integers)."""
    if feature.type not in NUMBER_TYPES or not set(map(type, column)) <= TEXT_NUMBER_TYPES:
        return None
    try:
        values = np.array(column, dtype=np.float64)
    except (ValueError, TypeError, OverflowError):
        return None
    if values.ndim != 1:
        return None
    with np.errstate(invalid="ignore"):
        if (np.abs(values) > FLOAT32_MAX).any():  # infinities too; NaN ("nan") is missing
            return None
    if feature.type == "integer" and (values[~np.isnan(values)] % 1 != 0).any():
        return None
    return values.astype(np.float32)


def _expected(feature: FeatureSpec) -> str:
    if feature.type == "categorical":
        return f"one of {', '.join(feature.categories or [])}"
    if feature.type == "boolean":
        return "a boolean"
    kind = "an integer" if feature.type == "integer" else "a number"
    if feature.min is not None and feature.max is not None:
        return f"{kind} (training range {feature.min:g} to {feature.max:g}) or null"
    return f"{kind} or null"


def _loc(loc: list[Any]) -> str:
    return ".".join(str(p) for p in loc)


def _raise_if(problems: list[dict[str, Any]]) -> None:
    if problems:
        listed = [p for p in problems if p]
        raise InvalidInputError(_summary(listed, len(problems)), listed)


def _summary(details: list[dict[str, Any]], total: int | None = None) -> str:
    first = details[0]
    total = len(details) if total is None else total
    more = f" (and {total - 1} more)" if total > 1 else ""
    return f"{_loc(first['loc'])}: {first['msg']}{more}"
