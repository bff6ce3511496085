"""Flow download-orders: Amazon purchase orders → acknowledged → one order file per warehouse.

How it reads. The flow builds one run context (`OrderRun`: configuration, ports, side effects, the clock) and
hands each warehouse to `download_warehouse`, which goes gather → decide → apply → report: settle what an earlier
run left in flight (`recover_acknowledgements`), plan the windows from the watermark and whether to backfill or
sweep (`plan_download`), scan for orders Amazon still shows NEW (`scan_new_orders`), download the windows page by
page while acknowledging in the background (`download_windows`), acknowledge what an earlier run only downloaded,
export (`export_orders`), and say which acknowledgements still wait. The decisions are pure functions of
tasks.core.orders. Each step yields `Tally` values as its parts finish; a warehouse's report is their sum, and
the run fails with `RunFailed` naming every problem once all warehouses had their turn.

Acknowledgement intent. Each request has a ledger record: claimed (with the orders, when a page is recorded),
sending (written just before the request), sent (with the transaction id, when the orders become acknowledged).
So recovery sends a claimed request now, and only a request that may or may not have reached Amazon waits for
the settle time (`acknowledgement_settle_minutes`) before its orders, still NEW at Amazon, are sent again.

The seam for unit tests. The orchestration makes side effects only through `OrderRun.effects`: in a flow run
these are the Prefect tasks of tasks/amazon.py, tasks/ledger.py and tasks/warehouse.py (`Effects.prefect()`);
unit tests pass `Effects.plain()`, the same functions without Prefect (each task's `.fn`, the background work run
at once) over the in-memory fakes of tests/fakes.py: no Prefect API, no sockets.

Concurrency. getOrders and submitAcknowledgement have separate rate buckets at Amazon (10 requests/s each), so
the acknowledgement request of one page's new orders is sent while the next pages download: each hand-over runs
`send_claimed_request` on a thread of its own in the flow run's context, so its ledger and Amazon calls are still
the run's Prefect task runs; one request is in flight at a time, and the next hand-over first waits for it (a
future, whose error surfaces there). Not `task.submit`: a task wrapping the three calls adds a task run per
request, and on this 2-core machine bench/orders_flow.py measured that as more CPU for the flow process and the
Prefect API (task-run events) and a worse wall/rate-limit-floor ratio than this thread (README, Benchmarks).

Retry budget, worst case per Amazon call (one page, one acknowledgement request): the adapter makes at most 6
attempts within 60 s, and each request times out after 20 s (≤ 80 s); the Prefect task retries the whole call
twice more, after 1 s and 4 s (±50 % jitter). So at most 3 x 6 = 18 requests and ≤ 4.1 minutes per call. A
warehouse stops at the first call that spends its budget, so with Amazon down a run ends within about 4 minutes
per warehouse: an account with up to 6 warehouses fits the 30-minute schedule, and a later run waits for the
account lock (up to 10 minutes) rather than overlapping.
"""

from __future__ import annotations

import contextvars
import itertools
import logging
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.runtime import flow_run
from prefect.utilities.annotations import quote  # large arguments: Prefect would walk every order for futures

