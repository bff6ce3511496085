"""Prefect tasks that each make one ledger transaction."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from tasks.core.models import (
    ChunkState,
    DownloadOutcome,
    FeedItems,
    FeedPlan,
    FeedState,
    FileOutcome,
    InboundFile,
    InventoryBaseline,
    InventoryFeed,
    LedgerOrder,
    LedgerTransaction,
    OrderState,
    PlacedFile,
    PurchaseOrder,
    PurgedFile,
    ShipmentLine,
    TransactionStatus,
    WaitingAcknowledgement,
)
from tasks.core.ports import Ledger
from tasks.prefect_support import side_effect_task


@side_effect_task(name="load-orders")
def load_orders(
    ledger: Ledger, account: str, states: Collection[OrderState], ship_from_party_id: str | None = None
) -> list[LedgerOrder]:
    """Load an account's orders in the given states."""
    return ledger.load_orders(account, states, ship_from_party_id=ship_from_party_id)


@side_effect_task(name="load-state-counts")
def load_state_counts(ledger: Ledger, account: str) -> dict[OrderState, int]:
    """Count an account's orders per state."""
    return ledger.count_orders(account)


@side_effect_task(name="load-pending-transactions")
def load_pending_transactions(ledger: Ledger, account: str) -> list[LedgerTransaction]:
    """Load an account's Amazon transactions still Processing."""
    return ledger.load_transactions(account, pending_only=True)


@side_effect_task(name="load-watermark")
def load_watermark(ledger: Ledger, account: str, scope: str) -> datetime | None:
    """Load how far orders are downloaded for an account and scope."""
    return ledger.load_watermark(account, scope)


@side_effect_task(name="record-downloaded")
def record_downloaded(
    ledger: Ledger, account: str, orders: Sequence[PurchaseOrder], claim_for: str | None = None
) -> DownloadOutcome:
    """Record a page of downloaded orders (no PII), the new ones claimed for an acknowledgement request if given."""
    return ledger.record_downloaded(account, orders, claim_for=claim_for)


@side_effect_task(name="record-watermark")
def record_watermark(ledger: Ledger, account: str, scope: str, value: datetime) -> None:
    """Advance the download watermark."""
    ledger.record_watermark(account, scope, value)


@side_effect_task(name="mark-acknowledging")
def mark_acknowledging(
    ledger: Ledger, account: str, purchase_order_numbers: Sequence[str], batch: str, from_batch: str | None = None
) -> list[str]:
    """Claim orders for one acknowledgement request, before it is sent."""
    return ledger.mark_acknowledging(account, purchase_order_numbers, batch, from_batch=from_batch)


@side_effect_task(name="release-acknowledging")
def release_acknowledging(ledger: Ledger, account: str, purchase_order_numbers: Sequence[str], batch: str) -> list[str]:
    """Give back orders whose acknowledgement request Amazon provably did not apply."""
    return ledger.release_acknowledging(account, purchase_order_numbers, batch)


@side_effect_task(name="mark-acknowledged")
def mark_acknowledged(
    ledger: Ledger, account: str, purchase_order_numbers: Sequence[str], transaction_id: str | None
) -> None:
    """Record Amazon's transaction id for an acknowledgement and move its orders on."""
    ledger.mark_acknowledged(account, purchase_order_numbers, transaction_id)


@side_effect_task(name="mark-exporting")
def mark_exporting(ledger: Ledger, account: str, purchase_order_numbers: Sequence[str], file_name: str) -> list[str]:
    """Claim acknowledged orders for one export file, before it is uploaded."""
    return ledger.mark_exporting(account, purchase_order_numbers, file_name)


@side_effect_task(name="mark-exported")
def mark_exported(ledger: Ledger, account: str, file_name: str) -> list[str]:
    """Record that an export file is on the warehouse drop."""
    return ledger.mark_exported(account, file_name)


@side_effect_task(name="mark-cancelled")
def mark_cancelled(ledger: Ledger, account: str, purchase_order_numbers: Sequence[str]) -> list[str]:
    """Record orders Amazon now reports cancelled (only those not yet exported move)."""
    return ledger.mark_cancelled(account, purchase_order_numbers)


@side_effect_task(name="mark-held")
def mark_held(ledger: Ledger, account: str, purchase_order_number: str, reason: str) -> None:
    """Put an order aside for a person, with a reason free of PII."""
    ledger.mark_held(account, purchase_order_number, reason)


