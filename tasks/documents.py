"""Prefect tasks for shipping labels, packing slips and cancellation notices, each one side effect over one port."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

from tasks.core.errors import (
    ConfigError,
    IntegrationError,
    NotFoundError,
    PermanentError,
    RequestRefusedError,
    TokenRefusedError,
)
from tasks.core.labels import LabelOutcome
from tasks.core.models import (
    AmazonOrderStatus,
    CancellationNotice,
    FileOutcome,
    LabelPage,
    LabelRecord,
    LabelRequest,
    LedgerOrder,
    OrderNumbersPage,
    OrderState,
    PackingSlip,
    PackingSlipPage,
    PackingSlipRecord,
    PackingSlipState,
    ShippingLabel,
    TimeWindow,
)
from tasks.core.ports import Folder, Ledger, RemoteFile, VendorApi, WarehouseDrop
from tasks.prefect_support import side_effect_task

# Requests in flight at once: at Amazon's 10 requests/s, four cover answers of up to 400 ms.
LABEL_WORKERS = 4

# ---------------------------------------------------------------------------------------------- Amazon


@side_effect_task(name="create-shipping-labels")
def create_shipping_labels(
    api: VendorApi, requests: Sequence[LabelRequest], workers: int | None = None
) -> list[LabelOutcome]:
    """Ask Amazon for the labels of a batch of claimed orders, one createShippingLabels each; say how each ended.

    A few requests are in flight at once, so Amazon's latency does not hold the rate below its 10 requests/s
    (the adapter's token bucket paces them). A refused order does not stop the others; a failure that concerns
    every request (credentials, the RDT's role) stops the batch, and the orders not sent yet are reported
    unsent, so their claims can be given back.
    """
    stop: list[str] = []

    def one(request: LabelRequest) -> LabelOutcome:
        number = request.purchase_order_number
        if stop:
            return LabelOutcome(number, unsent=stop[0])
        try:
            return LabelOutcome(number, label=api.create_shipping_labels(request))
        except (RequestRefusedError, NotFoundError) as exc:
            return LabelOutcome(number, refused=str(exc))
        except (TokenRefusedError, ConfigError) as exc:
            stop.append(str(exc))
            return LabelOutcome(number, unknown=str(exc))
        except PermanentError as exc:
            if exc.status in (401, 403):
                stop.append(str(exc))
                return LabelOutcome(number, unknown=str(exc))
            return LabelOutcome(number, refused=str(exc))
        except IntegrationError as exc:  # transient after the adapter's retries, or an unreadable answer
            return LabelOutcome(number, unknown=str(exc))

    workers = workers or LABEL_WORKERS
    if len(requests) <= 1 or workers <= 1:
        return [one(request) for request in requests]
    with ThreadPoolExecutor(max_workers=min(workers, len(requests)), thread_name_prefix="labels") as pool:
        return list(pool.map(one, requests))


@side_effect_task(name="fetch-shipping-labels")
def fetch_shipping_labels(api: VendorApi, purchase_order_numbers: Sequence[str]) -> dict[str, ShippingLabel]:
    """Read the labels Amazon made for these orders (getShippingLabel each); an order without one is left out."""
    found: dict[str, ShippingLabel] = {}
    for number in purchase_order_numbers:
        try:
            found[number] = api.fetch_shipping_label(number)
        except NotFoundError:
            continue
    return found


@side_effect_task(name="fetch-shipping-labels-page", task_run_name="fetch-shipping-labels-page-{ship_from_party_id}")
def fetch_shipping_labels_page(
    api: VendorApi, window: TimeWindow, ship_from_party_id: str, next_token: str | None
) -> LabelPage:
    """Read one page of the labels Amazon made in a window."""
    return api.fetch_shipping_labels_page(window, ship_from_party_id=ship_from_party_id, next_token=next_token)


@side_effect_task(name="fetch-packing-slips")
def fetch_packing_slips(api: VendorApi, purchase_order_numbers: Sequence[str]) -> dict[str, PackingSlip]:
    """Read these orders' packing slips (getPackingSlip each); a slip not available yet is left out."""
    found: dict[str, PackingSlip] = {}
    for number in purchase_order_numbers:
        slip = api.fetch_packing_slip(number)
        if slip is not None:
            found[number] = slip
    return found


@side_effect_task(name="fetch-packing-slips-page", task_run_name="fetch-packing-slips-page-{ship_from_party_id}")
def fetch_packing_slips_page(
    api: VendorApi, window: TimeWindow, ship_from_party_id: str, next_token: str | None
) -> PackingSlipPage:
    """Read one page of the packing slips that became available in a window."""
    return api.fetch_packing_slips_page(window, ship_from_party_id=ship_from_party_id, next_token=next_token)


@side_effect_task(name="fetch-order-numbers-page", task_run_name="fetch-{status}-orders-page-{ship_from_party_id}")
def fetch_order_numbers_page(
    api: VendorApi, window: TimeWindow, status: AmazonOrderStatus, ship_from_party_id: str, next_token: str | None
) -> OrderNumbersPage:
    """Read one page of the numbers of orders in a status (no order details, so no PII)."""
    return api.fetch_order_numbers_page(
        window, status=status, ship_from_party_id=ship_from_party_id, next_token=next_token
    )


# ---------------------------------------------------------------------------------------------- ledger


@side_effect_task(name="load-orders-by-number")
def load_orders_by_number(
    ledger: Ledger, account: str, states: Collection[OrderState], purchase_order_numbers: Collection[str]
) -> list[LedgerOrder]:
    """Load the named orders of an account that are in the given states."""
    return ledger.load_orders(account, states, purchase_order_numbers=purchase_order_numbers)


@side_effect_task(name="claim-labels")
def claim_labels(ledger: Ledger, account: str, purchase_order_numbers: Sequence[str]) -> list[str]:
    """Record the intent to request labels, once per order, before Amazon is asked."""
    return ledger.claim_labels(account, purchase_order_numbers)


@side_effect_task(name="release-labels")
def release_labels(ledger: Ledger, account: str, purchase_order_numbers: Sequence[str]) -> list[str]:
    """Give back label claims Amazon provably did not act on."""
    return ledger.release_labels(account, purchase_order_numbers)


@side_effect_task(name="record-labels")
def record_labels(ledger: Ledger, account: str, labels: Sequence[ShippingLabel]) -> list[str]:
    """Record the tracking numbers and ship methods of labels Amazon made (never the labels themselves)."""
    return ledger.record_labels(account, labels)


@side_effect_task(name="mark-labels-dropped")
def mark_labels_dropped(ledger: Ledger, account: str, purchase_order_numbers: Sequence[str]) -> list[str]:
    """Record that these orders' label files are on the warehouse drop."""
    return ledger.mark_labels_dropped(account, purchase_order_numbers)


@side_effect_task(name="load-labels")
def load_labels(ledger: Ledger, account: str, purchase_order_numbers: Collection[str]) -> list[LabelRecord]:
    """Load the label records of these orders."""
    return ledger.load_labels(account, purchase_order_numbers=purchase_order_numbers)


@side_effect_task(name="record-packing-slips-waiting")
def record_packing_slips_waiting(
    ledger: Ledger, account: str, ship_from_party_id: str, purchase_order_numbers: Sequence[str], when: datetime
) -> list[str]:
    """Remember which orders need a packing slip and when it was first asked for."""
    return ledger.record_packing_slips_waiting(account, ship_from_party_id, purchase_order_numbers, when)


@side_effect_task(name="mark-packing-slips")
def mark_packing_slips(
    ledger: Ledger, account: str, purchase_order_numbers: Sequence[str], state: PackingSlipState
) -> list[str]:
    """Record that packing slips are on the drop, or missing past their deadline."""
    return ledger.mark_packing_slips(account, purchase_order_numbers, state)


@side_effect_task(name="load-packing-slips")
def load_packing_slips(
    ledger: Ledger, account: str, purchase_order_numbers: Collection[str]
) -> list[PackingSlipRecord]:
    """Load the packing slip records of these orders."""
    return ledger.load_packing_slips(account, purchase_order_numbers=purchase_order_numbers)


@side_effect_task(name="record-cancelled-after-export")
def record_cancelled_after_export(ledger: Ledger, account: str, purchase_order_numbers: Sequence[str]) -> list[str]:
    """Remember exported orders Amazon reports cancelled (each once)."""
    return ledger.record_cancelled_after_export(account, purchase_order_numbers)


@side_effect_task(name="load-cancellation-notices")
def load_cancellation_notices(
    ledger: Ledger, account: str, ship_from_party_id: str, *, pending_only: bool = False
) -> list[CancellationNotice]:
    """Load a warehouse's orders cancelled after export (pending_only: not yet told)."""
    return ledger.load_cancellation_notices(account, ship_from_party_id=ship_from_party_id, pending_only=pending_only)


@side_effect_task(name="claim-cancellation-notices")
def claim_cancellation_notices(
    ledger: Ledger, account: str, ship_from_party_id: str, file_name: str
) -> list[CancellationNotice]:
    """Claim the cancellations the warehouse has not been told about for one cancellations file."""
    return ledger.claim_cancellation_notices(account, ship_from_party_id, file_name)


@side_effect_task(name="mark-cancellations-notified")
def mark_cancellations_notified(ledger: Ledger, account: str, file_name: str) -> list[str]:
    """Record that a cancellations file is on the warehouse drop."""
    return ledger.mark_cancellations_notified(account, file_name)


@side_effect_task(name="record-packages-file")
def record_packages_file(ledger: Ledger, account: str, warehouse: str, name: str, checksum: str) -> bool:
    """Register a packages file; False when this name and content were received before."""
    return ledger.record_file_received(account, warehouse, "packages", name, checksum)


@side_effect_task(name="load-packages-file-outcome")
def load_file_outcome(ledger: Ledger, account: str, warehouse: str, name: str, checksum: str) -> FileOutcome | None:
    """Where an inbound file received before ended (received, archived, quarantined)."""
    for record in ledger.load_files(account, warehouse):
        if record.name == name and record.checksum == checksum:
            return record.outcome
    return None


@side_effect_task(name="mark-packages-file")
def mark_packages_file(
    ledger: Ledger, account: str, warehouse: str, name: str, checksum: str, outcome: FileOutcome, detail: str
) -> None:
    """Record where a packages file ended."""
    ledger.mark_file(account, warehouse, name, checksum, outcome, detail)


# ---------------------------------------------------------------------------------------------- warehouse


@side_effect_task(name="upload-files", task_run_name="upload-{folder}-files")
def upload_files(drop: WarehouseDrop, folder: Folder, files: Mapping[str, bytes]) -> list[str]:
    """Upload a batch of files to one folder, each atomically; a retry replaces, never duplicates."""
    drop.upload_many(folder, files)
    return list(files)


@side_effect_task(name="file-exists", task_run_name="exists-{folder}-{name}")
def file_exists(drop: WarehouseDrop, folder: Folder, name: str) -> bool:
    """Tell whether a file is on the warehouse drop (an upload a crashed run made)."""
    return drop.exists(folder, name)


@side_effect_task(name="list-new-files", task_run_name="list-{folder}")
def list_new_files(drop: WarehouseDrop, folder: Folder, patterns: Sequence[str]) -> list[RemoteFile]:
    """List the complete files waiting in an inbound folder."""
    return drop.list_new(folder, patterns)


@side_effect_task(name="download-file", task_run_name="download-{folder}-{name}")
def download_file(drop: WarehouseDrop, folder: Folder, name: str) -> bytes:
    """Read one inbound file."""
    return drop.download(folder, name)


@side_effect_task(name="archive-file", task_run_name="archive-{folder}-{name}")
def archive_file(drop: WarehouseDrop, folder: Folder, name: str) -> str:
    """Move a processed inbound file to the archive folder."""
    return drop.archive(folder, name)


@side_effect_task(name="quarantine-file", task_run_name="quarantine-{folder}-{name}")
def quarantine_file(drop: WarehouseDrop, folder: Folder, name: str, report_name: str, report: bytes) -> str:
    """Move a bad inbound file to the error folder with its report beside it."""
    return drop.quarantine(folder, name, report_name, report)


# ---------------------------------------------------------------------------------------------- this machine


@side_effect_task(name="read-package-profile", retries=0)
def read_package_profile(path: Path) -> bytes:
    """Read the per-SKU package profile file configured for a warehouse."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"the package profile {path} cannot be read ({exc.strerror or type(exc).__name__}); "
            "check labels.package_profile in the configuration",
            subject=str(path),
        ) from exc
