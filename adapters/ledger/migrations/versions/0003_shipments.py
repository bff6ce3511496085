"""Shipment confirmations: the lines of shipment files kept until their order is confirmed, and each order's
required ship date, confirmation batch, transaction and Amazon's codes (no PII).

Revision ID: 0003
Revises: 0001
Create Date: 2025-02-01 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable columns: SQLite adds them in place, without rebuilding the orders table.
    op.add_column("orders", sa.Column("required_ship_date", sa.DateTime(timezone=True)))
    op.add_column("orders", sa.Column("ship_batch", sa.String(128)))
    op.add_column("orders", sa.Column("ship_transaction_id", sa.String(128)))
    op.add_column("orders", sa.Column("ship_errors", sa.String(500)))

    op.create_table(
        "shipment_lines",
        sa.Column("account", sa.String(64), primary_key=True),
        sa.Column("warehouse", sa.String(64), primary_key=True),
        sa.Column("file", sa.String(255), primary_key=True),
        sa.Column("checksum", sa.String(64), primary_key=True),
        sa.Column("row", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("purchase_order_number", sa.String(64), nullable=False),
        sa.Column("seq", sa.String(16), nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("shipped", sa.Boolean, nullable=False),
        sa.Column("ship_date", sa.DateTime(timezone=True)),
        sa.Column("tracking_number", sa.String(100)),
        sa.Column("package_id", sa.String(64)),
        sa.Column("carrier", sa.String(64)),
        sa.Column("ship_method", sa.String(64)),
        sa.Column("scac", sa.String(4)),
        sa.Column("weight", sa.Float),
        sa.Column("weight_unit", sa.String(2)),
        sa.Column("length", sa.Float),
        sa.Column("width", sa.Float),
        sa.Column("height", sa.Float),
        sa.Column("dimension_unit", sa.String(2)),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account", "purchase_order_number"],
            ["orders.account", "orders.purchase_order_number"],
            name="fk_shipment_lines_order",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_shipment_lines_order", "shipment_lines", ["account", "purchase_order_number"])


def downgrade() -> None:
    op.drop_index("ix_shipment_lines_order", table_name="shipment_lines")
    op.drop_table("shipment_lines")
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+): a batch rebuild would drop the orders table, and with
    # foreign keys on that deletes every order line (ON DELETE CASCADE).
    for column in ("ship_errors", "ship_transaction_id", "ship_batch", "required_ship_date"):
        op.drop_column("orders", column)
