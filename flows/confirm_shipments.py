"""Flow confirm-shipments: warehouse shipment files → one shipment confirmation per order → Amazon."""

from __future__ import annotations

import contextvars
import hashlib
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.runtime import flow_run
from prefect.utilities.annotations import quote  # large arguments: Prefect would walk every line for futures

from flows.runtime import Runtime, get_runtime
from tasks.amazon import fetch_orders_by_number, submit_shipment_confirmations
from tasks.core.config import Account, Warehouse
from tasks.core.errors import (
    DataError,
    IntegrationError,
    OutcomeUnknownError,
    PermanentError,
    RequestRefusedError,
    TransientError,
)
from tasks.core.labels import shipment_document_problem
from tasks.core.models import FileOutcome, InboundFile, LedgerOrder, OrderState, ShipmentConfirmation
from tasks.core.orders import batches
from tasks.core.ports import Ledger, RemoteFile, VendorApi, WarehouseDrop
from tasks.core.shipments import (
    CONFIRMABLE,
    PendingOrder,
    build_confirmations,
    error_report,
    error_report_csv,
    lines_frame,
    new_batch_id,
    plan_confirmation_recovery,
    plan_shipments,
    reconcile,
    rejected_orders,
    to_shipment_lines,
)
from tasks.core.validation import validate_shipments
from tasks.documents import load_cancellation_notices, load_labels
from tasks.ledger import (
    load_files,
    load_orders,
    load_orders_by_number,
    load_shipment_lines,
    mark_confirmation_sent,
    mark_confirmed,
    mark_confirming,
    mark_file,
    mark_shipment_held,
    record_file_received,
    record_shipment_lines,
    release_confirming,
)
from tasks.warehouse import archive_file, download_file, list_new_files, quarantine_file

R = TypeVar("R")
SHOWN = 200  # orders listed one by one per category in the artifact; the rest are counted
FILE_KIND: Literal["shipments"] = "shipments"


@dataclass
class FileReport:
    """Where one shipment file ended and why."""

    name: str
    outcome: str  # archived | quarantined | archived again (already processed) | left in place (error)
    rows: int = 0
    lines_kept: int = 0
    problems: int = 0
    detail: str = ""


