"""confirm-shipments decisions through in-memory fakes: files, partial orders, deadlines, batches, crashes."""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from flows.confirm_shipments import ShipmentRun, WarehouseReport, confirm_warehouse
from flows.runtime import Runtime
from tasks.core.config import Settings, parse_config
from tasks.core.errors import NotSentError, OutcomeUnknownError, TransientError
from tasks.core.models import (
    AmazonErrorDetail,
    AmazonOrderStatus,
    FileOutcome,
    OrderState,
    PurchaseOrder,
    TransactionKind,
    TransactionState,
    TransactionStatus,
)
from tests.fakes import FakeLedger, FakeVendorApi, FakeWarehouseDrop
from tests.support.shipment_files import purchase_order, shipment_file, shipment_row

NOW = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)
ACCOUNT = "acme"


class Crash(BaseException):
    """The process dies here: nothing in the flow may catch it."""


@dataclass
class World:
    """Amazon, the ledger and the warehouse drop as fakes, and a runtime wired to them."""

    settings: Settings
    api: FakeVendorApi = field(default_factory=FakeVendorApi)
    ledger: FakeLedger = field(default_factory=FakeLedger)
    drop: FakeWarehouseDrop = field(default_factory=FakeWarehouseDrop)

    @property
    def runtime(self) -> Runtime:
        return Runtime(
            self.settings,
            vendor_api_factory=lambda _account: self.api,
            drop_factory=lambda _warehouse: self.drop,
            ledger_factory=lambda _settings: self.ledger,
        )

    def export(self, *orders: PurchaseOrder) -> None:
        """Orders downloaded, acknowledged and exported, as download-orders leaves them; ACCEPTED at Amazon."""
        numbers = [o.purchase_order_number for o in orders]
        self.ledger.record_downloaded(ACCOUNT, orders)
        self.ledger.mark_acknowledging(ACCOUNT, numbers, "ack")
        self.ledger.mark_acknowledged(ACCOUNT, numbers, None)
        self.ledger.mark_exporting(ACCOUNT, numbers, "orders.csv")
        self.ledger.mark_exported(ACCOUNT, "orders.csv")
        for order in orders:
            self.api.add(order)
            self.api.set_status(order.purchase_order_number, AmazonOrderStatus.ACCEPTED)

    def drop_file(self, name: str, *rows: dict[str, object]) -> bytes:
        data = shipment_file(rows)
        self.drop.put("shipments", name, data)
        return data

    def run(self, now: datetime = NOW) -> WarehouseReport:
        account = self.settings.account(ACCOUNT)
        warehouse = account.warehouse("main")
        report = WarehouseReport(warehouse.name, warehouse.ship_from_party_id)
        return confirm_warehouse(ShipmentRun(self.runtime, account, warehouse, now, report, plain=True))

    def poll(self) -> None:
        """What poll-transactions does: record every pending transaction's outcome."""
        for txn in self.ledger.load_transactions(ACCOUNT, pending_only=True):
            self.ledger.record_transaction_status(self.api.fetch_transaction_status(txn.transaction_id))

    def states(self) -> dict[str, OrderState]:
        return self.ledger.states(ACCOUNT)

    def outcomes(self) -> dict[str, FileOutcome]:
        return {f.name: f.outcome for f in self.ledger.load_files(ACCOUNT)}


def make_world(**shipments: Any) -> World:
    settings = parse_config(
        {
            "accounts": [
                {
                    "name": ACCOUNT,
                    "selling_party_id": "VENDOR1",
                    "credentials": {"client_id": "env:A", "client_secret": "env:B", "refresh_token": "env:C"},
                    "warehouses": [
                        {
                            "name": "main",
                            "ship_from_party_id": "WH01",
                            "drop": {"kind": "local", "path": "unused"},
                            "shipments": {"confirmation_settle_minutes": 0, **shipments},
                        }
                    ],
                }
            ]
        }
    )
    return World(settings)


def error_rows(world: World, name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(world.drop.folders["error"][f"{name}.errors.csv"].decode())))


# -- the common cases ----------------------------------------------------------------------------------------


