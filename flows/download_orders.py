"""Flow download-orders: Amazon purchase orders → acknowledged → one order file per warehouse."""

from __future__ import annotations

import contextvars
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.runtime import flow_run
from prefect.utilities.annotations import quote  # large arguments: Prefect would walk every order for futures

from flows.alerts import announce
from flows.runtime import Runtime, get_runtime
from tasks.amazon import fetch_orders_by_number, fetch_orders_page, submit_acknowledgements
from tasks.core.config import Account, Warehouse
from tasks.core.errors import (
    DataError,
    IntegrationError,
    OutcomeUnknownError,
    PermanentError,
    RequestRefusedError,
    TransientError,
)
from tasks.core.files import build_orders_file, orders_file_name
from tasks.core.models import AmazonOrderStatus, LedgerOrder, OrderState, PurchaseOrder, RejectedOrder, TimeWindow
from tasks.core.orders import (
    WindowPlan,
    batches,
    build_acknowledgement,
    new_batch_id,
    plan_acknowledgement_recovery,
    plan_refetch_windows,
    plan_windows,
    vendor_order_number,
)
from tasks.core.ports import Ledger, VendorApi, WarehouseDrop
from tasks.ledger import (
    load_orders,
    load_state_counts,
    load_watermark,
    mark_acknowledged,
    mark_acknowledging,
    mark_cancelled,
    mark_exported,
    mark_exporting,
    mark_held,
    record_downloaded,
    record_watermark,
    release_acknowledging,
)
from tasks.warehouse import upload_file


@dataclass
class WarehouseReport:
    """What one run did for one warehouse: identifiers and counts only, never PII."""

    warehouse: str
    ship_from_party_id: str
    window: str = ""
    downloaded: int = 0
    new: int = 0
    cancelled: int = 0
    acknowledged: int = 0
    exported: int = 0
    held: int = 0
    files: list[str] = field(default_factory=list)
    transactions: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # each fails the run: a person should look
    notes: list[str] = field(default_factory=list)
    ledger_states: str = ""  # the account's orders per state in the ledger after the run


def _flow_run_name() -> str:
    params = flow_run.parameters
    account = params.get("account", "?")
    since, until = params.get("since"), params.get("until")
    scope = f"/{params['warehouse']}" if params.get("warehouse") else ""
    if since or until:
        return f"orders-{account}{scope}-rescan-{_short(since)}..{_short(until)}"
    return f"orders-{account}{scope}-{datetime.now(UTC):%Y-%m-%dT%H:%MZ}"


def _short(value: object) -> str:
    if isinstance(value, datetime):
        return f"{value.astimezone(UTC):%Y-%m-%dT%H:%MZ}"
    return str(value)[:16] if value else "now"


@flow(name="download-orders", flow_run_name=_flow_run_name)
def download_orders(
    account: str,
    warehouse: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    config: str | None = None,
) -> list[dict[str, object]]:
    """Download new Amazon orders, acknowledge them, and drop them on the warehouse as one file per warehouse."""
    runtime = get_runtime(config)
    acct = runtime.settings.account(account)
    targets = [acct.warehouse(warehouse)] if warehouse else list(acct.warehouses)
    now = datetime.now(UTC)
    reports: list[WarehouseReport] = []
    with _account_lock(runtime, acct.name):
        for target in targets:
            report = WarehouseReport(target.name, target.ship_from_party_id)
            reports.append(report)
            try:
                _process_warehouse(runtime, acct, target, report, now=now, since=since, until=until)
            except IntegrationError as exc:  # one warehouse failing must not stop the others
                report.problems.append(f"{type(exc).__name__}: {exc}")
    counts = load_state_counts(runtime.ledger, acct.name)
    states = ", ".join(f"{state}={count}" for state, count in counts.items() if count)
    for report in reports:
        report.ledger_states = states
    summary = [_as_row(r) for r in reports]
    _publish_report(acct.name, reports)
    for report in reports:  # one alert per warehouse and run (flows/alerts.py): a person must look at held orders
        if report.held:
            announce(
                "order-held",
                account=acct.name,
                warehouse=report.warehouse,
                reason=f"held by this run; `vdf status --account {acct.name}` lists them with their reasons",
                count=report.held,
            )
    failed = [r for r in reports if r.problems]
    if failed:
        details = "; ".join(f"{r.warehouse}: {' / '.join(r.problems)}" for r in failed)
        raise RuntimeError(f"download-orders for account {acct.name} had problems: {details}")
    return summary


