"""Label-related files and JSON: the packages and profile files we read, the files we write, Amazon's label JSON."""

from __future__ import annotations

import base64
import csv
import io
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from adapters.amazon.json import (
    parse_label_page,
    parse_order,
    parse_order_numbers_page,
    parse_packing_slip,
    parse_packing_slips_page,
    parse_shipping_label,
    to_label_request_json,
)
from tasks.core.config import FileOptions, LabelOptions, PackageSize
from tasks.core.errors import ConfigError, ParseError
from tasks.core.files import ORDER_COLUMNS, ORDER_DOCUMENT_COLUMNS, build_orders_file
from tasks.core.label_files import (
    CANCELLATION_COLUMNS,
    ManifestRow,
    build_cancellations_file,
    build_labels_manifest,
    to_packages,
    to_profile,
)
from tasks.core.labels import OrderDocuments
from tasks.core.models import (
    CancellationNotice,
    Carton,
    LabelFormat,
    LabelRequest,
    OrderLine,
    PurchaseOrder,
    ShippedItem,
)
from tasks.core.validation import validate_package_profile, validate_packages
from tests.support.amazon_fixtures import amazon_order_json, model_validator

SHIPPING_MODEL = "vendorDirectFulfillmentShipping_2021-12-28.json"
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
OPTIONS = FileOptions()


def _csv(data: bytes, delimiter: str = ",") -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8")), delimiter=delimiter))


# ---- configuration ----------------------------------------------------------------------------------------------


def test_label_options_say_what_each_package_source_needs() -> None:
    assert LabelOptions().labels == "none" and LabelOptions().cancellations
    with pytest.raises(ValidationError, match="default_package"):
        LabelOptions(labels="amazon")
    with pytest.raises(ValidationError, match="package_profile"):
        LabelOptions(labels="amazon", packages="profile")
    assert LabelOptions(labels="amazon", packages="file").default_package is None
    with pytest.raises(ValidationError, match="together"):
        PackageSize(weight=1, length=3)
    with pytest.raises(ValidationError):
        PackageSize(weight=0)
    with pytest.raises(ValidationError):
        LabelOptions(packing_slip_overdue="ignore")  # type: ignore[arg-type]


# ---- packages file ----------------------------------------------------------------------------------------------


PACKAGES = (
    "purchase_order_number,package_id,weight,weight_unit,length,width,height,dimension_unit,vendor_sku,quantity\r\n"
    "PO1,BOX1,3.2,lb,12,9,4,in,A,2\r\n"
    "PO1,BOX1,3.2,LB,12,9,4,IN,B,1\r\n"
    "PO1,BOX2,1.0,KG,,,,,,\r\n"
    "PO2,P-1,2.0,KG,10,,,,,\r\n"  # half the dimensions: PO2 is held back whole
    "PO2,P-2,1.0,KG,,,,,,\r\n"
    "PO3,X,1.0,LB,,,,,,3\r\n"  # a quantity of nothing
    "PO4,A,1.0,LB,,,,,,\r\n"
    "PO4,A,2.0,LB,,,,,,\r\n"  # the same package weighs twice
)


def test_packages_are_validated_and_an_order_with_a_bad_row_is_held_whole() -> None:
    result = validate_packages(PACKAGES.encode(), OPTIONS, file_name="weighed.csv")
    assert set(result.held_orders) == {"PO2", "PO3"}
    reasons = " ".join(result.errors["reason"].to_list())
    assert "length, width, height and dimension unit must be given together" in reasons
    assert "a quantity needs an item sequence number or a vendor SKU" in reasons
    assert "labelled whole or not at all" in reasons
    packages, conflicts = to_packages(result)
    assert set(packages) == {"PO1"}
    assert conflicts == {"PO4": "package A is given different weights or sizes on different rows"}
    box1, box2 = packages["PO1"]
    assert (box1.package_id, box1.weight_unit, box1.dimension_unit, box1.items) == (
        "BOX1", "LB", "IN", ((None, "A", 2), (None, "B", 1))
    )
    assert (box2.package_id, box2.items, box2.length) == ("BOX2", (), None)


def test_a_packages_file_with_the_warehouses_headers() -> None:
    options = FileOptions(delimiter=";", columns={"packages": {"purchase_order_number": "PO", "package_id": "Box"}})
    data = b"PO;Box;Weight;Weight Unit\nPO9;1;2,5;KG\nPO9;2;1.5;KG\n"
    result = validate_packages(data, options, file_name="w.csv")
    assert result.errors.filter(result.errors["row"] == 2).height == 1  # "2,5" is not a number
    assert result.held_orders == ("PO9",)


