"""Inventory feeds in the ledger: the same contract on the FakeLedger, SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from adapters.ledger import SqlLedger
from tasks.core.errors import DataError
from tasks.core.models import (
    EMPTY_FEED_ITEMS,
    AmazonErrorDetail,
    ChunkState,
    FeedItems,
    FeedMode,
    FeedPlan,
    FeedState,
    TransactionKind,
    TransactionState,
    TransactionStatus,
)
from tasks.core.ports import Ledger
from tests.fakes import FakeLedger

ACCOUNT, WAREHOUSE = "acme", "main"
AA, BB = "aa" * 32, "bb" * 32  # checksums


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Each case runs on the in-memory fake and on both SQL backends: the fake must keep the same promises."""
    if request.param == "fake":
        yield FakeLedger()
        return
    url = request.getfixturevalue(f"{request.param}_ledger_url")
    with SqlLedger(url) as sql_ledger:
        yield sql_ledger


def feed_items(chunks: dict[str, int | None] | None = None, **quantities: int) -> FeedItems:
    keys = sorted(quantities)
    chunk_of = chunks or {}
    return FeedItems(
        keys=tuple(keys),
        vendor_skus=tuple(keys),
        asins=tuple(None if i % 2 else f"B{i:09d}" for i, _ in enumerate(keys)),
        quantities=tuple(quantities[k] for k in keys),
        chunks=tuple(chunk_of.get(k, 0) for k in keys),
    )


def plan(items: FeedItems, *, held: bool = False, mode: FeedMode = FeedMode.FULL, forced: bool = False) -> FeedPlan:
    chunks = {c for c in items.chunks if c is not None}
    return FeedPlan(
        mode=mode,
        warehouse_id="WH01",
        held=held,
        forced=forced,
        items=len(items),
        total_quantity=sum(items.quantities),
        sent_items=sum(1 for c in items.chunks if c is not None),
        zeros=0,
        chunks=0 if held else len(chunks),
        detail="held: test" if held else "passed: test",
    )


def send(ledger: Ledger, feed_id: int, chunk: int, transaction_id: str) -> Any:
    assert ledger.claim_inventory_chunk(feed_id, chunk)
    return ledger.mark_inventory_chunk(feed_id, chunk, ChunkState.SENT, transaction_id=transaction_id)


def settle(ledger: Ledger, transaction_id: str, state: TransactionState = TransactionState.SUCCESS) -> None:
    errors = (AmazonErrorDetail("INVALID_ITEM", "bad item", details="free text"),) if state == "Failure" else ()
    ledger.record_transaction_status(TransactionStatus(transaction_id, state, errors))


def test_a_feed_goes_from_intent_to_accepted(ledger: Ledger):
    stock = feed_items(A=5, B=0, C=2)
    feed = ledger.record_inventory_feed(ACCOUNT, WAREHOUSE, "stock-1.csv", AA, plan(stock), stock)
    assert feed.state is FeedState.SENDING and feed.chunk_states == (ChunkState.PENDING,)
    assert (feed.items, feed.total_quantity, feed.warehouse_id, feed.mode) == (3, 7, "WH01", FeedMode.FULL)
    assert ledger.load_inventory_feed(ACCOUNT, WAREHOUSE, "stock-1.csv", AA) == feed
    assert ledger.load_inventory_feed(ACCOUNT, WAREHOUSE, "stock-1.csv", BB) is None
    assert ledger.load_inventory_chunk(feed.feed_id, 0) == stock

    assert ledger.claim_inventory_chunk(feed.feed_id, 0)
    assert not ledger.claim_inventory_chunk(feed.feed_id, 0)  # one claim only
    sent = ledger.mark_inventory_chunk(feed.feed_id, 0, ChunkState.SENT, transaction_id="tx-1")
    assert sent.state is FeedState.SENT and sent.transaction_ids == ("tx-1",)
    # a retried task records the same answer again: harmless
    assert ledger.mark_inventory_chunk(feed.feed_id, 0, ChunkState.SENT, transaction_id="tx-1").state is FeedState.SENT
    (txn,) = ledger.load_transactions(ACCOUNT)
    assert (txn.kind, txn.subjects, txn.status) == (TransactionKind.INVENTORY_UPDATE, ("WH01",), "Processing")

    assert ledger.load_inventory_baseline(ACCOUNT, WAREHOUSE).accepted is None
    settle(ledger, "tx-1")
    accepted = ledger.load_inventory_feed(ACCOUNT, WAREHOUSE, "stock-1.csv", AA)
    assert accepted is not None and accepted.state is FeedState.ACCEPTED
    baseline = ledger.load_inventory_baseline(ACCOUNT, WAREHOUSE)
    assert baseline.accepted == accepted and baseline.levels == stock and len(baseline.pending) == 0


