"""download-orders decisions on the in-memory fakes: crashes at every step, refusals, recovery, cancellations.

The orchestration runs with `Effects.plain()` (the tasks' functions without Prefect) over FakeVendorApi, FakeLedger
and FakeWarehouseDrop: no Prefect API, no sockets.
"""

from __future__ import annotations

import csv
import io
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from flows.download_orders import Effects, OrderRun, download_account, raise_for_problems
from tasks.core.config import parse_config
from tasks.core.errors import (
    DataError,
    OutcomeUnknownError,
    PermanentError,
    RunFailed,
    TokenRefusedError,
    TransientError,
)
from tasks.core.models import Address, AmazonOrderStatus, OrderLine, OrderState, PurchaseOrder, RequestState
from tasks.core.orders import WarehouseReport, new_request_id
from tasks.core.ports import WarehouseDrop
from tests.fakes import FakeLedger, FakeVendorApi, FakeWarehouseDrop

START = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
ACCOUNT = "acme"


class Clock:
    """The run's wall clock, moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def order(number: str, created: datetime, ship_from: str = "WH01", lines: int = 1) -> PurchaseOrder:
    return PurchaseOrder(
        purchase_order_number=number,
        customer_order_number=f"C-{number}",
        order_date=created,
        selling_party_id="VENDOR1",
        ship_from_party_id=ship_from,
        ship_method="UPS_GR_RES",
        required_ship_date=created + timedelta(days=2),
        lines=tuple(OrderLine(f"{n:05d}", n, f"B0{n:08d}", f"SKU-{n}") for n in range(1, lines + 1)),
    )


@dataclass
class World:
    """Amazon, the ledger and the warehouse drops as fakes, and a way to run download-orders against them."""

    clock: Clock
    amazon: FakeVendorApi = field(default_factory=FakeVendorApi)
    ledger: Any = field(default_factory=FakeLedger)
    drops: dict[str, Any] = field(default_factory=dict)
    orders: dict[str, Any] = field(default_factory=dict)
    warehouses: tuple[str, ...] = ("WH01",)
    renamed: list[str] = field(default_factory=list)

    def create(self, count: int, *, ship_from: str = "WH01", minutes_ago: float = 45, prefix: str = "PO") -> list[str]:
        created = self.clock() - timedelta(minutes=minutes_ago)
        start = len(self.amazon.orders)
        numbers = [f"{prefix}{start + n:05d}" for n in range(count)]
        self.amazon.add(
            *(order(po, created + timedelta(seconds=n), ship_from, lines=1 + n % 3) for n, po in enumerate(numbers))
        )
        return numbers

    def settings(self) -> Any:
        return parse_config(
            {
                "accounts": [
                    {
                        "name": ACCOUNT,
                        "selling_party_id": "VENDOR1",
                        "credentials": {"client_id": "env:X", "client_secret": "env:Y", "refresh_token": "env:Z"},
                        "orders": self.orders,
                        "warehouses": [
                            {
                                "name": f"wh{i}",
                                "ship_from_party_id": code,
                                "drop": {"kind": "local", "path": "/nowhere"},
                            }
                            for i, code in enumerate(self.warehouses)
                        ],
                    }
                ]
            }
        ).account(ACCOUNT)

    def drop(self, warehouse: str = "wh0") -> FakeWarehouseDrop:
        return self.drops.setdefault(warehouse, FakeWarehouseDrop())

    def run(
        self,
        *,
        ledger: Any = None,
        amazon: Any = None,
        drop: Callable[[str], Any] | None = None,
        backfill_days: float | None = None,
    ) -> list[WarehouseReport]:
        """One download-orders run at the clock's time (what the flow does, without Prefect)."""

        @contextmanager
        def open_drop(warehouse: Any) -> Iterator[WarehouseDrop]:
            yield (drop or self.drop)(warehouse.name)

        account = self.settings()
        run = OrderRun(
            account=account,
            warehouses=tuple(account.warehouses),
            api=amazon or self.amazon,
            ledger=ledger or self.ledger,
            open_drop=open_drop,
            effects=Effects.plain(rename_run=self.renamed.append),
            log=logging.getLogger("test.download_orders"),
            now=self.clock(),
            clock=self.clock,
            backfill_days=backfill_days,
        )
        return download_account(run)

    def acknowledgements(self) -> dict[str, int]:
        return self.amazon.acknowledged()

    def exported(self, warehouse: str = "wh0") -> Counter[str]:
        """Order numbers per row in the warehouse's order files (one row per order line)."""
        rows: Counter[str] = Counter()
        for data in self.drop(warehouse).folders["orders"].values():
            rows.update(r["purchase_order_number"] for r in csv.DictReader(io.StringIO(data.decode("utf-8"))))
        return rows

    def states(self) -> dict[str, int]:
        return {str(state): n for state, n in self.ledger.count_orders(ACCOUNT).items() if n}

    def assert_exactly_once(self, numbers: list[str]) -> None:
        assert self.acknowledgements() == dict.fromkeys(numbers, 1)
        lines = {po: len(self.amazon.orders[po].lines) for po in numbers}
        assert self.exported() == Counter(lines)
        assert self.states() == {"exported": len(numbers)}


