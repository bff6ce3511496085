"""Pure planning for Amazon shipping labels, packing slips and cancellation notices: what to ask, drop, export, hold."""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from tasks.core.config import LabelOptions, PackageSize
from tasks.core.errors import DataError
from tasks.core.models import (
    CancellationNotice,
    Carton,
    LabelFormat,
    LabelRecord,
    LabelRequest,
    LabelState,
    LedgerOrder,
    OrderLine,
    PackingSlipRecord,
    PackingSlipState,
    PurchaseOrder,
    ShippedItem,
    ShippingLabel,
    TimeWindow,
)
from tasks.core.orders import AMAZON_MAX_WINDOW, plan_refetch_windows

LABEL_EXTENSIONS = {LabelFormat.ZPL: "zpl", LabelFormat.PNG: "png"}
_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")


# ---------------------------------------------------------------------------------------------- file names


def _safe(part: str) -> str:
    return _UNSAFE.sub("-", part).strip("-.") or "x"


def label_file_name(purchase_order_number: str, package_identifier: str, label_format: LabelFormat) -> str:
    """One file per package, named by order and Amazon's package id: `<PO>_<package>.zpl` (or `.png`)."""
    return f"{_safe(purchase_order_number)}_{_safe(package_identifier)}.{LABEL_EXTENSIONS[LabelFormat(label_format)]}"


def packing_slip_file_name(purchase_order_number: str) -> str:
    """One PDF per order: `<PO>.pdf`."""
    return f"{_safe(purchase_order_number)}.pdf"


def cancellations_file_name(account: str, warehouse: str, when: datetime, batch: str) -> str:
    """The cancellations file of one run; the batch tells two runs in the same second apart."""
    if when.tzinfo is None:
        raise ValueError("when must be timezone-aware")
    return f"cancellations_{_safe(account)}_{_safe(warehouse)}_{when.astimezone(UTC):%Y%m%dT%H%M%SZ}-{_safe(batch)}.csv"


def labels_manifest_name(packages_file: str) -> str:
    """The labels manifest answering one packages file: the same stem, so a retried run replaces it."""
    stem = packages_file.rsplit(".", 1)[0] if "." in packages_file else packages_file
    return f"labels_{_safe(stem)}.csv"


# ---------------------------------------------------------------------------------------------- packages


@dataclass(frozen=True)
class ProfileEntry:
    """How one unit of a SKU ships (from the package profile file)."""

    vendor_sku: str
    weight: float  # of one unit, packed
    weight_unit: str
    length: float | None = None
    width: float | None = None
    height: float | None = None
    dimension_unit: str | None = None
    units_per_package: int = 1


@dataclass(frozen=True)
class WarehousePackage:
    """One package the warehouse weighed (from a packages file), with the items it says are in it."""

    purchase_order_number: str
    package_id: str
    weight: float
    weight_unit: str
    length: float | None = None
    width: float | None = None
    height: float | None = None
    dimension_unit: str | None = None
    items: tuple[tuple[str | None, str | None, int], ...] = ()  # (item sequence number, vendor SKU, quantity)


def _item(line: OrderLine, quantity: int) -> ShippedItem:
    return ShippedItem(
        item_sequence_number=line.item_sequence_number,
        shipped_quantity=quantity,
        buyer_product_identifier=line.buyer_product_identifier,
        vendor_product_identifier=line.vendor_product_identifier,
    )


def _carton(identifier: str, size: PackageSize | ProfileEntry, weight: float, items: Iterable[ShippedItem]) -> Carton:
    return Carton(
        container_identifier=identifier,
        weight=round(weight, 3),
        weight_unit=size.weight_unit,
        items=tuple(items),
        length=size.length,
        width=size.width,
        height=size.height,
        dimension_unit=size.dimension_unit,
    )


def build_label_request(
    order: LedgerOrder | PurchaseOrder,
    options: LabelOptions,
    profile: Mapping[str, ProfileEntry] | None = None,
) -> LabelRequest:
    """The packages of a label request, from the warehouse's default carton or the per-SKU profile.

    With a profile, each line's units go in cartons of `units_per_package`, each weighing that many units; lines
    whose SKU has no profile share one default carton. DataError (naming the SKU) when neither applies.
    """
    number = order.purchase_order_number
    cartons: list[Carton] = []
    leftovers: list[ShippedItem] = []
    for line in order.lines:
        entry = (profile or {}).get(line.vendor_product_identifier or "") if options.packages == "profile" else None
        if entry is None:
            leftovers.append(_item(line, line.ordered_quantity))
            continue
        remaining = line.ordered_quantity
        for _ in range(math.ceil(line.ordered_quantity / entry.units_per_package)):
            units = min(entry.units_per_package, remaining)
            remaining -= units
            cartons.append(
                _carton(f"{number}-{len(cartons) + 1}", entry, entry.weight * units, [_item(line, units)])
            )
    if leftovers:
        default = options.default_package
        if default is None:
            skus = sorted({item.vendor_product_identifier or item.item_sequence_number for item in leftovers})
            raise DataError(
                f"no package profile for SKU(s) {', '.join(skus)} and no default_package for this warehouse",
                code="NoPackage",
                subject=number,
            )
        cartons.append(_carton(f"{number}-{len(cartons) + 1}", default, default.weight, leftovers))
    return LabelRequest(number, order.selling_party_id, order.ship_from_party_id, tuple(cartons))


