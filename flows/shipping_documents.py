"""Flow steps for what the warehouse needs to ship an Amazon order: labels, packing slips, cancellation notices.

download-orders calls three of them: `prepare_documents` before it exports orders (labels and packing slips
dropped first, orders that lack them wait), `document_columns_for` when it rebuilds a crashed export's file,
and `after_export` once per warehouse and run (labels for weighed packages, cancellations of exported orders).
Each reads gather -> decide -> apply; every Amazon, ledger and drop operation is a task of tasks/documents.py.
"""

from __future__ import annotations

import contextvars
import csv
import hashlib
import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

from prefect import get_run_logger
from prefect.utilities.annotations import quote

from tasks.core.config import Account, LabelOptions, Warehouse
from tasks.core.errors import ConfigError, DataError
from tasks.core.label_files import (
    ManifestRow,
    build_cancellations_file,
    build_labels_manifest,
    to_packages,
    to_profile,
)
from tasks.core.labels import (
    LabelOutcome,
    OrderDocuments,
    ProfileEntry,
    build_label_request,
    cancellations_file_name,
    document_columns,
    fetch_one_by_one,
    label_file_name,
    label_request_from_packages,
    labels_manifest_name,
    listing_windows,
    packing_slip_file_name,
    plan_cancellation_windows,
    plan_documents,
    plan_readiness,
)
from tasks.core.models import (
    AmazonOrderStatus,
    CancellationNotice,
    FileOutcome,
    LabelRecord,
    LabelRequest,
    LabelState,
    LedgerOrder,
    OrderState,
    PackingSlip,
    PackingSlipState,
    PurchaseOrder,
    ShippingLabel,
)
from tasks.core.orders import batches
from tasks.core.ports import Folder, Ledger, VendorApi, WarehouseDrop
from tasks.core.validation import validate_package_profile, validate_packages
from tasks.documents import (
    archive_file,
    claim_cancellation_notices,
    claim_labels,
    create_shipping_labels,
    download_file,
    fetch_order_numbers_page,
    fetch_packing_slips,
    fetch_packing_slips_page,
    fetch_shipping_labels,
    fetch_shipping_labels_page,
    file_exists,
    list_new_files,
    load_cancellation_notices,
    load_file_outcome,
    load_labels,
    load_orders_by_number,
    load_packing_slips,
    mark_cancellations_notified,
    mark_labels_dropped,
    mark_packages_file,
    mark_packing_slips,
    quarantine_file,
    read_package_profile,
    record_cancelled_after_export,
    record_labels,
    record_packages_file,
    record_packing_slips_waiting,
    release_labels,
    upload_files,
)
from tasks.ledger import load_orders, mark_held

LABEL_BATCH = 50  # orders per createShippingLabels task: 5 s at Amazon's 10 requests/s


@dataclass
class DocumentsReport:
    """What one run did about documents for one warehouse: counts only, never PII."""

    labels: int = 0  # orders whose label files were dropped
    packing_slips: int = 0  # packing slips dropped
    waiting: int = 0  # orders kept back from export: label or packing slip not there yet
    missing_slips: int = 0  # exported without a packing slip Amazon never made available (flagged)
    cancellations: int = 0  # orders the warehouse was told (this run) Amazon cancelled after export

    def as_row(self) -> dict[str, object]:
        return {
            "labels": self.labels,
            "packing_slips": self.packing_slips,
            "waiting_for_documents": self.waiting,
            "missing_packing_slips": self.missing_slips,
            "cancellations_told": self.cancellations,
        }


@dataclass
class DocumentsRun:
    """What the document steps of one warehouse's order run wrote: a RunReport the order flow turns into its tally."""

    held: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    documents: DocumentsReport = field(default_factory=DocumentsReport)


class RunReport(Protocol):
    """The part of download-orders' per-warehouse report these steps write to."""

    held: list[str]  # the orders held
    files: list[str]
    problems: list[str]  # each fails the run: a person should look
    notes: list[str]
    documents: DocumentsReport


@dataclass(frozen=True)
class PreparedDocuments:
    """Orders that may be exported now, and the document columns of their orders-file rows (None: none)."""

    ready: list[str]
    columns: dict[str, OrderDocuments] | None = None


def _enabled(options: LabelOptions) -> bool:
    return options.labels == "amazon" or options.packing_slips == "amazon"


def _labels_before_export(options: LabelOptions) -> bool:
    return options.labels == "amazon" and options.packages != "file"


# ---------------------------------------------------------------------------------------------- before export