@pytest.fixture
def world() -> World:
    clock = Clock(START)
    return World(clock=clock, ledger=FakeLedger(clock=clock))


def row(reports: list[WarehouseReport], index: int = 0) -> dict[str, object]:
    return reports[index].as_row()


# ------------------------------------------------------------------------------------------------ normal runs


def test_new_orders_are_acknowledged_and_exported_once_and_a_rerun_changes_nothing(world: World) -> None:
    created = world.create(250)
    reports = world.run()
    assert row(reports)["new"] == 250 and row(reports)["acknowledged"] == 250 and row(reports)["exported"] == 250
    assert row(reports)["ledger_states"] == "exported=250"
    assert len(world.drop().folders["orders"]) == 1
    assert world.renamed and world.renamed[0].startswith("orders-acme/wh0-")
    world.assert_exactly_once(created)

    world.clock.advance(minutes=30)
    again = world.run()
    assert row(again)["new"] == 0 and row(again)["exported"] == 0
    world.assert_exactly_once(created)
    assert len(world.drop().folders["orders"]) == 1


def test_orders_younger_than_the_lag_wait_for_the_next_run(world: World) -> None:
    early = world.create(3, minutes_ago=45)
    late = world.create(2, minutes_ago=10)
    world.run()
    assert set(world.exported()) == set(early)
    world.clock.advance(minutes=30)
    world.run()
    assert set(world.exported()) == set(early + late)


def test_each_warehouse_gets_its_own_file_and_one_failing_does_not_stop_the_other(world: World) -> None:
    world.warehouses = ("WH01", "WH02")
    one = world.create(4, ship_from="WH01")
    two = world.create(3, ship_from="WH02")
    world.drop("wh0").faults.fail("upload", PermanentError("permission denied (test)"))
    reports = world.run()
    assert row(reports, 0)["exported"] == 0 and "permission denied" in str(row(reports, 0)["problems"])
    assert set(world.exported("wh1")) == set(two)
    with pytest.raises(RunFailed, match="wh0: PermanentError: permission denied") as failed:
        raise_for_problems(ACCOUNT, reports)
    assert failed.value.problems == ("wh0: PermanentError: permission denied (test)",)

    world.run()  # the claimed file is finished under its own name
    assert set(world.exported("wh0")) == set(one)
    assert world.states() == {"exported": 7}


# ------------------------------------------------------------------------------------------------ crash matrix


class Crash(BaseException):
    """Stands for the process dying right after a step succeeded (not an error the flow handles)."""


class CrashAfter:
    """Wraps a port; the chosen method succeeds, then the 'process dies' (once)."""

    def __init__(self, inner: Any, method: str) -> None:
        self._inner = inner
        self._method = method
        self.fired = False

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name != self._method or self.fired:
            return attr

        def crash(*args: Any, **kwargs: Any) -> Any:
            attr(*args, **kwargs)
            self.fired = True
            raise Crash(f"crash after {name}")

        return crash


