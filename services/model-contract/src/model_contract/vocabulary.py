"""The words of the contract: tasks, feature types, explanation spaces, V2 datatypes, delimiters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

Task = Literal["binary", "multiclass", "regression"]
FeatureType = Literal["numeric", "integer", "boolean", "categorical"]
# One feature's value in a v1 row (None: missing).
Scalar = float | int | bool | str | None
# How the served value follows from the explained margin.
MarginToValue = Literal["identity", "exp", "sigmoid", "softmax", "step"]
# What base_value + sum(contributions) is in: "value" (the served value), "margin" (a
# classifier's score), "log" (the log of the served value), "logit" (its log-odds).
OutputSpace = Literal["value", "margin", "log", "logit"]

# A model's and a version's name: one URL path segment, never escaped.
NAME_PATTERN: Final = r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$"

# The Open Inference Protocol (V2) datatype of each feature type's input tensor.
V2_DATATYPES: Final[Mapping[FeatureType, str]] = {
    "numeric": "FP32",
    "integer": "INT64",
    "boolean": "BOOL",
    "categorical": "BYTES",
}
# INT64 and BOOL data have no null: a missing integer or boolean goes as FP32 null.
MISSING_V2_DATATYPE: Final = "FP32"

# ?delimiter= value -> the CSV field separator: a tab as "tab" or as itself (%09).
CSV_DELIMITERS: Final[Mapping[str, str]] = {",": ",", ";": ";", "tab": "\t", "\t": "\t", "|": "|"}
