"""The pure decisions about labels, packing slips and cancellations (tasks/core/labels.py), and the label task."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tasks.core.config import LabelOptions, PackageSize
from tasks.core.errors import DataError, PermanentError, RequestRefusedError, TokenRefusedError, TransientError
from tasks.core.labels import (
    ProfileEntry,
    WarehousePackage,
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
    shipment_document_problem,
)
from tasks.core.models import (
    AmazonOrderStatus,
    CancellationNotice,
    LabelFormat,
    LabelPackage,
    LabelRecord,
    LabelRequest,
    LabelState,
    LedgerOrder,
    OrderLine,
    OrderState,
    PackingSlipRecord,
    PackingSlipState,
    PurchaseOrder,
)
from tasks.documents import create_shipping_labels
from tests.fakes import FakeVendorApi

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
DEFAULT = LabelOptions(labels="amazon", default_package=PackageSize(weight=2.0, weight_unit="LB"))


def _order(number: str = "PO1", *lines: tuple[str, str, int], when: datetime = NOW) -> LedgerOrder:
    return LedgerOrder(
        account="acme",
        purchase_order_number=number,
        selling_party_id="VENDOR1",
        ship_from_party_id="WH01",
        order_date=when,
        state=OrderState.ACKNOWLEDGED,
        lines=tuple(
            OrderLine(sequence, quantity, buyer_product_identifier=f"B{sku}", vendor_product_identifier=sku)
            for sequence, sku, quantity in (lines or (("1", "SKU-1", 1),))
        ),
    )


def _label(number: str, state: LabelState, *tracking: str) -> LabelRecord:
    packages = tuple(LabelPackage(f"{i:03d}", t, "UPS_GR_RES") for i, t in enumerate(tracking, start=1))
    return LabelRecord("acme", number, "WH01", state, LabelFormat.ZPL, packages, requested_at=NOW)


def _slip(number: str, state: PackingSlipState, first_try: datetime = NOW) -> PackingSlipRecord:
    return PackingSlipRecord("acme", number, "WH01", state, first_try)


# ---- packages ---------------------------------------------------------------------------------------------------


def test_the_default_package_holds_the_whole_order() -> None:
    request = build_label_request(_order("PO1", ("1", "A", 2), ("2", "B", 1)), DEFAULT)
    (carton,) = request.cartons
    assert (carton.weight, carton.weight_unit, carton.container_identifier) == (2.0, "LB", "PO1-1")
    assert [(i.item_sequence_number, i.shipped_quantity, i.vendor_product_identifier) for i in carton.items] == [
        ("1", 2, "A"),
        ("2", 1, "B"),
    ]
    assert (request.selling_party_id, request.ship_from_party_id) == ("VENDOR1", "WH01")


def test_the_profile_packs_units_per_carton_and_the_rest_in_the_default_carton() -> None:
    options = LabelOptions(labels="amazon", packages="profile", package_profile="p.csv",  # type: ignore[arg-type]
                           default_package=PackageSize(weight=1.0, weight_unit="KG"))
    profile = {"A": ProfileEntry("A", 1.5, "LB", 10, 8, 6, "IN", units_per_package=2)}
    request = build_label_request(_order("PO1", ("1", "A", 5), ("2", "B", 1)), options, profile)
    assert [(c.weight, c.items[0].shipped_quantity, c.length) for c in request.cartons[:3]] == [
        (3.0, 2, 10),
        (3.0, 2, 10),
        (1.5, 1, 10),
    ]
    default = request.cartons[3]
    assert (default.weight, default.weight_unit, default.items[0].vendor_product_identifier) == (1.0, "KG", "B")


def test_a_sku_without_profile_or_default_package_is_named() -> None:
    options = LabelOptions(labels="amazon", packages="profile", package_profile="p.csv")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="SKU-9") as caught:
        build_label_request(_order("PO1", ("1", "SKU-9", 1)), options, {})
    assert caught.value.subject == "PO1"


def test_weighed_packages_become_cartons_and_unplaced_items_go_in_the_first() -> None:
    order = _order("PO1", ("1", "A", 2), ("2", "B", 3))
    packages = [
        WarehousePackage("PO1", "BOX1", 3.0, "LB", items=(("1", None, 2),)),
        WarehousePackage("PO1", "BOX2", 1.0, "KG", 10, 10, 10, "CM", items=((None, "B", 1),)),
    ]
    request = label_request_from_packages(order, packages)
    first, second = request.cartons
    assert first.container_identifier == "BOX1"
    assert [(i.item_sequence_number, i.shipped_quantity) for i in first.items] == [("1", 2), ("2", 2)]
    assert [(i.item_sequence_number, i.shipped_quantity) for i in second.items] == [("2", 1)]
    assert (second.weight_unit, second.dimension_unit) == ("KG", "CM")


@pytest.mark.parametrize(
    ("items", "message"),
    [((("7", None, 1),), "not on the order"), (((None, "A", 3),), "more of item 1 than was ordered")],
)
def test_weighed_packages_must_fit_the_order(items: tuple, message: str) -> None:
    with pytest.raises(DataError, match=message):
        label_request_from_packages(_order("PO1", ("1", "A", 2)), [WarehousePackage("PO1", "X", 1, "LB", items=items)])


# ---- names -------------------------------------------------------------------------------------------------------


def test_file_names_are_deterministic_and_plain() -> None:
    assert label_file_name("PO1", "001", LabelFormat.ZPL) == "PO1_001.zpl"
    assert label_file_name("PO1", "002", LabelFormat.PNG) == "PO1_002.png"
    assert packing_slip_file_name("PO1") == "PO1.pdf"
    name = cancellations_file_name("acme corp", "main", NOW, "ab12")
    assert name == "cancellations_acme-corp_main_20260302T120000Z-ab12.csv"
    assert labels_manifest_name("weighed 1.CSV") == "labels_weighed-1.csv"
    with pytest.raises(ValueError, match="timezone"):
        cancellations_file_name("a", "b", NOW.replace(tzinfo=None), "x")


# ---- before export ----------------------------------------------------------------------------------------------


def test_plan_sorts_orders_by_what_their_documents_still_need() -> None:
    labels = {"P2": _label("P2", LabelState.REQUESTING), "P3": _label("P3", LabelState.CREATED, "T3"),
              "P4": _label("P4", LabelState.DROPPED, "T4")}
    slips = {"P2": _slip("P2", PackingSlipState.WAITING), "P3": _slip("P3", PackingSlipState.DROPPED)}
    orders = {"P1": True, "P2": True, "P3": True, "P4": False}
    plan = plan_documents(orders, labels, slips, labels_before_export=True, packing_slips=True)
    assert plan.request_labels == ("P1",)
    assert plan.recover_labels == ("P2",)
    assert plan.drop_labels == ("P3",)
    assert plan.new_slips == ("P1",)
    assert plan.fetch_slips == ("P1", "P2")
    none = plan_documents(orders, labels, slips, labels_before_export=False, packing_slips=False)
    assert none == type(plan)()


def test_an_order_waits_for_its_label_and_slip_until_the_slip_deadline() -> None:
    labels = {n: _label(n, LabelState.DROPPED, f"T{n}") for n in ("P1", "P2", "P3")}
    labels["P4"] = _label("P4", LabelState.CREATED, "T4")
    slips = {"P2": _slip("P2", PackingSlipState.WAITING, NOW - timedelta(minutes=30)),
             "P3": _slip("P3", PackingSlipState.WAITING, NOW - timedelta(hours=3))}
    readiness = plan_readiness(["P1", "P2", "P3", "P4"], labels, slips, labels_before_export=True,
                               slip_deadline=timedelta(hours=2), now=NOW)
    assert readiness.ready == ("P1",)
    assert readiness.overdue == ("P3",)
    assert set(readiness.waiting) == {"P2", "P4"}
    assert "packing slip" in readiness.waiting["P2"] and "label" in readiness.waiting["P4"]
    # labels that follow the order (weighed packages) do not hold it back
    later = plan_readiness(["P4"], labels, {}, labels_before_export=False, slip_deadline=timedelta(0), now=NOW)
    assert later.ready == ("P4",)


def test_document_columns_come_from_the_ledger_alone() -> None:
    labels = {"P1": _label("P1", LabelState.DROPPED, "1Z1", "1Z2"), "P2": _label("P2", LabelState.CREATED, "X")}
    slips = {"P1": _slip("P1", PackingSlipState.DROPPED), "P2": _slip("P2", PackingSlipState.MISSING)}
    columns = document_columns(["P1", "P2", "P3"], labels, slips)
    assert columns["P1"].tracking_numbers == ("1Z1", "1Z2")
    assert columns["P1"].label_files == ("P1_001.zpl", "P1_002.zpl")
    assert columns["P1"].label_ship_method == "UPS_GR_RES"
    assert (columns["P1"].packing_slip_required, columns["P1"].packing_slip_file) == (True, "P1.pdf")
    assert columns["P2"].tracking_numbers == () and columns["P2"].packing_slip_missing
    assert not columns["P3"].packing_slip_required and columns["P3"].label_files == ()


def test_listing_is_chosen_only_when_it_takes_fewer_requests() -> None:
    assert fetch_one_by_one(1, 1)
    assert not fetch_one_by_one(50, 1)
    assert fetch_one_by_one(3, 5)  # five weeks of windows for three orders: ask for each
    assert not fetch_one_by_one(500, 2)
    windows = listing_windows(NOW - timedelta(days=15), NOW)
    assert len(windows) == 3 and windows[-1].end == NOW and all(w.end - w.start <= timedelta(days=7) for w in windows)


# ---- cancellations and shipments ---------------------------------------------------------------------------------


def test_cancellation_windows_cover_exported_orders_within_the_lookback() -> None:
    exported = [_order("P1", when=NOW - timedelta(hours=2)), _order("P2", when=NOW - timedelta(days=40)),
                _order("P3", when=NOW - timedelta(hours=1))]
    windows = plan_cancellation_windows(exported, now=NOW, lookback=timedelta(days=30))
    assert len(windows) == 1
    assert windows[0].start <= NOW - timedelta(hours=2) and windows[0].end == NOW
    assert plan_cancellation_windows([], now=NOW, lookback=timedelta(days=30)) == []


def test_a_shipment_row_is_held_for_a_cancelled_order_or_a_tracking_number_amazon_did_not_issue() -> None:
    label = _label("P1", LabelState.DROPPED, "1Z1", "1Z2")
    notice = CancellationNotice("acme", "P1", "WH01", NOW, "orders.csv", NOW, "cancellations_x.csv", NOW)
    assert "cancelled" in str(shipment_document_problem("P1", ["1Z1"], label, notice))
    assert "cancellations_x.csv" in str(shipment_document_problem("P1", ["1Z1"], label, notice))
    mismatch = shipment_document_problem("P1", ["1Z1", "OTHER"], label, None)
    assert mismatch is not None and "OTHER" in mismatch and "1Z2" in mismatch
    assert shipment_document_problem("P1", ["1Z2", "1Z1"], label, None) is None
    assert shipment_document_problem("P1", ["ANY"], None, None) is None  # no Amazon label: the warehouse's own
    assert shipment_document_problem("P1", ["ANY"], _label("P1", LabelState.REQUESTING), None) is None


# ---- the createShippingLabels task, over the fake Amazon ---------------------------------------------------------


def _requests(api: FakeVendorApi, *numbers: str) -> list[LabelRequest]:
    for number in numbers:
        api.add(PurchaseOrder(number, "C", NOW, "VENDOR1", "WH01", "UPS_GR_RES", NOW, (OrderLine("1", 1),)))
    return [build_label_request(_order(number), DEFAULT) for number in numbers]


def test_each_request_ends_labelled_refused_or_unknown_without_stopping_the_others() -> None:
    api = FakeVendorApi()
    requests = _requests(api, "P1", "P2", "P3")
    api.set_status("P2", AmazonOrderStatus.CANCELLED)
    api.faults.fail("create_shipping_labels", TransientError("timed out (test)"), times=1)
    outcomes = {o.purchase_order_number: o for o in create_shipping_labels.fn(api, requests, workers=1)}
    assert outcomes["P1"].unknown and outcomes["P1"].label is None  # may exist: read back next run
    assert outcomes["P2"].refused and "cancelled" in outcomes["P2"].refused.lower()
    assert outcomes["P3"].label is not None and outcomes["P3"].label.packages[0].tracking_number


def test_a_refused_token_stops_the_batch_and_the_rest_are_unsent() -> None:
    api = FakeVendorApi()
    requests = _requests(api, "P1", "P2", "P3")
    api.faults.fail("create_shipping_labels", TokenRefusedError("RDT refused (test)", status=403), times=1)
    outcomes = create_shipping_labels.fn(api, requests, workers=1)
    assert [bool(o.unknown) for o in outcomes] == [True, False, False]
    assert [bool(o.unsent) for o in outcomes] == [False, True, True]
    assert api.labels == {}


def test_asking_twice_returns_the_existing_label() -> None:
    api = FakeVendorApi()
    requests = _requests(api, "P1")
    first = create_shipping_labels.fn(api, requests)[0].label
    second = create_shipping_labels.fn(api, requests)[0].label
    assert first == second and len(api.labels) == 1


def test_concurrent_requests_keep_their_order() -> None:
    api = FakeVendorApi()
    numbers = [f"P{i}" for i in range(12)]
    outcomes = create_shipping_labels.fn(api, _requests(api, *numbers), workers=4)
    assert [o.purchase_order_number for o in outcomes] == numbers
    assert all(o.label is not None for o in outcomes)


def test_other_permanent_refusals_hold_only_their_order() -> None:
    api = FakeVendorApi()
    requests = _requests(api, "P1", "P2")
    api.faults.fail("create_shipping_labels", RequestRefusedError("bad weight (test)", status=400), times=1)
    api.faults.fail("create_shipping_labels", PermanentError("conflict we do not know (test)", status=422), times=1)
    outcomes = create_shipping_labels.fn(api, requests, workers=1)
    assert [bool(o.refused) for o in outcomes] == [True, True]