def test_the_package_profile_gives_each_sku_once() -> None:
    data = (
        b"vendor_sku,weight,weight_unit,length,width,height,dimension_unit,units_per_package\n"
        b"A,1.5,LB,10,8,6,IN,2\nB,0.4,KG,,,,,\nC,1,LB,,,,,\nC,2,LB,,,,,\n"
    )
    result = validate_package_profile(data, OPTIONS, file_name="profile.csv")
    assert "SKU is listed 2 times" in " ".join(result.errors["reason"].to_list())
    profile = to_profile(result)
    assert set(profile) == {"A", "B"}
    assert (profile["A"].units_per_package, profile["A"].length) == (2, 10.0)
    assert (profile["B"].units_per_package, profile["B"].weight_unit) == (1, "KG")


# ---- files we write ---------------------------------------------------------------------------------------------


def test_the_cancellations_file_has_one_row_per_order_and_no_pii() -> None:
    notices = [
        CancellationNotice("acme", "PO1", "WH01", NOW, "orders_a.csv", NOW),
        CancellationNotice("acme", "PO2", "WH01", NOW, None, NOW),
    ]
    rows = _csv(build_cancellations_file(notices, OPTIONS))
    assert tuple(rows[0]) == CANCELLATION_COLUMNS
    assert [(r["purchase_order_number"], r["exported_in_file"]) for r in rows] == [("PO1", "orders_a.csv"),
                                                                                   ("PO2", "")]
    assert rows[0]["order_date"] == "2026-03-02T12:00:00Z"
    semicolon = build_cancellations_file(notices, FileOptions(delimiter=";", datetime_format="%d.%m.%Y %H:%M"))
    assert _csv(semicolon, ";")[0]["detected_at"] == "02.03.2026 12:00"
    with pytest.raises(ConfigError, match="encoding"):
        build_cancellations_file(notices, FileOptions(encoding="no-such-codec"))


def test_the_labels_manifest_maps_the_warehouses_packages_to_label_files() -> None:
    rows = _csv(build_labels_manifest([ManifestRow("PO1", "BOX1", "001", "1Z1", "UPS_GR_RES", "UPS Ground",
                                                   "PO1_001.zpl")], OPTIONS))
    assert rows == [{"purchase_order_number": "PO1", "package_id": "BOX1", "amazon_package_id": "001",
                     "tracking_number": "1Z1", "ship_method": "UPS_GR_RES", "ship_method_name": "UPS Ground",
                     "label_file": "PO1_001.zpl"}]


def _purchase_order(number: str, lines: int = 2) -> PurchaseOrder:
    return PurchaseOrder(number, "C-1", NOW, "VENDOR1", "WH01", "UPS_GR_RES", NOW,
                         tuple(OrderLine(str(i), 1, vendor_product_identifier=f"S{i}") for i in range(1, lines + 1)))


def test_the_orders_file_carries_document_columns_only_when_asked() -> None:
    orders = [_purchase_order("PO1"), _purchase_order("PO2", 1)]
    plain = _csv(build_orders_file(orders, OPTIONS))
    assert tuple(plain[0]) == ORDER_COLUMNS
    documents = {
        "PO1": OrderDocuments("UPS_GR_RES", ("1Z1", "1Z2"), ("PO1_001.zpl", "PO1_002.zpl"), True, "PO1.pdf", False),
        "PO2": OrderDocuments(packing_slip_required=True, packing_slip_missing=True),
    }
    options = FileOptions(columns={"orders": {"label_tracking_numbers": "Tracking"}})
    rows = _csv(build_orders_file(orders, options, documents))
    assert tuple(rows[0])[-len(ORDER_DOCUMENT_COLUMNS):] == (
        "label_ship_method", "Tracking", "label_files", "packing_slip_required", "packing_slip_file",
        "packing_slip_missing",
    )
    assert [r["purchase_order_number"] for r in rows] == ["PO1", "PO1", "PO2"]  # line order kept by the join
    assert {r["Tracking"] for r in rows[:2]} == {"1Z1 1Z2"}
    assert (rows[0]["label_files"], rows[0]["packing_slip_file"], rows[0]["packing_slip_missing"]) == (
        "PO1_001.zpl PO1_002.zpl", "PO1.pdf", "false"
    )
    assert (rows[2]["Tracking"], rows[2]["packing_slip_required"], rows[2]["packing_slip_missing"]) == (
        "", "true", "true"
    )