def prepare_documents(
    api: VendorApi,
    ledger: Ledger,
    drop: WarehouseDrop,
    account: Account,
    warehouse: Warehouse,
    orders: Mapping[str, PurchaseOrder],
    report: RunReport,
    *,
    now: datetime,
) -> PreparedDocuments:
    """Drop the labels and packing slips of orders about to be exported; say which may go and their columns."""
    options = warehouse.labels
    if not _enabled(options) or not orders:
        return PreparedDocuments(ready=list(orders))
    before = _labels_before_export(options)
    slips_on = options.packing_slips == "amazon"
    numbers = list(orders)

    # gather
    labels = _by_number(load_labels(ledger, account.name, quote(numbers))) if before else {}
    slips = _by_number(load_packing_slips(ledger, account.name, quote(numbers))) if slips_on else {}

    # decide
    plan = plan_documents(
        {number: order.is_pslip_required for number, order in orders.items()},
        labels,
        slips,
        labels_before_export=before,
        packing_slips=slips_on,
    )

    # apply
    if plan.recover_labels or plan.drop_labels or plan.request_labels:
        profile = _profile(warehouse, report) if options.packages == "profile" else None
        known = _drop_known_labels(
            api, ledger, drop, account, warehouse, [*plan.recover_labels, *plan.drop_labels], report
        )
        # claimed by a crashed run, yet Amazon has no label: nothing was made, so the claim is taken again
        unlabelled = [number for number in plan.recover_labels if number not in known]
        if unlabelled:
            release_labels(ledger, account.name, quote(unlabelled))
        _request_labels(
            api, ledger, drop, account, warehouse, orders, [*plan.request_labels, *unlabelled], profile, report
        )
    if plan.new_slips:
        record_packing_slips_waiting(ledger, account.name, warehouse.ship_from_party_id, quote(plan.new_slips), now)
    if plan.fetch_slips:
        _drop_packing_slips(api, ledger, drop, account, warehouse, orders, plan.fetch_slips, report, now=now)

    # decide again, from what the ledger now holds (an order held meanwhile is out of the running)
    still = {
        order.purchase_order_number
        for order in load_orders_by_number(ledger, account.name, [OrderState.ACKNOWLEDGED], quote(numbers))
    }
    numbers = [number for number in numbers if number in still]
    labels = _by_number(load_labels(ledger, account.name, quote(numbers))) if before else {}
    slips = _by_number(load_packing_slips(ledger, account.name, quote(numbers))) if slips_on else {}
    readiness = plan_readiness(
        numbers,
        labels,
        slips,
        labels_before_export=before,
        slip_deadline=timedelta(minutes=options.packing_slip_deadline_minutes),
        now=now,
    )
    ready = list(readiness.ready)
    if readiness.overdue:
        ready += _overdue_slips(ledger, account, options, list(readiness.overdue), report)
        slips = _by_number(load_packing_slips(ledger, account.name, quote(numbers))) if slips_on else {}
    if readiness.waiting:
        report.documents.waiting += len(readiness.waiting)
        reasons = sorted(set(readiness.waiting.values()))
        report.notes.append(
            f"{len(readiness.waiting)} order(s) wait for their documents ({'; '.join(reasons)}); "
            "a later run exports them"
        )
    chosen = set(ready)
    ready = [number for number in numbers if number in chosen]
    return PreparedDocuments(ready=ready, columns=document_columns(ready, labels, slips))


def document_columns_for(
    ledger: Ledger, account: Account, warehouse: Warehouse, purchase_order_numbers: Sequence[str]
) -> dict[str, OrderDocuments] | None:
    """The document columns of orders already claimed for an export file (to rebuild it after a crash)."""
    options = warehouse.labels
    if not _enabled(options):
        return None
    labels = _by_number(load_labels(ledger, account.name, quote(list(purchase_order_numbers))))
    slips = _by_number(load_packing_slips(ledger, account.name, quote(list(purchase_order_numbers))))
    return document_columns(purchase_order_numbers, labels, slips)


class _Keyed(Protocol):
    @property
    def purchase_order_number(self) -> str: ...


R = TypeVar("R", bound=_Keyed)


def _by_number(records: Sequence[R]) -> dict[str, R]:
    return {record.purchase_order_number: record for record in records}