def test_a_delta_is_accepted_when_every_chunk_succeeded(ledger: Ledger):
    stock = feed_items({"A": 0, "B": 1, "C": None}, A=1, B=2, C=3)
    feed = ledger.record_inventory_feed(ACCOUNT, WAREHOUSE, "s.csv", AA, plan(stock, mode=FeedMode.DELTA), stock)
    assert feed.chunk_states == (ChunkState.PENDING, ChunkState.PENDING)
    assert ledger.load_inventory_chunk(feed.feed_id, 1).keys == ("B",)
    send(ledger, feed.feed_id, 0, "tx-a")
    settle(ledger, "tx-a")  # Amazon answers before the last chunk is even sent
    assert send(ledger, feed.feed_id, 1, "tx-b").state is FeedState.SENT
    settle(ledger, "tx-b")
    assert ledger.load_inventory_feeds(ACCOUNT)[0].state is FeedState.ACCEPTED
    # unchanged items (chunk None) are part of the accepted stock
    assert ledger.load_inventory_baseline(ACCOUNT, WAREHOUSE).levels.keys == ("A", "B", "C")


def test_a_failure_fails_the_feed_with_its_codes(ledger: Ledger):
    stock = feed_items(A=1)
    feed = ledger.record_inventory_feed(ACCOUNT, WAREHOUSE, "s.csv", AA, plan(stock), stock)
    send(ledger, feed.feed_id, 0, "tx-1")
    settle(ledger, "tx-1", TransactionState.FAILURE)
    (failed,) = ledger.load_inventory_feeds(ACCOUNT, WAREHOUSE)
    assert failed.state is FeedState.FAILED
    assert failed.detail == "Amazon reported Failure for transaction tx-1 (INVALID_ITEM)"
    baseline = ledger.load_inventory_baseline(ACCOUNT, WAREHOUSE)
    assert baseline.accepted is None and baseline.pending.keys == ("A",)  # it may have been applied in part


def test_a_held_feed_keeps_no_items_and_is_decided_again(ledger: Ledger):
    stock = feed_items(A=1)
    held = ledger.record_inventory_feed(ACCOUNT, WAREHOUSE, "s.csv", AA, plan(stock, held=True), EMPTY_FEED_ITEMS)
    assert held.state is FeedState.HELD and held.chunk_states == () and held.detail == "held: test"
    again = ledger.record_inventory_feed(ACCOUNT, WAREHOUSE, "s.csv", AA, plan(stock, held=True), EMPTY_FEED_ITEMS)
    assert again.feed_id == held.feed_id and again.state is FeedState.HELD
    forced = ledger.record_inventory_feed(ACCOUNT, WAREHOUSE, "s.csv", AA, plan(stock, forced=True), stock)
    assert (forced.feed_id, forced.state, forced.forced) == (held.feed_id, FeedState.SENDING, True)
    # once decided, recording the same file again changes nothing
    replay = ledger.record_inventory_feed(ACCOUNT, WAREHOUSE, "s.csv", AA, plan(stock, held=True), EMPTY_FEED_ITEMS)
    assert replay == forced
    assert ledger.load_inventory_chunk(forced.feed_id, 0) == stock


