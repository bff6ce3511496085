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
    counts = poll_transactions(account="acme")
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
