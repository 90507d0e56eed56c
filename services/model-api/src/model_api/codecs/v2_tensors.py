"""Open Inference Protocol (V2) tensors: JSON and binary-extension decoding and encoding."""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np

from model_api.codecs.v2_json import FLOAT_DATATYPES, load_request
from model_api.errors import BadRequestError

NUMPY_TYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
}
HEADER_LENGTH = "inference-header-content-length"
JSON_NUMBER_TYPES = frozenset({int, float})  # not bool: JSON's true is no number
_NOTHING = object()
FLOAT64 = np.dtype(np.float64)
FP16_MAX = float(np.finfo(np.float16).max)


def split_binary_body(body: bytes, header_length: str | None) -> tuple[dict[str, Any], bytes]:
    """Split a request into its JSON part and the binary tensor data that follows it."""
    if header_length is None:
        json_part, rest = body, b""
    else:
        size = _json_part_length(header_length, len(body))
        json_part, rest = body[:size], body[size:]
    if not json_part:
        raise BadRequestError("request body is empty; expected an inference request")
    payload = load_request(json_part)
    if not isinstance(payload, dict):
        raise BadRequestError("inference request must be a JSON object with 'inputs'")
    return payload, rest


def _json_part_length(header_length: str, body_size: int) -> int:
    # isdigit() alone takes "²" and 5,000-digit numbers, which int() then refuses.
    if not (header_length.isascii() and header_length.isdigit() and len(header_length) <= 19):
        raise BadRequestError(
            f"Inference-Header-Content-Length {_shown(header_length)} is not a number of bytes; "
            "expected the length of the JSON part, a whole number"
        )
    size = int(header_length)
    if size > body_size:
        raise BadRequestError(
            f"Inference-Header-Content-Length {header_length!r} does not fit a body of {body_size} bytes"
        )
    return size


def decode_inputs(specs: list[Any], binary: bytes) -> list[tuple[str, str, np.ndarray]]:
    """Every request input as (name, datatype, array shaped as declared; BYTES as an object
    array; float JSON data as float64, as written).

    The inputs' ``binary_data_size`` values must use up the binary data exactly: bytes left
    over mean the sizes, or the header length, are wrong.
    """
    view = memoryview(binary)
    offset = 0
    inputs = []
    for spec in specs:
        name, data, offset = decode_input(spec, view, offset)
        inputs.append((name, spec["datatype"], data))
    if offset != len(binary):
        raise BadRequestError(
            f"{len(binary) - offset} bytes of binary data follow the inputs, whose binary_data_size "
            f"values add up to {offset}; expected them to cover all {len(binary)}"
        )
    return inputs