LEDGER_STEPS = [
    "record_downloaded",
    "mark_acknowledgement_sending",
    "mark_acknowledged",
    "record_watermark",
    "mark_exporting",
    "mark_exported",
]


@pytest.mark.parametrize("step", [*LEDGER_STEPS, "submit_acknowledgements", "upload"])
def test_a_crash_after_any_step_then_scheduled_runs_give_exactly_once(world: World, step: str) -> None:
    world.orders = {"acknowledgement_batch": 40}
    created = world.create(120)
    crashing: dict[str, Any] = {}
    if step in LEDGER_STEPS:
        crashing["ledger"] = CrashAfter(world.ledger, step)
    elif step == "submit_acknowledgements":
        crashing["amazon"] = CrashAfter(world.amazon, step)
    else:
        wrapped = CrashAfter(world.drop(), step)
        crashing["drop"] = lambda _name: wrapped
    with pytest.raises(Crash):
        world.run(**crashing)
    assert world.ledger.locked == set()  # the lock dies with the process

    for _ in range(2):  # the next scheduled runs (past the settle time) finish whatever the crash left
        world.clock.advance(minutes=30)
        world.run()
    world.assert_exactly_once(created)


def _sent(world: World) -> Counter[str]:
    return Counter(po for _, acks in world.amazon.acknowledgements for po in (a.purchase_order_number for a in acks))


def test_a_request_claimed_but_never_sent_is_sent_by_the_next_run_at_once(world: World) -> None:
    created = world.create(100)
    with pytest.raises(Crash):
        world.run(ledger=CrashAfter(world.ledger, "record_downloaded"))  # the page is recorded and claimed
    assert world.states() == {"acknowledging": 100} and _sent(world) == Counter()
    world.clock.advance(minutes=1)  # well within the settle time: no wait is needed for a request never sent
    reports = world.run()
    assert not row(reports)["problems"] and not row(reports)["waiting"]
    world.assert_exactly_once(created)


def test_a_request_that_may_have_reached_amazon_waits_for_the_settle_time_then_is_sent_again(world: World) -> None:
    created = world.create(100)
    with pytest.raises(Crash):  # marked sending, then the process died before the request left
        world.run(ledger=CrashAfter(world.ledger, "mark_acknowledgement_sending"))

    world.clock.advance(minutes=5)
    reports = world.run()
    assert "100 order(s) in 1 request(s) that may have reached Amazon, oldest 5.0 min" in str(row(reports)["waiting"])
    assert not row(reports)["problems"]  # waiting within the settle time is not a problem yet
    assert _sent(world) == Counter() and world.states() == {"acknowledging": 100}
    assert [w.orders for w in world.ledger.load_waiting_acknowledgements(ACCOUNT)] == [100]

    world.clock.advance(minutes=11)  # past the 15-minute settle time and Amazon still shows them NEW
    reports = world.run()
    assert "were still NEW after the settle time (15 min), so they were sent again" in str(row(reports)["problems"])
    world.assert_exactly_once(created)
    assert world.ledger.load_waiting_acknowledgements(ACCOUNT) == []


def test_each_acknowledgement_request_has_its_own_id(world: World) -> None:
    world.orders = {"acknowledgement_batch": 40}
    created = world.create(250)
    world.amazon.refused.add(created[7])  # its request is split: each half is a request of its own
    world.run()
    requests = list(world.ledger.requests.values())
    assert len({r.request_id for r in requests}) == len(requests)
    sent = [r for r in requests if r.state is RequestState.SENT]
    assert len(sent) == len(world.amazon.acknowledgements)
    orders_per_request = Counter(o.ack_batch for o in world.ledger.load_orders(ACCOUNT, [OrderState.EXPORTED]))
    assert max(orders_per_request.values()) <= 40 and set(orders_per_request) <= {r.request_id for r in sent}


# ------------------------------------------------------------------------------------------------ refusals and errors