def _profile(warehouse: Warehouse, report: RunReport) -> dict[str, ProfileEntry]:
    path = warehouse.labels.package_profile
    if path is None:
        raise ConfigError(f"warehouse {warehouse.name}: labels.packages is profile but package_profile is not set")
    result = validate_package_profile(read_package_profile(path), warehouse.files, file_name=path.name)
    if not result.readable:
        raise ConfigError(f"warehouse {warehouse.name}: {result.summary()}")
    if not result.ok:
        report.problems.append(f"package profile: {result.summary()}")
    return to_profile(result)


def _hold(ledger: Ledger, account: Account, number: str, reason: str, report: RunReport) -> None:
    """Hold an order for a person and say why; an exported (or cancelled) order cannot be held, only reported."""
    try:
        mark_held(ledger, account.name, number, reason[:500])
    except DataError:
        report.problems.append(f"order {number}: {reason}")
        return
    report.held.append(number)
    report.problems.append(f"order {number} is held: {reason}")


def _drop_known_labels(
    api: VendorApi,
    ledger: Ledger,
    drop: WarehouseDrop,
    account: Account,
    warehouse: Warehouse,
    numbers: Sequence[str],
    report: RunReport,
) -> dict[str, ShippingLabel]:
    """Labels a crashed run asked for (or made but did not drop): read them from Amazon, record and drop them."""
    if not numbers:
        return {}
    records = _by_number(load_labels(ledger, account.name, quote(list(numbers))))
    found = _read_labels(api, warehouse, records)
    record_labels(ledger, account.name, quote([found[n] for n in numbers if n in found]))
    _drop_labels(ledger, drop, account, [found[n] for n in numbers if n in found], report)
    return found


def _read_labels(api: VendorApi, warehouse: Warehouse, records: Mapping[str, LabelRecord]) -> dict[str, ShippingLabel]:
    """getShippingLabel per order, or getShippingLabels over the claim times when that takes fewer requests."""
    wanted = set(records)
    now = datetime.now(UTC)
    oldest = min(r.requested_at or now for r in records.values())
    windows = listing_windows(oldest - timedelta(minutes=5), now)
    if fetch_one_by_one(len(wanted), len(windows)):
        return fetch_shipping_labels(api, quote(sorted(wanted)))
    found: dict[str, ShippingLabel] = {}
    for window in windows:
        token: str | None = None
        while True:
            page = fetch_shipping_labels_page(api, window, warehouse.ship_from_party_id, token)
            found.update({label.purchase_order_number: label for label in page.labels
                          if label.purchase_order_number in wanted})
            token = page.next_token
            if not token:
                break
    return found


def _request_labels(
    api: VendorApi,
    ledger: Ledger,
    drop: WarehouseDrop,
    account: Account,
    warehouse: Warehouse,
    orders: Mapping[str, PurchaseOrder | LedgerOrder],
    numbers: Sequence[str],
    profile: Mapping[str, ProfileEntry] | None,
    report: RunReport,
    *,
    requests: Mapping[str, LabelRequest] | None = None,
) -> list[ShippingLabel]:
    """Claim, create, record and drop labels batch by batch; the drop of one batch overlaps the next batch.

    The claim comes first, so a crash leaves the ledger knowing which orders may already have a label.
    """
    built: dict[str, LabelRequest] = dict(requests or {})
    for number in numbers:
        if number in built:
            continue
        try:
            built[number] = build_label_request(orders[number], warehouse.labels, profile)
        except DataError as exc:
            _hold(ledger, account, number, f"no label can be requested: {exc.message}", report)
    made: list[ShippingLabel] = []

    def finish(labels: list[ShippingLabel]) -> None:
        record_labels(ledger, account.name, quote(labels))
        _drop_labels(ledger, drop, account, labels, report)

    with _in_background(finish) as background:
        for batch in batches([n for n in numbers if n in built], LABEL_BATCH):
            claimed = claim_labels(ledger, account.name, quote(list(batch)))
            if not claimed:
                continue
            outcomes: list[LabelOutcome] = create_shipping_labels(api, quote([built[n] for n in claimed]))
            labels = [o.label for o in outcomes if o.label is not None]
            _settle_failures(ledger, account, outcomes, report)
            made += labels
            if labels:
                background(labels)
    return made