def decode_input(spec: Any, binary: memoryview, offset: int) -> tuple[str, np.ndarray, int]:
    """One request input → (name, array shaped as declared, new offset into ``binary``)."""
    if not isinstance(spec, dict):
        raise BadRequestError("each input must be an object with name, shape, datatype and data")
    name = spec.get("name")
    shape = spec.get("shape")
    datatype = spec.get("datatype")
    if not isinstance(name, str) or not name:
        raise BadRequestError("an input lacks its 'name'")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise BadRequestError(f"input {name!r}: 'shape' must be a list of non-negative integers")
    if not 1 <= len(shape) <= 2:
        raise BadRequestError(
            f"input {name!r}: shape has {len(shape)} dimensions; expected [N, F] "
            "(N rows of the F features), [F] (one row), or per feature [N] or [N, 1]"
        )
    if not isinstance(datatype, str) or (datatype != "BYTES" and datatype not in NUMPY_TYPES):
        raise BadRequestError(
            f"input {name!r}: unknown datatype {datatype!r}; expected one of "
            f"{', '.join([*NUMPY_TYPES, 'BYTES'])}"
        )
    count = math.prod(shape)
    parameters = parameters_of(spec, f"input {name!r}")
    if "binary_data_size" in parameters:
        binary_size = parameters["binary_data_size"]
        left = len(binary) - offset
        if type(binary_size) is not int or not 0 <= binary_size <= left:
            raise BadRequestError(
                f"input {name!r}: binary_data_size does not fit the body ({_shown(binary_size)}; "
                f"expected a whole number of bytes, at most the {left} left)"
            )
        raw = binary[offset : offset + binary_size]
        offset += binary_size
        if datatype == "BYTES":
            values: Any = _unpack_bytes(raw, name)
        else:
            dtype = NUMPY_TYPES[datatype]
            if len(raw) != count * dtype.itemsize:
                raise BadRequestError(
                    f"input {name!r}: {len(raw)} bytes of {datatype} do not make shape {shape}"
                )
            return name, np.frombuffer(raw, dtype=dtype).reshape(shape), offset
    else:
        if "data" not in spec:
            raise BadRequestError(f"input {name!r} has no 'data'")
        if not isinstance(spec["data"], list | np.ndarray):
            raise BadRequestError(
                f"input {name!r}: 'data' must be a list of values, got {_shown(spec['data'])}"
            )
        if isinstance(spec["data"], np.ndarray):  # float data v2_json already read, flattened
            if spec["data"].size != count:
                raise BadRequestError(
                    f"input {name!r}: shape {shape} needs {count} values, got {spec['data'].size}"
                )
            return name, _typed(spec["data"], datatype, name).reshape(shape), offset
        if datatype != "BYTES" and datatype != "BOOL":
            fast = _numeric_data(spec["data"], shape)
            if fast is not None:
                return name, _typed(fast, datatype, name).reshape(shape), offset
        values = _flatten(spec["data"], name, len(shape))
        if datatype != "BYTES" and datatype != "BOOL":
            _check_numbers(values, name, datatype)
    if len(values) != count:
        raise BadRequestError(
            f"input {name!r}: shape {shape} needs {count} values, got {len(values)}"
        )
    if datatype == "BYTES":
        return name, np.fromiter(values, dtype=object, count=count).reshape(shape), offset
    try:
        array = np.asarray(values, dtype=None if datatype == "BOOL" else FLOAT64)
    except (ValueError, TypeError, OverflowError):
        raise BadRequestError(f"input {name!r}: data does not match datatype {datatype}") from None
    if datatype == "BOOL":
        if array.dtype.kind != "b":
            raise BadRequestError(f"input {name!r}: BOOL data must be true or false")
        return name, array.reshape(shape), offset
    return name, _typed(array, datatype, name).reshape(shape), offset


def _numeric_data(data: Any, shape: list[int]) -> np.ndarray | None:
    """Flat numeric data as float64 in one numpy call; None when it needs the careful path
    (nested lists, null, and what numpy would read but JSON does not call a number: true,
    "1.5")."""
    if not isinstance(data, list) or not set(map(type, data)) <= JSON_NUMBER_TYPES:
        return None
    try:
        array = np.fromiter(data, dtype=FLOAT64, count=len(data))
    except (ValueError, TypeError, OverflowError):
        return None
    return array if array.size == math.prod(shape) else None


def _check_numbers(values: list[Any], name: str, datatype: str) -> None:
    """A numeric datatype's data holds JSON numbers (and null, for the float types) only."""
    allowed = JSON_NUMBER_TYPES | {type(None)} if datatype in FLOAT_DATATYPES else JSON_NUMBER_TYPES
    wrong = next((v for v in values if type(v) not in allowed), _NOTHING)
    if wrong is not _NOTHING:
        expected = "numbers or null (missing)" if datatype in FLOAT_DATATYPES else "whole numbers"
        raise BadRequestError(
            f"input {name!r}: {datatype} data must be {expected}, got {_shown(wrong)}"
        )