def test_a_refused_order_is_held_alone_and_the_rest_of_its_batch_goes_through(world: World) -> None:
    world.orders = {"acknowledgement_batch": 40}
    created = world.create(40)
    bad = created[17]
    world.amazon.refused.add(bad)
    reports = world.run()
    assert set(world.acknowledgements()) == set(created) - {bad}
    assert set(world.exported()) == set(created) - {bad}
    assert world.states() == {"exported": 39, "held": 1}
    assert world.ledger.load_orders(ACCOUNT, [OrderState.HELD])[0].held_reason.startswith("Amazon refused")
    with pytest.raises(RunFailed, match=f"refused the acknowledgement of order {bad}"):
        raise_for_problems(ACCOUNT, reports)
    assert world.amazon.faults.calls["submit_acknowledgements"] <= 2 * 6 + 1  # found by halving


@pytest.mark.parametrize("error", [TokenRefusedError("token refused (test)"), TransientError("503 (test)")])
def test_a_request_that_applied_nothing_gives_the_orders_back_for_the_next_run(world: World, error: Exception) -> None:
    created = world.create(30)
    world.amazon.faults.fail("submit_acknowledgements", error)
    reports = world.run()
    assert type(error).__name__ in str(row(reports)["problems"])
    assert world.states() == {"downloaded": 30}  # not stuck in 'acknowledging' for the settle time
    world.clock.advance(minutes=1)
    world.run()
    world.assert_exactly_once(created)


class LostAnswer:
    """Amazon applies the acknowledgement, but its answer never arrives (a timeout after sending)."""

    def __init__(self, inner: FakeVendorApi) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def submit_acknowledgements(self, acks: Any) -> str:
        self._inner.submit_acknowledgements(acks)
        raise OutcomeUnknownError("read timeout after sending (test)")


def test_an_unknown_outcome_is_never_resent_blindly_and_settles_from_amazons_status(world: World) -> None:
    created = world.create(20)
    reports = world.run(amazon=LostAnswer(world.amazon))
    assert "has an unknown outcome: read timeout after sending" in str(row(reports)["notes"])
    assert "20 order(s) in 1 request(s) that may have reached Amazon" in str(row(reports)["waiting"])
    assert not row(reports)["problems"]  # waiting is said, and is not a problem within the settle time
    assert world.states() == {"acknowledging": 20}
    world.clock.advance(minutes=1)
    reports = world.run()  # Amazon shows them ACCEPTED: recorded, nothing sent again
    assert not row(reports)["waiting"]
    world.assert_exactly_once(created)


def test_unreadable_orders_are_reported_and_keep_the_watermark_before_them(world: World) -> None:
    created = world.create(5)
    watermark = START - timedelta(minutes=60)
    world.ledger.record_watermark(ACCOUNT, "WH01", watermark)
    world.amazon.unreadable[created[2]] = "missing or malformed field orderDetails.shipToParty"
    reports = world.run()
    assert f"order {created[2]} could not be read" in str(row(reports)["problems"])
    assert set(world.exported()) == set(created) - {created[2]}
    assert world.ledger.load_watermark(ACCOUNT, "WH01") == watermark

    del world.amazon.unreadable[created[2]]
    world.clock.advance(minutes=30)
    world.run()  # the window is read again from before the unreadable order
    world.assert_exactly_once(created)


# ------------------------------------------------------------------------------------------------ recovery


def _left_acknowledging(world: World, numbers: list[str], minutes_ago: float, *, sent: bool = True) -> None:
    """What a run killed after claiming these orders (and, if sent, after marking the request sending) leaves."""
    now = world.clock.now
    world.clock.now = now - timedelta(minutes=minutes_ago)
    request = new_request_id(world.clock(), "crashed", len(world.ledger.requests) + 1)
    world.ledger.record_downloaded(ACCOUNT, [world.amazon.orders[po] for po in numbers])
    world.ledger.mark_acknowledging(ACCOUNT, numbers, request)
    if sent:
        world.ledger.mark_acknowledgement_sending(ACCOUNT, request)
    world.clock.now = now


