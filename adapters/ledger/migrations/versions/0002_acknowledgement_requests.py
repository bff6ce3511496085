"""Acknowledgement requests: claimed, sending (written just before the request), sent or released.

Orders a run of the earlier version left 'acknowledging' get a request in state 'sending': whether it reached
Amazon is unknown, so recovery settles it against Amazon's order status after the settle time.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "acknowledgement_requests",
        sa.Column("account", sa.String(64), primary_key=True),
        sa.Column("request_id", sa.String(128), primary_key=True),
        sa.Column("ship_from_party_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("transaction_id", sa.String(128)),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sending_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_acknowledgement_requests_state", "acknowledgement_requests", ["account", "state"])
    op.execute(
        """
        INSERT INTO acknowledgement_requests
            (account, request_id, ship_from_party_id, state, claimed_at, sending_at, updated_at)
        SELECT account, ack_batch, MIN(ship_from_party_id), 'sending', MIN(updated_at), MIN(updated_at), MIN(updated_at)
        FROM orders
        WHERE state = 'acknowledging' AND ack_batch IS NOT NULL
        GROUP BY account, ack_batch
        """
    )


def downgrade() -> None:
    op.drop_index("ix_acknowledgement_requests_state", table_name="acknowledgement_requests")
    op.drop_table("acknowledgement_requests")
