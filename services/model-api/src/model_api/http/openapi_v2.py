"""The typed V2 (Open Inference Protocol) request of one model, as a JSON schema.

The generic ``InferenceRequest`` takes any input names and data; a model's typed one says what it
accepts: one input per feature, named by it (listed in the features' order; the API reads any
order), with every datatype the API reads for that feature (``COLUMN_DATATYPES``) and, per
datatype, the values it takes (JSON numbers within float32's range or the integer type's,
category codes, 0/1 flags, text as a CSV cell is read for BYTES). The API refuses what the schema
does not state and scores what it states, but for two rules JSON Schema cannot express:
``shape`` counts the values in ``data``, and every input has the same number of rows. The
operation's description says so.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from model_contract import V2_DATATYPES

from model_api.codecs.features import FALSE_STRINGS, MISSING_STRINGS, TRUE_STRINGS
from model_api.http.json_schema import (
    FLOAT32_LIMIT,
    STRIPPED_SPACE,
    largest_number_read_within,
    regex_literal,
)
from model_api.protocol.v2 import COLUMN_DATATYPES, output_names
from model_api.serving.bundle import BundleMetadata, FeatureSpec

COMPONENTS = "#/components/schemas/"
SHAPE_KEY = "V2FeatureShape"
PARAMETERS_KEY = "V2FeatureParameters"
FLOAT_TYPES = ("FP32", "FP64")
INTEGER_TYPES = ("INT32", "INT64")


def _integer_range(datatype: str) -> tuple[int, int]:
    """The JSON numbers an integer datatype's data takes: they are read as float64 and must
    land in [min, 2**bits), which for 64 bits is wider or narrower than the type by what
    float64 rounds away."""
    info = np.iinfo(np.dtype(datatype.lower()))
    return (
        -largest_number_read_within(-float(info.min)),
        largest_number_read_within(math.nextafter(float(info.max) + 1, 0.0)),
    )


# The JSON numbers each datatype's data takes: (lowest, highest), both included. Float data is
# read as written and checked against float32's range.
NUMBER_RANGES: dict[str, tuple[int, int]] = {
    "FP32": (-FLOAT32_LIMIT, FLOAT32_LIMIT),
    "FP64": (-FLOAT32_LIMIT, FLOAT32_LIMIT),
    **{datatype: _integer_range(datatype) for datatype in INTEGER_TYPES},
}


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else regex_literal(c) for c in word)


# Text the API reads as "missing" (compared upper-cased, after strip(); empty too).
MISSING_TEXT = "(?:" + "|".join(_any_case(w) for w in sorted(MISSING_STRINGS)) + ")?"
DECIMAL_TEXT = r"[+-]?(?:[0-9]{1,38}(?:\.[0-9]*)?|\.[0-9]+)"  # 38 digits stay in float32's range
WHOLE_TEXT = r"[+-]?[0-9]{1,38}(?:\.0*)?"


def _text_pattern(*alternatives: str) -> str:
    return rf"^{STRIPPED_SPACE}*(?:{'|'.join(alternatives)}){STRIPPED_SPACE}*$"


def _number_values(feature: FeatureSpec, datatype: str) -> dict[str, Any]:
    """The JSON numbers a numeric datatype's data takes for ``feature``."""
    lowest, highest = NUMBER_RANGES[datatype]
    if feature.type == "categorical":  # the category's index in its list
        last = len(feature.categories or []) - 1
        if datatype in INTEGER_TYPES:
            last = min(last, NUMBER_RANGES[datatype][1])
        return {"type": "integer", "minimum": 0, "maximum": last}
    if feature.type == "boolean":
        return {"enum": [0, 1]}
    kind = "integer" if feature.type == "integer" or datatype in INTEGER_TYPES else "number"
    return {"type": kind, "minimum": lowest, "maximum": highest}


def _bytes_values(feature: FeatureSpec) -> dict[str, Any]:
    """BYTES data: JSON values as in v1, or text read as a CSV cell is."""
    if feature.type == "categorical":
        names = [regex_literal(c) for c in feature.categories or []]
        return {"type": "string", "pattern": _text_pattern(*names, MISSING_TEXT)}
    if feature.type == "boolean":
        words = [_any_case(w) for w in sorted(TRUE_STRINGS | FALSE_STRINGS)]
        return {
            "anyOf": [
                {"type": "boolean"},
                {"type": "string", "pattern": _text_pattern(*words, MISSING_TEXT)},
            ]
        }
    whole = feature.type == "integer"
    number: dict[str, Any] = {"type": "integer" if whole else "number"}
    number.update({"minimum": -FLOAT32_LIMIT, "maximum": FLOAT32_LIMIT})
    text = WHOLE_TEXT if whole else DECIMAL_TEXT
    return {"anyOf": [number, {"type": "string", "pattern": _text_pattern(text, MISSING_TEXT)}]}


