from collections.abc import Sequence

def parse_records(
    body: bytes, names: Sequence[str], max_rows: int, /
) -> tuple[int, bytes] | None: ...
