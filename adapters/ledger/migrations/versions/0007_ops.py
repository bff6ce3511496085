"""Operations: remember when a transaction stuck in Processing was reported, so it is announced once.

Revision ID: 0007
Revises: 0001
Create Date: 2026-11-28 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("transactions") as batch:
        batch.add_column(sa.Column("stuck_reported_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("transactions") as batch:
        batch.drop_column("stuck_reported_at")
