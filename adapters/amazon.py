"""Amazon SP-API Vendor Direct Fulfillment, through python-amazon-sp-api."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from tasks.models import (
    InventoryUpdate,
    OrderAcknowledgement,
    OrderPage,
    PurchaseOrder,
    ShipmentConfirmation,
    TimeWindow,
    TransactionStatus,
)


class VendorApi(Protocol):
    """The Amazon operations the product uses; raises only tasks.errors exceptions."""

    def fetch_orders_page(
        self,
        window: TimeWindow,
        *,
        ship_from_party_id: str | None = None,
        next_token: str | None = None,
        limit: int = 100,
    ) -> OrderPage:
        """One page of getOrders (2021-12-28, details and PII included)."""
        ...

    def fetch_order(self, purchase_order_number: str) -> PurchaseOrder:
        """getOrder (2021-12-28) for one purchase order."""
        ...

    def submit_acknowledgements(self, acknowledgements: Sequence[OrderAcknowledgement]) -> str:
        """submitAcknowledgement for many orders at once; returns the transaction id."""
        ...

    def submit_shipment_confirmations(self, confirmations: Sequence[ShipmentConfirmation]) -> str:
        """submitShipmentConfirmations for many orders at once; returns the transaction id."""
        ...

    def submit_inventory_update(self, update: InventoryUpdate) -> str:
        """submitInventoryUpdate (v1) for one warehouse; returns the transaction id."""
        ...

    def fetch_transaction_status(self, transaction_id: str) -> TransactionStatus:
        """getTransactionStatus (2021-12-28)."""
        ...
