"""Open Inference Protocol (V2) tensors: JSON and binary-extension decoding and encoding."""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np

from model_api.errors import BadRequestError
from model_api.v2_json import load_request

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


def split_binary_body(body: bytes, header_length: str | None) -> tuple[dict[str, Any], bytes]:
    """Split a request into its JSON part and the binary tensor data that follows it."""
    if header_length is None:
        json_part, rest = body, b""
    else:
        if not header_length.isdigit() or int(header_length) > len(body):
            raise BadRequestError(
                f"Inference-Header-Content-Length {header_length!r} does not fit a body of {len(body)} bytes"
            )
        json_part, rest = body[: int(header_length)], body[int(header_length) :]
    if not json_part:
        raise BadRequestError("request body is empty; expected an inference request")
    payload = load_request(json_part)
    if not isinstance(payload, dict):
        raise BadRequestError("inference request must be a JSON object with 'inputs'")
    return payload, rest


def decode_input(
    spec: Any, binary: memoryview, offset: int
) -> tuple[str, np.ndarray | list[Any], int]:
    """One request input → (name, array or list of strings shaped as declared, new offset)."""
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
    if not isinstance(datatype, str) or (datatype != "BYTES" and datatype not in NUMPY_TYPES):
        raise BadRequestError(
            f"input {name!r}: unknown datatype {datatype!r}; expected one of "
            f"{', '.join([*NUMPY_TYPES, 'BYTES'])}"
        )
    count = math.prod(shape)
    parameters = spec.get("parameters") or {}
    binary_size = parameters.get("binary_data_size") if isinstance(parameters, dict) else None
    if binary_size is not None:
        if not isinstance(binary_size, int) or offset + binary_size > len(binary):
            raise BadRequestError(f"input {name!r}: binary_data_size does not fit the body")
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
        values = _flatten(spec["data"], name)
    if len(values) != count:
        raise BadRequestError(
            f"input {name!r}: shape {shape} needs {count} values, got {len(values)}"
        )
    if datatype == "BYTES":
        return name, values, offset
    try:
        array = np.asarray(values, dtype=NUMPY_TYPES[datatype] if datatype != "BOOL" else None)
    except (ValueError, TypeError, OverflowError):
        raise BadRequestError(f"input {name!r}: data does not match datatype {datatype}") from None
    if datatype == "BOOL" and array.dtype.kind != "b":
        raise BadRequestError(f"input {name!r}: BOOL data must be true or false")
    if array.dtype.kind == "O":
        raise BadRequestError(f"input {name!r}: data does not match datatype {datatype}")
    return name, array.reshape(shape), offset


def _numeric_data(data: Any, dtype: np.dtype[Any], shape: list[int]) -> np.ndarray | None:
    """Flat or nested numeric data in one numpy call; None when it needs the careful path."""
    if not isinstance(data, list):
        return None
    try:
        # Flat data (the common case) converts faster through fromiter; nested lists, null and
        # anything else fromiter refuses take np.asarray, whose result is the same.
        array = np.fromiter(data, dtype=dtype, count=len(data))
    except (ValueError, TypeError, OverflowError):
        try:
            array = np.asarray(data, dtype=dtype)
        except (ValueError, TypeError, OverflowError):
            return None
    if array.size != math.prod(shape):
        return None
    return array.reshape(shape)


def _flatten(data: Any, name: str) -> list[Any]:
    """V2 data may be flat (row-major) or nested; flatten nested lists."""
    if not isinstance(data, list):
        return [data]
    if not data or not isinstance(data[0], list):
        if any(isinstance(item, list | dict) for item in data):
            raise BadRequestError(f"input {name!r}: data mixes nested lists and values")
        return data
    flat: list[Any] = []
    for item in data:
        flat.extend(_flatten(item, name))
    return flat


def _unpack_bytes(raw: memoryview, name: str) -> list[str]:
    values = []
    position = 0
    while position < len(raw):
        if position + 4 > len(raw):
            raise BadRequestError(f"input {name!r}: truncated BYTES element")
        (length,) = struct.unpack_from("<I", raw, position)
        position += 4
        try:
            values.append(bytes(raw[position : position + length]).decode())
        except UnicodeDecodeError:
            raise BadRequestError(f"input {name!r}: BYTES element is not UTF-8") from None
        position += length
    return values


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
