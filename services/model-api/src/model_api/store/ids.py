"""Prediction ids: ``<token>-<row>``, one token (80 random bits) per request, one id per row."""

from __future__ import annotations

import os
import re

# 20 lowercase hex characters, a dash, the row's 0-based index in its request.
PREDICTION_ID = re.compile(r"[0-9a-f]{20}-(?:0|[1-9][0-9]{0,9})")
PREDICTION_ID_FORM = "<20 lowercase hex characters>-<row>, e.g. 3f9a0c1be27d44a1c9e0-0"


def new_token() -> str:
    """A request's token: 20 hex characters from ``os.urandom`` (unguessable, never reused)."""
    return os.urandom(10).hex()


def prediction_id(token: str, row: int) -> str:
    """The id of row ``row`` (0-based) of the request ``token``."""
    return f"{token}-{row}"


def parse_prediction_id(value: str) -> tuple[str, int] | None:
    """``(token, row)`` of a well-formed id, else None."""
    if len(value) > 32 or PREDICTION_ID.fullmatch(value) is None:
        return None
    return value[:20], int(value[21:])