def _data_schema(value: dict[str, Any], nullable: bool, max_rows: int) -> dict[str, Any]:
    """A flat list of values, or (for shape [N, 1]) rows of them; null = missing."""
    item = {"anyOf": [value, {"type": "null"}]} if nullable else value
    return {
        "type": "array",
        "minItems": 1,
        "maxItems": max_rows,
        "items": {"anyOf": [item, {"type": "array", "minItems": 1, "items": item}]},
    }


def _data_variants(feature: FeatureSpec, max_rows: int) -> list[tuple[list[str], Any]]:
    """The datatypes the feature's input takes (``COLUMN_DATATYPES``), grouped where their
    data takes the same values, each group with the schema of its data."""
    read = COLUMN_DATATYPES[feature.type]
    floats = [t for t in read if t in FLOAT_TYPES]
    variants = [(floats, _data_schema(_number_values(feature, floats[0]), True, max_rows))]
    integers = [t for t in read if t in INTEGER_TYPES]
    by_values: dict[str, tuple[list[str], Any]] = {}
    for datatype in integers:  # a missing value needs a float
        data = _data_schema(_number_values(feature, datatype), False, max_rows)
        by_values.setdefault(repr(data), ([], data))[0].append(datatype)
    variants += by_values.values()
    if "BOOL" in read:
        variants.append((["BOOL"], _data_schema({"type": "boolean"}, False, max_rows)))
    variants.append((["BYTES"], _data_schema(_bytes_values(feature), True, max_rows)))
    return variants


def input_schema(feature: FeatureSpec, max_rows: int) -> dict[str, Any]:
    """One feature's input: a whole object schema per datatype (generators and readers alike
    take a choice of whole objects better than one object with conditional parts)."""
    declared, read = V2_DATATYPES[feature.type], COLUMN_DATATYPES[feature.type]
    return {
        "description": f"Feature {feature.name!r} ({feature.type}): {', '.join(read)} (its "
        f"metadata names {declared}); null = missing, in float and BYTES data.",
        "anyOf": [
            {
                "type": "object",
                "title": " or ".join(datatypes),
                "required": ["name", "shape", "datatype", "data"],
                "properties": {
                    "name": {"const": feature.name},
                    "shape": {"$ref": COMPONENTS + SHAPE_KEY},
                    "datatype": {"enum": datatypes},
                    "data": data,
                    "parameters": {"$ref": COMPONENTS + PARAMETERS_KEY},
                },
            }
            for datatypes, data in _data_variants(feature, max_rows)
        ],
    }


def shared_schemas(max_rows: int) -> dict[str, Any]:
    """The parts every feature's input has: its shape and its parameters."""
    return {
        SHAPE_KEY: {
            "type": "array",
            "description": "[N] or [N, 1]: N values in data, the same N for every input.",
            "prefixItems": [{"type": "integer", "minimum": 1, "maximum": max_rows}, {"const": 1}],
            "items": False,
            "minItems": 1,
        },
        PARAMETERS_KEY: {
            "type": ["object", "null"],
            "description": "binary_data_size belongs to the binary tensor extension only.",
            "not": {"required": ["binary_data_size"]},
        },
    }


def infer_request_schema(metadata: BundleMetadata, max_rows: int) -> dict[str, Any]:
    """The JSON request of one model: an input per feature, in order; outputs by name."""
    outputs = output_names(metadata)
    features = metadata.features
    return {
        "type": "object",
        "required": ["inputs"],
        "properties": {
            "id": {"type": ["string", "null"], "description": "Echoed in the answer."},
            "parameters": {"type": ["object", "null"]},
            "inputs": {
                "type": "array",
                "prefixItems": [input_schema(f, max_rows) for f in features],
                "items": False,
                "minItems": len(features),
            },
            "outputs": {
                "type": ["array", "null"],
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {"enum": outputs},
                        "parameters": {"type": ["object", "null"]},
                    },
                },
            },
        },
    }


def infer_example(metadata: BundleMetadata) -> dict[str, Any]:
    """One row of the features' defaults, each in its metadata's datatype (a missing default
    as FP32 null: INT64 and BOOL data have no null)."""
    inputs = []
    for feature in metadata.features:
        datatype = V2_DATATYPES[feature.type]
        if feature.default is None and datatype in ("INT64", "BOOL"):
            datatype = "FP32"
        inputs.append(
            {"name": feature.name, "shape": [1], "datatype": datatype, "data": [feature.default]}
        )
    return {"inputs": inputs}