def test_a_shipment_file_confirms_each_order_once_and_is_archived() -> None:
    world = make_world()
    world.export(purchase_order("PO1", ("SKU-A", 2)), purchase_order("PO2"))
    world.drop_file("ship1.csv", shipment_row("PO1", quantity_shipped=2), shipment_row("PO2"))

    report = world.run()

    assert report.problems == [] and sorted(report.confirmed) == ["PO1", "PO2"]
    assert world.api.confirmed() == {"PO1": 1, "PO2": 1}
    assert world.states() == {"PO1": OrderState.CONFIRMING, "PO2": OrderState.CONFIRMING}
    assert list(world.drop.folders["archive"]) == ["ship1.csv"] and world.drop.folders["shipments"] == {}
    assert world.outcomes() == {"ship1.csv": FileOutcome.ARCHIVED}
    world.poll()  # Amazon's Success, recorded by poll-transactions, confirms them
    assert world.states() == {"PO1": OrderState.CONFIRMED, "PO2": OrderState.CONFIRMED}
    assert world.ledger.load_shipment_lines(ACCOUNT, states=[OrderState.EXPORTED]) == []
    # nothing left: another run sends nothing
    world.run()
    assert world.api.confirmed() == {"PO1": 1, "PO2": 1}


def test_good_orders_go_through_and_the_file_is_quarantined_with_its_report() -> None:
    world = make_world()
    world.export(purchase_order("PO1"), purchase_order("PO2", ("SKU-A", 1), ("SKU-B", 1)))
    world.drop_file(
        "mixed.csv",
        shipment_row("PO1"),
        shipment_row("PO2"),
        shipment_row("PO2", item_sequence_number="2", quantity_shipped=5),
        shipment_row("PO404"),
    )

    report = world.run()

    assert world.api.confirmed() == {"PO1": 1}
    assert set(report.rejected) == {"PO2", "PO404"}
    assert world.outcomes() == {"mixed.csv": FileOutcome.QUARANTINED}
    assert list(world.drop.folders["error"]) == ["mixed.csv", "mixed.csv.errors.csv"]
    rows = error_rows(world, "mixed.csv")
    assert [(r["row"], r["column"]) for r in rows] == [
        ("3", "purchase_order_number"), ("4", "quantity_shipped"), ("5", "purchase_order_number")
    ]
    assert rows[1]["reason"] == (
        "5 unit(s) of line 00002 shipped (5 in this file, 0 in earlier files) but the order has 1"
    )
    assert report.problems and "quarantined with 3 problem(s)" in report.problems[0]
    assert world.states()["PO2"] is OrderState.EXPORTED  # a corrected file may still confirm it


def test_an_unreadable_file_is_quarantined_whole() -> None:
    world = make_world()
    world.export(purchase_order("PO1"))
    world.drop.put("shipments", "garbage.csv", b"\x00\x01 not a csv \xff")

    report = world.run()

    assert world.api.confirmed() == {} and world.ledger.load_shipment_lines(ACCOUNT) == []
    assert world.outcomes() == {"garbage.csv": FileOutcome.QUARANTINED}
    assert "garbage.csv.errors.csv" in world.drop.folders["error"]
    assert report.files[0].outcome == "quarantined" and report.problems


def test_the_same_file_dropped_twice_is_not_taken_twice() -> None:
    world = make_world()
    world.export(purchase_order("PO1"))
    data = world.drop_file("ship.csv", shipment_row("PO1"))
    world.run()
    world.drop.put("shipments", "ship.csv", data)  # the warehouse uploads it again

    report = world.run()

    assert world.api.confirmed() == {"PO1": 1}
    assert report.files[0].outcome == "archived again (already processed)" and report.problems == []
    first, second = world.drop.folders["archive"]  # the second under a free name: the first is kept
    assert first == "ship.csv" and second.startswith("ship-") and second.endswith(".csv")


def test_the_same_lines_under_another_name_are_refused_not_sent_again() -> None:
    world = make_world()
    world.export(purchase_order("PO1"))
    world.drop_file("a.csv", shipment_row("PO1"))
    world.run()
    world.drop_file("b.csv", shipment_row("PO1"))

    report = world.run()

    assert world.api.confirmed() == {"PO1": 1}
    assert report.rejected == {"PO1": "b.csv: order is already confirming to Amazon; it is never confirmed twice"}