def _settle_failures(ledger: Ledger, account: Account, outcomes: Sequence[LabelOutcome], report: RunReport) -> None:
    refused = [o for o in outcomes if o.refused]
    unsent = [o.purchase_order_number for o in outcomes if o.unsent]
    unknown = [o for o in outcomes if o.unknown]
    if refused or unsent:
        release_labels(ledger, account.name, quote([o.purchase_order_number for o in refused] + unsent))
    for outcome in refused:
        _hold(ledger, account, outcome.purchase_order_number,
              f"Amazon refused its shipping label: {outcome.refused}", report)
    if unsent:
        report.problems.append(f"{len(unsent)} label request(s) were not sent and wait for the next run")
    for outcome in unknown[:20]:
        report.problems.append(
            f"the label of order {outcome.purchase_order_number} may or may not exist ({outcome.unknown}); "
            "the next run reads it from Amazon before asking again"
        )


def _label_files(label: ShippingLabel) -> dict[str, bytes]:
    return {
        label_file_name(label.purchase_order_number, package.package_identifier, label.label_format): package.content
        for package in label.packages
    }


def _drop_labels(
    ledger: Ledger, drop: WarehouseDrop, account: Account, labels: Sequence[ShippingLabel], report: RunReport
) -> None:
    if not labels:
        return
    files: dict[str, bytes] = {}
    for label in labels:
        files.update(_label_files(label))
    upload_files(drop, "labels", quote(files))
    numbers = [label.purchase_order_number for label in labels]
    report.documents.labels += len(mark_labels_dropped(ledger, account.name, quote(numbers)))


def _drop_packing_slips(
    api: VendorApi,
    ledger: Ledger,
    drop: WarehouseDrop,
    account: Account,
    warehouse: Warehouse,
    orders: Mapping[str, PurchaseOrder],
    numbers: Sequence[str],
    report: RunReport,
    *,
    now: datetime,
) -> None:
    """Look for the slips still missing (one listing per window, or one request per order when fewer) and drop them."""
    wanted = set(numbers)
    windows = listing_windows(min(orders[n].order_date for n in numbers), now)
    found: dict[str, PackingSlip]
    if fetch_one_by_one(len(wanted), len(windows)):
        found = fetch_packing_slips(api, quote(sorted(wanted)))
    else:
        found = {}
        for window in windows:
            token: str | None = None
            while True:
                page = fetch_packing_slips_page(api, window, warehouse.ship_from_party_id, token)
                found.update({s.purchase_order_number: s for s in page.slips if s.purchase_order_number in wanted})
                token = page.next_token
                if not token:
                    break
    if not found:
        return
    upload_files(drop, "packing_slips", quote({packing_slip_file_name(n): s.content for n, s in found.items()}))
    report.documents.packing_slips += len(
        mark_packing_slips(ledger, account.name, quote(sorted(found)), PackingSlipState.DROPPED)
    )


def _overdue_slips(
    ledger: Ledger, account: Account, options: LabelOptions, numbers: list[str], report: RunReport
) -> list[str]:
    """Slips past their deadline: export flagged (returned) or hold, as configured."""
    deadline = f"{options.packing_slip_deadline_minutes:g} minutes"
    if options.packing_slip_overdue == "hold":
        for number in numbers:
            _hold(ledger, account, number, f"Amazon's packing slip is not available after {deadline}", report)
        return []
    missing = mark_packing_slips(ledger, account.name, quote(numbers), PackingSlipState.MISSING)
    report.documents.missing_slips += len(missing)
    if missing:
        report.notes.append(
            f"{len(missing)} order(s) exported without Amazon's packing slip (not available after {deadline}): "
            + ", ".join(missing[:20])
            + (" …" if len(missing) > 20 else "")
        )
    return missing


# ---------------------------------------------------------------------------------------------- each run


def after_export(
    api: VendorApi,
    ledger: Ledger,
    drop: WarehouseDrop,
    account: Account,
    warehouse: Warehouse,
    report: RunReport,
    *,
    now: datetime,
    run_tag: str,
) -> None:
    """Tell the warehouse which exported orders were cancelled, and label the packages it weighed (packages: file)."""
    options = warehouse.labels
    folders: list[Folder] = []
    if options.labels == "amazon":
        folders.append("labels")
    if options.packing_slips == "amazon":
        folders.append("packing_slips")
    for folder in folders:  # a killed upload's partial label or slip shows an address: not kept
        removed = drop.remove_stale_parts(folder)
        if removed:
            report.notes.append(f"removed {len(removed)} partial {folder} upload(s) left by an interrupted run")
    if options.cancellations:  # first: an order cancelled since the last run gets no label below
        notify_cancellations(api, ledger, drop, account, warehouse, report, now=now, run_tag=run_tag)
    if options.labels == "amazon" and options.packages == "file":
        label_weighed_packages(api, ledger, drop, account, warehouse, report)