from flows.alerts import announce
from flows.runtime import get_runtime
from flows.shipping_documents import (
    DocumentsRun,
    PreparedDocuments,
    after_export,
    document_columns_for,
    prepare_documents,
)
from tasks.amazon import fetch_orders_by_number, fetch_orders_page, submit_acknowledgements
from tasks.core.config import Account, OrderDownload, Warehouse
from tasks.core.errors import (
    ConfigError,
    DataError,
    IntegrationError,
    OutcomeUnknownError,
    PermanentError,
    RequestRefusedError,
    RunFailed,
    TransientError,
)
from tasks.core.files import build_orders_file, orders_file_name
from tasks.core.labels import OrderDocuments
from tasks.core.models import (
    AmazonOrderStatus,
    DownloadOutcome,
    LedgerOrder,
    OrderPage,
    OrderState,
    PurchaseOrder,
    TimeWindow,
    WaitingAcknowledgement,
)
from tasks.core.names import slug
from tasks.core.orders import (
    NewOrderScan,
    Tally,
    WarehouseReport,
    WindowPlan,
    batches,
    build_acknowledgement,
    describe_waiting,
    follow_pages,
    group_by_export_file,
    new_request_id,
    plan_acknowledgement_recovery,
    plan_download,
    plan_export,
    plan_refetch_windows,
    split_refused,
    vendor_order_number,
    waiting_problems,
)
from tasks.core.ports import Ledger, VendorApi, WarehouseDrop
from tasks.ledger import (
    load_orders,
    load_state_counts,
    load_waiting_acknowledgements,
    load_watermark,
    mark_acknowledged,
    mark_acknowledgement_sending,
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

MAX_REASON = 500  # the ledger keeps hold reasons up to this length


# ------------------------------------------------------------------------------------------------ the run context


class Pending(Protocol):
    """A request handed to the background: a future of its thread in a flow run, a finished future in unit tests."""

    def result(self) -> Tally: ...


@dataclass(frozen=True)
class Effects:
    """Every side effect the orchestration makes: Prefect tasks in a flow run, the same functions in unit tests."""

    fetch_orders_page: Callable[..., OrderPage]
    fetch_orders_by_number: Callable[..., dict[str, PurchaseOrder]]
    submit_acknowledgements: Callable[..., str]
    load_orders: Callable[..., list[LedgerOrder]]
    load_state_counts: Callable[..., dict[OrderState, int]]
    load_watermark: Callable[..., datetime | None]
    record_downloaded: Callable[..., DownloadOutcome]
    record_watermark: Callable[..., None]
    mark_acknowledging: Callable[..., list[str]]
    mark_acknowledgement_sending: Callable[..., list[str]]
    load_waiting_acknowledgements: Callable[..., list[WaitingAcknowledgement]]
    release_acknowledging: Callable[..., list[str]]
    mark_acknowledged: Callable[..., None]
    mark_exporting: Callable[..., list[str]]
    mark_exported: Callable[..., list[str]]
    mark_cancelled: Callable[..., list[str]]
    mark_held: Callable[..., None]
    upload_file: Callable[..., None]
    # labels, packing slips and cancellation notices (flows/shipping_documents.py, their own Prefect tasks)
    prepare_documents: Callable[..., PreparedDocuments]
    document_columns_for: Callable[..., dict[str, OrderDocuments] | None]
    after_export: Callable[..., None]
    acknowledge_in_background: Callable[[WarehouseRun, str, Sequence[PurchaseOrder]], Pending]
    rename_run: Callable[[str], None]

    @classmethod
    def prefect(cls) -> Effects:
        """The Prefect tasks (each one side effect, retried on TransientError); only inside a flow run."""
        return cls(
            **{name: _quoting(task) for name, task in _tasks().items()},
            prepare_documents=prepare_documents,
            document_columns_for=document_columns_for,
            after_export=after_export,
            acknowledge_in_background=_in_a_thread,
            rename_run=_rename_flow_run,
        )

    @classmethod
    def plain(cls, *, rename_run: Callable[[str], None] = lambda _name: None) -> Effects:
        """The same functions without Prefect (each task's `.fn`), background work done at once: for unit tests.

        The document steps (labels, packing slips, cancellation notices) are left out: they run their own Prefect
        tasks and have their own tests (tests/unit/test_labels*.py, tests/e2e/test_shipping_documents.py).
        """
        plain = {name: task.fn for name, task in _tasks().items()}
        return cls(
            **plain,
            prepare_documents=_no_documents,
            document_columns_for=lambda *_args, **_kwargs: None,
            after_export=lambda *_args, **_kwargs: None,
            acknowledge_in_background=_acknowledge_now,
            rename_run=rename_run,
        )


def _no_documents(*args: Any, **_kwargs: Any) -> PreparedDocuments:
    orders: Mapping[str, PurchaseOrder] = args[5]
    return PreparedDocuments(ready=list(orders))


def _documents_tally(done: DocumentsRun) -> Tally:
    """What the document steps did, as a tally of the order run."""
    counts = done.documents
    return Tally(
        held=tuple(done.held),
        files=tuple(done.files),
        problems=tuple(done.problems),
        notes=tuple(done.notes),
        labels=counts.labels,
        packing_slips=counts.packing_slips,
        waiting_for_documents=counts.waiting,
        missing_packing_slips=counts.missing_slips,
        cancellations_told=counts.cancellations,
    )


def _tasks() -> dict[str, Any]:
    """The Prefect tasks behind the effects, by effect name (read at call time, so a benchmark may wrap them)."""
    return {
        "fetch_orders_page": fetch_orders_page,
        "fetch_orders_by_number": fetch_orders_by_number,
        "submit_acknowledgements": submit_acknowledgements,
        "load_orders": load_orders,
        "load_state_counts": load_state_counts,
        "load_watermark": load_watermark,
        "record_downloaded": record_downloaded,
        "record_watermark": record_watermark,
        "mark_acknowledging": mark_acknowledging,
        "mark_acknowledgement_sending": mark_acknowledgement_sending,
        "load_waiting_acknowledgements": load_waiting_acknowledgements,
        "release_acknowledging": release_acknowledging,
        "mark_acknowledged": mark_acknowledged,
        "mark_exporting": mark_exporting,
        "mark_exported": mark_exported,
        "mark_cancelled": mark_cancelled,
        "mark_held": mark_held,
        "upload_file": upload_file,
    }


def _quoting(call: Callable[..., Any]) -> Callable[..., Any]:
    """Pass collections to a task wrapped in `quote`: Prefect then skips walking every order and line for futures."""

    def quoted(*args: Any) -> Any:
        return call(*(quote(a) if isinstance(a, list | tuple | dict | set | frozenset) else a for a in args))

    return quoted


@dataclass(frozen=True)
class OrderRun:
    """One download-orders run of one account: what it reads and writes through, and when it started."""

    account: Account
    warehouses: tuple[Warehouse, ...]
    api: VendorApi
    ledger: Ledger
    open_drop: Callable[[Warehouse], AbstractContextManager[WarehouseDrop]]
    effects: Effects
    log: logging.Logger | logging.LoggerAdapter[Any]
    now: datetime  # when the run started: windows, acknowledgement dates and the file name are reckoned from it
    since: datetime | None = None
    until: datetime | None = None
    backfill_days: float | None = None  # take every order still NEW this far back, whatever the watermark
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC), repr=False)  # claim times


