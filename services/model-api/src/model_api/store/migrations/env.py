"""Alembic's environment: the connection (and the transaction holding the migration lock) is
the one ``model_api.store.migrate`` passes in ``config.attributes``; there is no alembic.ini."""

from alembic import context
from sqlalchemy.engine import Connection

connection: Connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    version_table=context.config.attributes["version_table"],
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()