@dataclass
class WarehouseReport:
    """What one run did for one warehouse: identifiers, counts and reasons, never PII."""

    warehouse: str
    ship_from_party_id: str
    files: list[FileReport] = field(default_factory=list)
    confirmed: list[str] = field(default_factory=list)  # sent in this run, SHIPPED
    floor_denials: list[str] = field(default_factory=list)  # sent in this run, FLOOR_DENIAL
    recovered: list[str] = field(default_factory=list)  # in flight after a crash; Amazon shows them applied
    pending: list[PendingOrder] = field(default_factory=list)
    held: dict[str, str] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)
    transactions: list[tuple[str, int]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # each fails the run: a person should look
    notes: list[str] = field(default_factory=list)
    failure: IntegrationError | None = None  # what stopped this warehouse early, if anything


@dataclass
class ShipmentRun:
    """One run for one warehouse: its adapters, settings, clock and report.

    `plain` calls each task's function directly instead of through Prefect (unit tests through fakes).
    """

    runtime: Runtime
    account: Account
    warehouse: Warehouse
    now: datetime
    report: WarehouseReport
    run_tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    plain: bool = False
    # orders this run read from the ledger, by number; their states only change later, through claims
    orders: dict[str, LedgerOrder] = field(default_factory=dict)

    @property
    def ledger(self) -> Ledger:
        return self.runtime.ledger

    @property
    def api(self) -> VendorApi:
        return self.runtime.vendor_api(self.account)

    def step(self, task: Callable[..., R], *args: Any) -> R:
        """Run one side-effect task: a Prefect task run, or its plain function when `plain`."""
        if not self.plain:
            return task(*args)
        function: Callable[..., R] = getattr(task, "fn", task)
        return function(*(arg.unquote() if isinstance(arg, quote) else arg for arg in args))


def _flow_run_name() -> str:
    params = flow_run.parameters
    scope = params.get("warehouse") or "all"
    return f"shipments-{params.get('account', '?')}/{scope}-{datetime.now(UTC):%Y-%m-%dT%H:%MZ}"


@flow(name="confirm-shipments", flow_run_name=_flow_run_name)
def confirm_shipments(
    account: str, warehouse: str | None = None, config: str | None = None
) -> list[dict[str, object]]:
    """Confirm to Amazon every order the warehouse's shipment files show shipped, one confirmation per order."""
    runtime = get_runtime(config)
    acct = runtime.settings.account(account)
    targets = [acct.warehouse(warehouse)] if warehouse else list(acct.warehouses)
    now = datetime.now(UTC)
    reports = [
        confirm_warehouse(
            ShipmentRun(runtime, acct, target, now, WarehouseReport(target.name, target.ship_from_party_id))
        )
        for target in targets
    ]
    _publish_report(acct.name, reports)
    failed = [r for r in reports if r.problems]
    if failed:
        raise _verdict(acct.name, failed)
    return [_summary(r) for r in reports]


def confirm_warehouse(run: ShipmentRun) -> WarehouseReport:
    """One warehouse: settle confirmations a crash left in flight, take in new shipment files, confirm what is
    complete, hold what is overdue. Problems are recorded in the report (one warehouse failing spares the others).
    """
    report = run.report
    try:
        with _warehouse_lock(run):
            _recover_confirmations(run)
            with run.runtime.drop(run.warehouse) as drop:
                known = {(f.name, f.checksum): f for f in run.step(load_files, run.ledger, run.account.name,
                                                                    run.warehouse.name)}
                patterns = run.warehouse.files.shipment_patterns
                for remote in run.step(list_new_files, drop, FILE_KIND, patterns):
                    _take_file(run, drop, remote, known)
            _confirm_ready(run)
    except IntegrationError as exc:
        report.failure = exc
        report.problems.append(f"{type(exc).__name__}: {exc}")
    return report


@contextmanager
def _warehouse_lock(run: ShipmentRun) -> Iterator[None]:
    """One confirm-shipments run per warehouse at a time, across workers (the ledger's claims guard orders too)."""
    with run.ledger.account_lock(f"{run.account.name}/shipments/{run.warehouse.name}"):
        yield


# ---------------------------------------------------------------------------------------------- files


def _take_file(
    run: ShipmentRun, drop: WarehouseDrop, remote: RemoteFile, known: dict[tuple[str, str], InboundFile]
) -> None:
    """Record, validate and reconcile one shipment file, keep its good lines, then archive or quarantine it."""
    report = run.report
    name = remote.name
    try:
        data = run.step(download_file, drop, FILE_KIND, name)
        checksum = hashlib.sha256(data).hexdigest()
        first = run.step(record_file_received, run.ledger, run.account.name, run.warehouse.name, FILE_KIND, name,
                         checksum)
        prior = known.get((name, checksum))
        if not first and prior is not None and prior.outcome is FileOutcome.ARCHIVED:
            # the same file dropped again (or a crash after it was marked): nothing in it is taken twice
            _move(run, drop, name, None, None)
            report.files.append(FileReport(name, "archived again (already processed)", detail=prior.detail or ""))
            report.notes.append(f"file {name} was already processed (same name and checksum): archived again")
            return
        _process_file(run, drop, name, data, checksum)
    except IntegrationError as exc:  # one file failing must not stop the others; it stays for the next run
        report.files.append(FileReport(name, "left in place", detail=f"{type(exc).__name__}: {exc}"))
        report.problems.append(f"file {name} could not be processed and stays for the next run: {exc}")
        if isinstance(exc, TransientError) and report.failure is None:
            report.failure = exc


def _process_file(run: ShipmentRun, drop: WarehouseDrop, name: str, data: bytes, checksum: str) -> None:
    report = run.report
    options = run.warehouse.shipments
    result = validate_shipments(
        data, run.warehouse.files, file_name=name, now=run.now, not_shipped=options.could_not_ship
    )
    reconciliation = None
    kept = 0
    if result.readable and result.valid.height:
        numbers = result.valid["purchase_order_number"].unique().sort().to_list()
        orders = run.step(load_orders_by_number, run.ledger, run.account.name, quote(numbers))
        run.orders.update((o.purchase_order_number, o) for o in orders)
        earlier = run.step(load_shipment_lines, run.ledger, run.account.name, None, None, quote(numbers))
        reconciliation = reconcile(
            result.valid,
            orders,
            earlier,
            file=name,
            checksum=checksum,
            ship_from_party_id=run.warehouse.ship_from_party_id,
            could_not_ship=options.could_not_ship,
        )
        lines = to_shipment_lines(reconciliation.accepted)
        if lines:
            kept = run.step(record_shipment_lines, run.ledger, run.account.name, run.warehouse.name, quote(lines))
    errors = error_report(result, reconciliation)
    for number, reason in rejected_orders(result, reconciliation).items():
        report.rejected.setdefault(number, f"{name}: {reason}")
    summary = f"{result.rows} rows, {kept} line(s) kept, {errors.height} problem(s)"
    if errors.is_empty():
        run.step(mark_file, run.ledger, run.account.name, run.warehouse.name, name, checksum, FileOutcome.ARCHIVED,
                 summary)
        _move(run, drop, name, None, None)
        report.files.append(FileReport(name, "archived", result.rows, kept, 0, summary))
        return
    report_name = f"{name}.errors.csv"
    detail = f"{summary}; report {report_name}" if result.readable else f"unreadable; report {report_name}"
    run.step(mark_file, run.ledger, run.account.name, run.warehouse.name, name, checksum, FileOutcome.QUARANTINED,
             detail[:1000])
    _move(run, drop, name, report_name, error_report_csv(name, errors))
    report.files.append(FileReport(name, "quarantined", result.rows, kept, errors.height, detail))
    first = errors.head(1).row(0, named=True)
    where = f"line {first['row']}" if first["row"] is not None else "the file"
    report.problems.append(
        f"file {name} quarantined with {errors.height} problem(s) (report error/{report_name}); "
        f"first: {where}: {first['reason']}"
    )


def _move(run: ShipmentRun, drop: WarehouseDrop, name: str, report_name: str | None, report: bytes | None) -> None:
    """Archive (no report) or quarantine the file; a file already gone was moved by an attempt whose answer was lost."""
    try:
        if report_name is None or report is None:
            run.step(archive_file, drop, FILE_KIND, name)
        else:
            run.step(quarantine_file, drop, FILE_KIND, name, report_name, report)
    except PermanentError:
        if drop.exists(FILE_KIND, name):
            raise
        run.report.notes.append(f"file {name} was already moved out of the shipments folder")


# ---------------------------------------------------------------------------------------------- confirm


def _confirm_ready(run: ShipmentRun) -> None:
    """From the ledger: confirm the orders whose lines are all in, hold the partial ones past their deadline."""
    report = run.report
    scope = run.warehouse.ship_from_party_id
    lines = run.step(load_shipment_lines, run.ledger, run.account.name, scope, CONFIRMABLE, None)
    if not lines:
        return
    numbers = sorted({line.purchase_order_number for line in lines})
    missing = [number for number in numbers if number not in run.orders]
    if missing:  # orders with lines from earlier runs only
        loaded = run.step(load_orders_by_number, run.ledger, run.account.name, quote(missing))
        run.orders.update((o.purchase_order_number, o) for o in loaded)
    orders = [run.orders[n] for n in numbers if n in run.orders and run.orders[n].state in CONFIRMABLE]
    grace = timedelta(hours=run.warehouse.shipments.pending_grace_hours)
    plan = plan_shipments(orders, lines_frame(lines), now=run.now, grace=grace)
    report.pending = list(plan.pending)
    if plan.overdue:
        held = run.step(mark_shipment_held, run.ledger, run.account.name, plan.overdue)
        for number in held:
            report.held[number] = plan.overdue[number]
        if held:
            report.problems.append(f"{len(held)} partly shipped order(s) held past their deadline, e.g. {held[0]}")
    ready = {number: plan.confirmations[number] for number in plan.ready if number in plan.confirmations}
    blocked = _document_problems(run, ready)
    if blocked:
        _hold(run, blocked)
        first = next(iter(blocked))
        report.problems.append(f"{len(blocked)} order(s) held before confirmation, e.g. {first}: {blocked[first]}")
    _send_batches(run, [confirmation for number, confirmation in ready.items() if number not in blocked])


def _document_problems(run: ShipmentRun, ready: dict[str, ShipmentConfirmation]) -> dict[str, str]:
    """Orders that must not be confirmed: cancelled by Amazon after export, or shipped on tracking numbers that
    are not on the Amazon label issued for them (Amazon refuses such a confirmation)."""
    if not ready:
        return {}
    scope = run.warehouse.ship_from_party_id
    notices = {
        notice.purchase_order_number: notice
        for notice in run.step(load_cancellation_notices, run.ledger, run.account.name, scope)
        if notice.purchase_order_number in ready
    }
    labels = {}
    if run.warehouse.labels.labels == "amazon":
        found = run.step(load_labels, run.ledger, run.account.name, list(ready))
        labels = {label.purchase_order_number: label for label in found}
    problems = {}
    for number, confirmation in ready.items():
        tracking = [package.tracking_number for package in confirmation.packages if package.tracking_number]
        reason = shipment_document_problem(number, tracking, labels.get(number), notices.get(number))
        if reason is not None:
            problems[number] = reason
    return problems


Sent = tuple[str, list[ShipmentConfirmation]]  # a transaction id and the confirmations it carried


def _send_batches(
    run: ShipmentRun, confirmations: Sequence[ShipmentConfirmation], *, from_batch: str | None = None
) -> None:
    """Claim, send and record the confirmations batch by batch: each batch is claimed in the ledger before its
    request (intent) and its transaction id recorded after it.

    Amazon's pacing (10 requests/s) sets the pace, so the ledger work runs beside it on two helper threads: the
    next batch is claimed, and the last answer recorded, while this batch's request is on its way.
    """
    groups = batches(list(confirmations), run.warehouse.shipments.batch_size)
    if not groups:
        return
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="confirm-shipments")

    def later(function: Callable[..., R], *args: Any) -> Future[R]:
        return pool.submit(contextvars.copy_context().run, function, *args)

    claim: Future[tuple[str, list[ShipmentConfirmation]]] | None = later(_claim, run, groups[0], from_batch)
    recording: Future[None] | None = None
    recorded: list[Sent] = []
    try:
        for index in range(len(groups)):
            assert claim is not None
            batch_id, chosen = claim.result()
            claim = later(_claim, run, groups[index + 1], from_batch) if index + 1 < len(groups) else None
            sent = _send(run, chosen, batch_id) if chosen else []
            if recording is not None:
                recording.result()
                _note_sent(run.report, recorded)
            recorded, recording = sent, (later(_record_sent, run, batch_id, sent) if sent else None)
        if recording is not None:
            recording.result()
            _note_sent(run.report, recorded)
    except Exception:
        # what stops the run (Amazon unreachable, the ledger down) gives back the batch claimed ahead and keeps
        # the answer already received; a killed process does neither, and the next run settles both
        _unwind(run, claim, recording, recorded)
        raise
    finally:
        pool.shutdown(wait=True)