@dataclass(frozen=True)
class WarehouseRun:
    """The context every step of one warehouse's run receives.

    `fetched` keeps the orders read from Amazon during this run, ship-to included, in memory only (the ledger
    keeps no PII): export takes them from here instead of asking Amazon again.
    """

    run: OrderRun
    warehouse: Warehouse
    tag: str  # tells this run's request ids and file name apart from another run's in the same second
    fetched: dict[str, PurchaseOrder] = field(default_factory=dict)
    _requests: Iterator[int] = field(default_factory=lambda: itertools.count(1), repr=False)

    def new_request_id(self) -> str:
        """A new acknowledgement request id: one per request sent, never shared (a refused half gets its own)."""
        return new_request_id(self.run.clock(), self.tag, next(self._requests))

    @property
    def account_name(self) -> str:
        return self.run.account.name

    @property
    def ship_from(self) -> str:
        return self.warehouse.ship_from_party_id

    @property
    def options(self) -> OrderDownload:
        return self.run.account.orders

    @property
    def fx(self) -> Effects:
        return self.run.effects


# ------------------------------------------------------------------------------------------------ the flow


def _flow_run_name() -> str:
    params = flow_run.parameters
    account = params.get("account", "?")
    since, until = params.get("since"), params.get("until")
    scope = f"/{params['warehouse']}" if params.get("warehouse") else ""
    if since or until:
        return f"orders-{account}{scope}-rescan-{_short(since)}..{_short(until)}"
    backfill = f"-backfill-{params['backfill_days']:g}d" if params.get("backfill_days") else ""
    return f"orders-{account}{scope}{backfill}-{datetime.now(UTC):%Y-%m-%dT%H:%MZ}"


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
    backfill_days: float | None = None,
) -> list[dict[str, object]]:
    """Download new Amazon orders, acknowledge them, and drop them on the warehouse as one file per warehouse."""
    if backfill_days is not None and not 0 < backfill_days <= 180:
        raise ConfigError(
            f"backfill_days must be more than 0 and at most 180 (Amazon keeps 6 months), not {backfill_days}"
        )
    runtime = get_runtime(config)
    configured = runtime.settings.account(account)
    run = OrderRun(
        account=configured,
        warehouses=(configured.warehouse(warehouse),) if warehouse else tuple(configured.warehouses),
        api=runtime.vendor_api(configured),
        ledger=runtime.ledger,
        open_drop=runtime.drop,
        effects=Effects.prefect(),
        log=get_run_logger(),
        now=datetime.now(UTC),
        since=since,
        until=until,
        backfill_days=backfill_days,
    )
    reports = download_account(run)
    _publish(run, reports)
    for report in reports:  # one alert per warehouse and run (flows/alerts.py): a person must look at held orders
        if report.tally.held:
            announce(
                "order-held",
                account=configured.name,
                warehouse=report.warehouse,
                reason=f"held by this run; `vdf status --account {configured.name}` lists them with their reasons",
                count=len(report.tally.held),
            )
    raise_for_problems(configured.name, reports)
    return [report.as_row() for report in reports]


def download_account(run: OrderRun) -> list[WarehouseReport]:
    """Every warehouse of the run, one after the other, under the account's run lock (one run per account)."""
    with run.ledger.account_lock(run.account.name):
        reports = [download_warehouse(WarehouseRun(run, w, tag=uuid.uuid4().hex[:8])) for w in run.warehouses]
        counts = run.effects.load_state_counts(run.ledger, run.account.name)
    states = ", ".join(f"{state}={count}" for state, count in counts.items() if count)
    return [replace(report, ledger_states=states) for report in reports]


