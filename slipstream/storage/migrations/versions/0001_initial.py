"""Initial schema: executions, nodes, attempts, events, cache, registered entities.

Revision ID: 0001
Revises:
Create Date: 2026-05-20
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Time = sa.Double


def upgrade() -> None:
    op.create_table(
        "executions",
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("phase", sa.String, nullable=False),
        sa.Column("template", sa.Text, nullable=False),
        sa.Column("inputs", sa.Text, nullable=False),
        sa.Column("outputs", sa.Text, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("options", sa.Text, nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("started_at", Time, nullable=True),
        sa.Column("ended_at", Time, nullable=True),
        sa.Column("abort_requested", sa.Boolean, nullable=False),
        sa.Column("engine_heartbeat", Time, nullable=True),
        sa.Column("engine_pid", sa.Integer, nullable=True),
    )
    op.create_index("ix_executions_name", "executions", ["name"])
    op.create_index("ix_executions_phase", "executions", ["phase"])
    op.create_index("ix_executions_created_at", "executions", ["created_at"])

    op.create_table(
        "nodes",
        sa.Column("execution_id", sa.String, primary_key=True),
        sa.Column("node_id", sa.String, primary_key=True),
        sa.Column("parent_id", sa.String, nullable=False),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("target", sa.String, nullable=False),
        sa.Column("phase", sa.String, nullable=False),
        sa.Column("cached", sa.Boolean, nullable=False),
        sa.Column("user_attempts", sa.Integer, nullable=False),
        sa.Column("system_attempts", sa.Integer, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("outputs", sa.Text, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("info", sa.Text, nullable=False),
        sa.Column("started_at", Time, nullable=True),
        sa.Column("ended_at", Time, nullable=True),
    )

    op.create_table(
        "attempts",
        sa.Column("execution_id", sa.String, primary_key=True),
        sa.Column("node_id", sa.String, primary_key=True),
        sa.Column("attempt", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("phase", sa.String, nullable=False),
        sa.Column("runner", sa.String, nullable=False),
        sa.Column("handle", sa.Text, nullable=False),
        sa.Column("output_prefix", sa.String, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("info", sa.Text, nullable=False),
        sa.Column("started_at", Time, nullable=False),
        sa.Column("ended_at", Time, nullable=True),
    )

    op.create_table(
        "events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("execution_id", sa.String, nullable=False),
        sa.Column("node_id", sa.String, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("phase", sa.String, nullable=False),
        sa.Column("at", Time, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
    )
    op.create_index("ix_events_execution_id", "events", ["execution_id"])

    op.create_table(
        "cache_entries",
        sa.Column("key", sa.String, primary_key=True),
        sa.Column("task_name", sa.String, nullable=False),
        sa.Column("cache_version", sa.String, nullable=False),
        sa.Column("outputs", sa.Text, nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("expires_at", Time, nullable=True),
        sa.Column("execution_id", sa.String, nullable=False),
        sa.Column("node_id", sa.String, nullable=False),
    )
    op.create_index("ix_cache_entries_task_name", "cache_entries", ["task_name"])

    op.create_table(
        "cache_reservations",
        sa.Column("key", sa.String, primary_key=True),
        sa.Column("owner", sa.String, nullable=False),
        sa.Column("expires_at", Time, nullable=False),
    )

    op.create_table(
        "registered_entities",
        sa.Column("name", sa.String, primary_key=True),
        sa.Column("version", sa.String, primary_key=True),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("template", sa.Text, nullable=False),
        sa.Column("created_at", Time, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "registered_entities",
        "cache_reservations",
        "cache_entries",
        "events",
        "attempts",
        "nodes",
        "executions",
    ):
        op.drop_table(table)
