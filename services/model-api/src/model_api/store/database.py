"""Engines and migrations: SQLite (WAL) or PostgreSQL (psycopg 3), Alembic without alembic.ini."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "model_api_alembic_version"
# pg_advisory_xact_lock key of the migrations (any constant: "model-api" in ASCII, truncated).
MIGRATION_LOCK = 0x6D6F64656C2D61
SQLITE_BUSY_MS = 5000
# Pages of a new SQLite database (the largest SQLite allows is 64 KiB; past 32 KiB, inserts into a
# large random-token index rewrite more bytes than the shorter overflow chains save).
SQLITE_PAGE_BYTES = 32_768


def database_url(url: str) -> URL:
    """``url`` parsed; plain ``postgresql://`` means psycopg 3 (the driver installed)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def create_store_engine(url: str) -> Engine:
    """An engine for the store: pre-pinged connections (a database that restarted is found
    again), short connect timeouts, and SQLite in WAL mode."""
    parsed = database_url(url)
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if parsed.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_MS / 1000}
    elif parsed.get_backend_name() == "postgresql":
        kwargs["connect_args"] = {"connect_timeout": 5}
        kwargs["pool_size"] = 5
        kwargs["max_overflow"] = 10
    engine = create_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # Before WAL mode, so that a new database file takes it (an existing one keeps its own: the
    # page size of a database in WAL mode cannot change). A logged 1,000-row matrix is tens of
    # kilobytes: in 4 KiB pages it is a chain of overflow pages, each written to the WAL and
    # again at the checkpoint; larger pages make that chain a few pages long.
    cursor.execute(f"PRAGMA page_size={SQLITE_PAGE_BYTES}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def upgrade(engine: Engine) -> None:
    """Apply every migration not applied yet, in one transaction; on PostgreSQL under an
    advisory lock, so that replicas starting together never race (the others wait, then find
    nothing to do)."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        config.attributes["version_table"] = VERSION_TABLE
        command.upgrade(config, "head")


def migrate(url: str) -> None:
    """``model-api migrate``: bring the database at ``url`` to the newest schema."""
    engine = create_store_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
