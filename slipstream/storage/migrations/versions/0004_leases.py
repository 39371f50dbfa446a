"""Leases: which server drives an execution (owner, fencing token, expiry).

Executions the server launched and that have not ended get an unowned lease, so the next
server takes them up.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("execution_id", sa.String, primary_key=True),
        sa.Column("owner", sa.String, nullable=False),
        sa.Column("token", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=True),
    )
    op.create_index("ix_leases_owner", "leases", ["owner"])
    op.execute(
        "INSERT INTO leases (execution_id, owner, token, expires_at) "
        "SELECT e.id, '', 0, NULL FROM executions e "
        "JOIN execution_index i ON i.execution_id = e.id "
        "WHERE e.phase NOT IN ('SUCCEEDED', 'FAILED', 'ABORTED')"
    )


def downgrade() -> None:
    op.drop_index("ix_leases_owner", "leases")
    op.drop_table("leases")
