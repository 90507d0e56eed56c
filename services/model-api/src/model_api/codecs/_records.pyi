from collections.abc import Buffer, Sequence

def parse_records(
    body: bytes, names: Sequence[str], max_rows: int, /
) -> tuple[int, bytes] | None: ...
def write_rows(
    values: Buffer,
    width: int,
    row_starts: list[bytes],
    separators: list[bytes],
    choices: Buffer = ...,
    /,
) -> bytes: ...
