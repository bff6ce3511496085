"""Pure planning for the order download: windows from the watermark, acknowledgements, batches, recovery."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from tasks.core.models import (
    AcknowledgementLine,
    AmazonOrderStatus,
    LedgerOrder,
    OrderAcknowledgement,
    PurchaseOrder,
    TimeWindow,
)

T = TypeVar("T")

AMAZON_MAX_WINDOW = timedelta(days=7)  # getOrders: 7-day windows (reference/amazon-vdf-api.md §2.1)
AMAZON_MAX_AGE = timedelta(days=180)  # getOrders: a rolling window of the last 6 months


@dataclass(frozen=True)
class WindowPlan:
    """The windows one run downloads, and whether they advance the watermark."""

    windows: tuple[TimeWindow, ...]
    advances_watermark: bool
    clamped: bool = False  # the watermark was older than Amazon keeps orders: some may be gone

    def label(self) -> str:
        if not self.windows:
            return "nothing to download"
        return TimeWindow(self.windows[0].start, self.windows[-1].end).label()


def plan_windows(
    *,
    now: datetime,
    watermark: datetime | None,
    lag: timedelta,
    interval: timedelta,
    overlap: timedelta,
    max_slice: timedelta = AMAZON_MAX_WINDOW,
    since: datetime | None = None,
    until: datetime | None = None,
) -> WindowPlan:
    """Decide which creation-time windows to download.

    Normal runs start at the watermark (minus the overlap, so an order Amazon makes visible late is still
    seen) and end `lag` before now; the first run takes the last `interval` before that. A manual re-scan
    (since/until) downloads exactly what was asked and leaves the watermark alone unless it reaches past it.
    """
    _require_utc(now, "now")
    max_slice = min(max_slice, AMAZON_MAX_WINDOW)
    oldest = now - AMAZON_MAX_AGE + timedelta(minutes=5)
    if since is not None or until is not None:
        start = _require_utc(since, "since") if since is not None else None
        end = _require_utc(until, "until") if until is not None else now - lag
        if start is None:
            start = end - interval
        if end > now:
            end = now
        manual = True
    else:
        end = now - lag
        start = watermark - overlap if watermark is not None else end - interval
        manual = False
    clamped = start < oldest
    start = max(start, oldest)
    if end <= start:
        return WindowPlan((), advances_watermark=False, clamped=clamped)
    slices: list[TimeWindow] = []
    cursor = start
    while cursor < end:
        stop = min(cursor + max_slice, end)
        slices.append(TimeWindow(cursor, stop))
        cursor = stop
    # a re-scan moves the watermark only when it starts at or before it: a gap would skip orders
    advances = not manual or watermark is None or (start <= watermark < end)
    return WindowPlan(tuple(slices), advances_watermark=advances, clamped=clamped)


def _require_utc(value: datetime | None, name: str) -> datetime:
    if value is None or value.tzinfo is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return value.astimezone(UTC)


def build_acknowledgement(
    order: LedgerOrder | PurchaseOrder, *, vendor_order_number: str, when: datetime
) -> OrderAcknowledgement:
    """A full accept (code 00): every line, the ordered quantity, product ids echoed exactly as received."""
    lines = tuple(
        AcknowledgementLine(
            item_sequence_number=line.item_sequence_number,
            acknowledged_quantity=line.ordered_quantity,
            buyer_product_identifier=line.buyer_product_identifier,
            vendor_product_identifier=line.vendor_product_identifier,
            unit_of_measure=line.unit_of_measure,
        )
        for line in order.lines
    )
    return OrderAcknowledgement(
        purchase_order_number=order.purchase_order_number,
        vendor_order_number=vendor_order_number,
        acknowledgement_date=when,
        selling_party_id=order.selling_party_id,
        ship_from_party_id=order.ship_from_party_id,
        lines=lines,
    )


def vendor_order_number(purchase_order_number: str) -> str:
    """Our order number for Amazon: the PO number itself, so the warehouse and Amazon speak of one id."""
    return purchase_order_number


def batches(items: Sequence[T], size: int) -> list[Sequence[T]]:
    """Split items into consecutive batches of at most size."""
    if size < 1:
        raise ValueError("batch size must be at least 1")
    return [items[i : i + size] for i in range(0, len(items), size)]


def plan_acknowledgement_recovery(
    stuck: Iterable[LedgerOrder],
    amazon_status: dict[str, AmazonOrderStatus | None],
    *,
    now: datetime,
    settle: timedelta,
) -> tuple[list[str], list[str], list[str]]:
    """Sort orders left in 'acknowledging' by a crash into (acknowledged, cancelled, resubmit).

    An order Amazon does not return (no status) is in none of them: the caller holds it for a person.

    Amazon has no idempotency key for acknowledgements, so an order whose request may have gone out is
    resubmitted only when Amazon still shows it NEW after `settle` (its transaction would have processed
    by then); until then it waits for a later run.
    """
    done: list[str] = []
    cancelled: list[str] = []
    resubmit: list[str] = []
    for order in stuck:
        po = order.purchase_order_number
        status = amazon_status.get(po)
        if status in (AmazonOrderStatus.ACCEPTED, AmazonOrderStatus.SHIPPED):
            done.append(po)
        elif status is AmazonOrderStatus.CANCELLED:
            cancelled.append(po)
        elif status is None:
            continue
        elif now - batch_time(order.ack_batch, default=now) >= settle:
            resubmit.append(po)
    return done, cancelled, resubmit


def new_batch_id(now: datetime, run_tag: str) -> str:
    """An acknowledgement batch id that carries its claim time (recovery reads it back)."""
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%S}Z-{run_tag}"


def batch_time(batch: str | None, *, default: datetime) -> datetime:
    """The claim time written into a batch id by new_batch_id; default when there is none."""
    if not batch:
        return default
    try:
        return datetime.strptime(batch[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return default


def plan_refetch_windows(
    order_dates: Sequence[datetime],
    *,
    before: timedelta = timedelta(seconds=1),
    after: timedelta = timedelta(hours=1),
    until: datetime | None = None,
) -> list[TimeWindow]:
    """Windows of at most 7 days that cover the given order dates, merging dates close together.

    getOrders filters on when an order became available to the vendor, which can be a little after its
    orderDate: the window reaches `after` past each date (an order still missed is fetched by number).
    """
    windows: list[TimeWindow] = []
    for when in sorted(order_dates):
        start, end = when - before, when + after
        if until is not None:
            end = max(min(end, until), when + before)
        if windows and end - windows[-1].start <= AMAZON_MAX_WINDOW and start <= windows[-1].end + timedelta(days=1):
            windows[-1] = TimeWindow(windows[-1].start, max(end, windows[-1].end))
        else:
            windows.append(TimeWindow(start, end))
    return windows