def raise_for_problems(account: str, reports: Sequence[WarehouseReport]) -> None:
    """Fail the run, naming every problem, when any warehouse had one: a person should look."""
    failed = [r for r in reports if r.tally.problems]
    if failed:
        details = "; ".join(f"{r.warehouse}: {' / '.join(r.tally.problems)}" for r in failed)
        problems = [f"{r.warehouse}: {p}" for r in failed for p in r.tally.problems]
        raise RunFailed(f"download-orders for account {account} had problems: {details}", problems)


def download_warehouse(ctx: WarehouseRun) -> WarehouseReport:
    """One warehouse, gather → decide → apply → report; an IntegrationError ends it as a problem, not the run."""
    ledger, account, ship_from = ctx.run.ledger, ctx.account_name, ctx.ship_from
    steps: list[Tally] = []
    window = "not planned"
    try:
        # gather: what an earlier run left in flight, how far orders are downloaded, when the last sweep was
        steps += recover_acknowledgements(ctx)
        watermark = ctx.fx.load_watermark(ledger, account, ship_from)
        last_sweep = ctx.fx.load_watermark(ledger, account, sweep_scope(ship_from))
        # decide
        plan = plan_download(
            now=ctx.run.now,
            watermark=watermark,
            last_sweep=last_sweep,
            options=ctx.options,
            since=ctx.run.since,
            until=ctx.run.until,
            backfill_days=ctx.run.backfill_days,
        )
        window = plan.label()
        ctx.fx.rename_run(f"orders-{account}/{ctx.warehouse.name}-{window}")
        if plan.windows.clamped:
            steps.append(
                Tally(problems=("the watermark is older than the 6 months Amazon keeps: older orders are not seen",))
            )
        # apply
        if plan.scan is not None:
            steps += scan_new_orders(ctx, plan.scan)
        steps += download_windows(ctx, plan.windows)
        leftovers = ctx.fx.load_orders(ledger, account, [OrderState.DOWNLOADED], ship_from)
        steps += acknowledge(ctx, leftovers)  # downloaded by an earlier run that never claimed them
        steps += export_orders(ctx)
    except IntegrationError as exc:  # one warehouse failing must not stop the others
        steps.append(Tally(problems=(f"{type(exc).__name__}: {exc}",)))
    # report
    waiting, waiting_text = _waiting(ctx)
    steps.append(waiting)
    return WarehouseReport(ctx.warehouse.name, ship_from, window, Tally.total(steps), waiting=waiting_text)


def sweep_scope(ship_from: str) -> str:
    """The ledger watermark scope that records when a warehouse's last scan for NEW orders ended."""
    return f"{ship_from}/sweep"


def _waiting(ctx: WarehouseRun) -> tuple[Tally, str]:
    """Say which acknowledgements still wait for an outcome; past the settle time each is a problem."""
    try:
        waiting = ctx.fx.load_waiting_acknowledgements(ctx.run.ledger, ctx.account_name, ctx.ship_from)
    except IntegrationError as exc:
        return Tally(problems=(f"could not read the acknowledgements still waiting: {type(exc).__name__}: {exc}",)), ""
    if not waiting:
        return Tally(), ""
    text = describe_waiting(waiting, now=ctx.run.clock())
    ctx.run.log.warning("warehouse %s: acknowledgements not settled yet: %s", ctx.warehouse.name, text)
    settle = timedelta(minutes=ctx.options.acknowledgement_settle_minutes)
    return Tally(problems=tuple(waiting_problems(waiting, now=ctx.run.now, settle=settle))), text


# ------------------------------------------------------------------------------------------------ download


def pages(
    ctx: WarehouseRun, window: TimeWindow, limit: int, status: AmazonOrderStatus | None = None
) -> Iterator[OrderPage]:
    """Every page of the warehouse's orders in a window, one fetch task per page; other warehouses' orders dropped."""

    def fetch(token: str | None) -> OrderPage:
        return ctx.fx.fetch_orders_page(ctx.run.api, window, ctx.ship_from, token, limit, status)

    for page in follow_pages(fetch, what=f"{window.label()} {ctx.ship_from}"):
        yield replace(page, orders=tuple(o for o in page.orders if o.ship_from_party_id == ctx.ship_from))


