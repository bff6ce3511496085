"""Shipping labels, packing slips and cancellation notices per order (package ids and tracking numbers, no PII).

Revision ID: 0005
Revises: 0001
Create Date: 2025-01-05 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _order_key(name: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["account", "purchase_order_number"],
        ["orders.account", "orders.purchase_order_number"],
        name=name,
        ondelete="CASCADE",
    )


def upgrade() -> None:
    # The labels and slips themselves show the customer's address: only their identifiers are kept here, and
    # a label that must be dropped again is read again from Amazon (getShippingLabel).
    op.create_table(
        "shipping_labels",
        sa.Column("account", sa.String(64), primary_key=True),
        sa.Column("purchase_order_number", sa.String(64), primary_key=True),
        sa.Column("ship_from_party_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("label_format", sa.String(8)),
        sa.Column("packages", sa.JSON, nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True)),
        sa.Column("dropped_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _order_key("fk_shipping_labels_order"),
    )
    op.create_index("ix_shipping_labels_account_state", "shipping_labels", ["account", "state"])

    op.create_table(
        "packing_slips",
        sa.Column("account", sa.String(64), primary_key=True),
        sa.Column("purchase_order_number", sa.String(64), primary_key=True),
        sa.Column("ship_from_party_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("first_try_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dropped_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _order_key("fk_packing_slips_order"),
    )
    op.create_index("ix_packing_slips_account_state", "packing_slips", ["account", "state"])

    op.create_table(
        "cancellation_notices",
        sa.Column("account", sa.String(64), primary_key=True),
        sa.Column("purchase_order_number", sa.String(64), primary_key=True),
        sa.Column("ship_from_party_id", sa.String(64), nullable=False),
        sa.Column("order_date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("export_file", sa.String(255)),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("notice_file", sa.String(255)),
        sa.Column("notified_at", sa.DateTime(timezone=True)),
        _order_key("fk_cancellation_notices_order"),
    )
    op.create_index(
        "ix_cancellation_notices_account_notice_file", "cancellation_notices", ["account", "notice_file"]
    )


def downgrade() -> None:
    op.drop_index("ix_cancellation_notices_account_notice_file", table_name="cancellation_notices")
    op.drop_table("cancellation_notices")
    op.drop_index("ix_packing_slips_account_state", table_name="packing_slips")
    op.drop_table("packing_slips")
    op.drop_index("ix_shipping_labels_account_state", table_name="shipping_labels")
    op.drop_table("shipping_labels")
