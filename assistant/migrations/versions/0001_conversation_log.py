"""The conversation log: exchanges and their feedback.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "exchanges",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.Float, nullable=False, index=True),
        sa.Column("request_id", sa.String(64)),
        sa.Column("profile", sa.String(128), nullable=False, index=True),
        sa.Column("adapter", sa.String(256)),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("answer", sa.Text, nullable=False),
        sa.Column("citations", sa.JSON),
        sa.Column("outcome", sa.String(16), nullable=False, index=True),
        sa.Column("latency_ms", sa.Float),
    )
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("exchange_id", sa.String(64), sa.ForeignKey("exchanges.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("rating", sa.String(8), nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("correction", sa.Text),
    )


def downgrade():
    op.drop_table("feedback")
    op.drop_table("exchanges")
