"""Reads of the prediction log and the feedback on it: one logged prediction, saving feedback,
a model's judged predictions (a page, the export), the agreement summary and the retention
purge. Each function takes a connection; ``Store`` opens them and maps database failures."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, LargeBinary, Row, and_, case, exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from model_api.store.encoding import Inputs, read_inputs, read_outputs, row_bytes
from model_api.store.ids import TIME_HEX, parse_prediction_id
from model_api.store.records import (
    DailyAgreement,
    ExportRow,
    FeedbackIn,
    FeedbackItem,
    FeedbackOut,
    FeedbackPage,
    FeedbackSummary,
    LoggedPrediction,
    PredictionNotFound,
    VersionAgreement,
)
from model_api.store.schema import feedback, prediction_batches, prediction_requests

EXPORT_BATCH = 500
# The agreement gauge's window.
AGREEMENT_DAYS = 7
requests_t, batches_t, feedback_t = prediction_requests, prediction_batches, feedback
_BLOB = LargeBinary()


# One prediction ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Request:
    """One logged request, as prediction_requests has it (read there, or cut from a batch)."""

    token: str
    created_at: datetime
    model: str
    version: str
    source: str
    request_id: str | None
    n_rows: int
    layout: str
    inputs: bytes
    outputs: bytes

    def values(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__dataclass_fields__}


def _request(connection: Connection, token: str) -> tuple[_Request | None, int | None]:
    """The logged request ``token`` (a parsed id's) and the batch it is in; None when
    prediction_requests has it (judged, or written before the batches)."""
    found = connection.execute(select(requests_t).where(requests_t.c.token == token)).one_or_none()
    if found is not None:
        return _Request(**{f: getattr(found, f) for f in _Request.__dataclass_fields__}), None
    return _from_batch(connection, token)


def _from_batch(connection: Connection, token: str) -> tuple[_Request | None, int | None]:
    """The request cut from the batch that holds it: its token's prefix and text find the
    batch (a parsed token is hex: nothing in it is a LIKE wildcard), its entry the rows; only
    those rows' bytes are read."""
    candidates = connection.execute(
        select(
            batches_t.c.id,
            batches_t.c.model,
            batches_t.c.version,
            batches_t.c.requests,
            batches_t.c.layout,
        ).where(
            batches_t.c.token_prefix == int(token[:TIME_HEX], 16),
            batches_t.c.requests.contains(token),
        )
    ).all()
    for candidate in candidates:
        requests = orjson.loads(candidate.requests)
        try:
            index = requests["tokens"].index(token)
        except ValueError:
            continue
        layout = orjson.loads(candidate.layout)
        in_row, out_row = row_bytes(layout)
        first, rows = sum(requests["rows"][:index]), requests["rows"][index]
        inputs, outputs = connection.execute(
            select(
                func.substr(batches_t.c.inputs, first * in_row + 1, rows * in_row, type_=_BLOB),
                func.substr(batches_t.c.outputs, first * out_row + 1, rows * out_row, type_=_BLOB),
            ).where(batches_t.c.id == candidate.id)
        ).one()
        request = _Request(
            token=token,
            created_at=datetime.fromtimestamp(requests["times"][index], UTC),
            model=candidate.model,
            version=candidate.version,
            source=requests["sources"][index],
            request_id=requests["request_ids"][index],
            n_rows=rows,
            layout=candidate.layout,
            inputs=bytes(inputs),
            outputs=bytes(outputs),
        )
        return request, candidate.id
    return None, None


def logged_prediction(connection: Connection, prediction_id: str) -> LoggedPrediction | None:
    parsed = parse_prediction_id(prediction_id)
    if parsed is None:
        return None
    token, row = parsed
    found, _batch = _request(connection, token)
    if found is None or row >= found.n_rows:
        return None
    layout = orjson.loads(found.layout)
    judged = connection.execute(
        select(feedback_t)
        .where(feedback_t.c.prediction_id == prediction_id)
        .order_by(feedback_t.c.updated_at.desc(), feedback_t.c.id.desc())
    ).all()
    return LoggedPrediction(
        id=prediction_id,
        token=token,
        row=row,
        created_at=found.created_at,
        model=found.model,
        version=found.version,
        source=found.source,
        request_id=found.request_id,
        inputs=read_inputs(layout, found.inputs, found.n_rows).row(row),
        output=read_outputs(layout, found.outputs, found.n_rows)[row],
        feedback=[_feedback_out(f) for f in judged],
    )


def _keep(connection: Connection, request: _Request, batch: int) -> None:
    """Copy a request from its batch to prediction_requests: judged, it is training data that
    the retention purge keeps (and the feedback's foreign key names it)."""
    try:
        with connection.begin_nested():
            connection.execute(requests_t.insert().values(**request.values()))
            connection.execute(
                batches_t.update()
                .where(batches_t.c.id == batch)
                .values(n_kept=batches_t.c.n_kept + 1)
            )
    except IntegrityError:  # another author's feedback on it copied it first
        pass


def _feedback_out(row: Row[Any]) -> FeedbackOut:
    return FeedbackOut(
        prediction_id=row.prediction_id,
        model=row.model,
        version=row.version,
        verdict=row.verdict,
        actual=None if row.actual is None else orjson.loads(row.actual),
        comment=row.comment,
        author=row.author,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


# Saving feedback --------------------------------------------------------------------------------


def put_feedback(
    connection: Connection, given: FeedbackIn, now: datetime
) -> tuple[FeedbackOut, bool, str | None]:
    """Insert this author's feedback on the prediction, or update it: ``(saved, created, the
    verdict it had before)``. Raises PredictionNotFound for an id the log does not have."""
    parsed = parse_prediction_id(given.prediction_id)
    found, batch = (None, None) if parsed is None else _request(connection, parsed[0])
    if parsed is None or found is None or parsed[1] >= found.n_rows:
        raise PredictionNotFound(f"no logged prediction {given.prediction_id}")
    if batch is not None:
        _keep(connection, found, batch)
    values = {
        "verdict": given.verdict,
        "actual": None if given.actual is None else orjson.dumps(given.actual).decode(),
        "comment": given.comment,
        "updated_at": now,
    }
    key = and_(
        feedback_t.c.prediction_id == given.prediction_id, feedback_t.c.author == given.author
    )
    before = connection.execute(select(feedback_t.c.verdict).where(key)).one_or_none()
    created = before is None
    if created:
        try:
            with connection.begin_nested():
                connection.execute(
                    feedback_t.insert().values(
                        prediction_id=given.prediction_id,
                        token=parsed[0],
                        row=parsed[1],
                        model=found.model,
                        version=found.version,
                        author=given.author,
                        created_at=now,
                        **values,
                    )
                )
        except IntegrityError:  # the same author's other request got there first: update it
            created = False
            before = connection.execute(select(feedback_t.c.verdict).where(key)).one()
    if not created:
        connection.execute(feedback_t.update().where(key).values(**values))
    saved = connection.execute(select(feedback_t).where(key)).one()
    return _feedback_out(saved), created, None if before is None else before.verdict


# A model's judged predictions -------------------------------------------------------------------


def _filters(
    model: str,
    version: str | None,
    verdict: str | None,
    since: datetime | None,
    until: datetime | None,
) -> list[ColumnElement[bool]]:
    where = [feedback_t.c.model == model]
    if version is not None:
        where.append(feedback_t.c.version == version)
    if verdict is not None:
        where.append(feedback_t.c.verdict == verdict)
    if since is not None:
        where.append(feedback_t.c.updated_at >= since)
    if until is not None:
        where.append(feedback_t.c.updated_at < until)
    return where


_JUDGED = select(
    feedback_t,
    requests_t.c.created_at.label("predicted_at"),
    requests_t.c.n_rows,
    requests_t.c.layout,
    requests_t.c.inputs,
    requests_t.c.outputs,
).join(requests_t, requests_t.c.token == feedback_t.c.token)


class _Decoded:
    """Logged requests, decoded once per request however many of its rows are read (a batch's
    ground truth judges every row of one request)."""

    def __init__(self) -> None:
        self._token = ""
        self._inputs: Inputs | None = None
        self._outputs: list[dict[str, Any]] = []

    def row(self, found: Row[Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        if found.token != self._token or self._inputs is None:
            self._token = found.token
            layout = orjson.loads(found.layout)
            self._inputs = read_inputs(layout, found.inputs, found.n_rows)
            self._outputs = read_outputs(layout, found.outputs, found.n_rows)
        return self._inputs.row(found.row), self._outputs[found.row]


def feedback_page(
    connection: Connection,
    model: str,
    *,
    version: str | None,
    verdict: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    cursor: str | None,
) -> FeedbackPage:
    """Newest first (by when the feedback was last given); ``cursor`` continues a page."""
    where = _filters(model, version, verdict, since, until)
    if cursor is not None:
        moment, last = _read_cursor(cursor)
        where.append(
            or_(
                feedback_t.c.updated_at < moment,
                and_(feedback_t.c.updated_at == moment, feedback_t.c.id < last),
            )
        )
    found = connection.execute(
        _JUDGED.where(*where)
        .order_by(feedback_t.c.updated_at.desc(), feedback_t.c.id.desc())
        .limit(limit + 1)
    ).all()
    decoded = _Decoded()
    items = []
    for row in found[:limit]:
        inputs, output = decoded.row(row)
        base = _feedback_out(row)
        items.append(
            FeedbackItem(
                **{f: getattr(base, f) for f in base.__dataclass_fields__},
                inputs=inputs,
                output=output,
                predicted_at=row.predicted_at,
            )
        )
    more = len(found) > limit
    return FeedbackPage(items, _cursor(found[limit - 1]) if more else None)


# A page's end: when its last feedback was given (microseconds since 1970, UTC) and its number.
# Readable on purpose: any such position is a valid cursor (the page after it), so a client
# cannot send a "cursor" the API would have to refuse.
CURSOR_PATTERN = r"^[0-9]{1,16}\.[0-9]{1,18}$"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _cursor(row: Row[Any]) -> str:
    moment = row.updated_at - _EPOCH
    return f"{moment // timedelta(microseconds=1)}.{row.id}"


def _read_cursor(cursor: str) -> tuple[datetime, int]:
    """The position a cursor names (its form checked by the route: CURSOR_PATTERN)."""
    microseconds, number = cursor.split(".")
    return _EPOCH + timedelta(microseconds=int(microseconds)), int(number)


def export_rows(
    connection_factory: Any,
    model: str,
    *,
    version: str | None,
    verdict: str | None,
    since: datetime | None,
    until: datetime | None,
) -> Iterator[ExportRow]:
    """Every judged prediction, oldest first, read a batch at a time (a short transaction each,
    so that a slow download holds no connection)."""
    where = _filters(model, version, verdict, since, until)
    decoded = _Decoded()
    last = 0
    while True:
        with connection_factory() as connection:
            found = connection.execute(
                _JUDGED.where(*where, feedback_t.c.id > last)
                .order_by(feedback_t.c.id)
                .limit(EXPORT_BATCH)
            ).all()
        for row in found:
            inputs, output = decoded.row(row)
            yield ExportRow(
                prediction_id=row.prediction_id,
                predicted_at=row.predicted_at,
                version=row.version,
                inputs=inputs,
                output=output,
                verdict=row.verdict,
                actual=None if row.actual is None else orjson.loads(row.actual),
                comment=row.comment,
                author=row.author,
                judged_at=row.updated_at,
            )
        if len(found) < EXPORT_BATCH:
            return
        last = found[-1].id


# Agreement --------------------------------------------------------------------------------------

_RIGHT = func.sum(case((feedback_t.c.verdict == "right", 1), else_=0))
_WRONG = func.sum(case((feedback_t.c.verdict == "wrong", 1), else_=0))


def _ratio(right: int, judged: int) -> float | None:
    return right / judged if judged else None


def summary(
    connection: Connection, model: str, *, version: str | None, days: int, now: datetime
) -> FeedbackSummary:
    where = _filters(model, version, None, now - timedelta(days=days), None)
    versions = []
    total = 0
    for row in connection.execute(
        select(feedback_t.c.version, func.count(), _RIGHT, _WRONG)
        .where(*where)
        .group_by(feedback_t.c.version)
        .order_by(feedback_t.c.version)
    ):
        version_name, count, right, wrong = row[0], row[1], int(row[2] or 0), int(row[3] or 0)
        total += count
        versions.append(
            VersionAgreement(
                version_name, right + wrong, right, wrong, _ratio(right, right + wrong)
            )
        )
    day = _day(connection)
    daily = [
        DailyAgreement(
            date.fromisoformat(str(row[0])[:10]),
            row[1],
            int(row[2] or 0) + int(row[3] or 0),
            int(row[2] or 0),
            _ratio(int(row[2] or 0), int(row[2] or 0) + int(row[3] or 0)),
        )
        for row in connection.execute(
            select(day, feedback_t.c.version, _RIGHT, _WRONG)
            .where(*where, feedback_t.c.verdict.is_not(None))
            .group_by(day, feedback_t.c.version)
            .order_by(day, feedback_t.c.version)
        )
    ]
    return FeedbackSummary(model, days, versions, daily, total)


def _day(connection: Connection) -> ColumnElement[Any]:
    """The UTC calendar day of a feedback's last change, as SQL."""
    if connection.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", feedback_t.c.updated_at), "YYYY-MM-DD")
    return func.substr(feedback_t.c.updated_at, 1, 10)  # SQLite keeps UTC text


def agreement(connection: Connection, now: datetime) -> list[tuple[str, str, float | None]]:
    """(model, version, right / judged) over the last AGREEMENT_DAYS, for the gauge."""
    since = now - timedelta(days=AGREEMENT_DAYS)
    return [
        (row[0], row[1], _ratio(int(row[2] or 0), int(row[2] or 0) + int(row[3] or 0)))
        for row in connection.execute(
            select(feedback_t.c.model, feedback_t.c.version, _RIGHT, _WRONG)
            .where(feedback_t.c.updated_at >= since)
            .group_by(feedback_t.c.model, feedback_t.c.version)
        )
    ]


# Retention --------------------------------------------------------------------------------------


def purge(connection: Connection, before: datetime) -> int:
    """Delete the predictions made before ``before`` that nobody judged (judged ones are the
    training data: they stay, copied out of their batch when judged); the predictions deleted."""
    judged = exists().where(feedback_t.c.token == requests_t.c.token)
    result = connection.execute(
        requests_t.delete().where(requests_t.c.created_at < before, ~judged)
    )
    old = batches_t.c.last_created_at < before
    batched = connection.execute(
        select(func.sum(batches_t.c.n_requests - batches_t.c.n_kept)).where(old)
    ).scalar()
    connection.execute(batches_t.delete().where(old))
    return int(result.rowcount or 0) + int(batched or 0)


def utc_now() -> datetime:
    return datetime.now(UTC)
