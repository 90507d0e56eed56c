"""Shadow disagreements: rows of live traffic on which a model's shadow version answered
otherwise, one row each, kept for review.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shadow_disagreements",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),  # the version that answered
        sa.Column("shadow_version", sa.String(64), nullable=False),
        # The id the answer carried (null when the request was not recorded in the log).
        sa.Column("prediction_id", sa.String(40)),
        # JSON: the row's features (the privacy exclusions left out), and both v1 answers.
        sa.Column("inputs", sa.Text, nullable=False),
        sa.Column("answer", sa.Text, nullable=False),
        sa.Column("shadow_answer", sa.Text, nullable=False),
    )
    op.create_index("ix_shadow_disagreements_model_id", "shadow_disagreements", ["model", "id"])
    op.create_index("ix_shadow_disagreements_created_at", "shadow_disagreements", ["created_at"])


def downgrade() -> None:
    op.drop_table("shadow_disagreements")