def _claim(
    run: ShipmentRun, group: Sequence[ShipmentConfirmation], from_batch: str | None
) -> tuple[str, list[ShipmentConfirmation]]:
    batch_id = new_batch_id(datetime.now(UTC), run.run_tag)
    numbers = [c.purchase_order_number for c in group]
    claimed = set(run.step(mark_confirming, run.ledger, run.account.name, quote(numbers), batch_id, from_batch))
    return batch_id, [c for c in group if c.purchase_order_number in claimed]


def _record_sent(run: ShipmentRun, batch_id: str, sent: Sequence[Sent]) -> None:
    for transaction_id, carried in sent:
        numbers = [c.purchase_order_number for c in carried]
        run.step(mark_confirmation_sent, run.ledger, run.account.name, quote(numbers), batch_id, transaction_id)


def _note_sent(report: WarehouseReport, sent: Sequence[Sent]) -> None:
    for transaction_id, carried in sent:
        for confirmation in carried:
            target = report.floor_denials if confirmation.confirmation_type == "FloorDenial" else report.confirmed
            target.append(confirmation.purchase_order_number)
        report.transactions.append((transaction_id, len(carried)))


def _unwind(
    run: ShipmentRun,
    claim: Future[tuple[str, list[ShipmentConfirmation]]] | None,
    recording: Future[None] | None,
    recorded: list[Sent],
) -> None:
    try:
        if claim is not None:
            batch_id, chosen = claim.result()
            if chosen:
                numbers = [c.purchase_order_number for c in chosen]
                run.step(release_confirming, run.ledger, run.account.name, quote(numbers), batch_id)
        if recording is not None:
            recording.result()
            _note_sent(run.report, recorded)
    except Exception as exc:  # noqa: BLE001 - the first error is the one raised; this one is only reported
        run.report.problems.append(f"while stopping: {type(exc).__name__}: {exc}")


