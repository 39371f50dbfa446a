"""The server's tables: catalog, execution index and labels, schedules and their slots.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Time = sa.Double


def upgrade() -> None:
    op.create_table(
        "catalog",
        sa.Column("project", sa.String, primary_key=True),
        sa.Column("domain", sa.String, primary_key=True),
        sa.Column("kind", sa.String, primary_key=True),
        sa.Column("name", sa.String, primary_key=True),
        sa.Column("version", sa.String, primary_key=True),
        sa.Column("template", sa.Text, nullable=False),
        sa.Column("digest", sa.String, nullable=False),
        sa.Column("bundle_uri", sa.String, nullable=False),
        sa.Column("created_at", Time, nullable=False),
    )
    op.create_index("ix_catalog_created_at", "catalog", ["created_at"])

    op.create_table(
        "execution_index",
        sa.Column("execution_id", sa.String, primary_key=True),
        sa.Column("project", sa.String, nullable=False),
        sa.Column("domain", sa.String, nullable=False),
        sa.Column("entity_kind", sa.String, nullable=False),
        sa.Column("entity_name", sa.String, nullable=False),
        sa.Column("version", sa.String, nullable=False),
        sa.Column("launch_plan", sa.String, nullable=False),
        sa.Column("launched_by", sa.String, nullable=False),
        sa.Column("parent_id", sa.String, nullable=False),
        sa.Column("relation", sa.String, nullable=False),
        sa.Column("labels", sa.Text, nullable=False),
        sa.Column("created_at", Time, nullable=False),
    )
    op.create_index("ix_execution_index_entity_name", "execution_index", ["entity_name"])
    op.create_index("ix_execution_index_launched_by", "execution_index", ["launched_by"])
    op.create_index("ix_execution_index_created_at", "execution_index", ["created_at"])

    op.create_table(
        "execution_labels",
        sa.Column("execution_id", sa.String, primary_key=True),
        sa.Column("key", sa.String, primary_key=True),
        sa.Column("value", sa.String, nullable=False),
    )
    op.create_index("ix_execution_labels_key_value", "execution_labels", ["key", "value"])

    op.create_table(
        "schedules",
        sa.Column("project", sa.String, primary_key=True),
        sa.Column("domain", sa.String, primary_key=True),
        sa.Column("name", sa.String, primary_key=True),
        sa.Column("version", sa.String, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
    )

    op.create_table(
        "schedule_slots",
        sa.Column("project", sa.String, primary_key=True),
        sa.Column("domain", sa.String, primary_key=True),
        sa.Column("name", sa.String, primary_key=True),
        sa.Column("slot", Time, primary_key=True),
        sa.Column("execution_id", sa.String, nullable=False),
        sa.Column("skipped", sa.Integer, nullable=False),
        sa.Column("fired_at", Time, nullable=False),
    )


def downgrade() -> None:
    for table in ("schedule_slots", "schedules", "execution_labels", "execution_index", "catalog"):
        op.drop_table(table)
