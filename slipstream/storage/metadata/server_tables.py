"""The server's tables (catalog, execution index, labels, schedules) as Core; for server_store.

They mirror migration 0002 and share the MetaData of schema.py, so the migration test sees them.
"""

from __future__ import annotations

import sqlalchemy as sa

from slipstream.storage.metadata.schema import Time, metadata

# A registered task, workflow or launch plan: (project, domain, kind, name, version).
catalog = sa.Table(
    "catalog",
    metadata,
    sa.Column("project", sa.String, primary_key=True),
    sa.Column("domain", sa.String, primary_key=True),
    sa.Column("kind", sa.String, primary_key=True),
    sa.Column("name", sa.String, primary_key=True),
    sa.Column("version", sa.String, primary_key=True),
    sa.Column("template", sa.Text, nullable=False),  # IR JSON of the template / launch plan
    sa.Column("digest", sa.String, nullable=False),  # sha256 of template: equal content
    sa.Column("bundle_uri", sa.String, nullable=False),
    sa.Column("created_at", Time, nullable=False, index=True),
)

# What the server knows about an execution beyond the engine's row.
execution_index = sa.Table(
    "execution_index",
    metadata,
    sa.Column("execution_id", sa.String, primary_key=True),
    sa.Column("project", sa.String, nullable=False),
    sa.Column("domain", sa.String, nullable=False),
    sa.Column("entity_kind", sa.String, nullable=False),
    sa.Column("entity_name", sa.String, nullable=False, index=True),
    sa.Column("version", sa.String, nullable=False),
    sa.Column("launch_plan", sa.String, nullable=False),
    sa.Column("launched_by", sa.String, nullable=False, index=True),
    sa.Column("parent_id", sa.String, nullable=False),
    sa.Column("relation", sa.String, nullable=False),  # "", relaunch, recover, schedule
    sa.Column("labels", sa.Text, nullable=False),  # JSON object
    sa.Column("created_at", Time, nullable=False, index=True),
)

execution_labels = sa.Table(
    "execution_labels",
    metadata,
    sa.Column("execution_id", sa.String, primary_key=True),
    sa.Column("key", sa.String, primary_key=True),
    sa.Column("value", sa.String, nullable=False),
    sa.Index("ix_execution_labels_key_value", "key", "value"),
)

# Which version of a launch plan is active (one per plan name).
schedules = sa.Table(
    "schedules",
    metadata,
    sa.Column("project", sa.String, primary_key=True),
    sa.Column("domain", sa.String, primary_key=True),
    sa.Column("name", sa.String, primary_key=True),
    sa.Column("version", sa.String, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
)

# Each slot of a plan fires once: the primary key is the unique key on plan and slot.
schedule_slots = sa.Table(
    "schedule_slots",
    metadata,
    sa.Column("project", sa.String, primary_key=True),
    sa.Column("domain", sa.String, primary_key=True),
    sa.Column("name", sa.String, primary_key=True),
    sa.Column("slot", Time, primary_key=True),
    sa.Column("execution_id", sa.String, nullable=False),
    sa.Column("skipped", sa.Integer, nullable=False),
    sa.Column("fired_at", Time, nullable=False),
)
