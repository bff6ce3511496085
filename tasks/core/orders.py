"""Pure planning for the order download: windows, paging, acknowledgements, refusals, recovery, export, the report."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Literal, TypeVar

from tasks.core.config import OrderDownload
from tasks.core.errors import PermanentError
from tasks.core.models import (
    AcknowledgementLine,
    AmazonOrderStatus,
    LedgerOrder,
    OrderAcknowledgement,
    OrderPage,
    PurchaseOrder,
    RequestState,
    TimeWindow,
    WaitingAcknowledgement,
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
    # a re-scan moves the watermark only when it starts at or before it: a gap would skip orders
    advances = not manual or watermark is None or (start <= watermark < end)
    return WindowPlan(slice_windows(start, end, max_slice), advances_watermark=advances, clamped=clamped)


def slice_windows(start: datetime, end: datetime, max_slice: timedelta = AMAZON_MAX_WINDOW) -> tuple[TimeWindow, ...]:
    """Consecutive windows from start to end, none longer than max_slice (nor Amazon's 7 days)."""
    step = min(max_slice, AMAZON_MAX_WINDOW)
    slices: list[TimeWindow] = []
    cursor = start
    while cursor < end:
        stop = min(cursor + step, end)
        slices.append(TimeWindow(cursor, stop))
        cursor = stop
    return tuple(slices)


@dataclass(frozen=True)
class NewOrderScan:
    """Windows asked for the orders Amazon still shows NEW (getOrders with the status filter), and why."""

    kind: Literal["backfill", "sweep"]
    windows: tuple[TimeWindow, ...]
    days: float

    def label(self) -> str:
        return f"{self.kind} of NEW orders {TimeWindow(self.windows[0].start, self.windows[-1].end).label()}"


@dataclass(frozen=True)
class DownloadPlan:
    """What one run downloads for one warehouse: windows of every status, and maybe a scan for NEW orders."""

    windows: WindowPlan
    scan: NewOrderScan | None = None

    def label(self) -> str:
        return self.windows.label()


def plan_download(
    *,
    now: datetime,
    watermark: datetime | None,
    last_sweep: datetime | None,
    options: OrderDownload,
    since: datetime | None = None,
    until: datetime | None = None,
    backfill_days: float | None = None,
) -> DownloadPlan:
    """Decide the windows of one run, and whether it backfills or sweeps for orders Amazon still shows NEW.

    Go-live: on a fresh ledger (no watermark) the first window reaches back only `interval`, so the first run also
    takes every order still NEW over the look-back (`options.backfill_days`) before it; orders no longer NEW
    (accepted, shipped or cancelled before go-live) are not ours. `backfill_days` asks for the same in any run.
    Otherwise every `options.sweep_interval_minutes` a scheduled run sweeps the last `options.sweep_days` for NEW
    orders the windows missed (Amazon made them visible after their window was read). The scans end where this
    run's windows start: orders after that are read by the windows themselves.
    """
    lag = timedelta(minutes=options.lag_minutes)
    windows = plan_windows(
        now=now,
        watermark=watermark,
        lag=lag,
        interval=timedelta(minutes=options.interval_minutes),
        overlap=timedelta(minutes=options.overlap_minutes),
        max_slice=timedelta(days=options.max_slice_days),
        since=since,
        until=until,
    )
    manual = since is not None or until is not None
    end = min(windows.windows[0].start, now - lag) if windows.windows else now - lag
    if backfill_days is not None or (watermark is None and not manual):
        days = backfill_days if backfill_days is not None else options.backfill_days
        return DownloadPlan(windows, _scan("backfill", now, end, days, options))
    due = last_sweep is None or now - last_sweep >= timedelta(minutes=options.sweep_interval_minutes)
    if manual or not due:
        return DownloadPlan(windows)
    return DownloadPlan(windows, _scan("sweep", now, end, options.sweep_days, options))


def _scan(
    kind: Literal["backfill", "sweep"], now: datetime, end: datetime, days: float, options: OrderDownload
) -> NewOrderScan | None:
    start = max(now - timedelta(days=days), now - AMAZON_MAX_AGE + timedelta(minutes=5))
    if end <= start:
        return None
    return NewOrderScan(kind, slice_windows(start, end, timedelta(days=options.max_slice_days)), days)


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


def split_refused(items: Sequence[T]) -> tuple[Sequence[T], Sequence[T]] | None:
    """How to go on after Amazon refused a request as invalid (it applied none of it): send each half on its own.

    Halving finds the one bad order among n in about 2·log2(n) requests while the others go through; None when a
    single item is left: that one is the order Amazon refuses.
    """
    if len(items) < 2:
        return None
    half = len(items) // 2
    return items[:half], items[half:]


@dataclass(frozen=True)
class RecoveryPlan:
    """What to do with orders left in 'acknowledging' by a run that crashed or lost an answer."""

    acknowledged: tuple[str, ...] = ()  # Amazon shows them accepted or shipped: record it, send nothing
    cancelled: tuple[str, ...] = ()  # Amazon cancelled them meanwhile
    gone: tuple[str, ...] = ()  # Amazon no longer returns them: held for a person
    send_now: tuple[tuple[str, tuple[LedgerOrder, ...]], ...] = ()  # (request, its orders): claimed, never sent
    waiting: tuple[str, ...] = ()  # their request may have reached Amazon and may still be processing: wait
    resend: tuple[tuple[str | None, tuple[LedgerOrder, ...]], ...] = ()  # (request, orders): still NEW past settle


def plan_acknowledgement_recovery(
    stuck: Iterable[LedgerOrder],
    amazon_status: Mapping[str, AmazonOrderStatus | None],
    requests: Mapping[str, WaitingAcknowledgement],
    *,
    now: datetime,
    settle: timedelta,
) -> RecoveryPlan:
    """Sort orders left in 'acknowledging' by what Amazon shows now and what their request's record says.

    A request recorded as claimed was never sent: it is sent now. One recorded as sending may have reached Amazon
    (there is no idempotency key for acknowledgements), so its orders are sent again only when Amazon still shows
    them NEW `settle` after the send (a processed acknowledgement would have moved them to ACCEPTED by then); until
    then they wait. A request whose transaction id is known has no order here: the ledger moves its orders to
    acknowledged in the same transaction that records the id. A request without a record (it cannot be told when
    it was sent) counts as sent long ago. Groups keep their request, so each is re-claimed from exactly its claim.
    """
    done: list[str] = []
    cancelled: list[str] = []
    gone: list[str] = []
    waiting: list[str] = []
    send_now: dict[str, list[LedgerOrder]] = {}
    resend: dict[str | None, list[LedgerOrder]] = {}
    for order in stuck:
        po = order.purchase_order_number
        status = amazon_status.get(po)
        request = requests.get(order.ack_batch or "")
        if status in (AmazonOrderStatus.ACCEPTED, AmazonOrderStatus.SHIPPED):
            done.append(po)
        elif status is AmazonOrderStatus.CANCELLED:
            cancelled.append(po)
        elif status is None:
            gone.append(po)
        elif request is not None and request.state is RequestState.CLAIMED:
            send_now.setdefault(request.request_id, []).append(order)
        elif request is None or now - request.since >= settle:
            resend.setdefault(order.ack_batch, []).append(order)
        else:
            waiting.append(po)
    return RecoveryPlan(
        acknowledged=tuple(done),
        cancelled=tuple(cancelled),
        gone=tuple(gone),
        send_now=tuple((request_id, tuple(group)) for request_id, group in send_now.items()),
        waiting=tuple(waiting),
        resend=tuple((request_id, tuple(group)) for request_id, group in resend.items()),
    )


def new_request_id(now: datetime, run_tag: str, sequence: int) -> str:
    """An acknowledgement request id, unique per request: claim time, the run's tag and the request's number."""
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%S}Z-{run_tag}-{sequence:04d}"


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


