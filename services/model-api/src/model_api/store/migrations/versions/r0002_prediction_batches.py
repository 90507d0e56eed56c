"""The prediction log written in batches: one row per flush, model version and token second.

Revision ID: 0002
Revises: 0001

Rows already in ``prediction_requests`` stay there and are read as before; from now on the
writer adds batches, and a request is copied to ``prediction_requests`` when it is judged.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prediction_batches",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        # The tokens' first 6 hex digits as a number (the second they were made in, modulo
        # 2**24): a token is looked up among the batches of its prefix.
        sa.Column("token_prefix", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),  # its first request
        sa.Column("last_created_at", sa.DateTime(timezone=True), nullable=False),  # its last
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("n_requests", sa.Integer, nullable=False),
        sa.Column("n_rows", sa.Integer, nullable=False),
        # Its requests copied to prediction_requests (judged): the purge deletes the others.
        sa.Column("n_kept", sa.Integer, nullable=False, server_default="0"),
        # {"tokens": [...], "times": [epoch seconds], "sources": [...], "request_ids": [...],
        #  "rows": [rows of each request]}, in the order of their rows in inputs and outputs.
        sa.Column("requests", sa.Text, nullable=False),
        # As prediction_requests.layout; inputs and outputs: every request's rows, one after
        # the other (n_rows in all).
        sa.Column("layout", sa.Text, nullable=False),
        sa.Column("inputs", sa.LargeBinary, nullable=False),
        sa.Column("outputs", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_prediction_batches_token_prefix", "prediction_batches", ["token_prefix"])
    op.create_index(
        "ix_prediction_batches_last_created_at", "prediction_batches", ["last_created_at"]
    )


def downgrade() -> None:
    op.drop_table("prediction_batches")
