"""Initial ledger schema: orders and their lines, watermarks, Amazon transactions, inbound files (no PII).

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Ship-to names, addresses, phones, titles and gift messages are deliberately absent (DESIGN §5):
    # an order that must be exported again is fetched again from Amazon.
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("purchase_order_number", sa.String(64), nullable=False),
        sa.Column("selling_party_id", sa.String(64), nullable=False),
        sa.Column("ship_from_party_id", sa.String(64), nullable=False),
        sa.Column("order_date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("ack_batch", sa.String(128)),
        sa.Column("ack_transaction_id", sa.String(128)),
        sa.Column("export_file", sa.String(255)),
        sa.Column("held_reason", sa.String(500)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("account", "purchase_order_number", name="uq_orders_account_po"),
    )
    op.create_index("ix_orders_account_state", "orders", ["account", "state"])
    op.create_index("ix_orders_account_export_file", "orders", ["account", "export_file"])

    op.create_table(
        "order_lines",
        sa.Column("account", sa.String(64), primary_key=True),
        sa.Column("purchase_order_number", sa.String(64), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.String(16), nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("buyer_product_id", sa.String(64)),
        sa.Column("vendor_product_id", sa.String(64)),
        sa.Column("unit_of_measure", sa.String(16), nullable=False),
        sa.ForeignKeyConstraint(
            ["account", "purchase_order_number"],
            ["orders.account", "orders.purchase_order_number"],
            name="fk_order_lines_order",
            ondelete="CASCADE",
        ),
    )

    op.create_table(
        "watermarks",
        sa.Column("account", sa.String(64), primary_key=True),
        sa.Column("scope", sa.String(64), primary_key=True),
        sa.Column("value", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )

    op.create_table(
        "transactions",
        sa.Column("transaction_id", sa.String(128), primary_key=True),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("errors", sa.JSON, nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_transactions_status", "transactions", ["status", "account"])

    op.create_table(
        "transaction_subjects",
        sa.Column("transaction_id", sa.String(128), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["transactions.transaction_id"],
            name="fk_transaction_subjects_transaction",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_transaction_subjects_subject", "transaction_subjects", ["subject"])

    op.create_table(
        "inbound_files",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("warehouse", sa.String(64), nullable=False),
        sa.Column("file", sa.String(255), nullable=False),
        sa.Column("checksum", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("detail", sa.String(1000)),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("account", "warehouse", "file", "checksum", name="uq_inbound_files_identity"),
    )


def downgrade() -> None:
    op.drop_table("inbound_files")
    op.drop_index("ix_transaction_subjects_subject", table_name="transaction_subjects")
    op.drop_table("transaction_subjects")
    op.drop_index("ix_transactions_status", table_name="transactions")
    op.drop_table("transactions")
    op.drop_table("watermarks")
    op.drop_table("order_lines")
    op.drop_index("ix_orders_account_export_file", table_name="orders")
    op.drop_index("ix_orders_account_state", table_name="orders")
    op.drop_table("orders")
