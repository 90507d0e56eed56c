"""The prediction log and its feedback, behind one object the API opens at start-up."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from model_api.observability import metrics
from model_api.store import evaluations, shadow
from model_api.store import feedback as queries
from model_api.store.database import create_store_engine, database_url, upgrade
from model_api.store.records import (
    EvaluationRun,
    ExportRow,
    FeedbackIn,
    FeedbackOut,
    FeedbackPage,
    FeedbackSummary,
    LoggedPrediction,
    RecordBatch,
    ShadowDisagreement,
    StoreConfig,
    StoreError,
    StoreUnavailable,
)
from model_api.store.writer import LogWriter

log = logging.getLogger("model_api.store")

PURGE_SECONDS = 3600.0
AGREEMENT_SECONDS = 30.0
# How long a migration is retried for in the background, between tries, when the database
# could not be reached at start-up.
MIGRATE_RETRY_SECONDS = 5.0
CLOSE_SECONDS = 5.0


class Store:
    """The database of logged predictions and feedback (see ``open``)."""

    def __init__(self, config: StoreConfig) -> None:
        self.config = config
        self.engine = create_store_engine(config.url)
        self._schema_ready = not config.migrate
        self._last_migrate_try = 0.0
        self._last_purge = 0.0
        self._last_agreement = 0.0
        self._agreement_lock = threading.Lock()
        self.writer = LogWriter(
            self.engine,
            queue_rows=config.queue_rows,
            flush_seconds=config.flush_seconds,
            exclude_features=config.exclude_features,
            ready=self._ensure_schema,
            tick=self._periodic,
        )

    @classmethod
    def open(cls, config: StoreConfig) -> Store:
        """Connect and apply the migrations (when ``config.migrate``).

        An embedded SQLite database that cannot be opened is a start-up error (its data folder
        is broken). A server database that cannot be reached is not: predictions never depend
        on it; the store keeps trying in the background, dropping records meanwhile (counted),
        and the feedback endpoints answer 503 until it answers.
        """
        metrics.expose_database_up()
        store = cls(config)
        sqlite = database_url(config.url).get_backend_name() == "sqlite"
        try:
            store._connect()
        except SQLAlchemyError as exc:
            if sqlite:
                store.close()
                raise StoreError(f"the prediction log's database cannot be opened: {exc}") from exc
            metrics.DATABASE_UP.set(0)
            log.warning(
                "prediction log: the database cannot be reached; retrying in the background",
                extra={"error": type(exc).__name__},
            )
        return store

    def _connect(self) -> None:
        if self.config.migrate:
            upgrade(self.engine)
            self._schema_ready = True
        else:
            with self.engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        metrics.DATABASE_UP.set(1)

    def _ensure_schema(self) -> bool:
        """Called by the writer before a batch: True once the migrations have been applied."""
        if self._schema_ready:
            return True
        now = time.monotonic()
        if now - self._last_migrate_try < MIGRATE_RETRY_SECONDS:
            return False
        self._last_migrate_try = now
        try:
            self._connect()
        except SQLAlchemyError as exc:
            metrics.DATABASE_UP.set(0)
            log.warning("prediction log: migrations not applied yet", extra={"error": str(exc)})
            return False
        log.info("prediction log: the database answers; migrations applied")
        return True

    # The request path -------------------------------------------------------------------------

    def record(self, item: Any, rows: int | None = None) -> None:
        """Queue a scored matrix for the log: O(1), never raises, never waits for the database.

        ``item`` is a PredictionRecord, or anything ``convert_with``'s function takes (then
        ``rows`` says how many rows it holds)."""
        self.writer.record(item, len(item.matrix) if rows is None else rows)

    def convert_with(self, convert: Callable[[list[Any]], list[RecordBatch]]) -> None:
        """Queue the API's own items, grouped into batches by ``convert`` in the writer thread
        (it is given what was queued since the last batch, in order)."""
        self.writer.convert = convert

    # Reads and feedback -----------------------------------------------------------------------

    def flush(self, timeout: float = 2.0) -> None:
        """Wait (at most ``timeout``) until what is queued now is written."""
        self.writer.flush(timeout)

    def prediction(self, prediction_id: str) -> LoggedPrediction | None:
        """The logged prediction, or None; a miss waits for the queue once (the prediction may
        have been made a moment ago)."""
        found = self._read(lambda c: queries.logged_prediction(c, prediction_id))
        if found is None:
            self.flush()
            found = self._read(lambda c: queries.logged_prediction(c, prediction_id))
        return found

    def put_feedback(self, given: FeedbackIn) -> tuple[FeedbackOut, bool]:
        """Save one author's feedback on a prediction (an update when they gave one before):
        ``(saved, created)``. Raises PredictionNotFound, or StoreUnavailable."""
        now = queries.utc_now()
        saved, created, before = self._write(lambda c: queries.put_feedback(c, given, now))
        if created or saved.verdict != before:
            verdict = saved.verdict or "none"
            metrics.FEEDBACK.labels(saved.model, saved.version, verdict).inc()
        self._refresh_agreement()
        return saved, created

    def feedback_page(
        self,
        model: str,
        *,
        version: str | None = None,
        verdict: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> FeedbackPage:
        """A model's judged predictions, newest first, from the position ``cursor`` names."""
        return self._read(
            lambda c: queries.feedback_page(
                c,
                model,
                version=version,
                verdict=verdict,
                since=since,
                until=until,
                limit=limit,
                cursor=cursor,
            )
        )

    def export_rows(
        self,
        model: str,
        *,
        version: str | None = None,
        verdict: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Iterator[ExportRow]:
        """Every judged prediction, oldest first, streamed in batches."""
        rows = queries.export_rows(
            self._connection,
            model,
            version=version,
            verdict=verdict,
            since=since,
            until=until,
        )
        # The first batch is read now, so that a database that is down answers 503 before the
        # response starts, not in the middle of the file.
        first = self._read(lambda _: next(rows, None))
        if first is None:
            return iter(())
        return _chain(first, rows)

    def summary(self, model: str, *, version: str | None = None, days: int = 30) -> FeedbackSummary:
        now = queries.utc_now()
        return self._read(lambda c: queries.summary(c, model, version=version, days=days, now=now))

    # Evaluation runs ---------------------------------------------------------------------------

    def save_evaluation(self, run: EvaluationRun) -> None:
        """Store one evaluation run. Raises StoreUnavailable."""
        self._write(lambda c: evaluations.save(c, run))

    def evaluations(
        self, model: str, *, version: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """A model's evaluation runs, newest first, without their tables."""
        return self._read(lambda c: evaluations.runs(c, model, version, limit))

    def evaluation(self, run_id: str) -> dict[str, Any] | None:
        """One evaluation run's whole answer, or None."""
        return self._read(lambda c: evaluations.run(c, run_id))

    # Shadow disagreements ----------------------------------------------------------------------

    def save_disagreements(self, rows: list[ShadowDisagreement]) -> None:
        """Store rows a shadow version answered otherwise (one transaction). Raises
        StoreUnavailable."""
        if rows:
            self._write(lambda c: shadow.save(c, rows))

    def disagreements(
        self,
        model: str,
        *,
        version: str | None = None,
        shadow_version: str | None = None,
        before: int | None = None,
        limit: int = 50,
    ) -> tuple[list[dict[str, Any]], int | None]:
        """A model's stored disagreements, newest first, and the next page's cursor."""
        return self._read(
            lambda c: shadow.page(
                c,
                model,
                version=version,
                shadow_version=shadow_version,
                before=before,
                limit=limit,
            )
        )

    def purge(self, now: datetime | None = None) -> int:
        """Delete unjudged predictions (and shadow disagreements) older than the retention;
        the number of predictions deleted."""
        if self.config.retention_days <= 0:
            return 0
        before = (now or queries.utc_now()) - timedelta(days=self.config.retention_days)
        deleted = self._write(lambda c: queries.purge(c, before))
        self._write(lambda c: shadow.purge(c, before))
        if deleted:
            log.info("prediction log: old predictions purged", extra={"deleted": deleted})
        return deleted

    def close(self) -> None:
        """Write what is queued (briefly) and stop the writer."""
        self.writer.close(CLOSE_SECONDS)
        self.engine.dispose()

    # Internals --------------------------------------------------------------------------------

    def _connection(self) -> AbstractContextManager[Connection]:
        return self.engine.connect()

    def _read[T](self, work: Callable[[Connection], T]) -> T:
        try:
            with self.engine.connect() as connection:
                result = work(connection)
        except SQLAlchemyError as exc:
            metrics.DATABASE_UP.set(0)
            raise StoreUnavailable(
                f"the prediction log's database cannot be reached ({type(exc).__name__})"
            ) from exc
        metrics.DATABASE_UP.set(1)
        return result

    def _write[T](self, work: Callable[[Connection], T]) -> T:
        try:
            with self.engine.begin() as connection:
                result = work(connection)
        except SQLAlchemyError as exc:
            metrics.DATABASE_UP.set(0)
            raise StoreUnavailable(
                f"the prediction log's database cannot be reached ({type(exc).__name__})"
            ) from exc
        metrics.DATABASE_UP.set(1)
        return result

    def _periodic(self) -> None:
        """The writer thread's periodic work: the retention purge, the agreement gauges."""
        if not self._schema_ready:
            return
        now = time.monotonic()
        if now - self._last_agreement >= AGREEMENT_SECONDS:
            self._refresh_agreement()
        if now - self._last_purge >= PURGE_SECONDS:
            self._last_purge = now
            try:
                self.purge()
            except StoreUnavailable:
                self._last_purge = now - PURGE_SECONDS + AGREEMENT_SECONDS  # try again soon

    def _refresh_agreement(self) -> None:
        with self._agreement_lock:
            self._last_agreement = time.monotonic()
            try:
                rows = self._read(lambda c: queries.agreement(c, queries.utc_now()))
            except StoreUnavailable:
                return
            for model, version, ratio in rows:
                if ratio is not None:
                    metrics.FEEDBACK_AGREEMENT.labels(model, version).set(ratio)


def _chain[T](first: T, rest: Iterator[T]) -> Iterator[T]:
    yield first
    yield from rest
