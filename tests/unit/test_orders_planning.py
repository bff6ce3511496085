"""Window planning, acknowledgements and crash-recovery decisions (pure code)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tasks.core.models import AmazonOrderStatus, LedgerOrder, OrderLine, OrderState, PurchaseOrder
from tasks.core.orders import (
    AMAZON_MAX_AGE,
    batch_time,
    batches,
    build_acknowledgement,
    new_batch_id,
    plan_acknowledgement_recovery,
    plan_windows,
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
        _stuck("E", NOW - timedelta(hours=1)),  # Amazon no longer returns it: held by the caller, never resent
    ]
    statuses = {
        "A": AmazonOrderStatus.ACCEPTED,
        "B": AmazonOrderStatus.NEW,
        "C": AmazonOrderStatus.NEW,
        "D": AmazonOrderStatus.CANCELLED,
    }
    done, cancelled, resubmit = plan_acknowledgement_recovery(stuck, statuses, now=NOW, settle=10 * M)
    assert done == ["A"]
    assert cancelled == ["D"]
    assert resubmit == ["C"]  # B may still be in flight: wait


def test_refetch_windows_cover_every_time_in_slices_of_seven_days():
    from tasks.core.orders import plan_refetch_windows

    times = [NOW - timedelta(days=d) for d in (0, 0.5, 1, 9, 30)] + [NOW - timedelta(days=30, minutes=1)]
    windows = plan_refetch_windows(times)
    assert all(w.end - w.start <= timedelta(days=7) for w in windows)
    assert all(any(w.start <= t < w.end for w in windows) for t in times)
    assert len(windows) == 3
    assert plan_refetch_windows([]) == []
    assert max(w.end for w in plan_refetch_windows(times, until=NOW)) <= NOW + timedelta(seconds=1)