@side_effect_task(name="record-transaction-status")
def record_transaction_status(ledger: Ledger, status: TransactionStatus) -> None:
    """Store the outcome Amazon reported for a transaction."""
    ledger.record_transaction_status(status)


@side_effect_task(name="load-placed-files")
def load_placed_files(ledger: Ledger, account: str) -> list[PlacedFile]:
    """Load the files this integration put on the account's drops (exported, archived, quarantined)."""
    return ledger.load_placed_files(account)


@side_effect_task(name="record-purged")
def record_purged(ledger: Ledger, account: str, purged: Sequence[PurgedFile]) -> None:
    """Record which files the purge removed (names only)."""
    ledger.record_purged(account, purged)


# acknowledgement requests ---------------------------------------------------------------------------------------


@side_effect_task(name="mark-acknowledgement-sending")
def mark_acknowledgement_sending(ledger: Ledger, account: str, request_id: str) -> list[str]:
    """Record that a claimed acknowledgement request is about to be sent; returns its orders to send."""
    return ledger.mark_acknowledgement_sending(account, request_id)


@side_effect_task(name="load-waiting-acknowledgements")
def load_waiting_acknowledgements(
    ledger: Ledger, account: str, ship_from_party_id: str | None = None
) -> list[WaitingAcknowledgement]:
    """Load the acknowledgement requests whose orders still wait for an outcome."""
    return ledger.load_waiting_acknowledgements(account, ship_from_party_id=ship_from_party_id)

# inbound files -------------------------------------------------------------------------------------------


@side_effect_task(name="record-file-received")
def record_file_received(ledger: Ledger, account: str, warehouse: str, kind: str, name: str, checksum: str) -> bool:
    """Register an inbound file by name and checksum; False when it was already received."""
    return ledger.record_file_received(account, warehouse, kind, name, checksum)


@side_effect_task(name="mark-file")
def mark_file(
    ledger: Ledger, account: str, warehouse: str, name: str, checksum: str, outcome: FileOutcome, detail: str | None
) -> None:
    """Record where an inbound file ended (archived or quarantined)."""
    ledger.mark_file(account, warehouse, name, checksum, outcome, detail)


# inventory -----------------------------------------------------------------------------------------------


@side_effect_task(name="load-inventory-feed")
def load_inventory_feed(ledger: Ledger, account: str, warehouse: str, file: str, checksum: str) -> InventoryFeed | None:
    """Load the feed recorded for one stock file, if any."""
    return ledger.load_inventory_feed(account, warehouse, file, checksum)


@side_effect_task(name="load-unfinished-inventory-feeds")
def load_unfinished_inventory_feeds(ledger: Ledger, account: str, warehouse: str) -> list[InventoryFeed]:
    """Load a warehouse's feeds that a run left half sent."""
    return ledger.load_inventory_feeds(account, warehouse, states=[FeedState.SENDING])


@side_effect_task(name="load-inventory-baseline")
def load_inventory_baseline(ledger: Ledger, account: str, warehouse: str) -> InventoryBaseline:
    """Load the last accepted feed and its stock, and what newer unsettled feeds sent."""
    return ledger.load_inventory_baseline(account, warehouse)


@side_effect_task(name="record-inventory-feed")
def record_inventory_feed(
    ledger: Ledger, account: str, warehouse: str, file: str, checksum: str, plan: FeedPlan, items: FeedItems
) -> InventoryFeed:
    """Record a feed (held, or its items and requests) before anything is sent."""
    return ledger.record_inventory_feed(account, warehouse, file, checksum, plan, items)


@side_effect_task(name="claim-inventory-chunk", task_run_name="claim-inventory-chunk-{feed_id}-{chunk}")
def claim_inventory_chunk(ledger: Ledger, feed_id: int, chunk: int) -> bool:
    """Claim one request of a feed before it is sent."""
    return ledger.claim_inventory_chunk(feed_id, chunk)


@side_effect_task(name="load-inventory-chunk", task_run_name="load-inventory-chunk-{feed_id}-{chunk}")
def load_inventory_chunk(ledger: Ledger, feed_id: int, chunk: int) -> FeedItems:
    """Load the items one request of a feed carries."""
    return ledger.load_inventory_chunk(feed_id, chunk)


