"""Window planning, acknowledgements and crash-recovery decisions (pure code)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tasks.core.config import OrderDownload
from tasks.core.errors import PermanentError
from tasks.core.models import (
    AmazonOrderStatus,
    LedgerOrder,
    OrderLine,
    OrderPage,
    OrderState,
    PurchaseOrder,
    RequestState,
    WaitingAcknowledgement,
)
from tasks.core.orders import (
    AMAZON_MAX_AGE,
    ExportPlan,
    Tally,
    WarehouseReport,
    batches,
    build_acknowledgement,
    describe_waiting,
    follow_pages,
    new_request_id,
    plan_acknowledgement_recovery,
    plan_download,
    plan_export,
    plan_windows,
    split_refused,
    waiting_problems,
)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
M = timedelta(minutes=1)


def plan(**kw):
    args = dict(now=NOW, watermark=None, lag=30 * M, interval=30 * M, overlap=5 * M)
    args.update(kw)
    return plan_windows(**args)


def test_first_run_takes_60_to_30_minutes_ago():
    p = plan()
    assert [(w.start, w.end) for w in p.windows] == [(NOW - 60 * M, NOW - 30 * M)]
    assert p.advances_watermark


def test_next_run_starts_at_watermark_minus_overlap():
    p = plan(watermark=NOW - 60 * M)
    assert p.windows[0].start == NOW - 65 * M
    assert p.windows[-1].end == NOW - 30 * M


def test_downtime_is_caught_up_in_slices_of_at_most_seven_days_without_gaps():
    p = plan(watermark=NOW - timedelta(days=20))
    assert len(p.windows) == 3
    assert all(w.end - w.start <= timedelta(days=7) for w in p.windows)
    assert all(a.end == b.start for a, b in zip(p.windows, p.windows[1:], strict=False))
    assert p.windows[0].start == NOW - timedelta(days=20) - 5 * M
    assert p.windows[-1].end == NOW - 30 * M


def test_never_older_than_amazons_six_months():
    p = plan(watermark=NOW - timedelta(days=400))
    assert p.clamped
    assert p.windows[0].start >= NOW - AMAZON_MAX_AGE


def test_manual_rescan_uses_exactly_since_until_and_keeps_watermark():
    p = plan(watermark=NOW - 40 * M, since=NOW - timedelta(days=2), until=NOW - timedelta(days=1))
    assert p.windows[0].start == NOW - timedelta(days=2)
    assert p.windows[-1].end == NOW - timedelta(days=1)
    assert not p.advances_watermark


def test_manual_rescan_after_the_watermark_leaves_it_alone():
    # a gap between the watermark and --since must not be skipped over
    p = plan(watermark=NOW - timedelta(days=3), since=NOW - timedelta(days=1), until=NOW - timedelta(hours=2))
    assert not p.advances_watermark
    p = plan(watermark=NOW - timedelta(days=3), since=NOW - timedelta(days=4), until=NOW - timedelta(hours=2))
    assert p.advances_watermark


def test_lag_larger_than_elapsed_gives_nothing():
    p = plan(watermark=NOW - 10 * M)
    assert p.windows == () or all(w.start < w.end for w in p.windows)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError):
        plan(since=datetime(2026, 1, 1))


def _order() -> PurchaseOrder:
    return PurchaseOrder(
        purchase_order_number="PO1",
        customer_order_number="C1",
        order_date=NOW,
        selling_party_id="V",
        ship_from_party_id="W",
        ship_method="UPS",
        required_ship_date=NOW,
        lines=(
            OrderLine("1", 2, "B00ASIN1", "SKU-1"),
            OrderLine("2", 5, None, "SKU-2", unit_of_measure="Each"),
        ),
    )


def test_full_accept_covers_every_line_with_ordered_quantity_and_echoes_ids():
    ack = build_acknowledgement(_order(), vendor_order_number="PO1", when=NOW)
    assert ack.code == "00"
    assert [(x.item_sequence_number, x.acknowledged_quantity) for x in ack.lines] == [("1", 2), ("2", 5)]
    assert ack.lines[0].buyer_product_identifier == "B00ASIN1"
    assert ack.lines[1].buyer_product_identifier is None
    assert ack.lines[1].vendor_product_identifier == "SKU-2"


def test_batches():
    assert [list(b) for b in batches(list(range(5)), 2)] == [[0, 1], [2, 3], [4]]
    with pytest.raises(ValueError):
        batches([1], 0)


def test_request_ids_are_unique_per_request_and_carry_their_claim_time():
    ids = {new_request_id(NOW, "run1", n) for n in range(1, 101)}
    assert len(ids) == 100 and new_request_id(NOW, "run1", 7) == "20261127T120000Z-run1-0007"


def _stuck(po: str, request: str) -> LedgerOrder:
    return LedgerOrder("a", po, "V", "W", NOW, OrderState.ACKNOWLEDGING, (), ack_batch=request)


def _request(request_id: str, state: RequestState, minutes_ago: float) -> WaitingAcknowledgement:
    at = NOW - minutes_ago * M
    return WaitingAcknowledgement("a", request_id, "W", state, 1, at, at if state is not RequestState.CLAIMED else None)


def test_recovery_sends_what_was_never_sent_and_waits_before_resending_what_may_have_been():
    requests = {
        r.request_id: r
        for r in (
            _request("recent", RequestState.SENDING, 1),
            _request("old", RequestState.SENDING, 60),
            _request("unsent", RequestState.CLAIMED, 1),
        )
    }
    stuck = [
        _stuck("A", "recent"),
        _stuck("B", "recent"),
        _stuck("C", "old"),
        _stuck("D", "recent"),
        _stuck("E", "old"),
        _stuck("F", "unsent"),
        _stuck("G", "unknown"),
    ]
    statuses = {
        "A": AmazonOrderStatus.ACCEPTED,
        "B": AmazonOrderStatus.NEW,
        "C": AmazonOrderStatus.NEW,
        "D": AmazonOrderStatus.CANCELLED,
        "F": AmazonOrderStatus.NEW,
        "G": AmazonOrderStatus.NEW,
    }
    plan = plan_acknowledgement_recovery(stuck, statuses, requests, now=NOW, settle=10 * M)
    assert plan.acknowledged == ("A",)
    assert plan.cancelled == ("D",)
    assert plan.gone == ("E",)  # Amazon no longer returns it: held, never resent
    assert plan.waiting == ("B",)  # may still be processing at Amazon: wait
    assert [(request, [o.purchase_order_number for o in group]) for request, group in plan.send_now] == [
        ("unsent", ["F"])  # never sent: at once, whatever its age
    ]
    # past the settle time, or without a record of when it was sent: sent again
    assert [(request, [o.purchase_order_number for o in group]) for request, group in plan.resend] == [
        ("old", ["C"]),
        ("unknown", ["G"]),
    ]


def test_refetch_windows_cover_every_time_in_slices_of_seven_days():
    from tasks.core.orders import plan_refetch_windows

    times = [NOW - timedelta(days=d) for d in (0, 0.5, 1, 9, 30)] + [NOW - timedelta(days=30, minutes=1)]
    windows = plan_refetch_windows(times)
    assert all(w.end - w.start <= timedelta(days=7) for w in windows)
    assert all(any(w.start <= t < w.end for w in windows) for t in times)
    assert len(windows) == 3
    assert plan_refetch_windows([]) == []
    assert max(w.end for w in plan_refetch_windows(times, until=NOW)) <= NOW + timedelta(seconds=1)


def _page(numbers: list[str], token: str | None) -> OrderPage:
    return OrderPage(tuple(replace(_order(), purchase_order_number=n) for n in numbers), token)


def test_pages_are_followed_to_the_last_token_exactly_as_returned():
    answers = {None: _page(["A"], "t 1=="), "t 1==": _page(["B"], "t2"), "t2": _page(["C"], None)}
    asked: list[str | None] = []

    def fetch(token: str | None) -> OrderPage:
        asked.append(token)
        return answers[token]

    pages = list(follow_pages(fetch, what="w"))
    assert [p.orders[0].purchase_order_number for p in pages] == ["A", "B", "C"]
    assert asked == [None, "t 1==", "t2"]


@pytest.mark.parametrize("loop", [{None: "t1", "t1": "t1"}, {None: "t1", "t1": "t2", "t2": "t1"}])
def test_a_next_token_returned_before_stops_paging_instead_of_looping(loop):
    pages = follow_pages(lambda token: _page(["A"], loop[token]), what="2026-11-27T10:00Z..")
    with pytest.raises(PermanentError, match="nextToken it had returned before") as stopped:
        list(pages)
    assert stopped.value.code == "PaginationLoop"


def test_a_refused_request_is_halved_until_one_order_is_left():
    assert split_refused([1, 2, 3, 4, 5]) == ([1, 2], [3, 4, 5])
    assert split_refused([1, 2]) == ([1], [2])
    assert split_refused([7]) is None


def test_export_plan_splits_by_what_amazon_shows_now():
    ready = [
        LedgerOrder("a", po, "V", "W", NOW, OrderState.ACKNOWLEDGED, ()) for po in ("A", "B", "C", "D")
    ]
    current = {
        "A": replace(_order(), purchase_order_number="A", status=AmazonOrderStatus.ACCEPTED),
        "B": replace(_order(), purchase_order_number="B", status=AmazonOrderStatus.CANCELLED),
        "D": replace(_order(), purchase_order_number="D", status=AmazonOrderStatus.NEW),
    }
    assert plan_export(ready, current) == ExportPlan(export=("A", "D"), cancel=("B",), gone=("C",))


def test_tallies_add_up_into_the_report_row():
    total = Tally.total(
        [
            Tally(downloaded=3, new=2, acknowledged=("A", "B"), transactions=("t1",)),
            Tally(exported=("A", "B"), files=("f.csv",), problems=("one",)),
            Tally(held=("C",), problems=("two",)),
        ]
    )
    row = WarehouseReport("main", "WH01", "w", total, "exported=2").as_row()
    assert (row["downloaded"], row["new"], row["acknowledged"], row["exported"], row["held"]) == (3, 2, 2, 2, 1)
    assert row["files"] == "f.csv" and row["transactions"] == "t1" and row["problems"] == "one / two"


def _download(**kw):
    args = dict(now=NOW, watermark=NOW - 60 * M, last_sweep=NOW - 10 * M, options=OrderDownload())
    args.update(kw)
    return plan_download(**args)


def test_a_fresh_ledger_backfills_new_orders_up_to_its_first_window():
    plan = _download(watermark=None, last_sweep=None)
    assert [(w.start, w.end) for w in plan.windows.windows] == [(NOW - 60 * M, NOW - 30 * M)]
    assert plan.scan is not None and plan.scan.kind == "backfill"
    assert [(w.start, w.end) for w in plan.scan.windows] == [(NOW - timedelta(days=7), NOW - 60 * M)]
    longer = _download(watermark=None, options=OrderDownload(backfill_days=20))
    assert len(longer.scan.windows) == 3 and all(w.end - w.start <= timedelta(days=7) for w in longer.scan.windows)


def test_the_sweep_runs_when_due_and_ends_where_the_windows_start():
    assert _download().scan is None  # swept 10 minutes ago
    plan = _download(last_sweep=NOW - 61 * M)
    assert plan.scan is not None and plan.scan.kind == "sweep"
    assert plan.scan.windows[0].start == NOW - timedelta(days=7) and plan.scan.windows[-1].end == NOW - 65 * M
    assert _download(last_sweep=NOW - M, options=OrderDownload(sweep_interval_minutes=0)).scan is not None
    assert _download(last_sweep=None, since=NOW - timedelta(days=1)).scan is None  # a manual re-scan does not sweep
    asked = _download(backfill_days=2, since=NOW - timedelta(days=1))
    assert asked.scan is not None and asked.scan.kind == "backfill"
    assert asked.scan.windows[0].start == NOW - timedelta(days=2)


def test_waiting_acknowledgements_are_described_and_a_problem_only_past_the_settle_time():
    waiting = [
        _request("r1", RequestState.SENDING, 12),
        _request("r2", RequestState.SENDING, 3),
        _request("r3", RequestState.CLAIMED, 1),
    ]
    assert describe_waiting(waiting, now=NOW) == (
        "2 order(s) in 2 request(s) that may have reached Amazon, oldest 12.0 min; "
        "1 order(s) in 1 request(s) that were never sent, oldest 1.0 min"
    )
    assert waiting_problems(waiting, now=NOW, settle=15 * M) == []
    (problem,) = waiting_problems(waiting, now=NOW, settle=10 * M)
    assert problem.startswith("acknowledgement request r1 (1 order(s), sending) has not settled after 12.0 min")
