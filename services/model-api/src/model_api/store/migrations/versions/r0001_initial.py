"""The prediction log and its feedback.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prediction_requests",
        sa.Column("token", sa.String(20), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("n_rows", sa.Integer, nullable=False),
        # {"columns": [...], "categories": {name: [labels]}, "booleans": [names],
        #  "output": {"kind": "proba"|"classes"|"value"|"values", "names": [...], "dtype": "<f4"}}
        sa.Column("layout", sa.Text, nullable=False),
        # The matrix fed to the model: little-endian float32, n_rows x len(columns), row-major.
        sa.Column("inputs", sa.LargeBinary, nullable=False),
        # The model's answer: n_rows (x len(names)) of output.dtype, row-major.
        sa.Column("outputs", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_prediction_requests_created_at", "prediction_requests", ["created_at"])
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("prediction_id", sa.String(40), nullable=False),
        sa.Column(
            "token",
            sa.String(20),
            sa.ForeignKey("prediction_requests.token", name="fk_feedback_token"),
            nullable=False,
        ),
        sa.Column("row", sa.Integer, nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("verdict", sa.String(8), nullable=True),
        sa.Column("actual", sa.Text, nullable=True),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("author", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("prediction_id", "author", name="uq_feedback_prediction_author"),
    )
    op.create_index(
        "ix_feedback_model_version_updated_at", "feedback", ["model", "version", "updated_at"]
    )
    op.create_index("ix_feedback_token", "feedback", ["token"])
    op.create_index("ix_feedback_updated_at", "feedback", ["updated_at"])


def downgrade() -> None:
    op.drop_table("feedback")
    op.drop_table("prediction_requests")