def record(ctx: WarehouseRun, orders: Sequence[PurchaseOrder]) -> Iterator[tuple[Tally, str, list[PurchaseOrder]]]:
    """Record downloaded orders, the new ones claimed at once for one acknowledgement request per batch.

    Yields each batch's tally, its request id and the orders claimed for it (to send).
    """
    for batch in batches(list(orders), ctx.options.acknowledgement_batch):
        request_id = ctx.new_request_id()
        outcome = ctx.fx.record_downloaded(ctx.run.ledger, ctx.account_name, batch, request_id)
        ctx.fetched.update((o.purchase_order_number, o) for o in batch)
        claimed = set(outcome.claimed)
        tally = Tally(downloaded=len(batch), new=len(claimed), cancelled=tuple(outcome.cancelled))
        yield tally, request_id, [o for o in batch if o.purchase_order_number in claimed]


def unreadable(page: OrderPage) -> tuple[str, ...]:
    """A problem per order of the page that could not be read (it is not in the ledger, so it is read again)."""
    return tuple(
        f"order {r.purchase_order_number or '(no number)'} could not be read ({r.reason}); retried every run"
        for r in page.rejected
    )


def download_windows(ctx: WarehouseRun, plan: WindowPlan) -> Iterator[Tally]:
    """Record each page, hand its new orders to the background to acknowledge, move the watermark per window.

    Yields a tally per page and per acknowledgement request as they finish, so a failure keeps what was done.
    """
    acknowledger = _Acknowledger(ctx)
    try:
        yield from _download(ctx, plan, acknowledger)
        yield from acknowledger.settle()
    except IntegrationError:
        yield from acknowledger.settle(quietly=True)  # the request in flight still counts; its own error is logged
        raise
    finally:
        acknowledger.abandon()  # a crash or an interrupt: never leave a request running past the step


def _download(ctx: WarehouseRun, plan: WindowPlan, acknowledger: _Acknowledger) -> Iterator[Tally]:
    rejected: list[str] = []
    for window in plan.windows:
        for page in pages(ctx, window, ctx.options.page_size):
            rejected.extend(unreadable(page))
            for tally, request_id, claimed in record(ctx, page.orders):
                yield tally
                if claimed:
                    yield from acknowledger.hand_over(request_id, claimed)
        # unreadable orders are not in the ledger: the watermark stays before them so each run retries them,
        # while later windows are still downloaded
        if plan.advances_watermark and not rejected:
            ctx.fx.record_watermark(ctx.run.ledger, ctx.account_name, ctx.ship_from, window.end)
    if rejected:
        yield Tally(problems=tuple(rejected))


def scan_new_orders(ctx: WarehouseRun, scan: NewOrderScan) -> Iterator[Tally]:
    """Take every order Amazon still shows NEW in the scan's windows that the ledger does not know.

    Every page is read before anything is acknowledged: an acknowledged order leaves the NEW filter, and the pages
    still to come must not shift under the nextToken. The end of the scan is recorded as the last sweep.
    """
    found: list[PurchaseOrder] = []
    rejected: list[str] = []
    for window in scan.windows:
        for page in pages(ctx, window, ctx.options.page_size, AmazonOrderStatus.NEW):
            found.extend(page.orders)
            rejected.extend(unreadable(page))
    taken: list[str] = []
    for tally, request_id, claimed in record(ctx, found):
        yield tally
        if claimed:
            taken += [o.purchase_order_number for o in claimed]
            yield from send_request(ctx, request_id, claimed)
    ctx.fx.record_watermark(ctx.run.ledger, ctx.account_name, sweep_scope(ctx.ship_from), ctx.run.now)
    if scan.kind == "backfill":
        ctx.run.log.info(
            "warehouse %s: backfill found %d order(s) Amazon still shows NEW over the last %g days that the ledger "
            "did not know (%d NEW in all)",
            ctx.warehouse.name,
            len(taken),
            scan.days,
            len(found),
        )
        yield Tally(
            backfilled=tuple(taken),
            notes=(
                f"backfill over {scan.days:g} days: {len(found)} order(s) still NEW, {len(taken)} new to the ledger",
            ),
        )
    elif taken:
        ctx.run.log.warning(
            "warehouse %s: the sweep caught %d order(s) the download windows had missed: %s",
            ctx.warehouse.name,
            len(taken),
            _first(taken),
        )
        yield Tally(caught=tuple(taken))
    if rejected:
        yield Tally(problems=tuple(rejected))


