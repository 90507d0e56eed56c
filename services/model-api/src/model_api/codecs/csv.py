"""CSV in, CSV out, as text: the upload's lines, header and rows, and the scored file's lines.

The upload is spooled to a temporary file (in memory up to CSV_SPOOL_MEMORY_BYTES, then /tmp)
while its UTF-8 is checked, the header is read (within its byte and column limits) and checked
against the model's features before anything is scored, then rows are read in chunks
(``protocol.csv_scoring`` predicts them and writes them back). A bad row does not fail the file:
its output line carries the reason in the ``error`` column. That holds for a row that is not
valid CSV or is too long as well: reading goes on at the next line, so every row of the file gets
its line in the answer.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import AsyncIterator, Iterator
from tempfile import SpooledTemporaryFile
from typing import IO, Any
from urllib.parse import quote

import numpy as np
from model_contract import CSV_DELIMITERS

from model_api.errors import BadRequestError, InvalidInputError, PayloadTooLargeError
from model_api.serving.registry import LoadedModel
from model_api.serving.runtime import Prediction
from model_api.settings import CSV_SPOOL_MEMORY_BYTES, Settings

CSV_MEDIA_TYPES = frozenset({"text/csv", "application/csv"})
DELIMITERS = CSV_DELIMITERS  # ?delimiter= value -> the separator, as the UI knows them too
_CHOICES = ", ".join(map(repr, DELIMITERS))
UNKNOWN_DELIMITER = f"delimiter {{!r}} is not supported; use one of {_CHOICES}"
# A chunk also ends after this much input text: wide rows make many small Python strings (tens of
# bytes each for a short field), and csv_chunk_rows of them could otherwise take gigabytes.
CHUNK_MAX_BYTES = 4 * 1024 * 1024
# X-Ignored-Columns stays a small header whatever the upload holds.
IGNORED_HEADER_MAX_NAMES = 50
IGNORED_HEADER_MAX_CHARS = 2048
# Kept as they are in X-Ignored-Columns: printable ASCII but space (the "...and N more" marker
# has spaces, names never do), comma (the separator) and percent (the escape).
IGNORED_NAME_SAFE = "".join(chr(c) for c in range(33, 127) if chr(c) not in ",%")
Chunk = tuple[list[list[str]], dict[int, str]]


class RecordTooLongError(Exception):
    """A CSV record passed its byte limit; the rest of its last line has been skipped."""


class CsvLines:
    """The upload's physical lines, as ``csv.reader`` takes them, at most ``limit`` bytes a record.

    A line is read at most ``limit + 1`` characters at a time, and once the record being read
    passes the limit the rest of its line is skipped and RecordTooLongError raised: a 50 MB line,
    or a quote left open, never holds more than the limit in memory. Whoever reads the records
    resets ``record_bytes`` after each one. Iterating again (a new ``csv.reader``) goes on at the
    next line, which is how reading recovers from a bad record.
    """

    def __init__(self, text: IO[str], limit: int) -> None:
        self.text = text
        self.limit = limit
        self.record_bytes = 0

    def __iter__(self) -> Iterator[str]:
        readline = self.text.readline
        limit = self.limit
        while line := readline(limit + 1):
            self.record_bytes += len(line) if line.isascii() else len(line.encode())
            if self.record_bytes > limit:
                while line[-1] not in "\r\n" and (line := readline(limit + 1)):
                    pass
                raise RecordTooLongError
            yield line


async def spool_upload(chunks: AsyncIterator[bytes], limit: int) -> IO[bytes]:
    """Copy the body's ``chunks`` to a spooled temporary file, enforcing the size limit and UTF-8.

    In memory up to CSV_SPOOL_MEMORY_BYTES, then in /tmp: the middleware's body budgets count it
    the same way (``http.middleware.held_bytes``)."""
    spool: IO[bytes] = SpooledTemporaryFile(max_size=CSV_SPOOL_MEMORY_BYTES)  # noqa: SIM115
    decoder = codecs.getincrementaldecoder("utf-8")()
    size = 0
    try:
        async for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise PayloadTooLargeError(f"CSV upload exceeds the limit of {limit} bytes")
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                raise BadRequestError(
                    f"CSV is not valid UTF-8 near byte {size - len(chunk) + exc.start}"
                ) from None
            spool.write(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        spool.close()
        raise BadRequestError(
            "CSV is not valid UTF-8: it ends in the middle of a character"
        ) from None
    except Exception:
        spool.close()
        raise
    if size == 0:
        spool.close()
        raise BadRequestError("CSV upload is empty; expected a header line and rows")
    spool.seek(0)
    return spool


def column_positions(
    model: LoadedModel, header: list[str], delimiter: str
) -> tuple[list[int], list[str]]:
    """Position of each feature in the header, and the extra columns that will be ignored."""
    names = [h.strip() for h in header]
    index = {n: i for i, n in enumerate(names)}
    if len(index) < len(names):
        twice = [f for f in model.encoder.names if names.count(f) > 1]
        if twice:  # which of the two would be scored? Neither: say so.
            raise InvalidInputError(
                f"CSV header names feature column(s) more than once: {', '.join(twice)}",
                [{"loc": ["header", f], "msg": "column appears more than once"} for f in twice],
            )
    missing = [f for f in model.encoder.names if f not in index]
    if missing:
        hint = ""
        if len(names) == 1 and any(d in names[0] for d in ",;\t|" if d != delimiter):
            hint = " (the header looks like it uses another delimiter; set ?delimiter=)"
        raise InvalidInputError(
            f"CSV header lacks feature columns: {', '.join(missing)}{hint}",
            [{"loc": ["header", m], "msg": "missing column"} for m in missing],
        )
    extra = [n for n in names if n not in model.encoder.name_set]
    return [index[f] for f in model.encoder.names], extra


def output_header(model: LoadedModel, ids: bool = False) -> list[str]:
    """``row``, with ``ids`` (a recorded upload) ``prediction_id``, the prediction's columns,
    ``error``.

    Classifiers: ``label`` and a ``proba_<class>`` per class (none without probabilities);
    regression: ``value``, or a ``value_<output>`` per output of a multi-output model.
    """
    metadata = model.metadata
    start = ["row", "prediction_id"] if ids else ["row"]
    if metadata.task == "regression":
        names = metadata.output_names
        values = [f"value_{name}" for name in names] if names else ["value"]
        return [*start, *values, "error"]
    probabilities = [f"proba_{label}" for label in metadata.labels]
    return [*start, "label", *(probabilities if metadata.spec.probabilities else []), "error"]


def prediction_cells(model: LoadedModel, prediction: Prediction) -> list[list[Any]]:
    """Each row's prediction columns, in ``output_header`` order."""
    labels = model.metadata.labels
    if prediction.proba is not None:
        winners = np.argmax(prediction.proba, axis=1).tolist()
        return [[labels[w], *p] for w, p in zip(winners, prediction.proba.tolist(), strict=True)]
    if prediction.classes is not None:
        return [[labels[c]] for c in prediction.classes.tolist()]
    assert prediction.values is not None
    values: list[list[Any]] = prediction.values.reshape(len(prediction), -1).tolist()
    return values


