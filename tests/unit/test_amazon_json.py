"""Amazon JSON <-> domain translation, checked against Amazon's own model schemas."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from adapters.amazon.json import (
    iso_utc,
    parse_order,
    parse_orders_page,
    parse_restricted_data_token,
    parse_transaction_id,
    parse_transaction_status,
    to_acknowledgement_json,
    to_inventory_json,
    to_shipment_confirmation_json,
)
from tasks.core.errors import DataError
from tasks.core.models import (
    AcknowledgementLine,
    AmazonOrderStatus,
    InventoryItem,
    InventoryUpdate,
    OrderAcknowledgement,
    Package,
    RejectedOrder,
    ShipmentConfirmation,
    ShippedItem,
    TransactionState,
)
from tests.support.amazon_fixtures import amazon_order_json, model_validator

ORDERS_MODEL = "vendorDirectFulfillmentOrders_2021-12-28.json"
SHIPPING_MODEL = "vendorDirectFulfillmentShipping_2021-12-28.json"
INVENTORY_MODEL = "vendorDirectFulfillmentInventoryV1.json"
TRANSACTIONS_MODEL = "vendorDirectFulfillmentTransactions_2021-12-28.json"

PII = ("Jane", "Secretname", "Private Lane", "555 0100", "Happy birthday")


def test_iso_utc_sends_z_strings_never_spaces() -> None:
    moment = datetime(2026, 1, 5, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    assert iso_utc(moment) == "2026-01-05T10:00:00Z"
    assert iso_utc(datetime(2026, 1, 5, 10, 0, 0, 250000, tzinfo=UTC)) == "2026-01-05T10:00:00.250Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        iso_utc(datetime(2026, 1, 5))


def test_fixture_order_is_valid_against_the_model() -> None:
    model_validator(ORDERS_MODEL, "Order").validate(amazon_order_json())


def test_unit_of_measure_in_amazons_example_casing_is_accepted() -> None:
    raw = amazon_order_json()
    raw["orderDetails"]["items"][0]["orderedQuantity"]["unitOfMeasure"] = "EACH"  # as in the model's examples
    assert parse_order(raw).lines[0].unit_of_measure == "Each"


def test_parse_order_reads_every_field_and_is_lenient() -> None:
    order = parse_order(amazon_order_json("PO0042"))

    assert order.purchase_order_number == "PO0042"
    assert order.customer_order_number == "C-PO0042"
    assert order.order_date == datetime(2026, 1, 5, 10, 15, tzinfo=UTC)
    assert order.required_ship_date == datetime(2026, 1, 6, 23, 59, tzinfo=UTC)
    assert order.promised_delivery_date == datetime(2026, 1, 9, 23, 59, tzinfo=UTC)
    assert (order.selling_party_id, order.ship_from_party_id, order.ship_method) == ("VENDOR1", "WH01", "UPS_GR_RES")
    assert order.status is AmazonOrderStatus.NEW
    assert order.is_gift and not order.is_priority
    (line,) = order.lines
    assert line.item_sequence_number == "00001"
    assert line.ordered_quantity == 2
    assert line.unit_of_measure == "Each"
    assert (line.buyer_product_identifier, line.vendor_product_identifier) == ("B000ASIN01", "SKU-1")
    assert line.gift_message == "Happy birthday Jane"
    assert order.ship_to is not None
    assert order.ship_to.country_code == "USA"
    assert order.ship_to.city == "Seattle"
    assert not any(secret in repr(order) for secret in PII)


def test_parse_order_accepts_offsets_and_naive_dates() -> None:
    order = parse_order(amazon_order_json(orderDate="2026-01-05T02:15:00-08:00"))
    assert order.order_date == datetime(2026, 1, 5, 10, 15, tzinfo=UTC)
    order = parse_order(amazon_order_json(orderDate="2026-01-05T10:15:00"))
    assert order.order_date == datetime(2026, 1, 5, 10, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("broken", "field"),
    [
        ({"items": []}, "orderDetails.items"),
        ({"shipToParty": {"name": "Jane Secretname", "countryCode": "US"}}, "shipToParty.addressLine1"),
        ({"orderDate": "yesterday"}, "orderDetails.orderDate"),
        ({"sellingParty": {}}, "orderDetails.sellingParty.partyId"),
    ],
)
def test_malformed_order_is_a_data_error_naming_order_and_field_without_pii(
    broken: dict[str, object], field: str
) -> None:
    with pytest.raises(DataError) as caught:
        parse_order(amazon_order_json("PO0007", **broken))
    assert caught.value.subject == "PO0007"
    assert field in str(caught.value)
    assert not any(secret in str(caught.value) for secret in PII)


def test_broken_item_names_its_index() -> None:
    raw = amazon_order_json("PO0008")
    raw["orderDetails"]["items"].append({"itemSequenceNumber": "00002", "orderedQuantity": {"amount": "many"}})
    with pytest.raises(DataError, match=r"items\[1\]\.orderedQuantity\.amount"):
        parse_order(raw)


def test_page_keeps_good_orders_and_reports_bad_ones() -> None:
    body = {
        "orders": [amazon_order_json("PO1"), {"purchaseOrderNumber": "PO2"}, amazon_order_json("PO3"), {"x": 1}],
        "pagination": {"nextToken": "MDAwMDAwMDAwMQ=="},
    }
    orders, rejected, token = parse_orders_page(body)
    assert [o.purchase_order_number for o in orders] == ["PO1", "PO3"]
    assert rejected == (
        RejectedOrder("PO2", "missing or malformed field orderDetails"),
        RejectedOrder("", "missing or malformed field purchaseOrderNumber"),
    )
    assert token == "MDAwMDAwMDAwMQ=="
    assert parse_orders_page({"orders": []}) == ((), (), None)


def test_a_rejected_order_names_the_field_never_its_value() -> None:
    broken = amazon_order_json("PO4", shipToParty={"name": "Jane Secretname", "city": "Seattle"})
    _, rejected, _ = parse_orders_page({"orders": [broken]})
    assert rejected == (RejectedOrder("PO4", "missing or malformed field orderDetails.shipToParty.addressLine1"),)
    assert not any(secret in repr(rejected) for secret in PII)


def _ack() -> OrderAcknowledgement:
    return OrderAcknowledgement(
        purchase_order_number="PO1",
        vendor_order_number="V-PO1",
        acknowledgement_date=datetime(2026, 1, 5, 11, 0, tzinfo=UTC),
        selling_party_id="VENDOR1",
        ship_from_party_id="WH01",
        lines=(
            AcknowledgementLine("00001", 2, buyer_product_identifier="B000ASIN01", vendor_product_identifier="SKU-1",
                                unit_of_measure="EACH"),
            AcknowledgementLine("00002", 1, vendor_product_identifier="SKU-2"),
        ),
    )


def test_acknowledgement_json_is_valid_against_the_model() -> None:
    item = to_acknowledgement_json(_ack())
    model_validator(ORDERS_MODEL, "SubmitAcknowledgementRequest").validate({"orderAcknowledgements": [item]})
    assert item["acknowledgementDate"] == "2026-01-05T11:00:00Z"
    assert item["acknowledgementStatus"] == {"code": "00", "description": "Accepted"}
    assert item["itemAcknowledgements"][0]["acknowledgedQuantity"] == {"amount": 2, "unitOfMeasure": "Each"}
    assert "buyerProductIdentifier" not in item["itemAcknowledgements"][1]


def _confirmation(**overrides: object) -> ShipmentConfirmation:
    item = ShippedItem("00001", 2, buyer_product_identifier="B000ASIN01", vendor_product_identifier="SKU-1")
    package = Package(
        container_identifier="BOX1",
        tracking_number="1Z999",
        weight=1.50,
        weight_unit="kg",
        items=(item,),
        ship_method="UPS_GR_RES",
        scac="UPSN",
        length=30.0,
        width=20.0,
        height=10.0,
        dimension_unit="cm",
    )
    values: dict[str, object] = {
        "purchase_order_number": "PO1",
        "shipped_date": datetime(2026, 1, 6, 15, 30, tzinfo=UTC),
        "selling_party_id": "VENDOR1",
        "ship_from_party_id": "WH01",
        "items": (item,),
        "packages": (package,),
    }
    values.update(overrides)
    return ShipmentConfirmation(**values)  # type: ignore[arg-type]


def test_shipment_confirmation_json_is_valid_against_the_model() -> None:
    body = to_shipment_confirmation_json(_confirmation())
    model_validator(SHIPPING_MODEL, "SubmitShipmentConfirmationsRequest").validate({"shipmentConfirmations": [body]})
    assert body["shipmentDetails"] == {"shippedDate": "2026-01-06T15:30:00Z", "shipmentStatus": "SHIPPED"}
    assert body["items"][0]["itemSequenceNumber"] == 1  # an integer in Shipping, a string in Orders
    (container,) = body["containers"]
    assert container["weight"] == {"unitOfMeasure": "KG", "value": "1.5"}
    assert container["dimensions"] == {"length": "30", "width": "20", "height": "10", "unitOfMeasure": "CM"}
    assert container["packedItems"][0]["packedQuantity"] == {"amount": 2, "unitOfMeasure": "Each"}
    shipped_by = (container["trackingNumber"], container["shipMethod"], container["scacCode"])
    assert shipped_by == ("1Z999", "UPS_GR_RES", "UPSN")


def test_shipment_confirmation_rejects_what_amazon_would_fail_later() -> None:
    with pytest.raises(DataError, match="sequence number") as caught:
        to_shipment_confirmation_json(_confirmation(items=(ShippedItem("A1", 1, vendor_product_identifier="S"),)))
    assert caught.value.subject == "PO1"
    with pytest.raises(DataError, match="neither Shipped"):
        to_shipment_confirmation_json(_confirmation(confirmation_type="Lost"))
    floor = to_shipment_confirmation_json(_confirmation(confirmation_type="FLOOR_DENIAL"))
    assert floor["shipmentDetails"]["shipmentStatus"] == "FLOOR_DENIAL"
    with pytest.raises(DataError, match="EMPTY_PACKAGES") as empty:
        to_shipment_confirmation_json(_confirmation(packages=()))
    assert empty.value.subject == "PO1"


def test_a_floor_denial_carries_no_containers() -> None:
    zero = ShippedItem("00001", 0, vendor_product_identifier="SKU-1")
    body = to_shipment_confirmation_json(_confirmation(confirmation_type="FloorDenial", items=(zero,), packages=()))
    model_validator(SHIPPING_MODEL, "SubmitShipmentConfirmationsRequest").validate({"shipmentConfirmations": [body]})
    assert "containers" not in body and body["items"][0]["shippedQuantity"]["amount"] == 0


def test_inventory_json_is_valid_against_the_model() -> None:
    update = InventoryUpdate(
        selling_party_id="VENDOR1",
        warehouse_id="WH01",
        items=(
            InventoryItem("SKU-1", 10, buyer_product_identifier="B000ASIN01"),
            InventoryItem("SKU-2", 0, is_obsolete=True),
        ),
        is_full_update=False,
    )
    inventory = to_inventory_json(update)
    model_validator(INVENTORY_MODEL, "SubmitInventoryUpdateRequest").validate({"inventory": inventory})
    assert inventory["isFullUpdate"] is False
    assert inventory["items"][1] == {
        "vendorProductIdentifier": "SKU-2",
        "availableQuantity": {"amount": 0, "unitOfMeasure": "Each"},
        "isObsolete": True,
    }


def test_transaction_status_accepts_both_error_shapes() -> None:
    nested = {
        "transactionStatus": {
            "transactionId": "T1",
            "status": "Failure",
            "errors": {"errors": [{"code": "INVALID_ORDER_ID", "message": "Invalid order ID.", "details": "PO9"}]},
        }
    }
    model_validator(TRANSACTIONS_MODEL, "TransactionStatus").validate(nested)
    status = parse_transaction_status(nested, "T1")
    assert status.status is TransactionState.FAILURE
    assert [(e.code, e.message, e.details) for e in status.errors] == [("INVALID_ORDER_ID", "Invalid order ID.", "PO9")]

    errors = [{"code": "EMPTY_PACKAGES", "message": "m"}]
    bare = {"transactionStatus": {"transactionId": "T2", "status": "Failure", "errors": errors}}
    assert [e.code for e in parse_transaction_status(bare, "T2").errors] == ["EMPTY_PACKAGES"]

    v1 = {"payload": {"transactionStatus": {"transactionId": "T3", "status": "SUCCESS"}}}
    assert parse_transaction_status(v1, "T3").status is TransactionState.SUCCESS


def test_transaction_status_without_status_is_a_data_error() -> None:
    with pytest.raises(DataError) as caught:
        parse_transaction_status({"transactionStatus": {"transactionId": "T1", "status": "Weird"}}, "T1")
    assert caught.value.subject == "T1"


def test_transaction_id_and_rdt_answers() -> None:
    assert parse_transaction_id({"transactionId": "T1"}) == "T1"
    assert parse_transaction_id({"payload": {"transactionId": "T2"}}) == "T2"
    with pytest.raises(ValueError, match="no transactionId"):
        parse_transaction_id({"payload": {}})
    rdt = {"restrictedDataToken": "Atz.sprdt|x", "expiresIn": 3600}
    assert parse_restricted_data_token(rdt) == ("Atz.sprdt|x", 3600.0)
    with pytest.raises(ValueError, match="no restrictedDataToken"):
        parse_restricted_data_token({})