class _Acknowledger:
    """Hands claimed requests to the background, one in flight at a time and in order (see the module docstring)."""

    def __init__(self, ctx: WarehouseRun) -> None:
        self._ctx = ctx
        self._in_flight: Pending | None = None

    def hand_over(self, request_id: str, orders: Sequence[PurchaseOrder]) -> Iterator[Tally]:
        yield from self.settle()
        self._in_flight = self._ctx.fx.acknowledge_in_background(self._ctx, request_id, list(orders))

    def settle(self, *, quietly: bool = False) -> Iterator[Tally]:
        """Wait for the request in flight and yield its tally; quietly: log its error instead of raising it."""
        pending, self._in_flight = self._in_flight, None
        if pending is None:
            return
        try:
            yield pending.result()
        except IntegrationError as exc:
            if not quietly:
                raise
            self._ctx.run.log.error("acknowledgement request also failed: %s: %s", type(exc).__name__, exc)

    def abandon(self) -> None:
        pending, self._in_flight = self._in_flight, None
        if pending is not None:
            try:
                pending.result()
            except Exception as exc:  # noqa: BLE001 - the run is failing already; this one is only logged
                self._ctx.run.log.error("acknowledgement request also failed: %s: %s", type(exc).__name__, exc)


# ------------------------------------------------------------------------------------------------ acknowledge


def acknowledge(
    ctx: WarehouseRun, orders: Sequence[LedgerOrder | PurchaseOrder], *, from_request: str | None = None
) -> Iterator[Tally]:
    """Claim and send acknowledgement requests batch by batch (the claim first: the ledger knows what is in flight).

    With from_request, the orders are re-claimed from that earlier request (its resend, or a refused request's
    halves) rather than claimed afresh; each new request has its own id.
    """
    for batch in batches(list(orders), ctx.options.acknowledgement_batch):
        request_id = ctx.new_request_id()
        numbers = [o.purchase_order_number for o in batch]
        claimed = set(ctx.fx.mark_acknowledging(ctx.run.ledger, ctx.account_name, numbers, request_id, from_request))
        chosen = [o for o in batch if o.purchase_order_number in claimed]
        if chosen:
            yield from send_request(ctx, request_id, chosen)


def send_request(ctx: WarehouseRun, request_id: str, orders: Sequence[LedgerOrder | PurchaseOrder]) -> Iterator[Tally]:
    """Send one claimed acknowledgement request: mark it sending, send it, record its transaction id."""
    ledger, account = ctx.run.ledger, ctx.account_name
    sending = set(ctx.fx.mark_acknowledgement_sending(ledger, account, request_id))  # just before the request
    chosen = [o for o in orders if o.purchase_order_number in sending]
    if not chosen:  # another run sent it, or took it over
        return
    numbers = [o.purchase_order_number for o in chosen]
    when = ctx.run.now
    acks = [
        build_acknowledgement(o, vendor_order_number=vendor_order_number(o.purchase_order_number), when=when)
        for o in chosen
    ]
    try:
        transaction_id = ctx.fx.submit_acknowledgements(ctx.run.api, acks)
    except OutcomeUnknownError as exc:
        # it may have reached Amazon: the orders wait (reported at the end of the run) and a later run settles them
        yield Tally(
            notes=(f"acknowledgement request {request_id} ({len(chosen)} order(s)) has an unknown outcome: {exc}",)
        )
        return
    except RequestRefusedError as exc:
        halves = split_refused(chosen)  # nothing of it was applied: find the order Amazon refuses
        if halves is not None:
            for half in halves:
                yield from acknowledge(ctx, half, from_request=request_id)
            return
        yield from hold(ctx, numbers, f"Amazon refused its acknowledgement: {exc}")
        yield Tally(problems=(f"Amazon refused the acknowledgement of order {numbers[0]}: {exc}",))
        return
    except (PermanentError, TransientError):
        # provably not applied (refused credentials, retries spent on answers that applied nothing): give them back
        ctx.fx.release_acknowledging(ledger, account, numbers, request_id)
        raise
    ctx.fx.mark_acknowledged(ledger, account, numbers, transaction_id)
    yield Tally(acknowledged=tuple(numbers), transactions=(transaction_id,))


def send_claimed_request(ctx: WarehouseRun, request_id: str, orders: Sequence[PurchaseOrder]) -> Tally:
    """Send one claimed request (what the background task runs)."""
    return Tally.total(send_request(ctx, request_id, orders))


def hold(ctx: WarehouseRun, numbers: Sequence[str], reason: str) -> Iterator[Tally]:
    """Put orders aside for a person; an order cancelled meanwhile (nothing left to hold) is skipped."""
    held: list[str] = []
    for number in numbers:
        try:
            ctx.fx.mark_held(ctx.run.ledger, ctx.account_name, number, reason[:MAX_REASON])
        except DataError:
            continue
        held.append(number)
    if held:
        yield Tally(held=tuple(held))