def test_a_feed_without_requests_is_accepted_at_once(ledger: Ledger):
    first = feed_items(A=1)
    feed = ledger.record_inventory_feed(ACCOUNT, WAREHOUSE, "1.csv", AA, plan(first), first)
    send(ledger, feed.feed_id, 0, "tx-1")
    settle(ledger, "tx-1")
    same = feed_items({"A": None}, A=1)
    nothing = ledger.record_inventory_feed(ACCOUNT, WAREHOUSE, "2.csv", BB, plan(same, mode=FeedMode.DELTA), same)
    assert nothing.state is FeedState.ACCEPTED and nothing.chunk_states == ()
    assert ledger.load_inventory_baseline(ACCOUNT, WAREHOUSE).accepted == nothing


def test_unknown_refused_and_released_chunks(ledger: Ledger):
    stock = feed_items({"A": 0, "B": 1, "C": 2}, A=1, B=2, C=3)
    feed = ledger.record_inventory_feed(ACCOUNT, WAREHOUSE, "s.csv", AA, plan(stock, mode=FeedMode.DELTA), stock)
    fid = feed.feed_id
    assert ledger.claim_inventory_chunk(fid, 0)
    released = ledger.mark_inventory_chunk(fid, 0, ChunkState.PENDING)
    assert released.chunk_states[0] is ChunkState.PENDING and released.state is FeedState.SENDING
    with pytest.raises(DataError):
        ledger.mark_inventory_chunk(fid, 1, ChunkState.SENT, transaction_id="tx-x")  # never claimed
    with pytest.raises(DataError):
        ledger.mark_inventory_chunk(fid, 1, ChunkState.SENT)  # sent without a transaction id
    send(ledger, fid, 0, "tx-0")
    assert ledger.claim_inventory_chunk(fid, 1)
    ledger.mark_inventory_chunk(fid, 1, ChunkState.UNKNOWN, detail="timeout")
    assert ledger.claim_inventory_chunk(fid, 2)
    done = ledger.mark_inventory_chunk(fid, 2, ChunkState.REFUSED, detail="413")
    assert done.state is FeedState.FAILED
    assert done.chunk_states == (ChunkState.SENT, ChunkState.UNKNOWN, ChunkState.REFUSED)

    other = feed_items({"A": 0, "B": 1}, A=1, B=2)
    second = ledger.record_inventory_feed(
        ACCOUNT, WAREHOUSE, "t.csv", BB, plan(other, mode=FeedMode.DELTA), other
    )
    send(ledger, second.feed_id, 0, "tx-2")
    assert ledger.claim_inventory_chunk(second.feed_id, 1)
    unknown = ledger.mark_inventory_chunk(second.feed_id, 1, ChunkState.UNKNOWN)
    assert unknown.state is FeedState.UNKNOWN
    settle(ledger, "tx-2")
    assert ledger.load_inventory_feeds(ACCOUNT)[0].state is FeedState.UNKNOWN  # never accepted


def test_a_superseded_feed_sends_nothing_more(ledger: Ledger):
    stock = feed_items({"A": 0, "B": 1, "C": 2}, A=1, B=2, C=3)
    feed = ledger.record_inventory_feed(ACCOUNT, WAREHOUSE, "s.csv", AA, plan(stock, mode=FeedMode.DELTA), stock)
    send(ledger, feed.feed_id, 0, "tx-0")
    assert ledger.claim_inventory_chunk(feed.feed_id, 1)
    assert [f.feed_id for f in ledger.load_inventory_feeds(ACCOUNT, WAREHOUSE, states=[FeedState.SENDING])] == [
        feed.feed_id
    ]
    stopped = ledger.supersede_inventory_feed(feed.feed_id)
    assert stopped.state is FeedState.SUPERSEDED
    assert stopped.chunk_states == (ChunkState.SENT, ChunkState.UNKNOWN, ChunkState.CANCELLED)
    assert not ledger.claim_inventory_chunk(feed.feed_id, 2)
    assert ledger.load_inventory_feeds(ACCOUNT, WAREHOUSE, states=[FeedState.SENDING]) == []
    assert ledger.supersede_inventory_feed(feed.feed_id) == stopped  # harmless twice
    held = ledger.record_inventory_feed(ACCOUNT, WAREHOUSE, "h.csv", BB, plan(stock, held=True), EMPTY_FEED_ITEMS)
    assert ledger.supersede_inventory_feed(held.feed_id).state is FeedState.SUPERSEDED
    sent = feed_items(A=1)
    done = ledger.record_inventory_feed(ACCOUNT, WAREHOUSE, "d.csv", "cc" * 32, plan(sent), sent)
    done = send(ledger, done.feed_id, 0, "tx-d")
    assert ledger.supersede_inventory_feed(done.feed_id) == done  # a sent feed is left as it is