def label_request_from_packages(order: LedgerOrder, packages: Sequence[WarehousePackage]) -> LabelRequest:
    """The label request for the packages the warehouse weighed; items it did not place go in the first package.

    DataError when the packages file names an item that is not on the order, or more units than ordered.
    """
    number = order.purchase_order_number
    if not packages:
        raise DataError("the packages file has no package for this order", subject=number)
    by_sequence = {line.item_sequence_number.lstrip("0"): line for line in order.lines}
    by_sku = {line.vendor_product_identifier: line for line in order.lines if line.vendor_product_identifier}
    left = {line.item_sequence_number: line.ordered_quantity for line in order.lines}
    placed: list[list[ShippedItem]] = []
    for package in packages:
        items: list[ShippedItem] = []
        for sequence, sku, quantity in package.items:
            line = by_sequence.get((sequence or "").lstrip("0")) if sequence else by_sku.get(sku or "")
            if line is None:
                raise DataError(
                    f"package {package.package_id} holds item {sequence or sku}, which is not on the order",
                    code="UnknownItem",
                    subject=number,
                )
            if quantity > left[line.item_sequence_number]:
                raise DataError(
                    f"package {package.package_id} holds more of item {line.item_sequence_number} than was ordered",
                    code="TooManyUnits",
                    subject=number,
                )
            left[line.item_sequence_number] -= quantity
            items.append(_item(line, quantity))
        placed.append(items)
    rest = [_item(line, left[line.item_sequence_number]) for line in order.lines if left[line.item_sequence_number]]
    placed[0].extend(rest)
    cartons = tuple(
        Carton(
            container_identifier=package.package_id,
            weight=package.weight,
            weight_unit=package.weight_unit,
            items=tuple(items),
            length=package.length,
            width=package.width,
            height=package.height,
            dimension_unit=package.dimension_unit,
        )
        for package, items in zip(packages, placed, strict=True)
    )
    return LabelRequest(number, order.selling_party_id, order.ship_from_party_id, cartons)


# ---------------------------------------------------------------------------------------------- before export


@dataclass(frozen=True)
class LabelOutcome:
    """How one createShippingLabels ended; exactly one field besides the number is set."""

    purchase_order_number: str
    label: ShippingLabel | None = None
    refused: str | None = None  # Amazon refused the request: no label was made (hold the order)
    unsent: str | None = None  # never sent: the claim can be given back
    unknown: str | None = None  # a label may exist: the claim stays, the next run reads it first


@dataclass(frozen=True)
class DocumentPlan:
    """What to do for the documents of orders about to be exported."""

    request_labels: tuple[str, ...] = ()  # no label yet: claim, then createShippingLabels
    recover_labels: tuple[str, ...] = ()  # claimed by a run that crashed: getShippingLabel first
    drop_labels: tuple[str, ...] = ()  # created but not on the drop: read again, drop
    new_slips: tuple[str, ...] = ()  # needs a packing slip, not asked yet: remember when first asked
    fetch_slips: tuple[str, ...] = ()  # packing slips to look for now (new and waiting)


def plan_documents(
    orders: Mapping[str, bool],
    labels: Mapping[str, LabelRecord],
    slips: Mapping[str, PackingSlipRecord],
    *,
    labels_before_export: bool,
    packing_slips: bool,
) -> DocumentPlan:
    """Sort orders (number -> packing slip required) by what their labels and slips still need."""
    request, recover, drop, new_slips, fetch = [], [], [], [], []
    for number, slip_required in orders.items():
        if labels_before_export:
            label = labels.get(number)
            if label is None:
                request.append(number)
            elif label.state is LabelState.REQUESTING:
                recover.append(number)
            elif label.state is LabelState.CREATED:
                drop.append(number)
        if packing_slips and slip_required:
            slip = slips.get(number)
            if slip is None:
                new_slips.append(number)
                fetch.append(number)
            elif slip.state is PackingSlipState.WAITING:
                fetch.append(number)
    return DocumentPlan(tuple(request), tuple(recover), tuple(drop), tuple(new_slips), tuple(fetch))


@dataclass(frozen=True)
class Readiness:
    """Which orders may be exported now, which wait (and why), and whose packing slip is overdue."""

    ready: tuple[str, ...] = ()
    waiting: dict[str, str] = field(default_factory=dict)  # number -> reason, no PII
    overdue: tuple[str, ...] = ()  # the slip deadline passed: export flagged or hold, as configured


