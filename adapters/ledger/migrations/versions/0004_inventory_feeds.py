"""Inventory feeds: one per stock file, its requests (chunks) and the stock it carries (SKUs and quantities).

Revision ID: 0004
Revises: 0001
Create Date: 2025-01-04 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inventory_feeds",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("warehouse", sa.String(64), nullable=False),
        sa.Column("warehouse_id", sa.String(64), nullable=False),
        sa.Column("file", sa.String(255), nullable=False),
        sa.Column("checksum", sa.String(64), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("forced", sa.Boolean, nullable=False),
        sa.Column("items", sa.Integer, nullable=False),
        sa.Column("total_quantity", sa.BigInteger, nullable=False),
        sa.Column("sent_items", sa.Integer, nullable=False),
        sa.Column("zeros", sa.Integer, nullable=False),
        sa.Column("detail", sa.String(1000)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("account", "warehouse", "file", "checksum", name="uq_inventory_feeds_file"),
    )
    op.create_index("ix_inventory_feeds_state", "inventory_feeds", ["account", "warehouse", "state"])

    op.create_table(
        "inventory_chunks",
        sa.Column("feed_id", sa.Integer, primary_key=True),
        sa.Column("chunk", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("items", sa.Integer, nullable=False),
        sa.Column("transaction_id", sa.String(128), unique=True),
        sa.Column("detail", sa.String(1000)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["feed_id"], ["inventory_feeds.id"], name="fk_inventory_chunks_feed", ondelete="CASCADE"
        ),
    )

    op.create_table(
        "inventory_items",
        sa.Column("feed_id", sa.Integer, primary_key=True),
        sa.Column("item", sa.String(64), primary_key=True),
        sa.Column("vendor_sku", sa.String(64)),
        sa.Column("asin", sa.String(16)),
        sa.Column("quantity", sa.BigInteger, nullable=False),
        sa.Column("chunk", sa.Integer),
        sa.ForeignKeyConstraint(
            ["feed_id"], ["inventory_feeds.id"], name="fk_inventory_items_feed", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_inventory_items_chunk", "inventory_items", ["feed_id", "chunk"])


def downgrade() -> None:
    op.drop_index("ix_inventory_items_chunk", table_name="inventory_items")
    op.drop_table("inventory_items")
    op.drop_table("inventory_chunks")
    op.drop_index("ix_inventory_feeds_state", table_name="inventory_feeds")
    op.drop_table("inventory_feeds")