def notify_cancellations(
    api: VendorApi,
    ledger: Ledger,
    drop: WarehouseDrop,
    account: Account,
    warehouse: Warehouse,
    report: RunReport,
    *,
    now: datetime,
    run_tag: str,
) -> None:
    """Ask Amazon which exported orders were cancelled; put each in one cancellations file, exactly once."""
    scope = warehouse.ship_from_party_id
    _finish_interrupted_notices(ledger, drop, account, warehouse, report)

    # gather: exported orders Amazon may still cancel, minus those already known cancelled
    known = {n.purchase_order_number for n in load_cancellation_notices(ledger, account.name, scope)}
    exported = [o for o in load_orders(ledger, account.name, [OrderState.EXPORTED], scope)
                if o.purchase_order_number not in known]
    windows = plan_cancellation_windows(
        exported, now=now, lookback=timedelta(days=warehouse.labels.cancellation_lookback_days)
    )
    wanted = {o.purchase_order_number for o in exported}
    cancelled: set[str] = set()
    for window in windows:
        token: str | None = None
        while True:
            page = fetch_order_numbers_page(api, window, AmazonOrderStatus.CANCELLED, scope, token)
            cancelled.update(number for number in page.numbers if number in wanted)
            token = page.next_token
            if not token:
                break

    # apply: record, claim for one file, upload, mark
    if cancelled:
        record_cancelled_after_export(ledger, account.name, quote(sorted(cancelled)))
    file_name = cancellations_file_name(account.name, warehouse.name, now, run_tag)
    notices = claim_cancellation_notices(ledger, account.name, scope, file_name)
    if not notices:
        return
    upload_files(drop, "cancellations", quote({file_name: build_cancellations_file(notices, warehouse.files)}))
    told = mark_cancellations_notified(ledger, account.name, file_name)
    _told(told, file_name, report)


def _told(numbers: Sequence[str], file_name: str, report: RunReport) -> None:
    if not numbers:
        return
    report.documents.cancellations += len(numbers)
    report.files.append(file_name)
    report.notes.append(
        f"told the warehouse in {file_name} that Amazon cancelled {len(numbers)} exported order(s): "
        + ", ".join(numbers[:20])
        + (" …" if len(numbers) > 20 else "")
    )


def _finish_interrupted_notices(
    ledger: Ledger, drop: WarehouseDrop, account: Account, warehouse: Warehouse, report: RunReport
) -> None:
    """A cancellations file a crashed run claimed: on the drop already, or uploaded now under the same name."""
    pending = load_cancellation_notices(ledger, account.name, warehouse.ship_from_party_id, pending_only=True)
    by_file: dict[str, list[CancellationNotice]] = {}
    for notice in pending:
        if notice.notice_file:
            by_file.setdefault(notice.notice_file, []).append(notice)
    for file_name, notices in sorted(by_file.items()):
        if not file_exists(drop, "cancellations", file_name):
            upload_files(drop, "cancellations", quote({file_name: build_cancellations_file(notices, warehouse.files)}))
        _told(mark_cancellations_notified(ledger, account.name, file_name), file_name, report)


def label_weighed_packages(
    api: VendorApi,
    ledger: Ledger,
    drop: WarehouseDrop,
    account: Account,
    warehouse: Warehouse,
    report: RunReport,
) -> None:
    """Read the warehouse's packages files; label each listed exported order, drop labels and a manifest."""
    for remote in list_new_files(drop, "packages", warehouse.files.package_patterns):
        data = download_file(drop, "packages", remote.name)
        checksum = hashlib.sha256(data).hexdigest()
        if not record_packages_file(ledger, account.name, warehouse.name, remote.name, checksum):
            outcome = load_file_outcome(ledger, account.name, warehouse.name, remote.name, checksum)
            if outcome is not FileOutcome.RECEIVED:  # the same file again: it was handled once, never twice
                archived = archive_file(drop, "packages", remote.name)
                report.notes.append(f"packages file {remote.name} was processed before; archived as {archived}")
                continue
        _label_packages_file(api, ledger, drop, account, warehouse, remote.name, checksum, data, report)