def test_recovery_trusts_amazons_status_and_resends_only_after_the_settle_time(world: World) -> None:
    world.orders = {"acknowledgement_settle_minutes": 15}
    accepted, cancelled, gone, recent, old, unsent = (world.create(2, prefix=p) for p in "ACGROU")
    _left_acknowledging(world, accepted + cancelled + gone + recent, minutes_ago=1)
    _left_acknowledging(world, old, minutes_ago=20)
    _left_acknowledging(world, unsent, minutes_ago=1, sent=False)
    for po in accepted:
        world.amazon.set_status(po, AmazonOrderStatus.ACCEPTED)
    for po in cancelled:
        world.amazon.set_status(po, AmazonOrderStatus.CANCELLED)
    for po in gone:
        del world.amazon.orders[po]

    reports = world.run()

    # the old request is sent again (and reported), the one never sent is sent now, the recent one waits
    assert set(world.acknowledgements()) == set(old + unsent)
    assert set(world.exported()) == set(accepted + old + unsent)
    states = world.ledger.states(ACCOUNT)
    assert {po: states[po] for po in cancelled + gone + recent} == {
        **dict.fromkeys(cancelled, OrderState.CANCELLED),
        **dict.fromkeys(gone, OrderState.HELD),
        **dict.fromkeys(recent, OrderState.ACKNOWLEDGING),
    }
    assert "2 order(s) in 1 request(s) that may have reached Amazon" in str(row(reports)["waiting"])
    assert f"were still NEW after the settle time (15 min), so they were sent again: {old[0]}" in str(
        row(reports)["problems"]
    )

    world.clock.advance(minutes=15)
    world.run()
    assert world.acknowledgements() == dict.fromkeys(old + unsent + recent, 1)
    assert set(world.exported()) == set(accepted + old + unsent + recent)


def test_recovery_holds_through_the_cancellation_tolerant_path(world: World) -> None:
    gone = world.create(2)
    _left_acknowledging(world, gone, minutes_ago=1)
    for po in gone:
        del world.amazon.orders[po]
    # the first order is cancelled by another run between this run's load and its hold: nothing left to hold
    world.ledger.faults.fail("mark_held", DataError("cannot hold an order that is cancelled", subject=gone[0]))
    reports = world.run()
    assert row(reports)["held"] == 1 and not row(reports)["problems"]
    assert world.ledger.states(ACCOUNT)[gone[1]] is OrderState.HELD


# ------------------------------------------------------------------------------------------------ cancellations


def test_orders_cancelled_before_download_or_before_export_are_recorded_not_exported(world: World) -> None:
    created = world.create(6)
    for po in created[:2]:
        world.amazon.set_status(po, AmazonOrderStatus.CANCELLED)
    world.drop().faults.fail("upload", TransientError("connection dropped (test)"))
    reports = world.run()
    assert row(reports)["cancelled"] == 2 and row(reports)["acknowledged"] == 4 and row(reports)["exported"] == 0
    assert set(world.acknowledgements()) == set(created[2:])

    # the next run finishes the claimed file; an order cancelled now is too late: its file was claimed
    world.amazon.set_status(created[2], AmazonOrderStatus.CANCELLED)
    world.clock.advance(minutes=30)
    world.run()
    assert set(world.exported()) == set(created[2:])
    assert world.states() == {"cancelled": 2, "exported": 4}


def test_an_acknowledged_order_cancelled_before_its_export_is_not_exported(world: World) -> None:
    created = world.create(5)
    crashing = CrashAfter(world.ledger, "mark_acknowledged")
    with pytest.raises(Crash):
        world.run(ledger=crashing)
    world.amazon.set_status(created[0], AmazonOrderStatus.CANCELLED)
    world.clock.advance(minutes=30)
    reports = world.run()
    assert row(reports)["cancelled"] == 1
    assert set(world.exported()) == set(created[1:])
    assert world.states() == {"cancelled": 1, "exported": 4}


def test_no_address_reaches_the_report_the_ledger_or_a_hold_reason(world: World) -> None:
    created = world.create(4)
    address = Address("Jane Q Customer", "12 Secret Lane", "IL", "US", city="Springfield", phone="555-0100")
    for po in created:
        world.amazon.orders[po] = replace(world.amazon.orders[po], ship_to=address)
    world.amazon.refused.add(created[0])
    reports = world.run()
    assert "Jane Q Customer" in world.drop().folders["orders"].popitem()[1].decode()  # the warehouse gets it
    text = repr([r.as_row() for r in reports]) + repr(world.ledger.load_orders(ACCOUNT, list(OrderState)))
    for value in ("Jane", "Secret Lane", "Springfield", "555-0100"):
        assert value not in text


