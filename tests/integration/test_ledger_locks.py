"""The per-account run lock and re-claiming a crashed acknowledgement batch, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from adapters.ledger import SqlLedger
from tasks.core.errors import TransientError
from tasks.core.models import OrderState
from tests.integration.test_ledger import ACCOUNT, order, states


def test_account_lock_excludes_a_second_holder_until_released(ledger: SqlLedger):
    order_of_events: list[str] = []
    with ledger.account_lock(ACCOUNT):

        def other() -> None:
            with SqlLedger(str(ledger.url.render_as_string(hide_password=False))) as second:
                with second.account_lock(ACCOUNT, timeout=10):
                    order_of_events.append("second")

        thread = threading.Thread(target=other)
        thread.start()
        time.sleep(0.5)
        order_of_events.append("first done")
    thread.join(timeout=15)
    assert order_of_events == ["first done", "second"]


def test_account_lock_times_out_with_a_transient_error(ledger: SqlLedger):
    with ledger.account_lock(ACCOUNT):
        with SqlLedger(str(ledger.url.render_as_string(hide_password=False))) as second:
            with pytest.raises(TransientError, match="still holds its lock"):
                with second.account_lock(ACCOUNT, timeout=0.3):
                    pass
            with second.account_lock("another-account", timeout=1):  # other accounts are not blocked
                pass


def test_account_lock_dies_with_its_process(ledger: SqlLedger):
    url = ledger.url.render_as_string(hide_password=False)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from adapters.ledger import SqlLedger\n"
            f"l = SqlLedger({url!r})\n"
            f"with l.account_lock({ACCOUNT!r}):\n    print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(TransientError):
            with ledger.account_lock(ACCOUNT, timeout=0.3):
                pass
        holder.kill()
        holder.wait(timeout=10)
        with ledger.account_lock(ACCOUNT, timeout=10):  # a killed run does not lock the account for good
            pass
    finally:
        holder.kill()
        holder.wait(timeout=10)
        if holder.stdout is not None:
            holder.stdout.close()


def test_reclaiming_a_batch_takes_only_orders_still_under_it(ledger: SqlLedger):
    ledger.record_downloaded(ACCOUNT, [order("P1"), order("P2"), order("P3")])
    assert ledger.mark_acknowledging(ACCOUNT, ["P1", "P2"], "old") == ["P1", "P2"]
    assert ledger.mark_acknowledging(ACCOUNT, ["P3"], "other") == ["P3"]
    # only orders acknowledging under 'old' move, and only once
    assert ledger.mark_acknowledging(ACCOUNT, ["P1", "P2", "P3"], "new", from_batch="old") == ["P1", "P2"]
    assert ledger.mark_acknowledging(ACCOUNT, ["P1", "P2"], "newer", from_batch="old") == []
    found = {o.purchase_order_number: o.ack_batch for o in ledger.load_orders(ACCOUNT, [OrderState.ACKNOWLEDGING])}
    assert found == {"P1": "new", "P2": "new", "P3": "other"}
    assert states(ledger, "P1") == {"P1": OrderState.ACKNOWLEDGING}


def test_release_gives_back_only_orders_claimed_under_that_batch(ledger: SqlLedger):
    ledger.record_downloaded(ACCOUNT, [order("R1"), order("R2"), order("R3")])
    ledger.mark_acknowledging(ACCOUNT, ["R1", "R2"], "mine")
    ledger.mark_acknowledging(ACCOUNT, ["R3"], "theirs")
    assert ledger.release_acknowledging(ACCOUNT, ["R1", "R2", "R3"], "mine") == ["R1", "R2"]
    assert states(ledger, "R1", "R2", "R3") == {
        "R1": OrderState.DOWNLOADED,
        "R2": OrderState.DOWNLOADED,
        "R3": OrderState.ACKNOWLEDGING,
    }
    assert ledger.mark_acknowledging(ACCOUNT, ["R1"], "again") == ["R1"]  # claimable again