def _label_packages_file(
    api: VendorApi,
    ledger: Ledger,
    drop: WarehouseDrop,
    account: Account,
    warehouse: Warehouse,
    name: str,
    checksum: str,
    data: bytes,
    report: RunReport,
) -> None:
    # gather
    result = validate_packages(data, warehouse.files, file_name=name)
    packages, conflicts = to_packages(result)
    problems = [f"order {number}: {reason}" for number, reason in sorted(conflicts.items())]
    numbers = sorted(packages)
    exported = {
        order.purchase_order_number: order
        for order in load_orders_by_number(ledger, account.name, [OrderState.EXPORTED], quote(numbers))
        if order.ship_from_party_id == warehouse.ship_from_party_id
    }
    cancelled = {
        notice.purchase_order_number
        for notice in load_cancellation_notices(ledger, account.name, warehouse.ship_from_party_id)
    }
    labels = _by_number(load_labels(ledger, account.name, quote(numbers)))

    # decide: a new request per order without a label; what a crashed run left is read back instead
    requests: dict[str, LabelRequest] = {}
    recover: list[str] = []
    for number, weighed in packages.items():
        label = labels.get(number)
        if number not in exported:
            problems.append(f"order {number} is not an exported order of this warehouse; no label")
        elif number in cancelled:
            problems.append(f"order {number} was cancelled by Amazon after export; no label")
        elif label is not None:
            if label.state is not LabelState.DROPPED:
                recover.append(number)
        else:
            try:
                requests[number] = label_request_from_packages(exported[number], weighed)
            except DataError as exc:
                problems.append(f"order {number}: {exc.message}")

    # apply
    _request_labels(api, ledger, drop, account, warehouse, exported, list(requests), None, report, requests=requests)
    _drop_known_labels(api, ledger, drop, account, warehouse, recover, report)
    dropped = _by_number(load_labels(ledger, account.name, quote(numbers)))
    rows = [
        ManifestRow(
            purchase_order_number=number,
            package_id=weighed.package_id,
            amazon_package_id=package.package_identifier,
            tracking_number=package.tracking_number,
            ship_method=package.ship_method,
            ship_method_name=package.ship_method_name,
            label_file=label_file_name(number, package.package_identifier, record.label_format),
        )
        for number, record in sorted(dropped.items())
        if record.state is LabelState.DROPPED and record.label_format is not None and number in exported
        # Amazon numbers the packages in the order they were asked for: 001 is the file's first package
        for weighed, package in zip(packages[number], record.packages, strict=False)
    ]
    if rows:
        manifest = labels_manifest_name(name)
        upload_files(drop, "labels", quote({manifest: build_labels_manifest(rows, warehouse.files)}))
        report.files.append(manifest)

    # the file itself: archived, or quarantined with a report when anything in it was wrong
    labelled = len({row.purchase_order_number for row in rows})
    summary = f"{labelled} order(s) labelled"
    if problems or not result.ok:
        quarantine_file(drop, "packages", name, f"{name}.errors.csv", _report_with(result.report_csv(), name, problems))
        detail = f"{summary}; {result.errors.height + len(problems)} problem(s)"
        mark_packages_file(ledger, account.name, warehouse.name, name, checksum, FileOutcome.QUARANTINED, detail)
        report.problems.append(" ".join([result.summary(), *problems[:5]]) + f" (quarantined with {name}.errors.csv)")
    else:
        archive_file(drop, "packages", name)
        mark_packages_file(ledger, account.name, warehouse.name, name, checksum, FileOutcome.ARCHIVED, summary)


def _report_with(report_csv: bytes, file_name: str, problems: Sequence[str]) -> bytes:
    """The validation report plus one row per order-level problem (file, row, column, value, reason)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for problem in problems:
        writer.writerow([file_name, "", "", "", problem])
    return report_csv + out.getvalue().encode("utf-8")


# ---------------------------------------------------------------------------------------------- plumbing


@contextmanager
def _in_background(work: Callable[[list[ShippingLabel]], None]) -> Iterator[Callable[[list[ShippingLabel]], None]]:
    """Run `work` on one background thread, one call at a time and in order; its errors surface here.

    Recording and dropping one batch of labels overlaps the next batch's createShippingLabels, which Amazon
    paces at 10 requests/s: the drop's round trips then cost no wall time.
    """
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="labels")
    in_flight: list[Future[None]] = []

    def settle() -> None:
        while in_flight:
            in_flight.pop().result()

    def submit(batch: list[ShippingLabel]) -> None:
        settle()
        in_flight.append(pool.submit(contextvars.copy_context().run, work, list(batch)))

    try:
        yield submit
        settle()
    finally:
        for future in in_flight:
            lost = future.exception()
            if lost is not None:
                get_run_logger().error("dropping a batch of labels also failed: %s: %s", type(lost).__name__, lost)
        pool.shutdown(wait=True)
