"""Open Inference Protocol (V2) tensors: JSON and binary-extension decoding and encoding."""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np

from model_api.codecs.v2_json import load_request
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
FLOAT64 = np.dtype(np.float64)


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


def decode_inputs(specs: list[Any], binary: bytes) -> list[tuple[str, np.ndarray]]:
    """Every request input as (name, array shaped as declared; BYTES as an object array).

    The inputs' ``binary_data_size`` values must use up the binary data exactly: bytes left
    over mean the sizes, or the header length, are wrong.
    """
    view = memoryview(binary)
    offset = 0
    inputs = []
    for spec in specs:
        name, data, offset = decode_input(spec, view, offset)
        inputs.append((name, data))
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
    parameters = spec.get("parameters") or {}
    binary_size = parameters.get("binary_data_size") if isinstance(parameters, dict) else None
    if binary_size is not None:
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
        if isinstance(spec["data"], np.ndarray):  # float data v2_json already read, flattened
            if spec["data"].size != count:
                raise BadRequestError(
                    f"input {name!r}: shape {shape} needs {count} values, got {spec['data'].size}"
                )
            array = spec["data"].astype(NUMPY_TYPES[datatype])
            return name, array.reshape(shape), offset
        if datatype != "BYTES" and datatype != "BOOL":
            fast = _numeric_data(spec["data"], NUMPY_TYPES[datatype], shape)
            if fast is not None:
                return name, fast, offset
        values = _flatten(spec["data"], name, len(shape))
    if len(values) != count:
        raise BadRequestError(
            f"input {name!r}: shape {shape} needs {count} values, got {len(values)}"
        )
    if datatype == "BYTES":
        return name, np.fromiter(values, dtype=object, count=count).reshape(shape), offset
    dtype = NUMPY_TYPES[datatype]
    try:
        array = np.asarray(values, dtype=None if datatype == "BOOL" else _read_as(dtype))
    except (ValueError, TypeError, OverflowError):
        raise BadRequestError(f"input {name!r}: data does not match datatype {datatype}") from None
    if datatype == "BOOL" and array.dtype.kind != "b":
        raise BadRequestError(f"input {name!r}: BOOL data must be true or false")
    if array.dtype.kind == "O":
        raise BadRequestError(f"input {name!r}: data does not match datatype {datatype}")
    if dtype.kind in "iu":
        whole = _whole_numbers(array, dtype)
        if whole is None:
            info = np.iinfo(dtype)
            raise BadRequestError(
                f"input {name!r}: {datatype} data must be whole numbers from {info.min} to "
                f"{info.max} (a missing value needs FP32 or FP64 data, with null)"
            )
        array = whole
    return name, array.reshape(shape), offset


def _numeric_data(data: Any, dtype: np.dtype[Any], shape: list[int]) -> np.ndarray | None:
    """Flat or nested numeric data in one numpy call; None when it needs the careful path."""
    if not isinstance(data, list):
        return None
    read_as = _read_as(dtype)
    try:
        # Flat data (the common case) converts faster through fromiter; nested lists, null and
        # anything else fromiter refuses take np.asarray, whose result is the same.
        array = np.fromiter(data, dtype=read_as, count=len(data))
    except (ValueError, TypeError, OverflowError):
        try:
            array = np.asarray(data, dtype=read_as)
        except (ValueError, TypeError, OverflowError):
            return None
    if array.size != math.prod(shape):
        return None
    if read_as is dtype:
        return array.reshape(shape)
    whole = _whole_numbers(array, dtype)
    return None if whole is None else whole.reshape(shape)


def _read_as(dtype: np.dtype[Any]) -> np.dtype[Any]:
    """The type JSON numbers are read as: integer types through float64, whose wholeness and
    range are then checked, since numpy would cut 1.5 to 1 without a word. (The model's matrix
    is float32: reading integers as float64 loses nothing it keeps.)"""
    return FLOAT64 if dtype.kind in "iu" else dtype


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
