"""The ledger's tables as the code sees them; migrations/versions holds the same schema as reviewed DDL."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

MAX_REASON = 500


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware UTC in and out; SQLite keeps naive UTC text, which sorts and compares correctly."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("the ledger stores timezone-aware datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# tests/integration/test_ledger.py checks that this and the migrations never drift apart.
metadata = sa.MetaData()

orders = sa.Table(
    "orders",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account", sa.String(64), nullable=False),
    sa.Column("purchase_order_number", sa.String(64), nullable=False),
    sa.Column("selling_party_id", sa.String(64), nullable=False),
    sa.Column("ship_from_party_id", sa.String(64), nullable=False),
    sa.Column("order_date", UtcDateTime, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("ack_batch", sa.String(128)),
    sa.Column("ack_transaction_id", sa.String(128)),
    sa.Column("export_file", sa.String(255)),
    sa.Column("held_reason", sa.String(MAX_REASON)),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    # shipments (0003)
    sa.Column("required_ship_date", UtcDateTime),
    sa.Column("ship_batch", sa.String(128)),
    sa.Column("ship_transaction_id", sa.String(128)),
    sa.Column("ship_errors", sa.String(MAX_REASON)),
    sa.UniqueConstraint("account", "purchase_order_number", name="uq_orders_account_po"),
    sa.Index("ix_orders_account_state", "account", "state"),
    sa.Index("ix_orders_account_export_file", "account", "export_file"),
)

order_lines = sa.Table(
    "order_lines",
    metadata,
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

# One row per acknowledgement request: written when its orders are claimed, again just before it is sent and
# when Amazon answers, so recovery tells "claimed, never sent" from "may have reached Amazon" (orders.ack_batch
# holds the request id of each order in flight).
acknowledgement_requests = sa.Table(
    "acknowledgement_requests",
    metadata,
    sa.Column("account", sa.String(64), primary_key=True),
    sa.Column("request_id", sa.String(128), primary_key=True),
    sa.Column("ship_from_party_id", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("transaction_id", sa.String(128)),
    sa.Column("claimed_at", UtcDateTime, nullable=False),
    sa.Column("sending_at", UtcDateTime),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Index("ix_acknowledgement_requests_state", "account", "state"),
)

watermarks = sa.Table(
    "watermarks",
    metadata,
    sa.Column("account", sa.String(64), primary_key=True),
    sa.Column("scope", sa.String(64), primary_key=True),
    sa.Column("value", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

transactions = sa.Table(
    "transactions",
    metadata,
    sa.Column("transaction_id", sa.String(128), primary_key=True),
    sa.Column("account", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("errors", sa.JSON, nullable=False),
    sa.Column("submitted_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("stuck_reported_at", UtcDateTime),  # 0007: a stuck transaction is announced once
    sa.Index("ix_transactions_status", "status", "account"),
)

transaction_subjects = sa.Table(
    "transaction_subjects",
    metadata,
    sa.Column(
        "transaction_id",
        sa.String(128),
        sa.ForeignKey("transactions.transaction_id", name="fk_transaction_subjects_transaction", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("subject", sa.String(64), nullable=False),
    sa.Index("ix_transaction_subjects_subject", "subject"),
)

inbound_files = sa.Table(
    "inbound_files",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account", sa.String(64), nullable=False),
    sa.Column("warehouse", sa.String(64), nullable=False),
    sa.Column("file", sa.String(255), nullable=False),
    sa.Column("checksum", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("detail", sa.String(1000)),
    sa.Column("received_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("account", "warehouse", "file", "checksum", name="uq_inbound_files_identity"),
)

# retention: what the purge removed from the drops (names only), newest last
purged_files = sa.Table(
    "purged_files",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account", sa.String(64), nullable=False),
    sa.Column("warehouse", sa.String(64), nullable=False),
    sa.Column("folder", sa.String(16), nullable=False),
    sa.Column("file", sa.String(255), nullable=False),
    sa.Column("purged_at", UtcDateTime, nullable=False),
    sa.Index("ix_purged_files_account_purged_at", "account", "purged_at"),
)

# Inventory feeds: one per stock file (name + checksum) of a warehouse, its requests (chunks), and the stock it
# carries — SKUs and quantities only, needed by the guard and the delta of the next feed.
inventory_feeds = sa.Table(
    "inventory_feeds",
    metadata,
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
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("account", "warehouse", "file", "checksum", name="uq_inventory_feeds_file"),
    sa.Index("ix_inventory_feeds_state", "account", "warehouse", "state"),
)

inventory_chunks = sa.Table(
    "inventory_chunks",
    metadata,
    sa.Column(
        "feed_id",
        sa.Integer,
        sa.ForeignKey("inventory_feeds.id", name="fk_inventory_chunks_feed", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("chunk", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("items", sa.Integer, nullable=False),
    sa.Column("transaction_id", sa.String(128), unique=True),
    sa.Column("detail", sa.String(1000)),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

inventory_items = sa.Table(
    "inventory_items",
    metadata,
    sa.Column(
        "feed_id",
        sa.Integer,
        sa.ForeignKey("inventory_feeds.id", name="fk_inventory_items_feed", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("item", sa.String(64), primary_key=True),  # the identifier Amazon knows it by
    sa.Column("vendor_sku", sa.String(64)),
    sa.Column("asin", sa.String(16)),
    sa.Column("quantity", sa.BigInteger, nullable=False),
    sa.Column("chunk", sa.Integer),  # the request that carries it; null = not sent (unchanged)
    sa.Index("ix_inventory_items_chunk", "feed_id", "chunk"),
)

# labels, packing slips, cancellations (migration 0005) -------------------------------------------------------

shipping_labels = sa.Table(
    "shipping_labels",
    metadata,
    sa.Column("account", sa.String(64), primary_key=True),
    sa.Column("purchase_order_number", sa.String(64), primary_key=True),
    sa.Column("ship_from_party_id", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("label_format", sa.String(8)),
    # [{"package": "001", "tracking": "...", "ship_method": "...", "ship_method_title": "..."}]: no label content
    sa.Column("packages", sa.JSON, nullable=False),
    sa.Column("requested_at", UtcDateTime, nullable=False),
    sa.Column("created_at", UtcDateTime),
    sa.Column("dropped_at", UtcDateTime),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.ForeignKeyConstraint(
        ["account", "purchase_order_number"],
        ["orders.account", "orders.purchase_order_number"],
        name="fk_shipping_labels_order",
        ondelete="CASCADE",
    ),
    sa.Index("ix_shipping_labels_account_state", "account", "state"),
)

packing_slips = sa.Table(
    "packing_slips",
    metadata,
    sa.Column("account", sa.String(64), primary_key=True),
    sa.Column("purchase_order_number", sa.String(64), primary_key=True),
    sa.Column("ship_from_party_id", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("first_try_at", UtcDateTime, nullable=False),
    sa.Column("dropped_at", UtcDateTime),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.ForeignKeyConstraint(
        ["account", "purchase_order_number"],
        ["orders.account", "orders.purchase_order_number"],
        name="fk_packing_slips_order",
        ondelete="CASCADE",
    ),
    sa.Index("ix_packing_slips_account_state", "account", "state"),
)

cancellation_notices = sa.Table(
    "cancellation_notices",
    metadata,
    sa.Column("account", sa.String(64), primary_key=True),
    sa.Column("purchase_order_number", sa.String(64), primary_key=True),
    sa.Column("ship_from_party_id", sa.String(64), nullable=False),
    sa.Column("order_date", UtcDateTime, nullable=False),
    sa.Column("export_file", sa.String(255)),
    sa.Column("detected_at", UtcDateTime, nullable=False),
    sa.Column("notice_file", sa.String(255)),
    sa.Column("notified_at", UtcDateTime),
    sa.ForeignKeyConstraint(
        ["account", "purchase_order_number"],
        ["orders.account", "orders.purchase_order_number"],
        name="fk_cancellation_notices_order",
        ondelete="CASCADE",
    ),
    sa.Index("ix_cancellation_notices_account_notice_file", "account", "notice_file"),
)

# Lines of warehouse shipment files, kept until their order is confirmed (partial orders span files). No PII:
# tracking numbers, packages and quantities.
shipment_lines = sa.Table(
    "shipment_lines",
    metadata,
    sa.Column("account", sa.String(64), primary_key=True),
    sa.Column("warehouse", sa.String(64), primary_key=True),
    sa.Column("file", sa.String(255), primary_key=True),
    sa.Column("checksum", sa.String(64), primary_key=True),
    sa.Column("row", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("purchase_order_number", sa.String(64), nullable=False),
    sa.Column("seq", sa.String(16), nullable=False),
    sa.Column("quantity", sa.Integer, nullable=False),
    sa.Column("shipped", sa.Boolean, nullable=False),
    sa.Column("ship_date", UtcDateTime),
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
    sa.Column("recorded_at", UtcDateTime, nullable=False),
    sa.ForeignKeyConstraint(
        ["account", "purchase_order_number"],
        ["orders.account", "orders.purchase_order_number"],
        name="fk_shipment_lines_order",
        ondelete="CASCADE",
    ),
    sa.Index("ix_shipment_lines_order", "account", "purchase_order_number"),
)
