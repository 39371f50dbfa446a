"""The metadata tables as SQLAlchemy Core objects (mirroring the migrations); used by store.py."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# Unix seconds need a double: a 4-byte float loses whole seconds.
Time = sa.Double

executions = sa.Table(
    "executions",
    metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("name", sa.String, nullable=False, index=True),
    sa.Column("kind", sa.String, nullable=False),
    sa.Column("phase", sa.String, nullable=False, index=True),
    sa.Column("template", sa.Text, nullable=False),
    sa.Column("inputs", sa.Text, nullable=False),
    sa.Column("outputs", sa.Text, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("options", sa.Text, nullable=False),
    sa.Column("created_at", Time, nullable=False, index=True),
    sa.Column("started_at", Time, nullable=True),
    sa.Column("ended_at", Time, nullable=True),
    sa.Column("abort_requested", sa.Boolean, nullable=False),
    sa.Column("engine_heartbeat", Time, nullable=True),
    sa.Column("engine_pid", sa.Integer, nullable=True),
)

nodes = sa.Table(
    "nodes",
    metadata,
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

attempts = sa.Table(
    "attempts",
    metadata,
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

events = sa.Table(
    "events",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("execution_id", sa.String, nullable=False, index=True),
    sa.Column("node_id", sa.String, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("phase", sa.String, nullable=False),
    sa.Column("at", Time, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
)

cache_entries = sa.Table(
    "cache_entries",
    metadata,
    sa.Column("key", sa.String, primary_key=True),
    sa.Column("task_name", sa.String, nullable=False, index=True),
    sa.Column("cache_version", sa.String, nullable=False),
    sa.Column("outputs", sa.Text, nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("expires_at", Time, nullable=True),
    sa.Column("execution_id", sa.String, nullable=False),
    sa.Column("node_id", sa.String, nullable=False),
)

cache_reservations = sa.Table(
    "cache_reservations",
    metadata,
    sa.Column("key", sa.String, primary_key=True),
    sa.Column("owner", sa.String, nullable=False),
    sa.Column("expires_at", Time, nullable=False),
)

registered_entities = sa.Table(
    "registered_entities",
    metadata,
    sa.Column("name", sa.String, primary_key=True),
    sa.Column("version", sa.String, primary_key=True),
    sa.Column("kind", sa.String, nullable=False),
    sa.Column("template", sa.Text, nullable=False),
    sa.Column("created_at", Time, nullable=False),
)

# Which server drives an execution (several servers on one PostgreSQL): owner ("" = any may
# claim it), the fencing token every engine write checks, the expiry renewed by heartbeat.
leases = sa.Table(
    "leases",
    metadata,
    sa.Column("execution_id", sa.String, primary_key=True),
    sa.Column("owner", sa.String, nullable=False, index=True),
    sa.Column("token", sa.BigInteger, nullable=False),
    sa.Column("expires_at", Time, nullable=True),
)
