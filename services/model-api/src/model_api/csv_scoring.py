"""CSV in, CSV out: stream a large file through a model without holding it in memory twice.

The upload is spooled to a temporary file (memory up to 8 MiB, then /tmp) while its UTF-8 is
checked, the header is checked against the model's features before anything is scored, then
rows are parsed, predicted and written back in chunks. A bad row does not fail the file: its
output line carries the reason in the ``error`` column.
"""

from __future__ import annotations

import codecs
import csv
import io
import time
from collections.abc import Iterator
from tempfile import SpooledTemporaryFile
from typing import IO

import numpy as np
from fastapi import Request
from starlette.responses import StreamingResponse

from model_api import metrics
from model_api.errors import BadRequestError, InvalidInputError, PayloadTooLargeError
from model_api.registry import LoadedModel
from model_api.settings import CSV_SPOOL_MEMORY_BYTES

SPOOL_MEMORY_BYTES = CSV_SPOOL_MEMORY_BYTES  # the middleware's byte budgets count spools so
DELIMITERS = {",": ",", ";": ";", "tab": "\t", "\t": "\t", "|": "|"}


async def spool_upload(request: Request, limit: int) -> IO[bytes]:
    """Copy the body to a spooled temporary file, enforcing the size limit and UTF-8."""
    spool: IO[bytes] = SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES)  # noqa: SIM115
    decoder = codecs.getincrementaldecoder("utf-8")()
    size = 0
    try:
        async for chunk in request.stream():
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


def output_header(model: LoadedModel) -> list[str]:
    if model.metadata.task == "regression":
        return ["row", "value", "error"]
    return ["row", "label", *[f"proba_{label}" for label in model.metadata.labels], "error"]


def score_lines(
    model: LoadedModel, reader: Iterator[list[str]], positions: list[int], chunk_rows: int
) -> Iterator[str]:
    """Yield the output CSV, one chunk of rows at a time."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(output_header(model))
    yield out.getvalue()
    labels = model.metadata.labels
    rejected = metrics.CSV_ROWS_REJECTED.labels(model.name, model.version)
    first_row = 1
    while True:
        rows = [row for _, row in zip(range(chunk_rows), reader, strict=False)]
        if not rows:
            return
        rows = [r for r in rows if r]  # blank lines are not rows
        matrix, errors = model.encoder.from_text_rows(rows, positions)
        if errors:
            rejected.inc(len(errors))
        valid = np.ones(len(rows), dtype=bool)
        valid[list(errors)] = False
        out.seek(0)
        out.truncate()
        if valid.any():
            scored = matrix if not errors else matrix[valid]
            started = time.perf_counter()
            prediction = model.runtime.predict(scored)
            model.observe(scored, prediction, time.perf_counter() - started)
        else:
            prediction = None
        k = 0
        for i in range(len(rows)):
            number = first_row + i
            if not valid[i]:
                blanks = [""] * (1 if not labels else 1 + len(labels))
                writer.writerow([number, *blanks, errors[i]])
                continue
            assert prediction is not None
            if prediction.proba is not None:
                probs = prediction.proba[k]
                writer.writerow([number, labels[int(np.argmax(probs))], *probs.tolist(), ""])
            else:
                assert prediction.values is not None
                writer.writerow([number, float(prediction.values[k]), ""])
            k += 1
        first_row += len(rows)
        yield out.getvalue()


async def csv_response(
    request: Request, model: LoadedModel, limit: int, chunk_rows: int, delimiter: str
) -> StreamingResponse:
    """Check the upload and its header, then stream the scored CSV back."""
    if delimiter not in DELIMITERS:
        raise BadRequestError(f"delimiter {delimiter!r} is not supported; use one of , ; tab |")
    sep = DELIMITERS[delimiter]
    spool = await spool_upload(request, limit)
    text = io.TextIOWrapper(spool, encoding="utf-8-sig", newline="")
    reader = csv.reader(text, delimiter=sep)
    try:
        header = next(reader)
        positions, extra = column_positions(model, header, sep)
    except StopIteration:
        text.close()
        raise BadRequestError("CSV upload has no header line") from None
    except csv.Error as exc:
        text.close()
        raise BadRequestError(f"CSV header cannot be parsed: {exc}") from None
    except Exception:
        text.close()
        raise

    def body() -> Iterator[str]:
        try:
            yield from score_lines(model, reader, positions, chunk_rows)
        except csv.Error as exc:  # after the header the status is sent: report in-band
            line = io.StringIO()
            blanks = [""] * (len(output_header(model)) - 1)
            csv.writer(line, lineterminator="\n").writerow([*blanks, f"CSV parse error: {exc}"])
            yield line.getvalue()
        finally:
            text.close()

    headers = {"x-ignored-columns": ",".join(extra)} if extra else {}
    model.count_request("predict_csv")
    return StreamingResponse(body(), media_type="text/csv; charset=utf-8", headers=headers)