def _typed(values: np.ndarray, datatype: str, name: str) -> np.ndarray:
    """JSON numbers (read as float64) checked against their datatype.

    Float data stays as read: the numbers written are the numbers the model gets (as float32,
    the type XGBoost reads), so FP16 and FP32 differ from FP64 only in the range they allow, and
    a category code or a flag is checked as written, not as a cast rounded it. Integer data
    must be whole and in its type's range, since numpy would cut 1.5 to 1 without a word.
    """
    dtype = NUMPY_TYPES[datatype]
    if dtype.kind == "f":
        if datatype == "FP16":
            with np.errstate(invalid="ignore"):  # NaN (null) compares False
                if (np.abs(values) > FP16_MAX).any():
                    raise BadRequestError(
                        f"input {name!r}: FP16 data must be within float16's range, "
                        f"-{FP16_MAX:g} to {FP16_MAX:g} (or null)"
                    )
        return values
    whole = _whole_numbers(values, dtype)
    if whole is None:
        info = np.iinfo(dtype)
        raise BadRequestError(
            f"input {name!r}: {datatype} data must be whole numbers from {info.min} to "
            f"{info.max} (a missing value needs FP32 or FP64 data, with null)"
        )
    return whole


def _whole_numbers(values: np.ndarray, dtype: np.dtype[Any]) -> np.ndarray | None:
    """``values`` (float64) as ``dtype`` if all are whole and in its range, else None."""
    info = np.iinfo(dtype)
    with np.errstate(invalid="ignore"):  # NaN (null) compares False: not whole
        # float(info.max) + 1 is 2**bits exactly (for 64 bits float(info.max) already rounds to it).
        inside = (values >= info.min) & (values < float(info.max) + 1) & (values % 1 == 0)
    return values.astype(dtype) if inside.all() else None


def _flatten(data: Any, name: str, depth: int) -> list[Any]:
    """V2 data may be flat (row-major) or nested, as deep as its shape; flatten nested lists."""
    if not isinstance(data, list):
        return [data]
    if not data or not isinstance(data[0], list):
        if any(isinstance(item, list | dict) for item in data):
            raise BadRequestError(f"input {name!r}: data mixes nested lists and values")
        return data
    if depth <= 1:
        raise BadRequestError(f"input {name!r}: data nests lists deeper than its shape")
    flat: list[Any] = []
    for item in data:
        flat.extend(_flatten(item, name, depth - 1))
    return flat


def _unpack_bytes(raw: memoryview, name: str) -> list[str]:
    """BYTES binary data: each element a 4-byte little-endian length, then that many bytes."""
    values: list[str] = []
    position = 0
    while position < len(raw):
        if position + 4 > len(raw):
            raise BadRequestError(f"input {name!r}: truncated BYTES element")
        (length,) = struct.unpack_from("<I", raw, position)
        position += 4
        if length > len(raw) - position:
            raise BadRequestError(
                f"input {name!r}: BYTES element {len(values)} claims {length} bytes, but only "
                f"{len(raw) - position} are left of the input's binary_data_size"
            )
        try:
            values.append(bytes(raw[position : position + length]).decode())
        except UnicodeDecodeError:
            raise BadRequestError(f"input {name!r}: BYTES element is not UTF-8") from None
        position += length
    return values


def parameters_of(container: dict[str, Any], where: str) -> dict[str, Any]:
    """The ``parameters`` object of a request, input or output (absent or null: none)."""
    parameters = container.get("parameters")
    if parameters is None:
        return {}
    if not isinstance(parameters, dict):
        raise BadRequestError(f"{where}: 'parameters' must be an object, got {_shown(parameters)}")
    return parameters


def _shown(value: Any) -> str:
    """``value`` for an error message, cut short: the request may hold anything."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def encode_output(
    name: str, array: np.ndarray | list[str], datatype: str, binary: bool
) -> tuple[dict[str, Any], bytes]:
    """Build one response output; in binary mode the data goes after the JSON header."""
    shape = [len(array)] if isinstance(array, list) else list(array.shape)
    output: dict[str, Any] = {"name": name, "datatype": datatype, "shape": shape}
    if not binary:
        output["data"] = array if isinstance(array, list) else array.reshape(-1)
        return output, b""
    if isinstance(array, list):
        payload = b"".join(struct.pack("<I", len(e := s.encode())) + e for s in array)
    else:
        payload = np.ascontiguousarray(array, dtype=NUMPY_TYPES[datatype]).tobytes()
    output["parameters"] = {"binary_data_size": len(payload)}
    return output, payload