def _send(run: ShipmentRun, chosen: Sequence[ShipmentConfirmation], batch_id: str) -> list[Sent]:
    """Send one claimed batch; returns what Amazon took (a refused request is split to find the bad order)."""
    report = run.report
    numbers = [c.purchase_order_number for c in chosen]
    try:
        transaction_id = run.step(submit_shipment_confirmations, run.api, quote(list(chosen)))
    except OutcomeUnknownError as exc:
        # it may have reached Amazon: the orders stay confirming and a later run settles them against Amazon
        report.problems.append(
            f"shipment confirmation of {len(chosen)} order(s) has an unknown outcome (e.g. {numbers[0]}); "
            f"a later run settles it against Amazon: {exc}"
        )
        return []
    except RequestRefusedError as exc:
        if len(chosen) > 1:
            half = len(chosen) // 2  # find the order Amazon refuses; the others go through
            return _send(run, chosen[:half], batch_id) + _send(run, chosen[half:], batch_id)
        _hold(run, {numbers[0]: f"Amazon refused its shipment confirmation as invalid: {exc}"})
        report.problems.append(f"Amazon refused the shipment confirmation of order {numbers[0]}: {exc}")
        return []
    except DataError as exc:
        # our adapter could not write one confirmation in Amazon's format: nothing was sent
        if exc.subject not in numbers:
            run.step(release_confirming, run.ledger, run.account.name, quote(numbers), batch_id)
            raise
        _hold(run, {exc.subject: f"its shipment confirmation cannot be written for Amazon: {exc.message}"})
        report.problems.append(f"order {exc.subject} cannot be confirmed: {exc}")
        rest = [c for c in chosen if c.purchase_order_number != exc.subject]
        return _send(run, rest, batch_id) if rest else []
    except (PermanentError, TransientError):
        # credentials, or retries spent on answers that prove nothing was applied: give the orders back
        run.step(release_confirming, run.ledger, run.account.name, quote(numbers), batch_id)
        raise
    return [(transaction_id, list(chosen))]