def recover_acknowledgements(ctx: WarehouseRun) -> Iterator[Tally]:
    """Settle acknowledgements an earlier run left in flight: send what was never sent, trust Amazon's status."""
    ledger, account = ctx.run.ledger, ctx.account_name
    stuck = ctx.fx.load_orders(ledger, account, [OrderState.ACKNOWLEDGING], ctx.ship_from)
    if not stuck:
        return
    requests = ctx.fx.load_waiting_acknowledgements(ledger, account, ctx.ship_from)
    current = refetch(ctx, stuck)
    settle = timedelta(minutes=ctx.options.acknowledgement_settle_minutes)
    plan = plan_acknowledgement_recovery(
        stuck,
        {po: order.status for po, order in current.items()},
        {request.request_id: request for request in requests},
        now=ctx.run.now,
        settle=settle,
    )
    if plan.acknowledged:
        ctx.fx.mark_acknowledged(ledger, account, plan.acknowledged, None)
        yield Tally(acknowledged=plan.acknowledged)
    if plan.cancelled:
        yield Tally(cancelled=tuple(ctx.fx.mark_cancelled(ledger, account, plan.cancelled)))
    yield from hold(ctx, plan.gone, "Amazon no longer returns this order (404) while its acknowledgement was in flight")
    for request_id, group in plan.send_now:  # claimed, never sent: send it now, under its own id
        yield from send_request(ctx, request_id, group)
    for old_request, group in plan.resend:
        numbers = [o.purchase_order_number for o in group]
        yield Tally(
            problems=(
                f"acknowledgement request {old_request} may have reached Amazon, but its {len(group)} order(s) were "
                f"still NEW after the settle time ({settle.total_seconds() / 60:g} min), so they were sent again: "
                f"{_first(numbers)}; if both requests arrived, Amazon fails one (see poll-transactions)",
            )
        )
        yield from acknowledge(ctx, group, from_request=old_request)


def refetch(ctx: WarehouseRun, orders: Sequence[LedgerOrder]) -> dict[str, PurchaseOrder]:
    """Fetch known orders again, with their current status and ship-to (the ledger keeps no PII).

    The ledger keeps their creation times, so getOrders pages over those times (100 orders a request)
    replace one getOrder per order; an order the pages do not return is asked for by number.
    """
    wanted = {o.purchase_order_number for o in orders}
    found: dict[str, PurchaseOrder] = {}
    for window in plan_refetch_windows([o.order_date for o in orders], until=ctx.run.clock()):
        for page in pages(ctx, window, 100):
            found.update((o.purchase_order_number, o) for o in page.orders if o.purchase_order_number in wanted)
    missing = sorted(wanted - set(found))
    if missing:
        found.update(ctx.fx.fetch_orders_by_number(ctx.run.api, missing))
    ctx.fetched.update(found)
    return found


# ------------------------------------------------------------------------------------------------ export


def export_orders(ctx: WarehouseRun) -> Iterator[Tally]:
    """Finish the files a crashed run claimed, then claim, upload and record this run's file."""
    with ctx.run.open_drop(ctx.warehouse) as drop:
        removed = drop.remove_stale_parts("orders")  # a killed upload's partial file holds addresses: not kept
        if removed:
            yield Tally(notes=(f"removed {len(removed)} partial upload(s) left by an interrupted run",))
        yield from _finish_interrupted_exports(ctx, drop)
        yield from _export_acknowledged(ctx, drop)
        done = DocumentsRun()
        ctx.fx.after_export(
            ctx.run.api, ctx.run.ledger, drop, ctx.run.account, ctx.warehouse, done, now=ctx.run.now, run_tag=ctx.tag
        )
        yield _documents_tally(done)


def _current(ctx: WarehouseRun, known: Sequence[LedgerOrder]) -> dict[str, PurchaseOrder]:
    """The orders as Amazon shows them now: this run's pages, else fetched again."""
    missing = [o for o in known if o.purchase_order_number not in ctx.fetched]
    if missing:
        refetch(ctx, missing)
    return {
        o.purchase_order_number: ctx.fetched[o.purchase_order_number]
        for o in known
        if o.purchase_order_number in ctx.fetched
    }


GONE_BEFORE_EXPORT = (
    "Amazon no longer returns this order (404); it was not exported by this run "
    "(if it was being exported when a run crashed, check the warehouse's order files)"
)


