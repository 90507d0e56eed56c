"""Prediction ids: ``<token>-<row>``, one token (80 random bits) per request, one id per row."""

from __future__ import annotations

import os
import threading

from model_contract import is_prediction_id

TOKEN_BYTES = 10
# Tokens taken from one ``os.urandom`` call: a system call per request is a noticeable share of
# a single-row prediction's cost, a slice of a block read ahead is not (and just as random).
BLOCK_TOKENS = 256


class _TokenSource:
    """Slices of an ``os.urandom`` block, each used once (a lock: CSV uploads record from
    worker threads). A forked child drops the block it inherited and reads its own."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._block = b""
        self._next = 0
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._lock = threading.Lock()
        self._block, self._next = b"", 0

    def take(self) -> str:
        with self._lock:
            start = self._next
            if start >= len(self._block):
                self._block = os.urandom(TOKEN_BYTES * BLOCK_TOKENS)
                start = 0
            self._next = start + TOKEN_BYTES
            return self._block[start : start + TOKEN_BYTES].hex()


_tokens = _TokenSource()


def new_token() -> str:
    """A request's token: 20 hex characters of ``os.urandom`` output (unguessable, never
    reused)."""
    return _tokens.take()


def prediction_id(token: str, row: int) -> str:
    """The id of row ``row`` (0-based) of the request ``token``."""
    return f"{token}-{row}"


def parse_prediction_id(value: str) -> tuple[str, int] | None:
    """``(token, row)`` of a well-formed id, else None."""
    if len(value) > 32 or not is_prediction_id(value):
        return None
    return value[:20], int(value[21:])