def follow_pages(fetch: Callable[[str | None], OrderPage], *, what: str) -> Iterator[OrderPage]:
    """Every page of one getOrders query: `fetch(next_token)` for each, following nextToken to the last page.

    The one guard against a paging loop: a nextToken Amazon already returned would ask for a page again, forever.
    """
    token: str | None = None
    returned: set[str] = set()
    while True:
        page = fetch(token)
        yield page
        if page.next_token is None:
            return
        if page.next_token in returned or page.next_token == token:
            raise PermanentError(
                f"Amazon returned a nextToken it had returned before for getOrders {what}; stopping instead of looping",
                code="PaginationLoop",
            )
        returned.add(page.next_token)
        token = page.next_token


@dataclass(frozen=True)
class ExportPlan:
    """What to do with acknowledged orders, given what Amazon shows for them now."""

    export: tuple[str, ...] = ()  # into this run's file, oldest first
    cancel: tuple[str, ...] = ()  # Amazon cancelled them before they left for the warehouse
    gone: tuple[str, ...] = ()  # Amazon no longer returns them: held for a person


def plan_export(ready: Sequence[LedgerOrder], current: Mapping[str, PurchaseOrder]) -> ExportPlan:
    """Split acknowledged orders into export, cancel and gone by the orders Amazon returned (`current`)."""
    export: list[str] = []
    cancel: list[str] = []
    gone: list[str] = []
    for order in ready:
        po = order.purchase_order_number
        found = current.get(po)
        if found is None:
            gone.append(po)
        elif found.status is AmazonOrderStatus.CANCELLED:
            cancel.append(po)
        else:
            export.append(po)
    return ExportPlan(tuple(export), tuple(cancel), tuple(gone))


