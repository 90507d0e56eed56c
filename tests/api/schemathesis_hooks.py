"""Schemathesis hooks for ``test_fuzz``: the one V2 rule a JSON schema cannot state, and the
serializer of the admin API's archive uploads.

A V2 input's ``shape`` names how many values its ``data`` holds, and every input of a request
has the same number of rows. A model's typed infer schema states each input exactly but cannot
tie the inputs together, so data generated as valid (positive mode) is made to agree here: every
input keeps its first N values (N: the fewest any input has), flattened, and its shape becomes
[N] or [N, 1] as generated. Negative cases are sent as generated.
"""

from __future__ import annotations

import re
from typing import Any

import schemathesis

TYPED_INFER_PATH = re.compile(r"^/v2/models/[^{}]+/infer$")


def _flat(data: Any) -> list[Any]:
    if not isinstance(data, list):
        return [data]
    return [value for item in data for value in _flat(item)]


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return case
    if not TYPED_INFER_PATH.match(case.operation.path) or not isinstance(case.body, dict):
        return case
    inputs = case.body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        return case
    values = [_flat(spec.get("data")) for spec in inputs]
    rows = min(len(v) for v in values)
    for spec, flat in zip(inputs, values, strict=True):
        spec["data"] = flat[:rows]
        spec["shape"] = [rows, 1] if len(spec.get("shape") or []) == 2 else [rows]
    return case


@schemathesis.serializer("application/gzip", "application/x-gzip", "application/x-tar")
def archive_bytes(ctx: Any, value: Any) -> bytes:
    """The admin API's bundle archives: the generated binary string, as the bytes it is (the
    server must refuse what is not a readable archive with a 4xx, never a 5xx)."""
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8", "surrogatepass")
