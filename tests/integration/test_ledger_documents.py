"""The ledger's labels, packing slips and cancellation notices, on SQLite, PostgreSQL and the in-memory fake alike."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from adapters.ledger import SqlLedger
from tasks.core.errors import DataError
from tasks.core.models import (
    LabelFormat,
    LabelPackage,
    LabelState,
    OrderState,
    PackingSlipState,
    ShippingLabel,
)
from tasks.core.ports import Ledger
from tests.fakes import FakeLedger
from tests.integration.test_ledger import ACCOUNT, T0, advance, order


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "fake"])
def any_ledger(request: pytest.FixtureRequest) -> Iterator[Ledger]:
    """The SQL ledger (each backend) and the fake: the flows must not be able to tell them apart."""
    if request.param == "fake":
        yield FakeLedger()
        return
    with SqlLedger(request.getfixturevalue(f"{request.param}_ledger_url")) as ledger:
        yield ledger


def _walk(ledger: Ledger, numbers: list[str], to: OrderState) -> None:
    ledger.record_downloaded(ACCOUNT, [order(n) for n in numbers])
    advance(ledger, numbers, to)  # type: ignore[arg-type]


def _label(number: str, *tracking: str) -> ShippingLabel:
    packages = tuple(
        LabelPackage(f"{i:03d}", t, "UPS_GROUND", "UPS Ground", content=b"^XA Jane Doe ^XZ")
        for i, t in enumerate(tracking or ("1Z" + number,), start=1)
    )
    return ShippingLabel(number, "ACME", "WH-EAST", LabelFormat.ZPL, packages)


# ---- labels -----------------------------------------------------------------------------------------------------


def test_a_label_is_claimed_once_per_order_and_only_while_it_may_ship(any_ledger: Ledger) -> None:
    _walk(any_ledger, ["A1", "A2"], OrderState.ACKNOWLEDGED)
    _walk(any_ledger, ["E1"], OrderState.EXPORTED)
    any_ledger.record_downloaded(ACCOUNT, [order("D1"), order("C1", status=None)])
    any_ledger.mark_cancelled(ACCOUNT, ["C1"])
    assert any_ledger.claim_labels(ACCOUNT, ["A1", "A2", "E1", "D1", "C1", "NOPE"]) == ["A1", "A2", "E1"]
    assert any_ledger.claim_labels(ACCOUNT, ["A1", "A2", "E1"]) == []  # a second claim gets nothing
    records = {r.purchase_order_number: r for r in any_ledger.load_labels(ACCOUNT)}
    assert {r.state for r in records.values()} == {LabelState.REQUESTING}
    assert records["A1"].ship_from_party_id == "WH-EAST" and records["A1"].requested_at is not None


def test_no_label_for_an_order_cancelled_after_export(any_ledger: Ledger) -> None:
    _walk(any_ledger, ["E1", "E2"], OrderState.EXPORTED)
    assert any_ledger.record_cancelled_after_export(ACCOUNT, ["E1"]) == ["E1"]
    assert any_ledger.claim_labels(ACCOUNT, ["E1", "E2"]) == ["E2"]


def test_a_label_goes_requesting_created_dropped_and_keeps_no_label_content(any_ledger: Ledger) -> None:
    _walk(any_ledger, ["A1", "A2"], OrderState.ACKNOWLEDGED)
    any_ledger.claim_labels(ACCOUNT, ["A1", "A2"])
    assert any_ledger.mark_labels_dropped(ACCOUNT, ["A1"]) == []  # not created yet
    assert any_ledger.record_labels(ACCOUNT, [_label("A1", "1Z1", "1Z2"), _label("UNCLAIMED")]) == ["A1"]
    assert any_ledger.record_labels(ACCOUNT, [_label("A1", "OTHER")]) == []  # recorded once
    (record,) = any_ledger.load_labels(ACCOUNT, states=[LabelState.CREATED])
    assert record.label_format is LabelFormat.ZPL
    assert [(p.package_identifier, p.tracking_number, p.ship_method, p.ship_method_name) for p in record.packages] == [
        ("001", "1Z1", "UPS_GROUND", "UPS Ground"),
        ("002", "1Z2", "UPS_GROUND", "UPS Ground"),
    ]
    assert all(p.content == b"" for p in record.packages)
    assert "Jane" not in repr(any_ledger.load_labels(ACCOUNT))
    assert any_ledger.mark_labels_dropped(ACCOUNT, ["A1", "A2"]) == ["A1"]
    assert any_ledger.mark_labels_dropped(ACCOUNT, ["A1"]) == []
    dropped = any_ledger.load_labels(ACCOUNT, purchase_order_numbers=["A1"], ship_from_party_id="WH-EAST")
    assert dropped[0].state is LabelState.DROPPED and dropped[0].dropped_at is not None
    assert any_ledger.load_labels(ACCOUNT, ship_from_party_id="WH-WEST") == []
    assert any_ledger.load_labels(ACCOUNT, purchase_order_numbers=[]) == []


def test_only_a_claim_without_a_label_is_released(any_ledger: Ledger) -> None:
    _walk(any_ledger, ["A1", "A2"], OrderState.ACKNOWLEDGED)
    any_ledger.claim_labels(ACCOUNT, ["A1", "A2"])
    any_ledger.record_labels(ACCOUNT, [_label("A2")])
    assert any_ledger.release_labels(ACCOUNT, ["A1", "A2"]) == ["A1"]
    assert any_ledger.claim_labels(ACCOUNT, ["A1", "A2"]) == ["A1"]  # claimed again for the next request


# ---- packing slips ----------------------------------------------------------------------------------------------


def test_packing_slips_wait_then_are_dropped_or_missing(any_ledger: Ledger) -> None:
    _walk(any_ledger, ["A1", "A2", "A3"], OrderState.ACKNOWLEDGED)
    first = T0 + timedelta(hours=1)
    assert any_ledger.record_packing_slips_waiting(ACCOUNT, "WH-EAST", ["A1", "A2", "A3"], first) == ["A1", "A2", "A3"]
    later = T0 + timedelta(hours=5)
    assert any_ledger.record_packing_slips_waiting(ACCOUNT, "WH-EAST", ["A1"], later) == []  # first try is kept
    assert any_ledger.mark_packing_slips(ACCOUNT, ["A1"], PackingSlipState.DROPPED) == ["A1"]
    assert any_ledger.mark_packing_slips(ACCOUNT, ["A1", "A2"], PackingSlipState.MISSING) == ["A2"]
    records = {r.purchase_order_number: r for r in any_ledger.load_packing_slips(ACCOUNT)}
    assert {n: r.state for n, r in records.items()} == {
        "A1": PackingSlipState.DROPPED, "A2": PackingSlipState.MISSING, "A3": PackingSlipState.WAITING
    }
    assert records["A1"].first_try_at == first and records["A1"].dropped_at is not None
    waiting = any_ledger.load_packing_slips(ACCOUNT, states=[PackingSlipState.WAITING])
    assert [r.purchase_order_number for r in waiting] == ["A3"]
    with pytest.raises(DataError):
        any_ledger.mark_packing_slips(ACCOUNT, ["A3"], PackingSlipState.WAITING)


# ---- cancellation notices ---------------------------------------------------------------------------------------


def test_cancellations_after_export_are_recorded_once_and_told_in_one_file(any_ledger: Ledger) -> None:
    _walk(any_ledger, ["E1", "E2", "E3"], OrderState.EXPORTED)
    _walk(any_ledger, ["A1"], OrderState.ACKNOWLEDGED)
    assert any_ledger.record_cancelled_after_export(ACCOUNT, ["E1", "E2", "A1", "NOPE"]) == ["E1", "E2"]
    assert any_ledger.record_cancelled_after_export(ACCOUNT, ["E1"]) == []
    pending = any_ledger.load_cancellation_notices(ACCOUNT, pending_only=True)
    assert [(n.purchase_order_number, n.export_file, n.notice_file) for n in pending] == [
        ("E1", "orders-E1.csv", None),
        ("E2", "orders-E1.csv", None),
    ]

    claimed = any_ledger.claim_cancellation_notices(ACCOUNT, "WH-EAST", "cancellations-1.csv")
    assert [n.purchase_order_number for n in claimed] == ["E1", "E2"]
    assert any_ledger.claim_cancellation_notices(ACCOUNT, "WH-EAST", "cancellations-2.csv") == []
    # a retried claim under the same name returns the same notices (the file is rebuilt identically)
    again = any_ledger.claim_cancellation_notices(ACCOUNT, "WH-EAST", "cancellations-1.csv")
    assert [n.purchase_order_number for n in again] == ["E1", "E2"]
    assert any_ledger.claim_cancellation_notices(ACCOUNT, "WH-WEST", "cancellations-3.csv") == []

    assert any_ledger.mark_cancellations_notified(ACCOUNT, "cancellations-1.csv") == ["E1", "E2"]
    assert any_ledger.mark_cancellations_notified(ACCOUNT, "cancellations-1.csv") == []
    assert any_ledger.load_cancellation_notices(ACCOUNT, pending_only=True) == []
    told = any_ledger.load_cancellation_notices(ACCOUNT, purchase_order_numbers=["E2"])
    assert told[0].notified_at is not None and told[0].notice_file == "cancellations-1.csv"

    any_ledger.record_cancelled_after_export(ACCOUNT, ["E3"])
    assert [n.purchase_order_number for n in any_ledger.claim_cancellation_notices(
        ACCOUNT, "WH-EAST", "cancellations-4.csv")] == ["E3"]
    assert any_ledger.count_orders(ACCOUNT)[OrderState.EXPORTED] == 3  # exported stays final


def test_two_workers_claiming_labels_at_once_claim_each_order_once(ledger: SqlLedger) -> None:
    numbers = [f"P{i:03d}" for i in range(200)]
    _walk(ledger, numbers, OrderState.ACKNOWLEDGED)
    results: list[list[str]] = []
    barrier = threading.Barrier(2)

    def claim() -> None:
        barrier.wait()
        results.append(ledger.claim_labels(ACCOUNT, numbers))

    threads = [threading.Thread(target=claim) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results[0] + results[1]) == numbers


def test_records_keep_timezone_aware_times(any_ledger: Ledger) -> None:
    _walk(any_ledger, ["A1"], OrderState.ACKNOWLEDGED)
    with pytest.raises(DataError, match="timezone"):
        any_ledger.record_packing_slips_waiting(ACCOUNT, "WH-EAST", ["A1"], datetime(2025, 1, 1))
    any_ledger.record_packing_slips_waiting(ACCOUNT, "WH-EAST", ["A1"], datetime(2025, 1, 1, tzinfo=UTC))
    (record,) = any_ledger.load_packing_slips(ACCOUNT)
    assert record.first_try_at == datetime(2025, 1, 1, tzinfo=UTC)