def _hold(run: ShipmentRun, reasons: dict[str, str]) -> None:
    held = run.step(mark_shipment_held, run.ledger, run.account.name, reasons)
    for number in held:
        run.report.held[number] = reasons[number]


# ---------------------------------------------------------------------------------------------- recovery


def _recover_confirmations(run: ShipmentRun) -> None:
    """Settle confirmations a crash (or an unknown outcome) left without a transaction id, from Amazon's view."""
    report = run.report
    scope = run.warehouse.ship_from_party_id
    stuck = [
        o for o in run.step(load_orders, run.ledger, run.account.name, [OrderState.CONFIRMING], scope)
        if o.ship_transaction_id is None
    ]
    if not stuck:
        return
    numbers = [o.purchase_order_number for o in stuck]
    current = run.step(fetch_orders_by_number, run.api, quote(numbers))
    lines = run.step(load_shipment_lines, run.ledger, run.account.name, None, None, quote(numbers))
    denials = {line.purchase_order_number for line in lines if not line.shipped}
    settle = timedelta(minutes=run.warehouse.shipments.confirmation_settle_minutes)
    plan = plan_confirmation_recovery(
        stuck, {po: order.status for po, order in current.items()}, denials, now=run.now, settle=settle
    )
    if plan.confirmed:
        report.recovered.extend(run.step(mark_confirmed, run.ledger, run.account.name, quote(list(plan.confirmed))))
    if plan.held:
        _hold(run, dict(plan.held))
        example = next(iter(plan.held))
        report.problems.append(f"{len(plan.held)} order(s) in flight after a crash need a person, e.g. {example}")
    if plan.waiting:
        report.notes.append(
            f"{len(plan.waiting)} confirmation(s) in flight after a crash wait for Amazon to process them "
            f"(up to {settle.total_seconds() / 60:.0f} minutes) before they are settled or sent again"
        )
    again = set(plan.resend)
    by_batch: dict[str | None, list[LedgerOrder]] = {}
    for order in stuck:
        if order.purchase_order_number in again:
            by_batch.setdefault(order.ship_batch, []).append(order)
    for old_batch, group in by_batch.items():
        confirmations = build_confirmations(group, lines)
        # re-claimed under a fresh batch id, so a crash during this resend is settled from its own time
        _send_batches(run, [confirmations[o.purchase_order_number] for o in group], from_batch=old_batch)


