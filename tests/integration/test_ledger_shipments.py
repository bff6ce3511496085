"""SqlLedger's shipment side on SQLite and PostgreSQL: kept lines, confirmation claims, Amazon's verdicts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from adapters.ledger import SqlLedger
from tasks.core.models import (
    AmazonErrorDetail,
    OrderState,
    PurchaseOrder,
    ShipmentLine,
    TransactionKind,
    TransactionState,
    TransactionStatus,
)
from tests.integration.test_ledger_concurrency import (  # noqa: F401  (fixtures used by name)
    ORDERS,
    assert_claimed_once,
    interleaves,
    page,
    race,
    workers,
)
from tests.support.shipment_files import ORDER_DATE, purchase_order

ACCOUNT = "acme-us"


def exported(ledger: SqlLedger, *orders: PurchaseOrder) -> list[str]:
    numbers = [o.purchase_order_number for o in orders]
    ledger.record_downloaded(ACCOUNT, orders)
    ledger.mark_acknowledging(ACCOUNT, numbers, "ack")
    ledger.mark_acknowledged(ACCOUNT, numbers, None)
    ledger.mark_exporting(ACCOUNT, numbers, "orders.csv")
    ledger.mark_exported(ACCOUNT, "orders.csv")
    return numbers


def line(order: str, row: int, *, file: str = "ship.csv", checksum: str = "c1", **values: object) -> ShipmentLine:
    fields: dict[str, object] = {
        "tracking_number": f"1Z{order}", "carrier": "UPS", "ship_method": "UPS_GROUND", "scac": "UPSN",
        "weight": 1.25, "weight_unit": "KG", "length": 30.0, "width": 20.0, "height": 10.0, "dimension_unit": "CM",
    }
    fields.update(values)
    return ShipmentLine(order, "00001", 1, file, checksum, row, ORDER_DATE + timedelta(days=1), **fields)  # type: ignore[arg-type]


def states(ledger: SqlLedger) -> dict[str, OrderState]:
    return {o.purchase_order_number: o.state for o in ledger.load_orders(ACCOUNT, list(OrderState))}


def test_required_ship_date_is_kept(ledger: SqlLedger) -> None:
    due = datetime(2026, 3, 4, 23, 59, tzinfo=UTC)
    ledger.record_downloaded(ACCOUNT, [purchase_order("PO1", required_ship_date=due)])
    (order,) = ledger.load_orders(ACCOUNT, [OrderState.DOWNLOADED])
    assert order.required_ship_date == due and order.ship_batch is None and order.ship_errors is None


def test_shipment_lines_are_kept_once_and_loaded_by_order(ledger: SqlLedger) -> None:
    exported(ledger, purchase_order("PO1"), purchase_order("PO2"), purchase_order("PO3", ship_from="WH02"))
    lines = [line("PO2", 3), line("PO1", 2), line("PO3", 4, shipped=False, tracking_number=None)]
    assert ledger.record_shipment_lines(ACCOUNT, "main", lines) == 3
    assert ledger.record_shipment_lines(ACCOUNT, "main", lines) == 0  # a re-run adds nothing
    assert ledger.record_shipment_lines(ACCOUNT, "main", [line("PO1", 2, checksum="c2")]) == 1  # another file

    loaded = ledger.load_shipment_lines(ACCOUNT, ship_from_party_id="WH01")
    assert [(x.purchase_order_number, x.checksum, x.row) for x in loaded] == [
        ("PO1", "c1", 2), ("PO1", "c2", 2), ("PO2", "c1", 3)
    ]
    assert loaded[0] == lines[1]  # every field round-trips, the ship date as aware UTC
    (denied,) = ledger.load_shipment_lines(ACCOUNT, purchase_order_numbers=["PO3"])
    assert denied.shipped is False and denied.tracking_number is None
    assert ledger.load_shipment_lines(ACCOUNT, states=[OrderState.CONFIRMING]) == []
    assert ledger.load_shipment_lines(ACCOUNT, purchase_order_numbers=[]) == []


def test_confirmation_claims_and_releases(ledger: SqlLedger) -> None:
    numbers = exported(ledger, purchase_order("PO1"), purchase_order("PO2"))
    ledger.record_downloaded(ACCOUNT, [purchase_order("PO3")])  # not exported: cannot be claimed
    assert ledger.mark_confirming(ACCOUNT, [*numbers, "PO3"], "b1") == ["PO1", "PO2"]
    assert ledger.mark_confirming(ACCOUNT, numbers, "b2") == []  # never twice
    assert ledger.release_confirming(ACCOUNT, ["PO1"], "other") == []  # only its own batch
    assert ledger.release_confirming(ACCOUNT, ["PO1"], "b1") == ["PO1"]
    assert states(ledger) == {"PO1": OrderState.EXPORTED, "PO2": OrderState.CONFIRMING, "PO3": OrderState.DOWNLOADED}
    assert ledger.mark_confirming(ACCOUNT, ["PO2"], "b3", from_batch="b9") == []
    assert ledger.mark_confirming(ACCOUNT, ["PO2"], "b3", from_batch="b1") == ["PO2"]
    (order,) = ledger.load_orders(ACCOUNT, [OrderState.CONFIRMING])
    assert order.ship_batch == "b3"


def test_success_confirms_the_orders_of_its_transaction(ledger: SqlLedger) -> None:
    numbers = exported(ledger, purchase_order("PO1"), purchase_order("PO2"))
    ledger.record_shipment_lines(ACCOUNT, "main", [line("PO1", 2), line("PO2", 3)])
    ledger.mark_confirming(ACCOUNT, numbers, "b1")
    ledger.mark_confirmation_sent(ACCOUNT, numbers, "b1", "tx-1")
    (txn,) = ledger.load_transactions(ACCOUNT)
    assert (txn.kind, txn.subjects, txn.status) == (
        TransactionKind.SHIPMENT_CONFIRMATION, ("PO1", "PO2"), TransactionState.PROCESSING
    )
    assert {o.ship_transaction_id for o in ledger.load_orders(ACCOUNT, [OrderState.CONFIRMING])} == {"tx-1"}

    ledger.record_transaction_status(TransactionStatus("tx-1", TransactionState.PROCESSING))
    assert set(states(ledger).values()) == {OrderState.CONFIRMING}
    ledger.record_transaction_status(TransactionStatus("tx-1", TransactionState.SUCCESS))
    assert set(states(ledger).values()) == {OrderState.CONFIRMED}


def test_failure_fails_the_named_orders_with_amazons_codes_and_forgets_their_lines(ledger: SqlLedger) -> None:
    numbers = exported(ledger, purchase_order("PO1"), purchase_order("PO2"))
    ledger.record_shipment_lines(ACCOUNT, "main", [line("PO1", 2), line("PO2", 3)])
    ledger.mark_confirming(ACCOUNT, numbers, "b1")
    ledger.mark_confirmation_sent(ACCOUNT, numbers, "b1", "tx-1")
    errors = (
        AmazonErrorDetail("EMPTY_PACKAGES", "Request Rejected: Order ID PO2 has empty packages.", "Add packages."),
    )
    ledger.record_transaction_status(TransactionStatus("tx-1", TransactionState.FAILURE, errors))

    assert states(ledger) == {"PO1": OrderState.CONFIRMED, "PO2": OrderState.CONFIRM_FAILED}
    (failed,) = ledger.load_orders(ACCOUNT, [OrderState.CONFIRM_FAILED])
    assert failed.ship_errors == "EMPTY_PACKAGES: Request Rejected: Order ID PO2 has empty packages."
    assert [x.purchase_order_number for x in ledger.load_shipment_lines(ACCOUNT)] == ["PO1"]
    # a corrected file may confirm it again
    assert ledger.mark_confirming(ACCOUNT, ["PO2"], "b2") == ["PO2"]


def test_a_failure_naming_no_order_fails_them_all(ledger: SqlLedger) -> None:
    numbers = exported(ledger, purchase_order("PO1"), purchase_order("PO2"))
    ledger.mark_confirming(ACCOUNT, numbers, "b1")
    ledger.mark_confirmation_sent(ACCOUNT, numbers, "b1", "tx-1")
    errors = (AmazonErrorDetail("NotAvailable", "Error details are not available."),)
    ledger.record_transaction_status(TransactionStatus("tx-1", TransactionState.FAILURE, errors))
    assert set(states(ledger).values()) == {OrderState.CONFIRM_FAILED}


def test_recovery_confirms_and_holds(ledger: SqlLedger) -> None:
    numbers = exported(ledger, purchase_order("PO1"), purchase_order("PO2"), purchase_order("PO3"))
    ledger.mark_confirming(ACCOUNT, numbers[:2], "b1")
    assert ledger.mark_confirmed(ACCOUNT, ["PO1", "PO3"]) == ["PO1"]
    assert ledger.mark_shipment_held(ACCOUNT, {"PO2": "in flight", "PO3": "late", "PO1": "no"}) == ["PO2", "PO3"]
    assert states(ledger) == {"PO1": OrderState.CONFIRMED, "PO2": OrderState.HELD, "PO3": OrderState.HELD}
    held = {o.purchase_order_number: o.held_reason for o in ledger.load_orders(ACCOUNT, [OrderState.HELD])}
    assert held == {"PO2": "in flight", "PO3": "late"}


def test_a_purged_order_takes_its_lines_with_it(ledger: SqlLedger) -> None:
    exported(ledger, purchase_order("PO1"))
    ledger.record_shipment_lines(ACCOUNT, "main", [line("PO1", 2)])
    from adapters.ledger.schema import orders

    with ledger.engine.begin() as conn:
        conn.execute(orders.delete().where(orders.c.purchase_order_number == "PO1"))
    assert ledger.load_shipment_lines(ACCOUNT) == []


def test_racing_confirmation_claims_send_each_order_once(
    workers: tuple[SqlLedger, SqlLedger], interleaves: bool  # noqa: F811
) -> None:
    numbers = [f"PO{i:04d}" for i in range(ORDERS)]
    orders = page(numbers)
    workers[0].record_downloaded(ACCOUNT, orders)
    workers[0].mark_acknowledging(ACCOUNT, numbers, "ack")
    workers[0].mark_acknowledged(ACCOUNT, numbers, None)
    workers[0].mark_exporting(ACCOUNT, numbers, "orders.csv")
    workers[0].mark_exported(ACCOUNT, "orders.csv")

    def confirm(ledger: SqlLedger, worker: int, batch: list[str]) -> list[str]:
        batch_id = f"w{worker}-{batch[0]}"
        claimed = ledger.mark_confirming(ACCOUNT, batch, batch_id)
        if claimed:
            ledger.mark_confirmation_sent(ACCOUNT, claimed, batch_id, f"tx-{batch_id}")
        return claimed

    first, second = race(workers, numbers, confirm)
    assert_claimed_once(first, second, numbers, interleaves)
    subjects = [s for t in workers[0].load_transactions(ACCOUNT) for s in t.subjects]
    assert sorted(subjects) == sorted(numbers)