def read_header(text: IO[str], sep: str, settings: Settings) -> tuple[list[str], int]:
    """The header's column names and how many lines they take; 4xx naming the limit otherwise."""
    limit = settings.max_csv_header_bytes
    reader = csv.reader(CsvLines(text, limit), delimiter=sep, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise BadRequestError("CSV upload has no header line") from None
    except RecordTooLongError:
        raise PayloadTooLargeError(
            f"CSV header is longer than {limit} bytes (MODEL_API_MAX_CSV_HEADER_BYTES); "
            "the first line must name the columns"
        ) from None
    except csv.Error as exc:
        raise BadRequestError(f"CSV header cannot be parsed: {exc}") from None
    if len(header) > settings.max_csv_columns:
        raise PayloadTooLargeError(
            f"CSV header has {len(header)} columns, more than the {settings.max_csv_columns} "
            "allowed (MODEL_API_MAX_CSV_COLUMNS)"
        )
    return header, reader.line_num


def row_chunks(
    text: IO[str], sep: str, limit: int, first_line: int, chunk_rows: int
) -> Iterator[Chunk]:
    """The data rows in chunks: (rows, {index in the chunk: why that row could not be read}).

    Blank lines are skipped. A record that is not valid CSV, or longer than ``limit`` bytes,
    becomes an empty row whose reason names its lines, and reading goes on at the next line.
    """
    lines = CsvLines(text, limit)
    rows: list[list[str]] = []
    unreadable: dict[int, str] = {}
    size = 0
    done = first_line - 1  # lines read by the readers before this one
    while True:
        reader = csv.reader(lines, delimiter=sep, strict=True)
        end = 0  # this reader's lines up to the end of its last good record
        try:
            for record in reader:
                size += lines.record_bytes
                lines.record_bytes = 0
                end = reader.line_num
                if record:
                    rows.append(record)
                    if len(rows) >= chunk_rows or size >= CHUNK_MAX_BYTES:
                        yield rows, unreadable
                        rows, unreadable, size = [], {}, 0
        except RecordTooLongError:
            last = done + reader.line_num + 1  # the reader never got the line that was too long
            reason = f"row longer than {limit} bytes (MODEL_API_MAX_CSV_ROW_BYTES)"
            if last > done + end + 1:
                reason += "; is a quote left open?"
        except csv.Error as exc:
            last = done + reader.line_num
            reason = _csv_problem(exc)
        else:
            if rows:
                yield rows, unreadable
            return
        first = done + end + 1
        where = f"line {first}" if first == last else f"lines {first}-{last}"
        unreadable[len(rows)] = f"{where}: {reason}"
        rows.append([])
        lines.record_bytes = 0
        done = last
        if len(rows) >= chunk_rows:
            yield rows, unreadable
            rows, unreadable, size = [], {}, 0


def _csv_problem(exc: csv.Error) -> str:
    message = str(exc)
    if message == "unexpected end of data":
        return "the file ends inside a quoted field (a quote is never closed)"
    if message.startswith("field larger than field limit"):
        return f"a field is longer than {csv.field_size_limit()} characters"
    return f"not valid CSV: {message}"


def ignored_columns_header(names: list[str]) -> str:
    """The X-Ignored-Columns value: names percent-encoded (UTF-8), comma-separated, bounded.

    Any name is then safe in a header (Latin-1 only, no line breaks) and a comma inside a name
    does not split it; past the bounds the list ends with "...and N more".
    """
    listed: list[str] = []
    size = 0
    for name in names:
        encoded = quote(name, safe=IGNORED_NAME_SAFE)
        size += len(encoded) + 1
        if len(listed) == IGNORED_HEADER_MAX_NAMES or size > IGNORED_HEADER_MAX_CHARS:
            break
        listed.append(encoded)
    if len(listed) < len(names):
        listed.append(f"...and {len(names) - len(listed)} more")
    return ",".join(listed)