def plan_readiness(
    numbers: Sequence[str],
    labels: Mapping[str, LabelRecord],
    slips: Mapping[str, PackingSlipRecord],
    *,
    labels_before_export: bool,
    slip_deadline: timedelta,
    now: datetime,
) -> Readiness:
    """An order goes out once its label files are on the drop and its packing slip is there, missing, or overdue."""
    ready: list[str] = []
    waiting: dict[str, str] = {}
    overdue: list[str] = []
    for number in numbers:
        label = labels.get(number)
        if labels_before_export and (label is None or label.state is not LabelState.DROPPED):
            waiting[number] = "its Amazon shipping label is not on the drop yet"
            continue
        slip = slips.get(number)
        if slip is not None and slip.state is PackingSlipState.WAITING:
            if now - slip.first_try_at >= slip_deadline:
                overdue.append(number)
            else:
                waiting[number] = "Amazon has not made its packing slip available yet"
            continue
        ready.append(number)
    return Readiness(tuple(ready), waiting, tuple(overdue))


def listing_windows(oldest: datetime, now: datetime, *, margin: timedelta = timedelta(seconds=1)) -> list[TimeWindow]:
    """Windows of at most 7 days from just before `oldest` to now (getShippingLabels, getPackingSlips)."""
    windows: list[TimeWindow] = []
    cursor = oldest - margin
    while cursor < now:
        end = min(cursor + AMAZON_MAX_WINDOW, now)
        windows.append(TimeWindow(cursor, end))
        cursor = end
    return windows


def fetch_one_by_one(orders: int, windows: int, *, page_size: int = 100) -> bool:
    """Whether asking per order costs fewer requests than listing the windows (at least one page each)."""
    return orders <= max(windows, math.ceil(orders / page_size))


# ---------------------------------------------------------------------------------------------- orders file


@dataclass(frozen=True)
class OrderDocuments:
    """What the orders file says about one order's documents (identifiers and flags only)."""

    label_ship_method: str | None = None
    tracking_numbers: tuple[str, ...] = ()
    label_files: tuple[str, ...] = ()
    packing_slip_required: bool = False
    packing_slip_file: str | None = None
    packing_slip_missing: bool = False


def document_columns(
    numbers: Iterable[str], labels: Mapping[str, LabelRecord], slips: Mapping[str, PackingSlipRecord]
) -> dict[str, OrderDocuments]:
    """The extra orders-file values of each order, from the ledger alone (a crashed export is rebuilt the same)."""
    columns: dict[str, OrderDocuments] = {}
    for number in numbers:
        label = labels.get(number)
        slip = slips.get(number)
        packages = label.packages if label is not None and label.state is LabelState.DROPPED else ()
        label_format = label.label_format if label is not None else None
        columns[number] = OrderDocuments(
            label_ship_method=next((p.ship_method for p in packages if p.ship_method), None),
            tracking_numbers=tuple(p.tracking_number for p in packages),
            label_files=tuple(
                label_file_name(number, p.package_identifier, label_format) for p in packages if label_format
            ),
            packing_slip_required=slip is not None,
            packing_slip_file=packing_slip_file_name(number) if slip and slip.state is PackingSlipState.DROPPED
            else None,
            packing_slip_missing=slip is not None and slip.state is PackingSlipState.MISSING,
        )
    return columns


# ---------------------------------------------------------------------------------------------- cancellations


def plan_cancellation_windows(
    exported: Sequence[LedgerOrder], *, now: datetime, lookback: timedelta
) -> list[TimeWindow]:
    """Windows covering the exported orders still worth asking about (placed within the lookback)."""
    dates = [order.order_date for order in exported if now - order.order_date <= lookback]
    return plan_refetch_windows(dates, until=now) if dates else []


# ---------------------------------------------------------------------------------------------- shipments


def shipment_document_problem(
    purchase_order_number: str,
    tracking_numbers: Collection[str],
    label: LabelRecord | None,
    cancellation: CancellationNotice | None,
) -> str | None:
    """Why a shipment row must be held, not confirmed (for the shipments flow); None when it may go.

    A cancelled order must not be confirmed; when Amazon issued labels for the order, every tracking number in
    the shipment must be one of theirs (Amazon refuses the confirmation otherwise).
    """
    if cancellation is not None:
        told = f" (the warehouse was told in {cancellation.notice_file})" if cancellation.notified_at else ""
        return f"Amazon cancelled order {purchase_order_number} after it was exported{told}; not confirmed"
    if label is None or label.state is LabelState.REQUESTING:
        return None
    issued = {package.tracking_number for package in label.packages}
    unknown = sorted(set(tracking_numbers) - issued)
    if unknown:
        return (
            f"tracking number(s) {', '.join(unknown)} of order {purchase_order_number} were not issued on its "
            f"Amazon shipping label (issued: {', '.join(sorted(issued))})"
        )
    return None
