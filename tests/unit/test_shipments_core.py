"""Shipment reconciliation, planning and confirmation building (pure code over polars frames)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from tasks.core.config import FileOptions, ShipmentOptions
from tasks.core.models import (
    AmazonErrorDetail,
    AmazonOrderStatus,
    LedgerOrder,
    OrderState,
    PurchaseOrder,
    ShipmentLine,
    TransactionState,
    TransactionStatus,
)
from tasks.core.shipments import (
    Reconciliation,
    build_confirmations,
    deadline,
    error_report,
    error_report_csv,
    plan_confirmation_recovery,
    plan_shipments,
    reconcile,
    to_shipment_lines,
)
from tasks.core.states import settle_confirmation
from tasks.core.validation import validate_shipments
from tests.support.shipment_files import ORDER_DATE, purchase_order, shipment_file, shipment_row

NOW = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)
MARKERS = ShipmentOptions().could_not_ship


def ledger_order(order: PurchaseOrder, state: OrderState = OrderState.EXPORTED, **changes: object) -> LedgerOrder:
    values: dict[str, object] = {
        "account": "acme",
        "purchase_order_number": order.purchase_order_number,
        "selling_party_id": order.selling_party_id,
        "ship_from_party_id": order.ship_from_party_id,
        "order_date": order.order_date,
        "state": state,
        "lines": order.lines,
        "required_ship_date": order.required_ship_date,
    }
    values.update(changes)
    return LedgerOrder(**values)  # type: ignore[arg-type]


def check(
    rows: list[dict[str, object]],
    orders: list[LedgerOrder],
    earlier: list[ShipmentLine] = (),  # type: ignore[assignment]
    *,
    file: str = "ship.csv",
    checksum: str = "c1",
) -> Reconciliation:
    result = validate_shipments(
        shipment_file(rows), FileOptions(), file_name=file, now=NOW, not_shipped=MARKERS
    )
    assert result.ok, result.errors.to_dicts()
    return reconcile(
        result.valid, orders, list(earlier), file=file, checksum=checksum, ship_from_party_id="WH01",
        could_not_ship=MARKERS,
    )


def reasons(rec: Reconciliation) -> dict[int, str]:
    return {row: reason for row, _column, _value, reason in rec.errors.iter_rows()}


def kept(rec: Reconciliation) -> list[ShipmentLine]:
    return to_shipment_lines(rec.accepted)


TWO_LINES = purchase_order("PO1", ("SKU-A", 2), ("SKU-B", 1))


# -- reconcile: the rules -------------------------------------------------------------------------------------


def test_good_rows_become_lines_with_the_orders_own_sequence_numbers() -> None:
    rec = check(
        [shipment_row("PO1", item_sequence_number="1", quantity_shipped=2),
         shipment_row("PO1", item_sequence_number="", vendor_sku="SKU-B")],
        [ledger_order(TWO_LINES)],
    )
    assert rec.errors.is_empty() and rec.rejected == {}
    lines = kept(rec)
    assert [(line.item_sequence_number, line.quantity, line.row) for line in lines] == [
        ("00001", 2, 2), ("00002", 1, 3)
    ]
    assert lines[0].tracking_number == "1ZPO1" and lines[0].weight == 1.5 and lines[0].shipped
    assert lines[0].file == "ship.csv" and lines[0].checksum == "c1"


@pytest.mark.parametrize(
    ("order", "state", "row_values", "reason"),
    [
        ("PO9", None, {}, "order PO9 is not in the ledger: it was never downloaded for this account"),
        ("PO1", OrderState.CANCELLED, {}, "order was cancelled by Amazon before it was exported; it must not ship"),
        ("PO1", OrderState.CONFIRMED, {}, "order is already confirmed to Amazon; it is never confirmed twice"),
        ("PO1", OrderState.CONFIRMING, {}, "order is already confirming to Amazon; it is never confirmed twice"),
        ("PO1", OrderState.ACKNOWLEDGED, {}, "order has not been exported to the warehouse yet (it is acknowledged)"),
        ("PO1", OrderState.EXPORTED, {"item_sequence_number": "7"},
         "order PO1 has no line with item sequence number 7"),
        ("PO1", OrderState.EXPORTED, {"item_sequence_number": "", "vendor_sku": "SKU-X"},
         "order PO1 has no line with SKU SKU-X"),
        ("PO1", OrderState.EXPORTED, {"vendor_sku": "SKU-B"}, "line 00001 of order PO1 is SKU SKU-A, not SKU-B"),
        ("PO1", OrderState.EXPORTED, {"quantity_shipped": 3},
         "3 unit(s) of line 00001 shipped (3 in this file, 0 in earlier files) but the order has 2"),
        ("PO1", OrderState.EXPORTED, {"ship_date": "2026-03-01"},
         "ship date 2026-03-01 is before the order date 2026-03-03"),
        ("PO1", OrderState.EXPORTED, {"status": "LOST"},
         "status LOST is not known: leave it empty or write SHIPPED for a shipped line, or one of NOT SHIPPED, "
         "NOT_SHIPPED, FLOOR_DENIAL for a line that could not ship"),
    ],
)
def test_a_row_breaking_a_rule_is_rejected_with_its_reason(
    order: str, state: OrderState | None, row_values: dict[str, object], reason: str
) -> None:
    orders = [] if state is None else [ledger_order(TWO_LINES, state)]
    rec = check([shipment_row(order, **row_values)], orders)
    assert reasons(rec) == {2: reason}
    assert rec.rejected == {order: reason}
    assert rec.accepted.is_empty()


def test_an_order_of_another_warehouse_is_rejected() -> None:
    other = purchase_order("PO1", ship_from="WH02")
    rec = check([shipment_row("PO1")], [ledger_order(other)])
    assert reasons(rec) == {2: "order belongs to warehouse WH02, not to this one (WH01)"}


def test_a_held_order_names_its_hold() -> None:
    rec = check([shipment_row("PO1")], [ledger_order(TWO_LINES, OrderState.HELD, held_reason="needs a look")])
    assert reasons(rec) == {2: "order is held for a person: needs a look"}


def test_one_bad_row_holds_back_its_whole_order_and_the_others_go_through() -> None:
    other = purchase_order("PO2")
    rec = check(
        [shipment_row("PO1"), shipment_row("PO1", item_sequence_number="9"), shipment_row("PO2")],
        [ledger_order(TWO_LINES), ledger_order(other)],
    )
    assert reasons(rec) == {
        2: "order held back because its line 3 has a problem; an order is confirmed whole or not at all",
        3: "order PO1 has no line with item sequence number 9",
    }
    assert [line.purchase_order_number for line in kept(rec)] == ["PO2"]
    assert list(rec.rejected) == ["PO1"]


def test_a_sku_on_two_lines_needs_the_sequence_number() -> None:
    twice = purchase_order("PO1", ("SKU-A", 1), ("SKU-A", 1))
    rec = check([shipment_row("PO1", item_sequence_number="", vendor_sku="SKU-A")], [ledger_order(twice)])
    assert reasons(rec) == {2: "SKU SKU-A is on 2 lines of order PO1: give the item sequence number"}


def test_quantities_add_up_over_rows_and_earlier_files() -> None:
    earlier = ShipmentLine("PO1", "00001", 1, "old.csv", "c0", 2, ORDER_DATE, tracking_number="1ZOLD", weight=1.0,
                           weight_unit="KG", carrier="UPS", ship_method="UPS_GROUND")
    rec = check(
        [shipment_row("PO1", quantity_shipped=1, tracking_number="1ZA"),
         shipment_row("PO1", quantity_shipped=1, tracking_number="1ZB")],
        [ledger_order(TWO_LINES)],
        [earlier],
    )
    over = "3 unit(s) of line 00001 shipped (2 in this file, 1 in earlier files) but the order has 2"
    assert reasons(rec) == {2: over, 3: over}


def test_one_package_must_be_described_alike() -> None:
    rec = check(
        [shipment_row("PO1", item_sequence_number="1", quantity_shipped=2, package_weight="1.5"),
         shipment_row("PO1", item_sequence_number="2", package_weight="2.5")],
        [ledger_order(TWO_LINES)],
    )
    assert set(reasons(rec).values()) == {
        "package 1ZPO1 is described differently on other lines of this order: its tracking number, carrier, ship "
        "method, SCAC, weight and dimensions must be the same on every line"
    }


def test_could_not_ship_needs_no_package_and_keeps_zero_units() -> None:
    rec = check(
        [shipment_row("PO1", status="not shipped", carrier="", ship_method="", scac="", tracking_number="",
                      package_weight="", weight_unit="", quantity_shipped="")],
        [ledger_order(TWO_LINES)],
    )
    assert rec.errors.is_empty()
    (line,) = kept(rec)
    assert (line.shipped, line.quantity, line.tracking_number) == (False, 0, None)


def test_could_not_ship_beside_shipped_lines_needs_a_person() -> None:
    rec = check(
        [shipment_row("PO1", quantity_shipped=2), shipment_row("PO1", item_sequence_number="2", status="FLOOR_DENIAL")],
        [ledger_order(TWO_LINES)],
    )
    assert set(reasons(rec).values()) == {
        "the order has lines shipped and lines that could not ship; Amazon takes could-not-ship (FLOOR_DENIAL) for "
        "a whole order only, so a person must decide"
    }


def test_lines_this_file_already_brought_are_skipped() -> None:
    first = check([shipment_row("PO1", quantity_shipped=2)], [ledger_order(TWO_LINES)])
    again = check([shipment_row("PO1", quantity_shipped=2)], [ledger_order(TWO_LINES)], kept(first))
    assert again.already == ("PO1",) and again.accepted.is_empty() and again.errors.is_empty()
    # the same content under another name is another file: its units count on top of the first
    other = check([shipment_row("PO1", quantity_shipped=2)], [ledger_order(TWO_LINES)], kept(first), file="b.csv")
    assert "4 unit(s) of line 00001" in reasons(other)[2]


def test_error_report_joins_validation_and_reconciliation_problems() -> None:
    data = shipment_file([shipment_row("PO1", quantity_shipped="two"), shipment_row("PO2")])
    result = validate_shipments(data, FileOptions(), file_name="ship.csv", now=NOW)
    rec = reconcile(result.valid, [], [], file="ship.csv", checksum="c", ship_from_party_id="WH01",
                    could_not_ship=MARKERS)
    errors = error_report(result, rec)
    assert errors["row"].to_list() == [2, 3]
    text = error_report_csv("ship.csv", errors).decode()
    assert text.splitlines()[0] == "file,row,column,value,reason"
    assert "ship.csv,3,purchase_order_number,PO2,order PO2 is not in the ledger" in text


# -- plan and build ------------------------------------------------------------------------------------------


def line(order: str, seq: str, quantity: int, *, file: str = "a.csv", row: int = 2, **values: object) -> ShipmentLine:
    base: dict[str, object] = {
        "tracking_number": f"1Z{order}", "carrier": "UPS", "ship_method": "UPS_GROUND", "scac": "UPSN",
        "weight": 1.5, "weight_unit": "KG",
    }
    base.update(values)
    return ShipmentLine(order, seq, quantity, file, "c", row, datetime(2026, 3, 4, tzinfo=UTC), **base)  # type: ignore[arg-type]


def test_plan_sorts_ready_pending_and_overdue() -> None:
    ready = ledger_order(purchase_order("PO1", ("SKU-A", 2)))
    partial = ledger_order(purchase_order("PO2", ("SKU-A", 2), ("SKU-B", 1)),
                           required_ship_date=NOW + timedelta(hours=1))
    late = ledger_order(purchase_order("PO3", ("SKU-A", 2)), required_ship_date=NOW - timedelta(hours=1))
    denied = ledger_order(purchase_order("PO4", ("SKU-A", 2)))
    plan = plan_shipments(
        [ready, partial, late, denied],
        [line("PO1", "00001", 2), line("PO2", "00001", 2), line("PO3", "00001", 1),
         line("PO4", "00001", 0, shipped=False, tracking_number=None)],
        now=NOW,
        grace=timedelta(0),
    )
    assert plan.ready == ("PO1", "PO4")
    assert [(p.purchase_order_number, p.progress()) for p in plan.pending] == [("PO2", "2 of 3 unit(s) in a.csv")]
    assert list(plan.overdue) == ["PO3"] and "only 1 of 2 unit(s) in a.csv by its deadline" in plan.overdue["PO3"]
    # a grace period moves the deadline
    later = plan_shipments([late], [line("PO3", "00001", 1)], now=NOW, grace=timedelta(hours=2))
    assert later.overdue == {} and later.pending[0].deadline == NOW + timedelta(hours=1)


def test_deadline_without_required_ship_date_is_three_days_after_the_order() -> None:
    order = ledger_order(purchase_order("PO1"), required_ship_date=None)
    assert deadline(order, timedelta(0)) == ORDER_DATE + timedelta(days=3)


def test_one_confirmation_per_order_with_a_carton_per_package() -> None:
    order = ledger_order(purchase_order("PO1", ("SKU-A", 3), ("SKU-B", 1)))
    lines = [
        line("PO1", "00001", 2, row=2, tracking_number="T1", length=30.0, width=20.0, height=10.0,
             dimension_unit="CM"),
        line("PO1", "00002", 1, row=3, tracking_number="T1", length=30.0, width=20.0, height=10.0,
             dimension_unit="CM"),
        line("PO1", "00001", 1, file="b.csv", row=2, tracking_number="T2", weight=0.5),
    ]
    (confirmation,) = build_confirmations([order], lines).values()
    assert confirmation.confirmation_type == "Shipped"
    assert [(i.item_sequence_number, i.shipped_quantity, i.vendor_product_identifier) for i in confirmation.items] == [
        ("00001", 3, "SKU-A"), ("00002", 1, "SKU-B")
    ]
    cartons = {p.container_identifier: p for p in confirmation.packages}
    assert set(cartons) == {"T1", "T2"}
    assert [(i.item_sequence_number, i.shipped_quantity) for i in cartons["T1"].items] == [("00001", 2), ("00002", 1)]
    assert (cartons["T1"].length, cartons["T1"].dimension_unit, cartons["T2"].weight) == (30.0, "CM", 0.5)
    assert cartons["T2"].ship_method == "UPS_GROUND" and cartons["T2"].scac == "UPSN"
    assert confirmation.shipped_date == datetime(2026, 3, 4, tzinfo=UTC)


def test_package_id_names_the_carton_and_shipped_date_is_never_before_the_order() -> None:
    order = ledger_order(purchase_order("PO1", order_date=datetime(2026, 3, 4, 15, tzinfo=UTC)))
    (confirmation,) = build_confirmations([order], [line("PO1", "00001", 1, package_id="BOX7")]).values()
    assert confirmation.packages[0].container_identifier == "BOX7"
    assert confirmation.packages[0].tracking_number == "1ZPO1"
    assert confirmation.shipped_date == datetime(2026, 3, 4, 15, tzinfo=UTC)


def test_floor_denial_lists_every_line_with_zero_units_and_no_package() -> None:
    order = ledger_order(purchase_order("PO1", ("SKU-A", 2), ("SKU-B", 1)))
    denial = line("PO1", "00002", 0, shipped=False, tracking_number=None, carrier=None, weight=None)
    (confirmation,) = build_confirmations([order], [denial]).values()
    assert confirmation.confirmation_type == "FloorDenial" and confirmation.packages == ()
    assert [(i.item_sequence_number, i.shipped_quantity) for i in confirmation.items] == [("00001", 0), ("00002", 0)]


# -- recovery and verdicts ------------------------------------------------------------------------------------


def test_recovery_trusts_amazon_and_resends_only_after_the_settle_time() -> None:
    claimed = "20260305T113000Z-run1"  # 30 minutes before NOW
    stuck = [ledger_order(purchase_order(n), OrderState.CONFIRMING, ship_batch=claimed) for n in
             ("PO1", "PO2", "PO3", "PO4", "PO5", "PO6")]
    status = {
        "PO1": AmazonOrderStatus.SHIPPED, "PO2": AmazonOrderStatus.ACCEPTED, "PO3": None,
        "PO4": AmazonOrderStatus.CANCELLED, "PO5": AmazonOrderStatus.CANCELLED, "PO6": AmazonOrderStatus.NEW,
    }
    early = plan_confirmation_recovery(stuck, status, {"PO5"}, now=NOW, settle=timedelta(minutes=45))
    assert early.confirmed == ("PO1", "PO5") and early.waiting == ("PO2",) and early.resend == ()
    assert set(early.held) == {"PO3", "PO4", "PO6"}
    late = plan_confirmation_recovery(stuck, status, {"PO5"}, now=NOW, settle=timedelta(minutes=20))
    assert late.resend == ("PO2",)


def test_failure_moves_only_the_orders_its_errors_name() -> None:
    named = TransactionStatus("t1", TransactionState.FAILURE, (
        AmazonErrorDetail("INVALID_SHIPPED_DATE", "shippedDate cannot be in the future.", "purchaseOrderNumber=PO2"),
    ))
    assert settle_confirmation(named, ["PO1", "PO2", "PO3"]) == (
        {"PO2": "INVALID_SHIPPED_DATE: shippedDate cannot be in the future."}, ["PO1", "PO3"]
    )
    anonymous = TransactionStatus("t1", TransactionState.FAILURE, (AmazonErrorDetail("NotAvailable", "No details."),))
    failed, confirmed = settle_confirmation(anonymous, ["PO1", "PO2"])
    assert set(failed) == {"PO1", "PO2"} and confirmed == []
    success = TransactionStatus("t1", TransactionState.SUCCESS)
    assert settle_confirmation(success, ["PO1"]) == ({}, ["PO1"])


def test_reconcile_handles_an_empty_frame() -> None:
    rows = validate_shipments(shipment_file([]), FileOptions(), file_name="x.csv", now=NOW)
    rec = reconcile(rows.valid, [], [], file="x.csv", checksum="c", ship_from_party_id="WH01", could_not_ship=MARKERS)
    assert rec.accepted.is_empty() and rec.errors.schema == pl.Schema(
        {"row": pl.Int64, "column": pl.String, "value": pl.String, "reason": pl.String}
    )
