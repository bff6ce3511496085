"""Two workers racing on one ledger (separate engines, separate connections): every order is claimed exactly once."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest

from adapters.ledger import SqlLedger
from tasks.core.models import AmazonOrderStatus, OrderLine, OrderState, PurchaseOrder

ACCOUNT = "acme-us"
ORDERS = 600
BATCH = 40
T = TypeVar("T")


def page(numbers: list[str], status: AmazonOrderStatus = AmazonOrderStatus.NEW) -> list[PurchaseOrder]:
    created = datetime(2025, 3, 1, tzinfo=UTC)
    return [
        PurchaseOrder(
            purchase_order_number=number,
            customer_order_number="C",
            order_date=created + timedelta(seconds=i),
            selling_party_id="ACME",
            ship_from_party_id="WH-EAST",
            ship_method="UPS",
            required_ship_date=created,
            lines=(OrderLine("1", 1, "B01", "SKU-1"), OrderLine("2", 2, "B02", "SKU-2")),
            status=status,
        )
        for i, number in enumerate(numbers)
    ]


@pytest.fixture
def workers(ledger_url: str) -> Iterator[tuple[SqlLedger, SqlLedger]]:
    """Two ledgers with their own engines, as two worker processes would have."""
    with SqlLedger(ledger_url) as first, SqlLedger(ledger_url) as second:
        yield first, second


@pytest.fixture
def interleaves(ledger_backend: str) -> bool:
    """Whether both workers can expect to win some orders.

    PostgreSQL runs the two transactions side by side. SQLite runs one writer at a time, and its busy handler
    sleeps while the other writer keeps taking the lock, so one worker often wins every batch: there the test
    shows that the waiting writer queues (no "database is locked") and never claims twice.
    """
    return ledger_backend == "postgres"


def race(
    workers: tuple[SqlLedger, SqlLedger], numbers: list[str], step: Callable[[SqlLedger, int, list[str]], list[str]]
) -> tuple[list[str], list[str]]:
    """Run step on both workers at once, each over the same orders in its own shuffled batches."""
    start = threading.Barrier(2)

    def work(worker: int) -> list[str]:
        mine = numbers[:]
        random.Random(worker).shuffle(mine)
        start.wait(timeout=10)
        claimed: list[str] = []
        for offset in range(0, len(mine), BATCH):
            claimed += step(workers[worker], worker, mine[offset : offset + BATCH])
        return claimed

    with ThreadPoolExecutor(max_workers=2) as pool:
        first, second = pool.map(work, (0, 1))
    return first, second


def assert_claimed_once(first: list[str], second: list[str], numbers: list[str], interleaves: bool) -> None:
    assert set(first).isdisjoint(second)
    assert sorted(first + second) == sorted(numbers)
    if interleaves:
        # Both must have won some: otherwise the race did not interleave and proved nothing.
        assert first and second


def test_racing_downloads_insert_each_order_once(workers: tuple[SqlLedger, SqlLedger], interleaves: bool) -> None:
    numbers = [f"PO-{i:04d}" for i in range(ORDERS)]
    orders = {o.purchase_order_number: o for o in page(numbers)}

    def download(ledger: SqlLedger, _worker: int, batch: list[str]) -> list[str]:
        outcome = ledger.record_downloaded(ACCOUNT, [orders[n] for n in batch])
        assert set(outcome.new) | set(outcome.known) == set(batch)
        return list(outcome.new)

    first, second = race(workers, numbers, download)
    assert_claimed_once(first, second, numbers, interleaves)
    loaded = workers[0].load_orders(ACCOUNT, [OrderState.DOWNLOADED])
    assert len(loaded) == ORDERS
    assert all(len(o.lines) == 2 for o in loaded)


def test_racing_cancellations_report_each_order_once(workers: tuple[SqlLedger, SqlLedger], interleaves: bool) -> None:
    numbers = [f"PO-{i:04d}" for i in range(ORDERS)]
    workers[0].record_downloaded(ACCOUNT, page(numbers[: ORDERS // 2]))
    cancelled = {o.purchase_order_number: o for o in page(numbers, AmazonOrderStatus.CANCELLED)}

    def cancel(ledger: SqlLedger, _worker: int, batch: list[str]) -> list[str]:
        return list(ledger.record_downloaded(ACCOUNT, [cancelled[n] for n in batch]).cancelled)

    first, second = race(workers, numbers, cancel)
    assert_claimed_once(first, second, numbers, interleaves)
    assert workers[0].count_orders(ACCOUNT)[OrderState.CANCELLED] == ORDERS


def test_racing_claims_acknowledge_and_export_each_order_once(
    workers: tuple[SqlLedger, SqlLedger], interleaves: bool
) -> None:
    numbers = [f"PO-{i:04d}" for i in range(ORDERS)]
    workers[0].record_downloaded(ACCOUNT, page(numbers))

    def acknowledge(ledger: SqlLedger, worker: int, batch: list[str]) -> list[str]:
        claimed = ledger.mark_acknowledging(ACCOUNT, batch, f"worker-{worker}")
        if claimed:
            ledger.mark_acknowledged(ACCOUNT, claimed, f"tx-{worker}-{claimed[0]}")
        return claimed

    first, second = race(workers, numbers, acknowledge)
    assert_claimed_once(first, second, numbers, interleaves)
    acked = workers[0].load_orders(ACCOUNT, [OrderState.ACKNOWLEDGED])
    assert {o.purchase_order_number for o in acked if o.ack_batch == "worker-0"} == set(first)
    subjects = [s for t in workers[0].load_transactions(ACCOUNT) for s in t.subjects]
    assert sorted(subjects) == sorted(numbers)

    def export(ledger: SqlLedger, worker: int, batch: list[str]) -> list[str]:
        return ledger.mark_exporting(ACCOUNT, batch, f"orders-worker-{worker}.csv")

    first, second = race(workers, numbers, export)
    assert_claimed_once(first, second, numbers, interleaves)
    assert sorted(workers[0].mark_exported(ACCOUNT, "orders-worker-0.csv")) == sorted(first)
    assert sorted(workers[1].mark_exported(ACCOUNT, "orders-worker-1.csv")) == sorted(second)
    assert workers[0].count_orders(ACCOUNT)[OrderState.EXPORTED] == ORDERS


def test_racing_file_registrations_accept_each_file_once(
    workers: tuple[SqlLedger, SqlLedger], interleaves: bool
) -> None:
    names = [f"ship-{i:03d}.csv" for i in range(120)]

    def receive(ledger: SqlLedger, _worker: int, batch: list[str]) -> list[str]:
        return [n for n in batch if ledger.record_file_received(ACCOUNT, "WH-EAST", "shipments", n, n.encode().hex())]

    first, second = race(workers, names, receive)
    assert_claimed_once(first, second, names, interleaves)
    assert len(workers[0].load_files(ACCOUNT)) == len(names)
