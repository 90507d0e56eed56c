"""The tables, as SQLAlchemy Core sees them at run time (migrations/ creates them)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime both ways: SQLite stores it naive (in UTC), PostgreSQL as
    ``timestamptz``; a naive value bound is taken as UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


metadata = MetaData()

prediction_requests = Table(
    "prediction_requests",
    metadata,
    Column("token", String(20), primary_key=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("model", String(128), nullable=False),
    Column("version", String(64), nullable=False),
    Column("source", String(8), nullable=False),
    Column("request_id", String(64)),
    Column("n_rows", Integer, nullable=False),
    Column("layout", Text, nullable=False),
    Column("inputs", LargeBinary, nullable=False),
    Column("outputs", LargeBinary, nullable=False),
)

# The writer's table: one row per flush, model version and second of the tokens (a batch of
# requests), so that the database's cost per request is a share of one row's. A request that is
# judged is copied to prediction_requests (the feedback's foreign key): the retention purge then
# deletes whole batches.
prediction_batches = Table(
    "prediction_batches",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("token_prefix", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_created_at", UTCDateTime(), nullable=False),
    Column("model", String(128), nullable=False),
    Column("version", String(64), nullable=False),
    Column("n_requests", Integer, nullable=False),
    Column("n_rows", Integer, nullable=False),
    Column("n_kept", Integer, nullable=False, server_default="0"),
    Column("requests", Text, nullable=False),
    Column("layout", Text, nullable=False),
    Column("inputs", LargeBinary, nullable=False),
    Column("outputs", LargeBinary, nullable=False),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("prediction_id", String(40), nullable=False),
    Column("token", String(20), ForeignKey("prediction_requests.token"), nullable=False),
    Column("row", Integer, nullable=False),
    Column("model", String(128), nullable=False),
    Column("version", String(64), nullable=False),
    Column("verdict", String(8)),
    Column("actual", Text),
    Column("comment", Text),
    Column("author", String(100), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# One row per evaluation run (POST .../evaluate): its summary in columns (listed per model and
# version), the whole answer as JSON (read back as it was given).
evaluation_runs = Table(
    "evaluation_runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("model", String(128), nullable=False),
    Column("version", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("source", String(16), nullable=False),
    Column("target", String(256), nullable=False),
    Column("data_sha256", String(64), nullable=False),
    Column("n_rows", Integer, nullable=False),
    Column("n_scored", Integer, nullable=False),
    Column("n_failed", Integer, nullable=False),
    Column("headline", String(16), nullable=False),
    Column("headline_value", Float),
    Column("result", Text, nullable=False),
)

# One row per disagreement of a model's shadow version on live traffic (protocol.shadow): the
# row's inputs and both answers as JSON, and the id the answer carried when it was recorded.
shadow_disagreements = Table(
    "shadow_disagreements",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("model", String(128), nullable=False),
    Column("version", String(64), nullable=False),
    Column("shadow_version", String(64), nullable=False),
    Column("prediction_id", String(40)),
    Column("inputs", Text, nullable=False),
    Column("answer", Text, nullable=False),
    Column("shadow_answer", Text, nullable=False),
)