def group_by_export_file(exporting: Iterable[LedgerOrder]) -> list[tuple[str, list[LedgerOrder]]]:
    """Orders a crashed run had claimed for export, per file name (each file is finished as it was claimed)."""
    by_file: dict[str, list[LedgerOrder]] = {}
    for order in exporting:
        by_file.setdefault(order.export_file or "", []).append(order)
    return sorted(by_file.items(), key=lambda item: item[0])


@dataclass(frozen=True)
class Tally:
    """What one step of a run did, in identifiers and counts (never PII); a run's report is the sum of its steps'."""

    downloaded: int = 0
    new: int = 0  # new to the ledger and not cancelled
    cancelled: tuple[str, ...] = ()
    acknowledged: tuple[str, ...] = ()
    exported: tuple[str, ...] = ()
    held: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    transactions: tuple[str, ...] = ()
    backfilled: tuple[str, ...] = ()  # NEW orders the go-live backfill took
    caught: tuple[str, ...] = ()  # NEW orders the sweep found that the windows had missed
    problems: tuple[str, ...] = ()  # each fails the run: a person should look
    notes: tuple[str, ...] = ()
    labels: int = 0  # orders whose label files were dropped
    packing_slips: int = 0  # packing slips dropped
    waiting_for_documents: int = 0  # kept back from export: label or packing slip not there yet
    missing_packing_slips: int = 0  # exported, flagged, without the slip Amazon never made available
    cancellations_told: int = 0  # exported orders Amazon cancelled that the warehouse was told of

    def __add__(self, other: Tally) -> Tally:
        return Tally(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    @staticmethod
    def total(parts: Iterable[Tally]) -> Tally:
        """The sum of several steps' tallies."""
        result = Tally()
        for part in parts:
            result = result + part
        return result


@dataclass(frozen=True)
class WarehouseReport:
    """What one run did for one warehouse, for the artifact, the log and the CLI: identifiers only."""

    warehouse: str
    ship_from_party_id: str
    window: str
    tally: Tally
    ledger_states: str = ""  # the account's orders per state in the ledger after the run
    waiting: str = ""  # orders whose acknowledgement request is not settled yet (describe_waiting)

    def as_row(self, *, max_listed: int = 20) -> dict[str, object]:
        """One artifact row; long lists of identifiers are cut after `max_listed`."""
        t = self.tally
        return {
            "warehouse": self.warehouse,
            "ship_from": self.ship_from_party_id,
            "window": self.window,
            "downloaded": t.downloaded,
            "new": t.new,
            "cancelled": len(t.cancelled),
            "acknowledged": len(t.acknowledged),
            "exported": len(t.exported),
            "held": len(t.held),
            "files": ", ".join(t.files),
            "transactions": _listed(t.transactions, max_listed),
            "backfilled": len(t.backfilled),
            "caught_by_sweep": _listed(t.caught, max_listed),
            "waiting": self.waiting,
            "problems": " / ".join(t.problems),
            "notes": " / ".join(t.notes),
            "ledger_states": self.ledger_states,
            "labels": t.labels,
            "packing_slips": t.packing_slips,
            "waiting_for_documents": t.waiting_for_documents,
            "missing_packing_slips": t.missing_packing_slips,
            "cancellations_told": t.cancellations_told,
        }


def _listed(items: Sequence[str], limit: int) -> str:
    return ", ".join(items[:limit]) + (" …" if len(items) > limit else "")


def describe_waiting(waiting: Sequence[WaitingAcknowledgement], *, now: datetime) -> str:
    """One line on the orders whose acknowledgement is unsettled, by request state, with the oldest wait."""
    parts = []
    for sent, meaning in ((True, "may have reached Amazon"), (False, "were never sent")):
        requests = [w for w in waiting if (w.state is not RequestState.CLAIMED) == sent]
        if requests:
            oldest = max(now - w.since for w in requests)
            parts.append(
                f"{sum(w.orders for w in requests)} order(s) in {len(requests)} request(s) that {meaning}, "
                f"oldest {_minutes(oldest)}"
            )
    return "; ".join(parts)


def waiting_problems(waiting: Sequence[WaitingAcknowledgement], *, now: datetime, settle: timedelta) -> list[str]:
    """Requests still unsettled past the settle time: each is a problem that fails the run (a person should look)."""
    return [
        f"acknowledgement request {w.request_id} ({w.orders} order(s), {w.state}) has not settled after "
        f"{_minutes(now - w.since)} (settle time {_minutes(settle)})"
        for w in waiting
        if now - w.since > settle
    ]


def _minutes(span: timedelta) -> str:
    return f"{span.total_seconds() / 60:.1f} min"
