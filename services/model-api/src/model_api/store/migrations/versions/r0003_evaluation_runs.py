"""Evaluation runs: a model judged on a labelled file, one row per run.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evaluation_runs",
        sa.Column("id", sa.String(32), primary_key=True),  # random hex
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),  # "csv": an uploaded file
        sa.Column("target", sa.String(256), nullable=False),
        sa.Column("data_sha256", sa.String(64), nullable=False),
        sa.Column("n_rows", sa.Integer, nullable=False),
        sa.Column("n_scored", sa.Integer, nullable=False),
        sa.Column("n_failed", sa.Integer, nullable=False),
        sa.Column("headline", sa.String(16), nullable=False),  # accuracy or rmse
        sa.Column("headline_value", sa.Float),
        # The whole answer of POST .../evaluate, as JSON.
        sa.Column("result", sa.Text, nullable=False),
    )
    op.create_index(
        "ix_evaluation_runs_model_created_at", "evaluation_runs", ["model", "created_at"]
    )


def downgrade() -> None:
    op.drop_table("evaluation_runs")
