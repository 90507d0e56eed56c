"""Pure CSV work of the Batch page: read the upload, check its columns, chunk it, join scores."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import pandas as pd
from model_contract import CSV_DELIMITERS, ModelMetadata

# The menu: "auto" (guessed here from the header), then the separators the API reads, by name
# (the API also takes a tab as itself; the menu names it once, as "tab").
DELIMITERS = {
    "auto": "",
    **{name: sep for name, sep in CSV_DELIMITERS.items() if name.isprintable()},
}


@dataclass(frozen=True)
class Upload:
    """An uploaded CSV: its header and its non-blank rows, as text."""

    header: list[str]
    rows: list[list[str]]
    delimiter: str


@dataclass(frozen=True)
class ColumnCheck:
    missing: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.duplicated


def sniff_delimiter(first_line: str) -> str:
    """The most frequent in the header line of the separators the API reads (comma when none)."""
    counts = {d: first_line.count(d) for d in dict.fromkeys(CSV_DELIMITERS.values())}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def parse_upload(data: bytes, delimiter: str = "auto") -> Upload:
    """Decode (UTF-8, BOM allowed) and split a CSV; ValueError names what is wrong."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"the file is not UTF-8 text (byte {exc.start} is not valid UTF-8)"
        ) from None
    sep = DELIMITERS.get(delimiter, delimiter) or sniff_delimiter(text.split("\n", 1)[0])
    try:
        lines = [row for row in csv.reader(io.StringIO(text, newline=""), delimiter=sep) if row]
    except csv.Error as exc:
        raise ValueError(f"the file cannot be read as CSV: {exc}") from None
    if not lines:
        raise ValueError("the file is empty; expected a header line naming the features, then rows")
    header = [name.strip() for name in lines[0]]
    return Upload(header=header, rows=lines[1:], delimiter=sep)


def check_columns(header: list[str], metadata: ModelMetadata) -> ColumnCheck:
    """Which of the model's features the header lacks, and which columns the model does not know."""
    names = metadata.feature_names
    counts = Counter(header)
    duplicated = [n for n in names if counts[n] > 1]
    return ColumnCheck(
        missing=[n for n in names if n not in header],
        unknown=[h for h in header if h not in names],
        duplicated=duplicated,
    )


def chunks(rows: list[list[str]], size: int) -> Iterator[tuple[int, list[list[str]]]]:
    """(offset, rows) pieces of at most ``size`` rows."""
    for start in range(0, len(rows), size):
        yield start, rows[start : start + size]


def to_csv(header: list[str], rows: list[list[str]]) -> str:
    """Comma-separated text with a header, quoted where needed."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def parse_scores(text: str, offset: int) -> tuple[list[str], list[list[str]]]:
    """The API's scored CSV with its ``row`` numbers moved from chunk-local to file-wide."""
    lines = [row for row in csv.reader(io.StringIO(text, newline="")) if row]
    if not lines or lines[0][0] != "row":
        raise ValueError(f"unexpected scored CSV from the API: {text[:200]!r}")
    header, rows = lines[0], lines[1:]
    for row in rows:
        if row[0].isdigit():
            row[0] = str(int(row[0]) + offset)
    return header, rows


def assemble(upload: Upload, score_header: list[str], score_rows: list[list[str]]) -> pd.DataFrame:
    """Input columns beside the scores, one line per uploaded row; numbers typed as numbers."""
    outputs = score_header[1:]
    inputs = [f"input_{h}" if h in outputs or h == "row" else h for h in upload.header]
    records: list[dict[str, object]] = []
    for row in score_rows:
        if not row[0].isdigit():  # an in-band parse error line of the API
            records.append({"row": None, **dict(zip(outputs, row[1:], strict=False))})
            continue
        number = int(row[0])
        source = upload.rows[number - 1] if 0 < number <= len(upload.rows) else []
        record: dict[str, object] = {"row": number}
        record.update(zip(inputs, source, strict=False))
        record.update(zip(outputs, row[1:], strict=False))
        records.append(record)
    frame = pd.DataFrame.from_records(records, columns=["row", *inputs, *outputs])
    for column in outputs:
        if column == "value" or column.startswith(("proba_", "value_")):
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
    frame["error"] = frame["error"].fillna("")
    return frame


def template_csv(metadata: ModelMetadata, defaults: dict[str, object]) -> str:
    """A one-row CSV with the model's columns and typical values, to start from."""
    row = ["" if defaults.get(n) is None else str(defaults[n]) for n in metadata.feature_names]
    return to_csv(metadata.feature_names, [row])