def _process_warehouse(
    runtime: Runtime,
    account: Account,
    warehouse: Warehouse,
    report: WarehouseReport,
    *,
    now: datetime,
    since: datetime | None,
    until: datetime | None,
) -> None:
    api = runtime.vendor_api(account)
    ledger = runtime.ledger
    scope = warehouse.ship_from_party_id
    options = account.orders
    run_tag = uuid.uuid4().hex[:8]

    # gather: what a crashed run left behind, then the windows from the watermark
    _recover_acknowledgements(api, ledger, account, warehouse, report, now=now, run_tag=run_tag)
    plan = plan_windows(
        now=now,
        watermark=load_watermark(ledger, account.name, scope),
        lag=timedelta(minutes=options.lag_minutes),
        interval=timedelta(minutes=options.interval_minutes),
        overlap=timedelta(minutes=options.overlap_minutes),
        max_slice=timedelta(days=options.max_slice_days),
        since=since,
        until=until,
    )
    report.window = plan.label()
    _name_run_after_window(account.name, warehouse.name, report.window)
    if plan.clamped:
        report.problems.append("the watermark is older than the 6 months Amazon keeps: orders before that are not seen")

    # apply: download page by page; each page is recorded, then its new orders acknowledged in batches
    # on a second thread, while the next pages download
    seen: dict[str, PurchaseOrder] = {}
    rejected: list[RejectedOrder] = []
    pending: list[PurchaseOrder] = []
    ack_batch = options.acknowledgement_batch
    stalled = False

    def acknowledge_now(batch: list[PurchaseOrder]) -> None:
        _acknowledge(api, ledger, account, batch, report, batch_size=ack_batch, now=now, run_tag=run_tag)

    for window in plan.windows:
        with _in_background(acknowledge_now) as acknowledge:
            for page_orders in _pages(api, window, scope, options.page_size, rejected):
                outcome = record_downloaded(ledger, account.name, quote(page_orders))
                report.downloaded += len(page_orders)
                report.new += sum(1 for po in outcome.new if po not in outcome.cancelled)
                report.cancelled += len(outcome.cancelled)
                fresh = set(outcome.new) - set(outcome.cancelled)
                seen.update({o.purchase_order_number: o for o in page_orders})
                pending.extend(o for o in page_orders if o.purchase_order_number in fresh)
                if len(pending) >= ack_batch:
                    acknowledge(pending)
                    pending = []
            if pending:
                acknowledge(pending)
                pending = []
        if rejected:
            # the unreadable orders are not in the ledger: the watermark stays before them so each run retries
            # them, while later windows are still downloaded
            stalled = True
        if plan.advances_watermark and not stalled:
            record_watermark(ledger, account.name, scope, window.end)
    report.problems.extend(
        f"order {r.purchase_order_number or '(no number)'} could not be read ({r.reason}); it is retried every run"
        for r in rejected
    )

    # orders downloaded by an earlier run that never got their acknowledgement claimed
    leftovers = load_orders(ledger, account.name, [OrderState.DOWNLOADED], scope)
    _acknowledge(
        api, ledger, account, leftovers, report, batch_size=options.acknowledgement_batch, now=now, run_tag=run_tag
    )

    with runtime.drop(warehouse) as drop:
        removed = drop.remove_stale_parts("orders")  # a killed upload's partial file holds addresses: not kept
        if removed:
            report.notes.append(f"removed {len(removed)} partial upload(s) left by an interrupted run")
        _finish_interrupted_exports(api, ledger, drop, account, warehouse, seen, report)
        _export(api, ledger, drop, account, warehouse, seen, report, now=now, run_tag=run_tag)


def _name_run_after_window(account: str, warehouse: str, window: str) -> None:
    """Put the window in the flow-run name once the watermark has decided it (identifiers only, no PII)."""
    from prefect.client.orchestration import get_client

    run_id = flow_run.get_id()
    if run_id is None:
        return
    try:
        with get_client(sync_client=True) as client:
            client.update_flow_run(UUID(run_id), name=f"orders-{account}/{warehouse}-{window}")
    except Exception as exc:  # noqa: BLE001 - a cosmetic step: the run goes on without its new name
        get_run_logger().warning("could not rename the flow run: %s", type(exc).__name__)


