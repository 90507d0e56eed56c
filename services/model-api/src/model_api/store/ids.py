"""Prediction ids: ``<token>-<row>``, one token per request, one id per row.

A token is 20 hex characters: the first 6 the second it was made in (modulo 2**24, some 194
days), the other 14 random (56 bits of ``os.urandom``). The prefix is for the database: the log
is looked up by token, and an index of purely random keys takes each new key on a random page, so
that a batch of a thousand records rewrites most of the index's pages; keys of one second land
on a few. The random part is what makes an id unguessable: knowing the second leaves 2**56.
"""

from __future__ import annotations

import os
import threading
import time

from model_contract import is_prediction_id

TIME_HEX = 6
TIME_MASK = (1 << (4 * TIME_HEX)) - 1
RANDOM_BYTES = 7
# Tokens taken from one ``os.urandom`` call: a system call per request is a noticeable share of
# a single-row prediction's cost, a slice of a block read ahead is not (and just as random).
BLOCK_TOKENS = 256


class _TokenSource:
    """Slices of an ``os.urandom`` block, each used once (a lock: CSV uploads record from
    worker threads). A forked child drops the block it inherited and reads its own.

    The block is kept as hex and the current second's prefix is made once per second: a token is
    then two string slices, which is what a single-row prediction can afford.
    """

    def __init__(self) -> None:
        self._forget()
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._lock = threading.Lock()
        self._hex = ""
        self._next = 0
        self._second = -1
        self._prefix = ""

    def take(self) -> str:
        now = int(time.time())
        with self._lock:
            if now != self._second:
                self._second, self._prefix = now, f"{now & TIME_MASK:06x}"
            start = self._next
            if start >= len(self._hex):
                self._hex = os.urandom(RANDOM_BYTES * BLOCK_TOKENS).hex()
                start = 0
            self._next = start + 2 * RANDOM_BYTES
            return self._prefix + self._hex[start : start + 2 * RANDOM_BYTES]


_tokens = _TokenSource()


def new_token() -> str:
    """A request's token: 20 hex characters, the second it was made then 56 random bits
    (unguessable, never reused)."""
    return _tokens.take()


def prediction_id(token: str, row: int) -> str:
    """The id of row ``row`` (0-based) of the request ``token``."""
    return f"{token}-{row}"


# "-0", "-1", ...: a request's ids are its token joined to these (a thousand-row answer would
# otherwise format a thousand numbers). Rebound whole, never grown in place: threads share it.
_row_suffixes: list[str] = []
ROW_SUFFIXES_KEPT = 65_536  # past this, each request makes its own (rare, and bounded memory)


def prediction_ids(token: str, rows: int) -> list[str]:
    """The ids of rows 0 to ``rows - 1`` of the request ``token``."""
    global _row_suffixes
    if rows > ROW_SUFFIXES_KEPT:
        return [f"{token}-{i}" for i in range(rows)]
    if len(_row_suffixes) < rows:
        _row_suffixes = [f"-{i}" for i in range(min(ROW_SUFFIXES_KEPT, max(rows, 1_024)))]
    return [token + suffix for suffix in _row_suffixes[:rows]]


def parse_prediction_id(value: str) -> tuple[str, int] | None:
    """``(token, row)`` of a well-formed id, else None."""
    if len(value) > 32 or not is_prediction_id(value):
        return None
    return value[:20], int(value[21:])