# ------------------------------------------------------------------------------------------------ backfill and sweep


def test_the_first_run_on_a_fresh_ledger_backfills_every_order_still_new(world: World) -> None:
    open_orders = world.create(30, minutes_ago=3 * 24 * 60)  # waiting at go-live, far before the first window
    done = world.create(4, minutes_ago=2 * 24 * 60)
    for po in done[:2]:
        world.amazon.set_status(po, AmazonOrderStatus.ACCEPTED)  # handled before go-live: not ours
    for po in done[2:]:
        world.amazon.set_status(po, AmazonOrderStatus.CANCELLED)
    too_old = world.create(2, minutes_ago=8 * 24 * 60)  # beyond the 7-day look-back
    recent = world.create(5)  # in the first window

    reports = world.run()

    assert row(reports)["backfilled"] == 30
    assert "backfill over 7 days: 30 order(s) still NEW, 30 new to the ledger" in str(row(reports)["notes"])
    world.assert_exactly_once(open_orders + recent)
    assert not set(world.acknowledgements()) & set(done + too_old)
    new_scans = [w for w, status in world.amazon.page_requests if status is AmazonOrderStatus.NEW]
    assert len(new_scans) == 1 and new_scans[0].end == START - timedelta(minutes=60)  # one 7-day slice

    world.clock.advance(minutes=30)
    again = world.run()
    assert row(again)["backfilled"] == 0 and "backfill" not in str(row(again)["notes"])


def test_backfill_days_takes_older_new_orders_in_an_established_installation(world: World) -> None:
    world.ledger.record_watermark(ACCOUNT, "WH01", START - timedelta(minutes=60))
    world.ledger.record_watermark(ACCOUNT, "WH01/sweep", START - timedelta(minutes=10))
    old = world.create(3, minutes_ago=9 * 24 * 60)
    world.run()
    assert world.acknowledgements() == {}
    reports = world.run(backfill_days=10)  # two 7-day slices
    assert row(reports)["backfilled"] == 3
    world.assert_exactly_once(old)
    assert sum(1 for _, status in world.amazon.page_requests if status is AmazonOrderStatus.NEW) == 2


def test_the_hourly_sweep_catches_an_order_the_windows_missed(world: World, caplog: pytest.LogCaptureFixture) -> None:
    first = world.create(3)
    world.run()  # go-live: the backfill also counts as the last sweep
    # Amazon makes an order visible two hours late: its creation time is long behind the watermark
    late = world.create(1, minutes_ago=150, prefix="LATE")
    world.clock.advance(minutes=30)
    reports = world.run()
    assert row(reports)["caught_by_sweep"] == ""  # the sweep is not due yet (hourly)
    world.clock.advance(minutes=30)
    with caplog.at_level(logging.WARNING):
        reports = world.run()
    assert row(reports)["caught_by_sweep"] == late[0]
    assert f"the sweep caught 1 order(s) the download windows had missed: {late[0]}" in caplog.text
    world.assert_exactly_once(first + late)


def test_the_sweep_costs_one_request_per_warehouse_when_nothing_is_new(world: World) -> None:
    world.warehouses = ("WH01", "WH02")
    world.ledger.record_watermark(ACCOUNT, "WH01", START - timedelta(minutes=60))
    world.ledger.record_watermark(ACCOUNT, "WH02", START - timedelta(minutes=60))
    for minutes in range(0, 7 * 24 * 60, 10):  # 1,008 recent orders of each warehouse, all accepted already
        for code in world.warehouses:
            (po,) = world.create(1, ship_from=code, minutes_ago=90 + minutes)
            world.amazon.set_status(po, AmazonOrderStatus.ACCEPTED)
    reports = world.run()
    scans = [w for w, status in world.amazon.page_requests if status is AmazonOrderStatus.NEW]
    assert len(scans) == 2 and [row(reports, i)["caught_by_sweep"] for i in (0, 1)] == ["", ""]