@contextmanager
def _in_background(work: Callable[[list[PurchaseOrder]], None]) -> Iterator[Callable[[list[PurchaseOrder]], None]]:
    """Run `work` on one background thread, one call at a time and in order; errors surface here.

    getOrders and submitAcknowledgement have separate rate buckets at Amazon, so acknowledging one batch
    while the next pages download keeps both near their 10 requests/s.
    """
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="acknowledge")
    in_flight: list[Future[None]] = []

    def settle() -> None:
        while in_flight:
            in_flight.pop().result()

    def submit(batch: list[PurchaseOrder]) -> None:
        settle()
        in_flight.append(pool.submit(contextvars.copy_context().run, work, list(batch)))

    try:
        yield submit
        settle()
    finally:
        for future in in_flight:  # the main thread failed: let the batch in flight finish, keep the first error
            lost = future.exception()
            if lost is not None:
                get_run_logger().error("acknowledgement batch also failed: %s: %s", type(lost).__name__, lost)
        pool.shutdown(wait=True)


def _pages(
    api: VendorApi, window: TimeWindow, ship_from: str, limit: int, rejected: list[RejectedOrder] | None = None
) -> Iterator[list[PurchaseOrder]]:
    next_token: str | None = None
    while True:
        page = fetch_orders_page(api, window, ship_from, next_token, limit)
        if rejected is not None:
            rejected.extend(page.rejected)
        yield [o for o in page.orders if o.ship_from_party_id == ship_from]
        if page.next_token and page.next_token == next_token:
            raise DataError(f"Amazon returned the same nextToken twice for window {window.label()}", subject=ship_from)
        next_token = page.next_token
        if not next_token:
            return


def _acknowledge(
    api: VendorApi,
    ledger: Ledger,
    account: Account,
    orders: Sequence[LedgerOrder | PurchaseOrder],
    report: WarehouseReport,
    *,
    batch_size: int,
    now: datetime,
    run_tag: str,
    from_batch: str | None = None,
) -> None:
    """Claim, send and record acknowledgements batch by batch (claims first: the ledger knows what is in flight)."""
    for batch in batches(list(orders), batch_size):
        batch_id = new_batch_id(datetime.now(UTC), run_tag)
        numbers = [o.purchase_order_number for o in batch]
        claimed = set(mark_acknowledging(ledger, account.name, quote(numbers), batch_id, from_batch))
        chosen = [o for o in batch if o.purchase_order_number in claimed]
        if chosen:
            _send_acknowledgements(api, ledger, account, chosen, batch_id, report, now=now)


def _send_acknowledgements(
    api: VendorApi,
    ledger: Ledger,
    account: Account,
    chosen: Sequence[LedgerOrder | PurchaseOrder],
    batch_id: str,
    report: WarehouseReport,
    *,
    now: datetime,
) -> None:
    numbers = [o.purchase_order_number for o in chosen]
    acks = [
        build_acknowledgement(o, vendor_order_number=vendor_order_number(o.purchase_order_number), when=now)
        for o in chosen
    ]
    try:
        transaction_id = submit_acknowledgements(api, quote(acks))
    except OutcomeUnknownError as exc:
        # it may have reached Amazon: the orders stay 'acknowledging' and a later run settles them
        report.problems.append(f"acknowledgement of {len(chosen)} order(s) has an unknown outcome: {exc}")
        return
    except RequestRefusedError as exc:
        if len(chosen) > 1:
            half = len(chosen) // 2  # find the order Amazon refuses; the others go through
            _send_acknowledgements(api, ledger, account, chosen[:half], batch_id, report, now=now)
            _send_acknowledgements(api, ledger, account, chosen[half:], batch_id, report, now=now)
            return
        _hold(ledger, account, numbers, f"Amazon refused its acknowledgement: {exc}", report)
        report.problems.append(f"Amazon refused the acknowledgement of order {numbers[0]}: {exc}")
        return
    except PermanentError:
        release_acknowledging(ledger, account.name, quote(numbers), batch_id)  # e.g. credentials: nothing applied
        raise
    except TransientError:
        release_acknowledging(ledger, account.name, quote(numbers), batch_id)  # retries spent, provably not applied
        raise
    mark_acknowledged(ledger, account.name, quote(numbers), transaction_id)
    report.acknowledged += len(chosen)
    report.transactions.append(transaction_id)