def test_the_baseline_keeps_the_last_accepted_stock_and_what_newer_feeds_sent(ledger: Ledger):
    first = feed_items(A=1, B=2)
    one = ledger.record_inventory_feed(ACCOUNT, WAREHOUSE, "1.csv", AA, plan(first), first)
    send(ledger, one.feed_id, 0, "tx-1")
    settle(ledger, "tx-1")
    second = feed_items({"A": None, "B": 0, "C": 0}, A=1, B=3, C=4)
    two = ledger.record_inventory_feed(ACCOUNT, WAREHOUSE, "2.csv", BB, plan(second, mode=FeedMode.DELTA), second)
    send(ledger, two.feed_id, 0, "tx-2")
    ledger.record_inventory_feed(ACCOUNT, "other", "2.csv", BB, plan(second), second)  # another warehouse

    baseline = ledger.load_inventory_baseline(ACCOUNT, WAREHOUSE)
    assert baseline.accepted is not None and baseline.accepted.feed_id == one.feed_id
    assert baseline.levels == first
    assert (baseline.pending.keys, baseline.pending.quantities) == (("B", "C"), (3, 4))  # only what it sent

    settle(ledger, "tx-2")
    after = ledger.load_inventory_baseline(ACCOUNT, WAREHOUSE)
    assert after.accepted is not None and after.accepted.feed_id == two.feed_id
    assert after.levels.keys == ("A", "B", "C") and len(after.pending) == 0
    # the older feed's stock is not needed any more
    assert len(ledger.load_inventory_chunk(one.feed_id, 0)) == 0


def test_feeds_are_listed_newest_first_per_account_and_warehouse(ledger: Ledger):
    stock = feed_items(A=1)
    for n, (account, warehouse) in enumerate([(ACCOUNT, WAREHOUSE), (ACCOUNT, "west"), ("other", WAREHOUSE)]):
        ledger.record_inventory_feed(account, warehouse, f"{n}.csv", f"{n:02d}" * 32, plan(stock), stock)
    assert [f.file for f in ledger.load_inventory_feeds()] == ["2.csv", "1.csv", "0.csv"]
    assert [f.file for f in ledger.load_inventory_feeds(ACCOUNT)] == ["1.csv", "0.csv"]
    assert [f.file for f in ledger.load_inventory_feeds(warehouse=WAREHOUSE)] == ["2.csv", "0.csv"]
    assert ledger.load_inventory_feeds(states=[FeedState.ACCEPTED]) == []


@pytest.mark.slow
def test_two_hundred_thousand_items(ledger: Ledger, request: pytest.FixtureRequest):
    n = 200_000
    keys = tuple(f"SKU-{i:07d}" for i in range(n))
    stock = FeedItems(keys, keys, (None,) * n, tuple(i % 50 for i in range(n)), (0,) * n)
    started = time.perf_counter()
    feed = ledger.record_inventory_feed(ACCOUNT, WAREHOUSE, "big.csv", AA, plan(stock), stock)
    recorded = time.perf_counter() - started
    started = time.perf_counter()
    assert len(ledger.load_inventory_chunk(feed.feed_id, 0)) == n
    loaded = time.perf_counter() - started
    send(ledger, feed.feed_id, 0, "tx-big")
    settle(ledger, "tx-big")
    started = time.perf_counter()
    assert len(ledger.load_inventory_baseline(ACCOUNT, WAREHOUSE).levels) == n
    baseline = time.perf_counter() - started
    backend = request.node.callspec.params["ledger"]
    print(f"\n{backend}: record {n:,} items {recorded:.2f} s, load the chunk {loaded:.2f} s, baseline {baseline:.2f} s")
    # bounds far above the few seconds this takes, so only a regression of an order of magnitude fails
    assert recorded < 60 and loaded < 30 and baseline < 30
