"""The first archive schema: incidents, timeline entries, raw histories.

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
        "incidents",
        sa.Column("incident_id", sa.String(200), primary_key=True),
        sa.Column("chain_id", sa.String(64), primary_key=True),
        sa.Column("last_run_id", sa.String(64), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("service", sa.String(200), nullable=False),
        sa.Column("runbook", sa.String(200), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("declared_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("metrics", sa.Text, nullable=False),
        sa.Column("postmortem", sa.Text, nullable=False),
        sa.Column("fingerprints", sa.Text, nullable=False),
        sa.Column("complete", sa.Boolean, nullable=False),
    )
    for column in ("declared_at", "service", "runbook", "severity", "status"):
        op.create_index(f"ix_incidents_{column}", "incidents", [column])
    chain = sa.ForeignKeyConstraint(
        ["incident_id", "chain_id"],
        ["incidents.incident_id", "incidents.chain_id"],
        ondelete="CASCADE",
    )
    op.create_table(
        "timeline_entries",
        sa.Column("incident_id", sa.String(200), primary_key=True),
        sa.Column("chain_id", sa.String(64), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event", sa.String(200), nullable=False),
        sa.Column("step", sa.String(200), nullable=True),
        sa.Column("actor", sa.String(200), nullable=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        chain,
    )
    op.create_table(
        "histories",
        sa.Column("incident_id", sa.String(200), primary_key=True),
        sa.Column("chain_id", sa.String(64), primary_key=True),
        sa.Column("run", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("events", sa.LargeBinary, nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id", "chain_id"],
            ["incidents.incident_id", "incidents.chain_id"],
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("histories")
    op.drop_table("timeline_entries")
    op.drop_table("incidents")