# ---------------------------------------------------------------------------------------------- report


def _verdict(account: str, failed: Sequence[WarehouseReport]) -> IntegrationError:
    """The run's error: what stopped a warehouse (e.g. Amazon unreachable), else a DataError for a person."""
    details = "; ".join(f"{r.warehouse}: {' / '.join(r.problems[:5])}" for r in failed)
    message = f"confirm-shipments for account {account} needs attention: {details}"
    stopped = [r.failure for r in failed if r.failure is not None]
    kind = type(stopped[0]) if stopped else DataError
    return kind(message[:4000])


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-") or "account"


def _summary(report: WarehouseReport) -> dict[str, object]:
    return {
        "warehouse": report.warehouse,
        "ship_from": report.ship_from_party_id,
        "files": len(report.files),
        "confirmed": len(report.confirmed),
        "floor_denials": len(report.floor_denials),
        "recovered": len(report.recovered),
        "pending": len(report.pending),
        "held": len(report.held),
        "rejected": len(report.rejected),
        "transactions": len(report.transactions),
        "problems": " / ".join(report.problems),
    }


def _rows(report: WarehouseReport) -> list[dict[str, object]]:
    """The artifact's rows for one warehouse: files, orders by outcome (with reasons), transactions."""
    rows: list[dict[str, object]] = []

    def add(kind: str, subject: str, outcome: str, detail: str = "") -> None:
        rows.append({"warehouse": report.warehouse, "kind": kind, "subject": subject, "outcome": outcome,
                     "detail": detail})

    add("summary", report.ship_from_party_id, "problems" if report.problems else "ok",
        ", ".join(f"{k}={v}" for k, v in _summary(report).items() if k not in ("warehouse", "ship_from", "problems")))
    for file in report.files:
        add("file", file.name, file.outcome, file.detail)
    for transaction_id, count in report.transactions:
        add("transaction", transaction_id, "submitted", f"{count} confirmation(s)")
    listed: list[tuple[str, Sequence[tuple[str, str]]]] = [
        ("held", sorted(report.held.items())),
        ("rejected", sorted(report.rejected.items())),
        ("pending", [(p.purchase_order_number, f"{p.progress()}; held after {p.deadline:%Y-%m-%d %H:%M} UTC")
                     for p in report.pending]),
        ("floor_denial", [(n, "confirmed as could not ship") for n in report.floor_denials]),
        ("recovered", [(n, "confirmation in flight at a crash; Amazon shows it applied") for n in report.recovered]),
    ]
    for outcome, entries in listed:
        for number, detail in entries[:SHOWN]:
            add("order", number, outcome, detail)
        if len(entries) > SHOWN:
            add("order", f"… {len(entries) - SHOWN} more", outcome)
    if report.confirmed:
        shown = ", ".join(report.confirmed[:10]) + (" …" if len(report.confirmed) > 10 else "")
        add("order", f"{len(report.confirmed)} order(s)", "confirmed", shown)
    for problem in report.problems:
        add("problem", "", "needs a person", problem)
    for note in report.notes:
        add("note", "", "", note)
    return rows


def _publish_report(account: str, reports: Sequence[WarehouseReport]) -> None:
    rows = [row for report in reports for row in _rows(report)]
    create_table_artifact(
        key=f"confirm-shipments-{_slug(account)}",
        table=rows,
        description=f"confirm-shipments for account {account}: files, orders confirmed, pending, held and "
        "rejected (with reasons), Amazon transactions",
    )
    logger = get_run_logger()
    for report in reports:
        logger.info(
            "warehouse %s: %d file(s), %d confirmed, %d floor denial(s), %d pending, %d held, %d rejected",
            report.warehouse,
            len(report.files),
            len(report.confirmed),
            len(report.floor_denials),
            len(report.pending),
            len(report.held),
            len(report.rejected),
        )


__all__ = ["ShipmentRun", "WarehouseReport", "confirm_shipments", "confirm_warehouse"]
