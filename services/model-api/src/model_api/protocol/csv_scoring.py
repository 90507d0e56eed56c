"""v1 CSV scoring: an upload's rows predicted chunk by chunk, the scored file written as it goes.

Only the header is read before answering (a wrong header is a 4xx for the whole file); then
each chunk of rows is parsed, predicted and written while the answer streams, so a large file
is never held twice (``codecs.csv`` reads and writes the text).
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from model_api.codecs.csv import (
    Chunk,
    column_positions,
    ignored_columns_header,
    output_header,
    prediction_cells,
    read_header,
    row_chunks,
    spool_upload,
)
from model_api.observability import metrics
from model_api.protocol.messages import Incoming, Services, StreamedAnswer
from model_api.protocol.prediction_log import Logged, PredictionLog
from model_api.serving.registry import LoadedModel
from model_api.store.ids import new_token, prediction_ids


async def score_csv(
    model: LoadedModel, incoming: Incoming, services: Services, sep: str
) -> StreamedAnswer:
    """Check the upload (fields separated by ``sep``) and its header, then answer with the scored
    CSV's lines, produced as they are sent.

    A recorded upload gets a ``prediction_id`` column after ``row``; each chunk of rows is its
    own record (its own token), the id's row being the row's index among the chunk's scored rows.
    """
    settings = services.settings
    spool = await spool_upload(incoming.chunks(), settings.max_csv_bytes)
    text = io.TextIOWrapper(spool, encoding="utf-8-sig", newline="")
    try:
        header, header_lines = read_header(text, sep, settings)
        positions, extra = column_positions(model, header, sep)
    except Exception:
        text.close()
        raise
    chunks = row_chunks(
        text, sep, settings.max_csv_row_bytes, header_lines + 1, settings.csv_chunk_rows
    )

    log = services.log
    logged = None if log is None else log.begin(incoming)
    recorder = None if log is None or logged is None else (log, logged)

    def lines() -> Iterator[str]:
        try:
            yield from score_lines(model, chunks, positions, len(header), recorder)
        finally:
            text.close()

    headers = {"x-ignored-columns": ignored_columns_header(extra)} if extra else {}
    model.count_request("predict_csv")
    return StreamedAnswer(lines(), "text/csv; charset=utf-8", headers)


def score_lines(
    model: LoadedModel,
    chunks: Iterator[Chunk],
    positions: list[int],
    columns: int,
    recorder: tuple[PredictionLog, Logged] | None = None,
) -> Iterator[str]:
    """Yield the output CSV, one chunk of rows at a time (``recorder``: the prediction log and
    the request's entry in it, when the upload is recorded)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = output_header(model, ids=recorder is not None)
    writer.writerow(header)
    yield out.getvalue()
    blanks = [""] * (len(header) - 2)  # a rejected row's empty id and prediction columns
    rejected = metrics.CSV_ROWS_REJECTED.labels(model.name, model.version)
    first_row = 1
    for rows, unreadable in chunks:
        matrix, errors = model.encoder.from_text_rows(rows, positions, columns)
        errors.update(unreadable)
        if errors:
            rejected.inc(len(errors))
        valid = np.ones(len(rows), dtype=bool)
        valid[list(errors)] = False
        out.seek(0)
        out.truncate()
        cells: list[list[Any]] = []
        if valid.any():
            scored = matrix if not errors else matrix[valid]
            started = time.perf_counter()
            prediction = model.runtime.predict(scored)
            model.observe(scored, prediction, time.perf_counter() - started)
            cells = prediction_cells(model, prediction)
            entry: Logged | None = None
            if recorder is not None:
                log, logged = recorder
                token = new_token()
                entry = logged._replace(token=token)  # each chunk is a request of its own
                log.record(entry, model, scored, prediction)
                ids = prediction_ids(token, len(cells))
                cells = [[row_id, *c] for row_id, c in zip(ids, cells, strict=True)]
            shadow = model.batcher.shadow
            if shadow is not None:
                shadow(scored, prediction, [(entry, len(scored))])
        k = 0
        for i in range(len(rows)):
            number = first_row + i
            if not valid[i]:
                writer.writerow([number, *blanks, errors[i]])
                continue
            writer.writerow([number, *cells[k], ""])
            k += 1
        first_row += len(rows)
        yield out.getvalue()