def _hold(ledger: Ledger, account: Account, numbers: Sequence[str], reason: str, report: WarehouseReport) -> None:
    for number in numbers:
        try:
            mark_held(ledger, account.name, number, reason[:500])
            report.held += 1
        except DataError:  # cancelled meanwhile by a later page: nothing left to hold
            continue


def _recover_acknowledgements(
    api: VendorApi,
    ledger: Ledger,
    account: Account,
    warehouse: Warehouse,
    report: WarehouseReport,
    *,
    now: datetime,
    run_tag: str,
) -> None:
    """Settle acknowledgements a crashed run may have sent: trust Amazon's order status, resend only when safe."""
    stuck = load_orders(ledger, account.name, [OrderState.ACKNOWLEDGING], warehouse.ship_from_party_id)
    if not stuck:
        return
    current = _refetch(api, warehouse.ship_from_party_id, stuck)
    statuses: dict[str, AmazonOrderStatus | None] = {po: o.status for po, o in current.items()}
    done, cancelled, resubmit = plan_acknowledgement_recovery(
        stuck, statuses, now=now, settle=timedelta(minutes=account.orders.acknowledgement_settle_minutes)
    )
    if done:
        mark_acknowledged(ledger, account.name, quote(done), None)
    if cancelled:
        report.cancelled += len(mark_cancelled(ledger, account.name, quote(cancelled)))
    for po in {o.purchase_order_number for o in stuck} - set(current):
        mark_held(
            ledger,
            account.name,
            po,
            "Amazon no longer returns this order (404) while its acknowledgement was in flight",
        )
        report.held += 1
    again = set(resubmit)
    by_batch: dict[str | None, list[LedgerOrder]] = {}
    for order in stuck:
        if order.purchase_order_number in again:
            by_batch.setdefault(order.ack_batch, []).append(order)
    for old_batch, group in by_batch.items():
        # re-claimed under a fresh batch id, so a crash during this resend is settled from its own time
        _acknowledge(
            api,
            ledger,
            account,
            group,
            report,
            batch_size=account.orders.acknowledgement_batch,
            now=now,
            run_tag=run_tag,
            from_batch=old_batch,
        )


def _refetch(api: VendorApi, ship_from: str, orders: Sequence[LedgerOrder]) -> dict[str, PurchaseOrder]:
    """Fetch known orders again, with their current status and ship-to.

    The ledger keeps their creation times, so getOrders pages over those times (100 orders a request)
    replace one getOrder per order; an order the pages do not return is asked for by number.
    """
    wanted = {o.purchase_order_number for o in orders}
    found: dict[str, PurchaseOrder] = {}
    for window in plan_refetch_windows([o.order_date for o in orders], until=datetime.now(UTC)):
        for page_orders in _pages(api, window, ship_from, 100):
            found.update({o.purchase_order_number: o for o in page_orders if o.purchase_order_number in wanted})
    missing = sorted(wanted - set(found))
    if missing:
        found.update(fetch_orders_by_number(api, quote(missing)))
    return found


def _orders_with_details(
    api: VendorApi,
    ledger: Ledger,
    account: Account,
    known: Sequence[LedgerOrder],
    seen: dict[str, PurchaseOrder],
    report: WarehouseReport,
) -> dict[str, PurchaseOrder]:
    """The full orders (with ship-to) for export: this run's pages, else fetched again (the ledger keeps no PII)."""
    missing = [o for o in known if o.purchase_order_number not in seen]
    fetched = _refetch(api, missing[0].ship_from_party_id, missing) if missing else {}
    gone = [o.purchase_order_number for o in missing if o.purchase_order_number not in fetched]
    _hold(
        ledger,
        account,
        gone,
        "Amazon no longer returns this order (404); it was not exported by this run "
        "(if it was being exported when a run crashed, check the warehouse's order files)",
        report,
    )
    found = {**fetched, **seen}
    return {o.purchase_order_number: found[o.purchase_order_number] for o in known if o.purchase_order_number in found}