# -- partial orders and deadlines ----------------------------------------------------------------------------


def test_a_partial_order_waits_for_the_file_that_completes_it() -> None:
    world = make_world()
    world.export(purchase_order("PO1", ("SKU-A", 2), ("SKU-B", 1), required_ship_date=NOW + timedelta(days=1)))
    world.drop_file("part1.csv", shipment_row("PO1", quantity_shipped=1, tracking_number="T1"))

    first = world.run()

    assert world.api.confirmed() == {} and [p.purchase_order_number for p in first.pending] == ["PO1"]
    assert first.pending[0].progress() == "1 of 3 unit(s) in part1.csv" and first.problems == []
    assert world.outcomes() == {"part1.csv": FileOutcome.ARCHIVED}
    assert world.run().pending  # reported each run until complete

    world.drop_file(
        "part2.csv",
        shipment_row("PO1", quantity_shipped=1, tracking_number="T2", ship_date="2026-03-05"),
        shipment_row("PO1", item_sequence_number="2", tracking_number="T2", ship_date="2026-03-05"),
    )
    second = world.run()

    assert second.confirmed == ["PO1"] and second.pending == []
    (_, (confirmation,)), = world.api.confirmations
    assert [(i.item_sequence_number, i.shipped_quantity) for i in confirmation.items] == [("00001", 2), ("00002", 1)]
    assert sorted(p.tracking_number for p in confirmation.packages) == ["T1", "T2"]
    assert confirmation.shipped_date == datetime(2026, 3, 5, tzinfo=UTC)


def test_a_partial_order_past_its_deadline_is_held_for_a_person() -> None:
    world = make_world(pending_grace_hours=2)
    world.export(purchase_order("PO1", ("SKU-A", 2), required_ship_date=NOW - timedelta(hours=1)))
    world.drop_file("part.csv", shipment_row("PO1"))

    within_grace = world.run()
    assert within_grace.held == {} and len(within_grace.pending) == 1

    late = world.run(NOW + timedelta(hours=2))

    assert list(late.held) == ["PO1"] and "by its deadline 2026-03-05 13:00 UTC" in late.held["PO1"]
    assert world.states() == {"PO1": OrderState.HELD} and late.problems
    world.drop_file("rest.csv", shipment_row("PO1", tracking_number="T9"))
    after = world.run(NOW + timedelta(hours=3))
    assert world.api.confirmed() == {} and "order is held for a person" in after.rejected["PO1"]


def test_could_not_ship_confirms_the_order_as_floor_denial() -> None:
    world = make_world(could_not_ship=["OOS"])
    world.export(purchase_order("PO1", ("SKU-A", 2), ("SKU-B", 1)), purchase_order("PO2"))
    world.drop_file(
        "ship.csv",
        shipment_row("PO1", item_sequence_number="2", status="oos", carrier="", ship_method="", scac="",
                     tracking_number="", package_weight="", weight_unit="", quantity_shipped=""),
        shipment_row("PO2"),
    )

    report = world.run()

    assert report.floor_denials == ["PO1"] and report.confirmed == ["PO2"] and report.problems == []
    sent = {c.purchase_order_number: c for _, batch in world.api.confirmations for c in batch}
    assert sent["PO1"].confirmation_type == "FloorDenial" and sent["PO1"].packages == ()
    assert [i.shipped_quantity for i in sent["PO1"].items] == [0, 0]
    assert world.api.orders["PO1"].status is AmazonOrderStatus.CANCELLED


# -- batches, refusals, failures -----------------------------------------------------------------------------


def test_batches_hold_many_confirmations_and_a_refused_one_is_found_by_splitting() -> None:
    world = make_world(batch_size=4)
    orders = [purchase_order(f"PO{n}") for n in range(1, 11)]
    world.export(*orders)
    world.drop_file("ship.csv", *(shipment_row(o.purchase_order_number) for o in orders))
    world.api.refused_orders = {"PO7"}

    report = world.run()

    assert world.api.confirmed() == {f"PO{n}": 1 for n in range(1, 11) if n != 7}
    assert world.states()["PO7"] is OrderState.HELD and "refused" in report.held["PO7"]
    # batches PO1 PO10 PO2 PO3 | PO4 PO5 PO6 PO7 | PO8 PO9: the second splits into 2 + (1 + refused)
    assert [count for _, count in report.transactions] == [4, 2, 1, 2]
    assert any("PO7" in problem for problem in report.problems)


