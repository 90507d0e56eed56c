"""Reading the JSON of a V2 inference request, with floating-point tensor data straight to numpy.

``orjson.loads`` makes a Python float of every number and numpy then reads them back one by one,
which for a large tensor is a good part of the request. simdjson (pysimdjson) parses the body in
C++ and copies a numeric array, flat or nested, into one buffer, with no Python object per
number. Numbers are parsed exactly (correctly rounded to float64), as orjson does.

Everything but that ``data`` comes back as the plain Python objects orjson would give, so the
rest of the V2 code reads one request shape (values are looked up key by key, since ``items()``
would convert every array to a list). Whatever simdjson refuses (malformed JSON, invalid UTF-8,
integers past 64 bits) is parsed again by orjson, whose message names the problem; data with
anything but numbers (null, true, strings) stays a list for the careful path.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import orjson
import simdjson

from model_api.errors import BadRequestError

# V2 datatypes whose JSON data is read as float64 straight to numpy, as the careful path reads it.
FLOAT_DATATYPES = frozenset({"FP16", "FP32", "FP64"})
SIMDJSON_MIN_BYTES = 2048
REUSED_PARSER_MAX_BYTES = 1 << 20
_thread = threading.local()


def load_request(json_part: bytes) -> Any:
    """The parsed request; ``inputs[i]["data"]`` is a flat float64 array where it can be."""
    # A few numbers: orjson is quicker, simdjson's set-up outweighs what it saves.
    if len(json_part) < SIMDJSON_MIN_BYTES:
        return _load_with_orjson(json_part)
    return load_with_simdjson(json_part)


def load_with_simdjson(json_part: bytes) -> Any:
    """``load_request`` for bodies of any size (tests call it directly)."""
    try:
        document = _parse(json_part)
    except (ValueError, RuntimeError, UnicodeDecodeError):
        return _load_with_orjson(json_part)
    if not isinstance(document, simdjson.Object) or _needs_whole_conversion(document):
        return _plain(document)
    return {
        key: _read_inputs(document[key]) if key == "inputs" else _plain(document[key])
        for key in document
    }


def _parse(json_part: bytes) -> Any:
    """simdjson's document for ``json_part``.

    A parser keeps its buffers, sized to the largest document it parsed. Allocating them afresh
    takes about as long as the parse itself, so each thread reuses one parser for bodies up to
    ``REUSED_PARSER_MAX_BYTES``; larger bodies get their own, freed with the request, so one
    big request does not pin its buffers for the life of the process.
    """
    if len(json_part) > REUSED_PARSER_MAX_BYTES:
        return simdjson.Parser().parse(json_part)
    parser = getattr(_thread, "parser", None)
    if parser is None:
        parser = _thread.parser = simdjson.Parser()
    try:
        return parser.parse(json_part)
    except RuntimeError as exc:
        if "re-use" not in str(exc):
            raise
    # Objects of an earlier document still hold the parser (say, in an exception's traceback):
    # leave it to them.
    parser = _thread.parser = simdjson.Parser()
    return parser.parse(json_part)


def _read_inputs(inputs: Any) -> Any:
    if not isinstance(inputs, simdjson.Array):
        return _plain(inputs)
    return [
        _read_input(spec) if isinstance(spec, simdjson.Object) else _plain(spec) for spec in inputs
    ]


def _read_input(spec: simdjson.Object) -> Any:
    if _needs_whole_conversion(spec):
        return _plain(spec)
    read = {key: _plain(spec[key]) for key in spec if key != "data"}
    if "data" in spec:
        data = spec["data"]
        datatype = read.get("datatype")  # anything: checked later
        floats = isinstance(datatype, str) and datatype in FLOAT_DATATYPES
        read["data"] = _float_data(data) if floats else _plain(data)
    return read


def _needs_whole_conversion(value: simdjson.Object) -> bool:
    """Whether looking values up by key could go wrong: convert such objects whole (``as_dict``).

    A lookup finds the first of repeated keys where orjson keeps the last, and stops a key at
    a NUL character (``"\\u0000"``), finding another key or none.
    """
    keys = list(value)
    return len(set(keys)) != len(keys) or any("\x00" in key for key in keys)


def _float_data(data: Any) -> Any:
    if isinstance(data, simdjson.Array):
        try:
            return np.frombuffer(data.as_buffer(of_type="d"), dtype=np.float64)
        except (TypeError, ValueError, RuntimeError):  # null, true, strings, objects
            pass
    return _plain(data)


def _plain(value: Any) -> Any:
    """A simdjson value as the Python object orjson would have made."""
    if isinstance(value, simdjson.Object):
        return value.as_dict()
    if isinstance(value, simdjson.Array):
        return value.as_list()
    return value


def _load_with_orjson(json_part: bytes) -> Any:
    try:
        return orjson.loads(json_part)
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(f"request body is not valid JSON: {exc}") from None
