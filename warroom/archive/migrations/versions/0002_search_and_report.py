"""Search and report columns: the people's notes, the milestone times, whether a person was
needed, the failed steps; full-text search (SQLite FTS5, PostgreSQL tsvector + GIN). Rows
archived under 0001 are filled in from their metrics JSON and timeline entries.

Revision ID: 0002
Revises: 0001
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

MILESTONES = ("acknowledge", "mitigate", "resolve")
#: What `warroom.record.report` counts as needing a person, as of this revision.
PERSON_EVENTS = ("skipped", "retried")


def upgrade() -> None:
    # Plain ADD COLUMN, never a batch copy: on SQLite that drops and recreates the table, and
    # the foreign keys' ON DELETE CASCADE would empty the timeline and histories.
    op.add_column("incidents", sa.Column("notes", sa.Text, nullable=False, server_default=""))
    for name in MILESTONES:
        op.add_column("incidents", sa.Column(f"time_to_{name}", sa.Float, nullable=True))
    op.add_column(
        "incidents",
        sa.Column("needed_a_person", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    for column in ("last_run_id", "closed_at"):
        op.create_index(f"ix_incidents_{column}", "incidents", [column])
    for name in MILESTONES:  # report's percentiles read ranks in order, from the index alone
        op.create_index(
            f"ix_incidents_time_to_{name}", "incidents", [f"time_to_{name}", "declared_at"]
        )
    op.create_table(
        "failed_steps",
        sa.Column("incident_id", sa.String(200), primary_key=True),
        sa.Column("chain_id", sa.String(64), primary_key=True),
        sa.Column("step", sa.String(200), primary_key=True),
        sa.ForeignKeyConstraint(
            ["incident_id", "chain_id"],
            ["incidents.incident_id", "incidents.chain_id"],
            ondelete="CASCADE",
        ),
    )
    _fill_in()
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE incidents ADD COLUMN search tsvector GENERATED ALWAYS AS "
            "(to_tsvector('english', title || ' ' || summary || ' ' || notes)) STORED"
        )
        op.execute("CREATE INDEX ix_incidents_search ON incidents USING gin (search)")
    else:
        op.execute(
            "CREATE VIRTUAL TABLE incidents_fts USING fts5(title, summary, notes, "
            "content='incidents', content_rowid='rowid', tokenize='porter unicode61')"
        )
        op.execute("INSERT INTO incidents_fts(incidents_fts) VALUES ('rebuild')")


def _fill_in() -> None:
    """The new columns of rows archived under 0001, from what they already hold."""
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT incident_id, chain_id, metrics FROM incidents")).all()
    for incident_id, chain_id, metrics_json in rows:
        key = {"i": incident_id, "c": chain_id}
        try:
            metrics = json.loads(metrics_json)
        except ValueError:
            continue  # a damaged row stays as it is; readers name it
        entries = bind.execute(
            sa.text(
                "SELECT event, source, detail FROM timeline_entries "
                "WHERE incident_id = :i AND chain_id = :c ORDER BY seq"
            ),
            key,
        ).all()
        notes = "\n".join(e.detail for e in entries if e.source == "person" and e.detail)
        needed = bool(
            metrics.get("waiting_on_people")
            or metrics.get("retried_by_hand")
            or any(e.event in PERSON_EVENTS for e in entries)
        )
        bind.execute(
            sa.text(
                "UPDATE incidents SET notes = :notes, needed_a_person = :needed, "
                "time_to_acknowledge = :a, time_to_mitigate = :m, time_to_resolve = :r "
                "WHERE incident_id = :i AND chain_id = :c"
            ),
            {
                **key,
                "notes": notes,
                "needed": needed,
                **{n[0]: metrics.get(f"time_to_{n}") for n in MILESTONES},
            },
        )
        for step in sorted(set(metrics.get("failed_steps") or [])):
            bind.execute(
                sa.text("INSERT INTO failed_steps VALUES (:i, :c, :s)"), {**key, "s": step}
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_incidents_search")
        op.execute("ALTER TABLE incidents DROP COLUMN search")
    else:
        op.execute("DROP TABLE incidents_fts")
    op.drop_table("failed_steps")
    for column in ("last_run_id", "closed_at", *(f"time_to_{m}" for m in MILESTONES)):
        op.drop_index(f"ix_incidents_{column}", "incidents")
    for name in ("notes", *(f"time_to_{m}" for m in MILESTONES), "needed_a_person"):
        op.drop_column("incidents", name)
