"""The archive's tables (SQLAlchemy Core): one row per archived incident chain, its timeline
entries, and the raw history of each of its runs (gzip-compressed JSON, as Temporal sent it).

The migrations (`migrations/versions/`) create exactly these; a change here is a new revision.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

#: One incident chain (the runs of one incident id, first run to the run that closed it).
incidents = sa.Table(
    "incidents",
    metadata,
    sa.Column("incident_id", sa.String(200), primary_key=True),
    #: The first run of the chain: an alert after the incident closed reuses the id.
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
    #: The final state (what `show --json` prints without the metrics), JSON.
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("metrics", sa.Text, nullable=False),
    sa.Column("postmortem", sa.Text, nullable=False),
    #: Every alert fingerprint that joined, JSON list.
    sa.Column("fingerprints", sa.Text, nullable=False),
    #: False while the history stops at the archive activity (the run had not completed yet).
    sa.Column("complete", sa.Boolean, nullable=False),
    # Revision 0002: what search and `report` read without parsing the JSON above.
    #: The people's words in the timeline (notes, comments, reasons), one per line: searched.
    sa.Column("notes", sa.Text, nullable=False, server_default=""),
    sa.Column("time_to_acknowledge", sa.Float, nullable=True),
    sa.Column("time_to_mitigate", sa.Float, nullable=True),
    sa.Column("time_to_resolve", sa.Float, nullable=True),
    #: The incident waited on a person, or one retried or skipped a step (`report`).
    sa.Column("needed_a_person", sa.Boolean, nullable=False, server_default=sa.false()),
    # PostgreSQL also has `search`, a generated tsvector over title, summary and notes (GIN
    # index); SQLite has the FTS5 table `incidents_fts` (external content: this table's rowid).
)

timeline_entries = sa.Table(
    "timeline_entries",
    metadata,
    sa.Column("incident_id", sa.String(200), primary_key=True),
    sa.Column("chain_id", sa.String(64), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("event", sa.String(200), nullable=False),
    sa.Column("step", sa.String(200), nullable=True),
    sa.Column("actor", sa.String(200), nullable=True),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.ForeignKeyConstraint(
        ["incident_id", "chain_id"],
        ["incidents.incident_id", "incidents.chain_id"],
        ondelete="CASCADE",
    ),
)

histories = sa.Table(
    "histories",
    metadata,
    sa.Column("incident_id", sa.String(200), primary_key=True),
    sa.Column("chain_id", sa.String(64), primary_key=True),
    #: 1 = the first run of the chain.
    sa.Column("run", sa.Integer, primary_key=True),
    sa.Column("run_id", sa.String(64), nullable=False),
    #: gzip of the run's history JSON (`temporal workflow show --output json`).
    sa.Column("events", sa.LargeBinary, nullable=False),
    sa.ForeignKeyConstraint(
        ["incident_id", "chain_id"],
        ["incidents.incident_id", "incidents.chain_id"],
        ondelete="CASCADE",
    ),
)

#: The steps that failed in each incident (revision 0002; `report`'s failing steps).
failed_steps = sa.Table(
    "failed_steps",
    metadata,
    sa.Column("incident_id", sa.String(200), primary_key=True),
    sa.Column("chain_id", sa.String(64), primary_key=True),
    sa.Column("step", sa.String(200), primary_key=True),
    sa.ForeignKeyConstraint(
        ["incident_id", "chain_id"],
        ["incidents.incident_id", "incidents.chain_id"],
        ondelete="CASCADE",
    ),
)

#: The milestones whose times `report` reads (`time_to_<name>` columns).
MILESTONES = ("acknowledge", "mitigate", "resolve")
INDEXED = ("declared_at", "service", "runbook", "severity", "status", "last_run_id", "closed_at")
for _column in INDEXED:
    sa.Index(f"ix_incidents_{_column}", incidents.c[_column])
#: `report`'s percentiles read ranks of these in order (covering: no row is read).
for _milestone in MILESTONES:
    sa.Index(
        f"ix_incidents_time_to_{_milestone}",
        incidents.c[f"time_to_{_milestone}"],
        incidents.c.declared_at,
    )