def test_amazon_unreachable_gives_the_orders_back_for_the_next_run() -> None:
    world = make_world()
    world.export(purchase_order("PO1"))
    world.drop_file("ship.csv", shipment_row("PO1"))
    world.api.faults.fail("submit_shipment_confirmations", NotSentError("no connection"))

    report = world.run()

    assert isinstance(report.failure, TransientError) and world.states() == {"PO1": OrderState.EXPORTED}
    assert world.outcomes() == {"ship.csv": FileOutcome.ARCHIVED}  # its lines are kept in the ledger
    assert world.run().confirmed == ["PO1"] and world.api.confirmed() == {"PO1": 1}


def test_an_unknown_outcome_is_settled_against_amazon_by_a_later_run() -> None:
    world = make_world(confirmation_settle_minutes=45)
    world.export(purchase_order("PO1"), purchase_order("PO2"))
    world.drop_file("ship.csv", shipment_row("PO1"), shipment_row("PO2"))
    world.api.faults.fail("submit_shipment_confirmations", OutcomeUnknownError("timeout after sending"))

    first = world.run()
    assert world.api.confirmed() == {} and "unknown outcome" in first.problems[0]
    assert world.states() == {"PO1": OrderState.CONFIRMING, "PO2": OrderState.CONFIRMING}

    soon = world.run(datetime.now(UTC))  # too early to tell: nothing is sent
    assert world.api.confirmed() == {} and soon.notes

    later = world.run(datetime.now(UTC) + timedelta(hours=1))  # Amazon still shows them unshipped: send again
    assert sorted(later.confirmed) == ["PO1", "PO2"] and world.api.confirmed() == {"PO1": 1, "PO2": 1}


def test_a_failure_marks_the_named_order_and_a_corrected_file_confirms_it_again() -> None:
    world = make_world()
    world.export(purchase_order("PO1"), purchase_order("PO2"))
    world.drop_file("ship.csv", shipment_row("PO1"), shipment_row("PO2"))
    world.run()
    ((transaction_id, _),) = world.api.confirmations
    world.api.settle(transaction_id, TransactionState.FAILURE, [
        AmazonErrorDetail("INVALID_WEIGHT", "Order ID PO2: container 1ZPO2 has no weight.", "purchaseOrderNumber=PO2")
    ])
    world.poll()
    assert world.states() == {"PO1": OrderState.CONFIRMED, "PO2": OrderState.CONFIRM_FAILED}
    (failed,) = world.ledger.load_orders(ACCOUNT, [OrderState.CONFIRM_FAILED])
    assert failed.ship_errors and failed.ship_errors.startswith("INVALID_WEIGHT")
    assert world.ledger.load_shipment_lines(ACCOUNT, purchase_order_numbers=["PO2"]) == []

    world.drop_file("ship-fixed.csv", shipment_row("PO2", package_weight="2.0"))
    world.run()
    assert world.api.confirmed() == {"PO1": 1, "PO2": 2}  # Amazon applied none of the first: this is its first


def test_recorded_transactions_carry_the_orders_as_subjects() -> None:
    world = make_world()
    world.export(purchase_order("PO1"))
    world.drop_file("ship.csv", shipment_row("PO1"))
    world.run()
    (txn,) = world.ledger.load_transactions(ACCOUNT)
    assert (txn.kind, txn.subjects, txn.status) == (
        TransactionKind.SHIPMENT_CONFIRMATION, ("PO1",), TransactionState.PROCESSING
    )
    world.ledger.record_transaction_status(TransactionStatus(txn.transaction_id, TransactionState.PROCESSING))
    assert world.states() == {"PO1": OrderState.CONFIRMING}


# -- the crash-at-every-step matrix --------------------------------------------------------------------------