@side_effect_task(name="mark-inventory-chunk", task_run_name="mark-inventory-chunk-{feed_id}-{chunk}-{state}")
def mark_inventory_chunk(
    ledger: Ledger,
    feed_id: int,
    chunk: int,
    state: ChunkState,
    transaction_id: str | None = None,
    detail: str | None = None,
) -> InventoryFeed:
    """Record how one request of a feed ended (its transaction id when Amazon answered)."""
    return ledger.mark_inventory_chunk(feed_id, chunk, state, transaction_id=transaction_id, detail=detail)


@side_effect_task(name="supersede-inventory-feed", task_run_name="supersede-inventory-feed-{feed_id}")
def supersede_inventory_feed(ledger: Ledger, feed_id: int) -> InventoryFeed:
    """Stop a half-sent feed because a newer stock file came."""
    return ledger.supersede_inventory_feed(feed_id)

@side_effect_task(name="mark-transactions-stuck")
def mark_transactions_stuck(ledger: Ledger, transaction_ids: Sequence[str]) -> list[str]:
    """Note transactions reported stuck; returns those reported for the first time (announced once)."""
    return ledger.mark_transactions_stuck(transaction_ids)


# shipments ------------------------------------------------------------------------------------------------


@side_effect_task(name="load-orders-by-number")
def load_orders_by_number(ledger: Ledger, account: str, purchase_order_numbers: Collection[str]) -> list[LedgerOrder]:
    """Load an account's orders by number, whatever their state."""
    return ledger.load_orders(account, list(OrderState), purchase_order_numbers=purchase_order_numbers)


@side_effect_task(name="load-files")
def load_files(ledger: Ledger, account: str, warehouse: str) -> list[InboundFile]:
    """Load the inbound files a warehouse sent, newest first."""
    return ledger.load_files(account, warehouse)


@side_effect_task(name="record-shipment-lines")
def record_shipment_lines(ledger: Ledger, account: str, warehouse: str, lines: Sequence[ShipmentLine]) -> int:
    """Keep the accepted lines of a shipment file until their orders are confirmed."""
    return ledger.record_shipment_lines(account, warehouse, lines)


@side_effect_task(name="load-shipment-lines")
def load_shipment_lines(
    ledger: Ledger,
    account: str,
    ship_from_party_id: str | None = None,
    states: Collection[OrderState] | None = None,
    purchase_order_numbers: Collection[str] | None = None,
) -> list[ShipmentLine]:
    """Load the kept shipment lines of an account's orders."""
    return ledger.load_shipment_lines(
        account, ship_from_party_id=ship_from_party_id, states=states, purchase_order_numbers=purchase_order_numbers
    )


@side_effect_task(name="mark-confirming")
def mark_confirming(
    ledger: Ledger, account: str, purchase_order_numbers: Sequence[str], batch: str, from_batch: str | None = None
) -> list[str]:
    """Claim orders for one shipment confirmation request, before it is sent."""
    return ledger.mark_confirming(account, purchase_order_numbers, batch, from_batch=from_batch)


@side_effect_task(name="release-confirming")
def release_confirming(ledger: Ledger, account: str, purchase_order_numbers: Sequence[str], batch: str) -> list[str]:
    """Give back orders whose confirmation request Amazon provably did not apply."""
    return ledger.release_confirming(account, purchase_order_numbers, batch)


@side_effect_task(name="mark-confirmation-sent")
def mark_confirmation_sent(
    ledger: Ledger, account: str, purchase_order_numbers: Sequence[str], batch: str, transaction_id: str
) -> None:
    """Record Amazon's transaction id for a shipment confirmation request on its orders."""
    ledger.mark_confirmation_sent(account, purchase_order_numbers, batch, transaction_id)


@side_effect_task(name="mark-confirmed")
def mark_confirmed(ledger: Ledger, account: str, purchase_order_numbers: Sequence[str]) -> list[str]:
    """Record orders Amazon shows shipped whose confirmation's transaction id a crash lost."""
    return ledger.mark_confirmed(account, purchase_order_numbers)


@side_effect_task(name="mark-shipment-held")
def mark_shipment_held(ledger: Ledger, account: str, reasons: Mapping[str, str]) -> list[str]:
    """Hold orders for a person, each with a reason free of PII."""
    return ledger.mark_shipment_held(account, reasons)
