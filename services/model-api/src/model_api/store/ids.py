"""Prediction ids: ``<token>-<row>``, one token (80 random bits) per request, one id per row."""

from __future__ import annotations

import os

from model_contract import is_prediction_id


def new_token() -> str:
    """A request's token: 20 hex characters from ``os.urandom`` (unguessable, never reused)."""
    return os.urandom(10).hex()


def prediction_id(token: str, row: int) -> str:
    """The id of row ``row`` (0-based) of the request ``token``."""
    return f"{token}-{row}"


def parse_prediction_id(value: str) -> tuple[str, int] | None:
    """``(token, row)`` of a well-formed id, else None."""
    if len(value) > 32 or not is_prediction_id(value):
        return None
    return value[:20], int(value[21:])