# ---- Amazon JSON ------------------------------------------------------------------------------------------------


def test_label_requests_conform_to_the_model() -> None:
    carton = Carton("PO1-1", 2.5, "lbs", (ShippedItem("00001", 2, "B01", "SKU-1"),), 12, 8, 4, "in")
    one = to_label_request_json(LabelRequest("PO1", "VENDOR1", "WH01", (carton,)))
    model_validator(SHIPPING_MODEL, "CreateShippingLabelsRequest").validate(one)
    (container,) = one["containers"]
    assert container["weight"] == {"unitOfMeasure": "LB", "value": "2.5"}
    assert container["dimensions"] == {"length": "12", "width": "8", "height": "4", "unitOfMeasure": "IN"}
    assert container["packedItems"][0]["itemSequenceNumber"] == 1 and "containerSequenceNumber" not in container
    two = to_label_request_json(LabelRequest("PO1", "VENDOR1", "WH01", (carton, carton)))
    assert [c["containerSequenceNumber"] for c in two["containers"]] == [1, 2]
    bare = to_label_request_json(LabelRequest("PO1", "VENDOR1", "WH01", ()))
    assert bare == {"sellingParty": {"partyId": "VENDOR1"}, "shipFromParty": {"partyId": "WH01"}}


def _label_json(content: str = base64.b64encode(b"^XA^XZ").decode()) -> dict:
    return {
        "purchaseOrderNumber": "PO1",
        "sellingParty": {"partyId": "VENDOR1"},
        "shipFromParty": {"partyId": "WH01"},
        "labelFormat": "ZPL",
        "labelData": [{"packageIdentifier": "001", "trackingNumber": "1Z1", "shipMethod": "UPS_GR_RES",
                       "shipMethodName": "UPS Ground", "content": content}],
    }


def test_shipping_labels_are_read_and_decoded() -> None:
    raw = _label_json()
    model_validator(SHIPPING_MODEL, "ShippingLabel").validate(raw)
    label = parse_shipping_label(raw)
    assert (label.label_format, label.ship_from_party_id) == (LabelFormat.ZPL, "WH01")
    (package,) = label.packages
    assert (package.tracking_number, package.ship_method, package.content) == ("1Z1", "UPS_GR_RES", b"^XA^XZ")
    assert "XA" not in repr(package)  # the label shows an address: never in logs
    page = parse_label_page({"shippingLabels": [raw], "pagination": {"nextToken": "T2"}})
    assert page.next_token == "T2" and page.labels == (label,)
    assert parse_label_page({}).labels == ()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda raw: raw.update(labelFormat="PDF"), "labelFormat"),
        (lambda raw: raw["labelData"][0].update(content="not base64!"), "not base64"),
        (lambda raw: raw["labelData"][0].pop("trackingNumber"), "trackingNumber"),
        (lambda raw: raw.update(labelData=[]), "labelData"),
    ],
)
def test_a_malformed_label_is_a_parse_error_naming_the_field(change, field: str) -> None:
    raw = _label_json()
    change(raw)
    with pytest.raises(ParseError, match=field) as caught:
        parse_shipping_label(raw)
    assert caught.value.subject == "PO1"


def test_packing_slips_and_order_numbers_are_read() -> None:
    raw = {"purchaseOrderNumber": "PO1", "content": base64.b64encode(b"%PDF-1.4").decode(),
           "contentType": "application/pdf"}
    model_validator(SHIPPING_MODEL, "PackingSlip").validate(raw)
    slip = parse_packing_slip(raw)
    assert slip.content == b"%PDF-1.4" and "PDF" not in repr(slip)
    assert parse_packing_slips_page({"packingSlips": [raw]}).slips == (slip,)
    numbers = parse_order_numbers_page({"orders": [{"purchaseOrderNumber": "A"}, {"purchaseOrderNumber": "B"}],
                                        "pagination": {"nextToken": "N"}})
    assert (numbers.numbers, numbers.next_token) == (("A", "B"), "N")
    with pytest.raises(ParseError):
        parse_order_numbers_page({"orders": "nope"})


def test_the_packing_slip_flag_of_an_order_is_read() -> None:
    raw = amazon_order_json()
    raw["orderDetails"]["shipmentDetails"]["isPslipRequired"] = True
    assert parse_order(raw).is_pslip_required
    raw["orderDetails"]["shipmentDetails"]["isPslipRequired"] = False
    assert not parse_order(raw).is_pslip_required
