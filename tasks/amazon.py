"""Prefect tasks that each make one kind of Amazon call through a VendorApi."""

from __future__ import annotations

from collections.abc import Sequence

from tasks.core.errors import NotFoundError
from tasks.core.models import (
    AmazonOrderStatus,
    InventoryUpdate,
    OrderAcknowledgement,
    OrderPage,
    PurchaseOrder,
    ShipmentConfirmation,
    TimeWindow,
    TransactionStatus,
)
from tasks.core.ports import VendorApi
from tasks.prefect_support import side_effect_task

# The adapter already retries each call up to 6 times within a minute; two task-level retries on top (after 1 s and
# 4 s) cover a longer outage and keep the worst case near 4 minutes and 18 requests per call (the budget is written
# out in flows/download_orders.py).
AMAZON_TASK_RETRIES = 2


@side_effect_task(
    name="fetch-orders-page", task_run_name="fetch-orders-page-{ship_from_party_id}", retries=AMAZON_TASK_RETRIES
)
def fetch_orders_page(
    api: VendorApi,
    window: TimeWindow,
    ship_from_party_id: str,
    next_token: str | None,
    limit: int,
    status: AmazonOrderStatus | None = None,
) -> OrderPage:
    """Fetch one page of purchase orders created in the window (only those in `status`, if given)."""
    return api.fetch_orders_page(
        window, ship_from_party_id=ship_from_party_id, next_token=next_token, limit=limit, status=status
    )


@side_effect_task(name="fetch-orders-by-number", retries=AMAZON_TASK_RETRIES)
def fetch_orders_by_number(api: VendorApi, purchase_order_numbers: Sequence[str]) -> dict[str, PurchaseOrder]:
    """Fetch orders one by one (getOrder) when the ledger needs them again; a missing one is left out."""
    found: dict[str, PurchaseOrder] = {}
    for number in purchase_order_numbers:
        try:
            found[number] = api.fetch_order(number)
        except NotFoundError:
            continue
    return found


@side_effect_task(name="submit-acknowledgements", retries=AMAZON_TASK_RETRIES)
def submit_acknowledgements(api: VendorApi, acknowledgements: Sequence[OrderAcknowledgement]) -> str:
    """Acknowledge a batch of orders to Amazon; returns the transaction id."""
    return api.submit_acknowledgements(acknowledgements)


@side_effect_task(name="submit-shipment-confirmations")
def submit_shipment_confirmations(api: VendorApi, confirmations: Sequence[ShipmentConfirmation]) -> str:
    """Confirm a batch of shipped orders to Amazon; returns the transaction id."""
    return api.submit_shipment_confirmations(confirmations)


@side_effect_task(name="fetch-transaction-status")
def fetch_transaction_status(api: VendorApi, transaction_id: str) -> TransactionStatus:
    """Ask Amazon how one transaction ended."""
    return api.fetch_transaction_status(transaction_id)


@side_effect_task(name="submit-inventory-update")
def submit_inventory_update(api: VendorApi, update: InventoryUpdate) -> str:
    """Send one inventory update (a full feed, or one chunk of a delta) for one Amazon warehouse."""
    return api.submit_inventory_update(update)
