"""JSON Schema building blocks of the typed documents (v1 and V2): number bounds as the API
reads numbers, regular-expression literals, and the whitespace ``str.strip()`` removes."""

from __future__ import annotations

import math

from model_api.codecs.features import FLOAT32_MAX


def largest_number_read_within(bound: float) -> int:
    """The largest JSON number the API reads as at most ``bound``: numbers are read as float64
    (correctly rounded, ties to even) and then checked, so numbers up to halfway to the next
    float64 pass too. As an integer, the bound is exact for integers and decimals alike."""
    halfway = (int(bound) + int(math.nextafter(bound, math.inf))) // 2
    return halfway if float(halfway) <= bound else halfway - 1


# XGBoost reads float32: numbers past its range are refused, so the schemas say so.
FLOAT32_LIMIT = largest_number_read_within(FLOAT32_MAX)
FLOAT32_RANGE = {"minimum": -FLOAT32_LIMIT, "maximum": FLOAT32_LIMIT}

# Characters with a meaning in a regular expression (ECMA 262 and Python alike): escaped, and
# nothing else, since ECMA 262 refuses escapes of ordinary characters.
REGEX_SYNTAX = frozenset("^$\\.*+?()[]{}|/")

# What str.strip() takes off: Python's \s (ECMA 262's lacks \x1c-\x1f and \x85, and adds
# \ufeff, which only widens what a pattern takes); and the same but the line breaks.
STRIPPED_SPACE = r"[\s\x1c-\x1f\x85]"
STRIPPED_LINE_SPACE = r"(?:[^\S\r\n]|[\x1c-\x1f\x85])"


def regex_literal(text: str) -> str:
    return "".join("\\" + c if c in REGEX_SYNTAX else c for c in text)