def _finish_interrupted_exports(
    api: VendorApi,
    ledger: Ledger,
    drop: WarehouseDrop,
    account: Account,
    warehouse: Warehouse,
    seen: dict[str, PurchaseOrder],
    report: WarehouseReport,
) -> None:
    """Re-upload files a crashed run had claimed: same name and same orders, so the upload replaces."""
    exporting = load_orders(ledger, account.name, [OrderState.EXPORTING], warehouse.ship_from_party_id)
    by_file: dict[str, list[LedgerOrder]] = {}
    for order in exporting:
        by_file.setdefault(order.export_file or "", []).append(order)
    for file_name, group in sorted(by_file.items()):
        if drop.exists("orders", file_name):  # the crash came after the upload: it must not be sent twice
            report.exported += len(mark_exported(ledger, account.name, file_name))
            report.files.append(file_name)
            continue
        details = _orders_with_details(api, ledger, account, group, seen, report)
        if details:
            upload_file(drop, "orders", file_name, build_orders_file(list(details.values()), warehouse.files))
        report.exported += len(mark_exported(ledger, account.name, file_name))
        report.files.append(file_name)


def _export(
    api: VendorApi,
    ledger: Ledger,
    drop: WarehouseDrop,
    account: Account,
    warehouse: Warehouse,
    seen: dict[str, PurchaseOrder],
    report: WarehouseReport,
    *,
    now: datetime,
    run_tag: str,
) -> None:
    ready = load_orders(ledger, account.name, [OrderState.ACKNOWLEDGED], warehouse.ship_from_party_id)
    if not ready:
        return
    details = _orders_with_details(api, ledger, account, ready, seen, report)
    cancelled = [o for o in details.values() if o.status is AmazonOrderStatus.CANCELLED]
    if cancelled:
        numbers = [o.purchase_order_number for o in cancelled]
        report.cancelled += len(mark_cancelled(ledger, account.name, quote(numbers)))
    exportable = [po for po, o in details.items() if o.status is not AmazonOrderStatus.CANCELLED]
    if not exportable:
        return
    file_name = orders_file_name(account.name, warehouse.name, now, run_tag)
    claimed = mark_exporting(ledger, account.name, quote(exportable), file_name)
    if not claimed:
        return
    claimed_set = set(claimed)
    rows = [details[po] for po in exportable if po in claimed_set]
    upload_file(drop, "orders", file_name, build_orders_file(rows, warehouse.files))
    report.exported += len(mark_exported(ledger, account.name, file_name))
    report.files.append(file_name)


@contextmanager
def _account_lock(runtime: Runtime, account: str) -> Iterator[None]:
    """One download-orders run per account at a time, across workers; the lock dies with its process."""
    with runtime.ledger.account_lock(account):
        yield


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-") or "account"


def _as_row(report: WarehouseReport) -> dict[str, object]:
    return {
        "warehouse": report.warehouse,
        "ship_from": report.ship_from_party_id,
        "window": report.window,
        "downloaded": report.downloaded,
        "new": report.new,
        "cancelled": report.cancelled,
        "acknowledged": report.acknowledged,
        "exported": report.exported,
        "held": report.held,
        "files": ", ".join(report.files),
        "transactions": ", ".join(report.transactions[:20]) + (" …" if len(report.transactions) > 20 else ""),
        "problems": " / ".join(report.problems),
        "notes": " / ".join(report.notes),
        "ledger_states": report.ledger_states,
    }


def _publish_report(account: str, reports: Sequence[WarehouseReport]) -> None:
    rows = [_as_row(r) for r in reports]
    create_table_artifact(
        key=f"download-orders-{_slug(account)}",
        table=rows,
        description=f"download-orders for account {account}: counts, windows, files and Amazon transactions",
    )
    logger = get_run_logger()
    for row in rows:
        logger.info(
            "warehouse %s window %s: %s downloaded, %s new, %s cancelled, %s acknowledged, %s exported, %s held",
            row["warehouse"],
            row["window"],
            row["downloaded"],
            row["new"],
            row["cancelled"],
            row["acknowledged"],
            row["exported"],
            row["held"],
        )


__all__ = ["WindowPlan", "download_orders"]
