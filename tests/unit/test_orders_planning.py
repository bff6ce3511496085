"""Window planning, acknowledgements and crash-recovery decisions (pure code)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tasks.core.errors import PermanentError
from tasks.core.models import AmazonOrderStatus, LedgerOrder, OrderLine, OrderPage, OrderState, PurchaseOrder
from tasks.core.orders import (
    AMAZON_MAX_AGE,
    ExportPlan,
    Tally,
    WarehouseReport,
    batch_time,
    batches,
    build_acknowledgement,
    follow_pages,
    new_batch_id,
    plan_acknowledgement_recovery,
    plan_export,
    plan_windows,
    split_refused,
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


def test_batch_id_carries_its_time():
    assert batch_time(new_batch_id(NOW, "x"), default=NOW - M) == NOW
    assert batch_time("garbage", default=NOW) == NOW


def _stuck(po: str, claimed: datetime) -> LedgerOrder:
    return LedgerOrder("a", po, "V", "W", NOW, OrderState.ACKNOWLEDGING, (), ack_batch=new_batch_id(claimed, "t"))


def test_recovery_waits_before_resending_and_trusts_amazons_status():
    stuck = [
        _stuck("A", NOW),
        _stuck("B", NOW),
        _stuck("C", NOW - timedelta(hours=1)),
        _stuck("D", NOW),
        _stuck("E", NOW - timedelta(hours=1)),
    ]
    statuses = {
        "A": AmazonOrderStatus.ACCEPTED,
        "B": AmazonOrderStatus.NEW,
        "C": AmazonOrderStatus.NEW,
        "D": AmazonOrderStatus.CANCELLED,
    }
    plan = plan_acknowledgement_recovery(stuck, statuses, now=NOW, settle=10 * M)
    assert plan.acknowledged == ("A",)
    assert plan.cancelled == ("D",)
    assert plan.gone == ("E",)  # Amazon no longer returns it: held, never resent
    assert plan.waiting == ("B",)  # may still be in flight: wait
    assert [(batch, [o.purchase_order_number for o in group]) for batch, group in plan.resend] == [
        (stuck[2].ack_batch, ["C"])
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
