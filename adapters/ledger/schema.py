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