def _finish_interrupted_exports(ctx: WarehouseRun, drop: WarehouseDrop) -> Iterator[Tally]:
    """Re-upload files a crashed run had claimed: same name and same orders, so the upload replaces."""
    ledger = ctx.run.ledger
    exporting = ctx.fx.load_orders(ledger, ctx.account_name, [OrderState.EXPORTING], ctx.ship_from)
    for file_name, group in group_by_export_file(exporting):
        if not drop.exists("orders", file_name):  # else the crash came after the upload: it must not be sent twice
            current = _current(ctx, group)
            yield from hold(
                ctx,
                [o.purchase_order_number for o in group if o.purchase_order_number not in current],
                GONE_BEFORE_EXPORT,
            )
            if current:
                columns = ctx.fx.document_columns_for(ledger, ctx.run.account, ctx.warehouse, list(current))
                ctx.fx.upload_file(
                    drop, "orders", file_name, build_orders_file(list(current.values()), ctx.warehouse.files, columns)
                )
        yield Tally(exported=tuple(ctx.fx.mark_exported(ledger, ctx.account_name, file_name)), files=(file_name,))


def _export_acknowledged(ctx: WarehouseRun, drop: WarehouseDrop) -> Iterator[Tally]:
    ledger = ctx.run.ledger
    ready = ctx.fx.load_orders(ledger, ctx.account_name, [OrderState.ACKNOWLEDGED], ctx.ship_from)
    if not ready:
        return
    current = _current(ctx, ready)
    plan = plan_export(ready, current)
    yield from hold(ctx, plan.gone, GONE_BEFORE_EXPORT)
    if plan.cancel:
        yield Tally(cancelled=tuple(ctx.fx.mark_cancelled(ledger, ctx.account_name, plan.cancel)))
    if not plan.export:
        return
    done = DocumentsRun()  # labels and packing slips go to the warehouse before (or with) the orders file
    documents = ctx.fx.prepare_documents(
        ctx.run.api,
        ledger,
        drop,
        ctx.run.account,
        ctx.warehouse,
        {po: current[po] for po in plan.export},
        done,
        now=ctx.run.now,
    )
    yield _documents_tally(done)
    if not documents.ready:
        return
    file_name = orders_file_name(ctx.account_name, ctx.warehouse.name, ctx.run.now, ctx.tag)
    claimed = set(ctx.fx.mark_exporting(ledger, ctx.account_name, documents.ready, file_name))
    if not claimed:
        return
    rows = [current[po] for po in documents.ready if po in claimed]
    ctx.fx.upload_file(drop, "orders", file_name, build_orders_file(rows, ctx.warehouse.files, documents.columns))
    yield Tally(exported=tuple(ctx.fx.mark_exported(ledger, ctx.account_name, file_name)), files=(file_name,))


# ------------------------------------------------------------------------------------------------ Prefect plumbing


def _in_a_thread(ctx: WarehouseRun, request_id: str, orders: Sequence[PurchaseOrder]) -> Pending:
    """Send one claimed request on a thread of its own, in the flow run's context (its tasks are the run's)."""
    done: Future[Tally] = Future()
    context = contextvars.copy_context()

    def send() -> None:
        try:
            done.set_result(context.run(send_claimed_request, ctx, request_id, orders))
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits for the request, as a future would
            done.set_exception(exc)

    threading.Thread(target=send, name=f"acknowledge-{request_id}", daemon=True).start()
    return done


def _acknowledge_now(ctx: WarehouseRun, request_id: str, orders: Sequence[PurchaseOrder]) -> Pending:
    done: Future[Tally] = Future()
    try:
        done.set_result(send_claimed_request(ctx, request_id, orders))
    except Exception as exc:  # noqa: BLE001 - handed back through the future, as the thread's would be
        done.set_exception(exc)
    return done


def _rename_flow_run(name: str) -> None:
    """Put the window in the flow-run name once the watermark has decided it (identifiers only, no PII)."""
    from prefect.client.orchestration import get_client

    run_id = flow_run.get_id()
    if run_id is None:
        return
    try:
        with get_client(sync_client=True) as client:
            client.update_flow_run(UUID(run_id), name=name)
    except Exception as exc:  # noqa: BLE001 - a cosmetic step: the run goes on without its new name
        get_run_logger().warning("could not rename the flow run: %s", type(exc).__name__)


def _publish(run: OrderRun, reports: Sequence[WarehouseReport]) -> None:
    """One keyed table artifact per run and one log line per warehouse."""
    rows = [report.as_row() for report in reports]
    create_table_artifact(
        key=f"download-orders-{slug(run.account.name, empty='account')}",
        table=rows,
        description=f"download-orders for account {run.account.name}: counts, windows, files and Amazon transactions",
    )
    for row in rows:
        run.log.info(
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


def _first(numbers: Sequence[str], limit: int = 10) -> str:
    return ", ".join(numbers[:limit]) + (" …" if len(numbers) > limit else "")


__all__ = ["Effects", "OrderRun", "WarehouseRun", "download_account", "download_orders", "raise_for_problems"]