STEPS = [
    ("drop", "list_new", 1),
    ("drop", "download", 1),
    ("drop", "download", 2),
    ("ledger", "record_file_received", 1),
    ("ledger", "load_orders", 1),
    ("ledger", "load_shipment_lines", 1),
    ("ledger", "record_shipment_lines", 1),
    ("ledger", "record_shipment_lines", 2),
    ("ledger", "mark_file", 1),
    ("drop", "archive", 1),
    ("drop", "quarantine", 1),
    ("ledger", "load_shipment_lines", 3),
    ("ledger", "mark_confirming", 1),
    ("ledger", "mark_confirming", 2),
    ("api", "submit_shipment_confirmations", 1),
    ("api", "submit_shipment_confirmations", 2),
    ("ledger", "mark_confirmation_sent", 1),
    ("ledger", "mark_confirmation_sent", 2),
    ("ledger", "mark_shipment_held", 1),
]


class _CrashOnCall:
    """Wraps a fake: the n-th call of one operation kills the run (after the calls before it went through)."""

    def __init__(self, target: Any, operation: str, nth: int) -> None:
        self._target, self._operation, self._left = target, operation, nth

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if name != self._operation:
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            self._left -= 1
            if self._left == 0:
                raise Crash(f"killed in {name}")
            return value(*args, **kwargs)

        return call


@pytest.mark.parametrize(("part", "operation", "nth"), STEPS, ids=[f"{p}.{o}#{n}" for p, o, n in STEPS])
def test_a_crash_at_any_step_then_a_rerun_confirms_every_order_exactly_once(
    part: str, operation: str, nth: int
) -> None:
    world = make_world(batch_size=2)
    complete = [purchase_order(f"PO{n}") for n in range(1, 6)]
    late = purchase_order("PO9", ("SKU-A", 2), required_ship_date=NOW - timedelta(hours=1))
    world.export(*complete, late)
    today = datetime.now(UTC).strftime("%Y-%m-%d")  # this test runs at the real time: a plausible ship date
    world.drop_file(
        "a.csv",
        *(shipment_row(o.purchase_order_number, ship_date=today) for o in complete[:3]),
        shipment_row("PO9", ship_date=today),
    )
    world.drop_file(
        "b.csv",
        *(shipment_row(o.purchase_order_number, ship_date=today) for o in complete[3:]),
        shipment_row("PO404", ship_date=today),
    )

    crashing = World(world.settings, world.api, world.ledger, world.drop)
    setattr(crashing, part, _CrashOnCall(getattr(world, part), operation, nth))
    # batch ids carry the real claim time, which recovery compares with the run's clock: run at the real time
    with pytest.raises(Crash):
        crashing.run(datetime.now(UTC))
    world.run(datetime.now(UTC))  # the re-run, on the same ledger, drop and Amazon
    world.run(datetime.now(UTC))  # and another: nothing more happens

    assert world.api.confirmed() == {o.purchase_order_number: 1 for o in complete}
    states = world.states()
    assert states["PO9"] is OrderState.HELD
    assert {states[o.purchase_order_number] for o in complete} <= {OrderState.CONFIRMING, OrderState.CONFIRMED}
    assert world.drop.folders["shipments"] == {}
    assert world.outcomes() == {"a.csv": FileOutcome.ARCHIVED, "b.csv": FileOutcome.QUARANTINED}
    assert sorted(world.drop.folders["archive"]) == ["a.csv"]
    assert sorted(world.drop.folders["error"]) == ["b.csv", "b.csv.errors.csv"]
    # every line kept once: a re-run never adds a file's lines twice
    lines = world.ledger.load_shipment_lines(ACCOUNT)
    assert Counter((line.file, line.row) for line in lines).most_common(1)[0][1] == 1


# -- what download-orders learned after export (labels, cancellations) --------------------------------------


def test_a_shipment_row_for_an_order_amazon_cancelled_after_export_is_held_not_confirmed() -> None:
    world = make_world()
    world.export(purchase_order("PO1"), purchase_order("PO2"))
    world.ledger.record_cancelled_after_export(ACCOUNT, ["PO2"])  # the order run saw Amazon cancel it
    world.drop_file("ship.csv", shipment_row("PO1"), shipment_row("PO2"))

    report = world.run()

    assert world.api.confirmed() == {"PO1": 1}
    assert world.states()["PO2"] is OrderState.HELD
    assert "cancelled order PO2 after it was exported" in report.held["PO2"]
    assert report.problems and "PO2" in report.problems[-1]
