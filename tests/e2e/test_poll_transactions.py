"""poll-transactions: outcomes recorded in the ledger; a Failure fails the run and names its orders."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from flows.download_orders import download_orders
from flows.poll_transactions import poll_transactions
from tasks.core.models import TransactionKind, TransactionState
from tasks.core.orders import build_acknowledgement


def test_success_is_recorded(make_cycle):
    cycle = make_cycle()
    cycle.sim.create_orders(3, ship_from_party_id="WH01", created_at=datetime.now(UTC) - timedelta(minutes=45))
    download_orders(account="acme")
    cycle.wait_until_settled()
    (counts,) = poll_transactions(account="acme")
    assert counts["Success"] == 1 and counts["Failure"] == 0
    assert cycle.ledger.load_transactions("acme", pending_only=True) == []
    assert [t.status for t in cycle.ledger.load_transactions("acme")] == [TransactionState.SUCCESS]


def test_failure_fails_the_run_and_names_the_order(make_cycle):
    cycle = make_cycle()
    (po,) = cycle.sim.create_orders(1, ship_from_party_id="WH01", created_at=datetime.now(UTC) - timedelta(minutes=45))
    api = cycle.runtime.vendor_api(cycle.settings.account("acme"))
    order = api.fetch_order(po)
    ack = build_acknowledgement(order, vendor_order_number=po, when=datetime.now(UTC))
    short = replace(ack, lines=(replace(ack.lines[0], acknowledged_quantity=ack.lines[0].acknowledged_quantity + 1),))
    transaction_id = api.submit_acknowledgements([short])  # more than ordered: Amazon fails it later
    cycle.ledger.record_transaction("acme", transaction_id, TransactionKind.ACKNOWLEDGEMENT, [po])
    cycle.wait_until_settled()
    state = poll_transactions(account="acme", return_state=True)
    assert state.is_failed()
    assert transaction_id in str(state.message)
    (recorded,) = cycle.ledger.load_transactions("acme")
    assert recorded.status is TransactionState.FAILURE and recorded.errors


# ---------------------------------------------------------------------------------------------- honest runs (fakes)

from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402

from flows.runtime import Runtime, use_runtime  # noqa: E402
from tasks.core.config import parse_config  # noqa: E402
from tasks.core.errors import NotSentError  # noqa: E402
from tasks.core.models import AmazonErrorDetail  # noqa: E402
from tests.fakes import FakeLedger, FakeVendorApi, FakeWarehouseDrop  # noqa: E402


class Fixture:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)
        self.ledger = FakeLedger(clock=lambda: self.now)
        self.api = FakeVendorApi()
        self.settings = parse_config(
            {
                "accounts": [
                    {
                        "name": "acme",
                        "selling_party_id": "V",
                        "endpoint": "http://127.0.0.1:9/amazon",
                        "credentials": {"client_id": "env:X", "client_secret": "env:Y", "refresh_token": "env:Z"},
                        "warehouses": [
                            {"name": "main", "ship_from_party_id": "WH01", "drop": {"kind": "local", "path": "."}}
                        ],
                    }
                ],
                "transactions": {"stuck_minutes": 30},
            }
        )
        self.runtime = Runtime(
            self.settings,
            vendor_api_factory=lambda _a: self.api,
            drop_factory=lambda _w: FakeWarehouseDrop(),
            ledger_factory=lambda _s: self.ledger,
        )

    def submitted(self, transaction_id: str, subjects: list[str], minutes_ago: float = 1) -> None:
        self.now = datetime.now(UTC) - timedelta(minutes=minutes_ago)
        self.ledger.record_transaction("acme", transaction_id, TransactionKind.ACKNOWLEDGEMENT, subjects)
        self.now = datetime.now(UTC)


@pytest.fixture
def fx() -> Iterator[Fixture]:
    fixture = Fixture()
    with use_runtime(fixture.runtime):
        yield fixture


def test_unreachable_amazon_fails_the_run_naming_the_endpoint(fx: Fixture):
    fx.submitted("t1", ["PO1"])
    fx.submitted("t2", ["PO2"])
    fx.api.faults.fail("fetch_transaction_status", NotSentError("connection refused"), times=5)
    state = poll_transactions(account="acme", return_state=True)
    assert state.is_failed()
    assert "http://127.0.0.1:9/amazon could not be reached" in str(state.message)
    assert "2 transaction(s) stay Processing" in str(state.message)
    assert len(fx.ledger.load_transactions("acme", pending_only=True)) == 2


def test_a_transaction_amazon_does_not_know_fails_the_run_and_says_how_to_settle_it(fx: Fixture):
    fx.submitted("ghost", ["PO9"])
    fx.submitted("t2", ["PO2"])
    fx.api.settle("t2", TransactionState.SUCCESS)
    state = poll_transactions(account="acme", return_state=True)
    assert state.is_failed()
    assert "does not know transaction ghost" in str(state.message)
    assert "vdf run transactions --settle ghost" in str(state.message)
    assert {t.transaction_id: t.status for t in fx.ledger.load_transactions("acme")} == {
        "ghost": TransactionState.PROCESSING,
        "t2": TransactionState.SUCCESS,
    }


def test_a_failure_names_only_the_orders_amazon_refused(fx: Fixture):
    fx.submitted("t1", ["PO1", "PO2", "PO3"])
    fx.api.settle(
        "t1",
        TransactionState.FAILURE,
        [
            AmazonErrorDetail(
                "DUPLICATE_ACKNOWLEDGEMENT", "Order PO2 was already acknowledged.", "purchaseOrderNumber=PO2"
            )
        ],
    )
    state = poll_transactions(account="acme", return_state=True)
    assert state.is_failed()
    message = str(state.message)
    assert "order(s) PO2:" in message and "PO1" not in message and "PO3" not in message


def test_stuck_transactions_are_reported_once_without_failing_the_run(fx: Fixture):
    fx.submitted("old", ["PO1"], minutes_ago=45)
    fx.submitted("young", ["PO2"], minutes_ago=5)
    fx.api.settle("old", TransactionState.PROCESSING)
    fx.api.settle("young", TransactionState.PROCESSING)
    (summary,) = poll_transactions(account="acme")
    assert summary["stuck"] == 1 and summary["Processing"] == 2
    assert fx.ledger.stuck_reported == {"old"}
    assert fx.ledger.mark_transactions_stuck(["old"]) == []  # already announced: not again
