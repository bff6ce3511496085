"""Translation between Amazon's VDF JSON (Orders, Shipping, Transactions 2021-12-28; Inventory v1) and our models."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from tasks.core.errors import DataError, ParseError
from tasks.core.models import (
    AcknowledgementLine,
    Address,
    AmazonErrorDetail,
    AmazonOrderStatus,
    Carton,
    InventoryUpdate,
    LabelFormat,
    LabelPackage,
    LabelPage,
    LabelRequest,
    OrderAcknowledgement,
    OrderLine,
    OrderNumbersPage,
    Package,
    PackingSlip,
    PackingSlipPage,
    PurchaseOrder,
    RejectedOrder,
    ShipmentConfirmation,
    ShippedItem,
    ShippingLabel,
    TransactionState,
    TransactionStatus,
)
from tasks.core.redaction import remember_personal

Json = dict[str, Any]


def iso_utc(moment: datetime) -> str:
    """ISO-8601 in UTC with a Z; sp_api would send str(datetime), with a space, which Amazon rejects."""
    if moment.tzinfo is None:
        raise ValueError("Amazon timestamps need timezone-aware datetimes")
    moment = moment.astimezone(UTC)
    if moment.microsecond:
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_datetime(value: Any) -> datetime:
    """Read an Amazon date-time leniently: Z or an offset; a naive value is taken as UTC."""
    if not isinstance(value, str) or not value:
        raise ValueError("not a date-time string")
    parsed = datetime.fromisoformat(value.strip().replace(" ", "T", 1) if "T" not in value else value.strip())
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def normalise_unit(value: Any) -> str:
    """Amazon's own examples send "EACH" against the enum "Each"; accept any case, send "Each"."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "each"):
        return "Each"
    return str(value)


def _decimal_text(value: float) -> str:
    """Amazon's Decimal is a JSON string without exponent, e.g. "1.5" or "100"."""
    try:
        number = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"{value!r} is not a number") from exc
    text = format(number.normalize(), "f")
    return text if text != "-0" else "0"


# ---------------------------------------------------------------- orders (Amazon -> domain)


class _Missing(Exception):
    """A required field is absent or has the wrong type; carries the field path only (never its value)."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def _get(node: Any, path: str, *, required: bool = True) -> Any:
    value = node
    for key in path.split("."):
        value = value.get(key) if isinstance(value, Mapping) else None
        if value is None:
            if required:
                raise _Missing(path)
            return None
    return value


def _text(node: Any, path: str, *, required: bool = True) -> str | None:
    value = _get(node, path, required=required)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _Missing(path)
    text = str(value)
    if required and not text.strip():
        raise _Missing(path)
    return text


def _int(node: Any, path: str) -> int:
    value = _get(node, path)
    if isinstance(value, bool):
        raise _Missing(path)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _Missing(path) from None


def _when(node: Any, path: str, *, required: bool = True) -> datetime | None:
    value = _get(node, path, required=required)
    if value is None:
        return None
    try:
        return parse_datetime(value)
    except ValueError:
        raise _Missing(path) from None


def _flag(node: Any, path: str) -> bool:
    value = _get(node, path, required=False)
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def _address(node: Any) -> Address | None:
    if not isinstance(node, Mapping):
        raise _Missing("shipToParty")
    try:
        return _read_address(node)
    except _Missing as missing:
        raise _Missing(f"shipToParty.{missing.path}") from None


def _read_address(node: Mapping[str, Any]) -> Address:

    def opt(key: str) -> str | None:
        value = node.get(key)
        return str(value) if value is not None else None

    address = Address(
        name=_text(node, "name") or "",
        address_line1=_text(node, "addressLine1") or "",
        state_or_region=_text(node, "stateOrRegion") or "",
        # ISO alpha-2 per the model, but Amazon's own examples send "USA": keep what was sent.
        country_code=(_text(node, "countryCode") or "").upper(),
        address_line2=opt("addressLine2"),
        address_line3=opt("addressLine3"),
        city=opt("city"),
        county=opt("county"),
        district=opt("district"),
        postal_code=opt("postalCode"),
        phone=opt("phone"),
        attention=opt("attention"),
    )
    # should a library ever log a payload, these values come out [redacted]
    remember_personal(
        address.name, address.address_line1, address.address_line2, address.address_line3, address.phone,
        address.attention,
    )
    return address


def _order_line(item: Any, index: int) -> OrderLine:
    if not isinstance(item, Mapping):
        raise _Missing(f"items[{index}]")
    try:
        return OrderLine(
            item_sequence_number=_text(item, "itemSequenceNumber") or "",
            ordered_quantity=_int(item, "orderedQuantity.amount"),
            buyer_product_identifier=_text(item, "buyerProductIdentifier", required=False),
            vendor_product_identifier=_text(item, "vendorProductIdentifier", required=False),
            unit_of_measure=normalise_unit(_get(item, "orderedQuantity.unitOfMeasure", required=False)),
            title=_text(item, "title", required=False),
            gift_message=_remembered(_text(item, "giftDetails.giftMessage", required=False)),
        )
    except _Missing as missing:
        raise _Missing(f"items[{index}].{missing.path}") from None


def _remembered(personal: str | None) -> str | None:
    """A personal value, handed to the log redactor on its way."""
    remember_personal(personal)
    return personal


def _status(value: Any) -> AmazonOrderStatus | None:
    if value is None:
        return None
    try:
        return AmazonOrderStatus(str(value).upper())
    except ValueError:
        raise _Missing("orderDetails.orderStatus") from None


def _order_number(raw: Any) -> str | None:
    number = raw.get("purchaseOrderNumber") if isinstance(raw, Mapping) else None
    return str(number) if isinstance(number, str | int) and str(number) else None


def _read_order(raw: Any, number: str | None) -> PurchaseOrder:
    """Raises _Missing with the field's full path from the order root."""
    try:
        if number is None:
            raise _Missing("purchaseOrderNumber")
        details = _get(raw, "orderDetails")
        items = _get(details, "items")
        if not isinstance(items, list) or not items:
            raise _Missing("orderDetails.items")
        return PurchaseOrder(
            purchase_order_number=number,
            customer_order_number=_text(details, "customerOrderNumber") or "",
            order_date=_when(details, "orderDate") or datetime.min,
            selling_party_id=_text(details, "sellingParty.partyId") or "",
            ship_from_party_id=_text(details, "shipFromParty.partyId") or "",
            ship_method=_text(details, "shipmentDetails.shipMethod") or "",
            required_ship_date=_when(details, "shipmentDetails.shipmentDates.requiredShipDate") or datetime.min,
            lines=tuple(_order_line(item, index) for index, item in enumerate(items)),
            status=_status(details.get("orderStatus")),
            is_gift=_flag(details, "shipmentDetails.isGift"),
            is_priority=_flag(details, "shipmentDetails.isPriorityShipment"),
            promised_delivery_date=_when(
                details, "shipmentDetails.shipmentDates.promisedDeliveryDate", required=False
            ),
            ship_to=_address(_get(details, "shipToParty")),
            is_pslip_required=_flag(details, "shipmentDetails.isPslipRequired"),
        )
    except _Missing as missing:
        if missing.path.startswith(("purchaseOrderNumber", "orderDetails")):
            raise
        raise _Missing(f"orderDetails.{missing.path}") from None


def parse_order(raw: Any) -> PurchaseOrder:
    """One `Order` object -> PurchaseOrder; DataError names the order and the field, never a value."""
    number = _order_number(raw)
    try:
        return _read_order(raw, number)
    except _Missing as missing:
        raise DataError(
            f"Amazon sent an order with a missing or malformed field {missing.path}",
            code="MalformedOrder",
            subject=number,
        ) from None


def parse_orders_page(body: Any) -> tuple[tuple[PurchaseOrder, ...], tuple[RejectedOrder, ...], str | None]:
    """An `OrderList` -> (good orders, the orders that could not be read, next token or None).

    A rejected order without a purchase order number gets "" as its number.
    """
    if not isinstance(body, Mapping) or not isinstance(body.get("orders", []), list):
        raise ValueError("getOrders answered without an orders list")
    orders: list[PurchaseOrder] = []
    rejected: list[RejectedOrder] = []
    for raw in body.get("orders") or []:
        number = _order_number(raw)
        try:
            orders.append(_read_order(raw, number))
        except _Missing as missing:
            rejected.append(RejectedOrder(number or "", f"missing or malformed field {missing.path}"))
    pagination = body.get("pagination")
    token = pagination.get("nextToken") if isinstance(pagination, Mapping) else None
    return tuple(orders), tuple(rejected), (str(token) if token else None)


# ---------------------------------------------------------------- writes (domain -> Amazon)


def _party(party_id: str) -> Json:
    return {"partyId": party_id}


def _identifiers(buyer: str | None, vendor: str | None) -> Json:
    ids: Json = {}
    if buyer is not None:
        ids["buyerProductIdentifier"] = buyer
    if vendor is not None:
        ids["vendorProductIdentifier"] = vendor
    return ids


def _ack_line(line: AcknowledgementLine) -> Json:
    return {
        "itemSequenceNumber": line.item_sequence_number,
        **_identifiers(line.buyer_product_identifier, line.vendor_product_identifier),
        "acknowledgedQuantity": {
            "amount": line.acknowledged_quantity,
            "unitOfMeasure": normalise_unit(line.unit_of_measure),
        },
    }


def to_acknowledgement_json(ack: OrderAcknowledgement) -> Json:
    """One `OrderAcknowledgementItem` (Orders 2021-12-28)."""
    return {
        "purchaseOrderNumber": ack.purchase_order_number,
        "vendorOrderNumber": ack.vendor_order_number,
        "acknowledgementDate": iso_utc(ack.acknowledgement_date),
        "acknowledgementStatus": {"code": ack.code, "description": ack.description},
        "sellingParty": _party(ack.selling_party_id),
        "shipFromParty": _party(ack.ship_from_party_id),
        "itemAcknowledgements": [_ack_line(line) for line in ack.lines],
    }


_SHIPMENT_STATUS = {"shipped": "SHIPPED", "floor_denial": "FLOOR_DENIAL", "floordenial": "FLOOR_DENIAL"}
_WEIGHT_UNITS = {"KG": "KG", "KGS": "KG", "LB": "LB", "LBS": "LB"}
_DIMENSION_UNITS = {"IN": "IN", "CM": "CM"}


def _sequence_number(value: str, purchase_order_number: str) -> int:
    # Shipping 2021-12-28 types itemSequenceNumber as an integer where Orders sends the string "00001".
    try:
        return int(value)
    except ValueError:
        raise DataError(
            "item sequence number is not numeric; Amazon's Shipping API needs an integer",
            code="InvalidItemSequenceNumber",
            subject=purchase_order_number,
        ) from None


def _shipped_item(item: ShippedItem, purchase_order_number: str, quantity_key: str) -> Json:
    return {
        "itemSequenceNumber": _sequence_number(item.item_sequence_number, purchase_order_number),
        **_identifiers(item.buyer_product_identifier, item.vendor_product_identifier),
        quantity_key: {"amount": item.shipped_quantity, "unitOfMeasure": "Each"},
    }


def _container(package: Package, sequence: int, purchase_order_number: str) -> Json:
    container: Json = {
        "containerType": "Carton",
        "containerIdentifier": package.container_identifier,
        "trackingNumber": package.tracking_number,
        "containerSequenceNumber": sequence,
        **_measures(package, purchase_order_number),
        "packedItems": [_shipped_item(item, purchase_order_number, "packedQuantity") for item in package.items],
    }
    if package.ship_method:
        container["shipMethod"] = package.ship_method
    if package.scac:
        container["scacCode"] = package.scac
    if package.carrier:
        container["carrier"] = package.carrier
    return container


def _measures(package: Package | Carton, purchase_order_number: str) -> Json:
    """A container's `weight` and, when all three sizes and their unit are known, its `dimensions`."""
    weight_unit = _WEIGHT_UNITS.get(package.weight_unit.strip().upper())
    if weight_unit is None:
        raise DataError(
            f"package {package.container_identifier}: weight unit must be KG or LB",
            code="InvalidWeightUnit",
            subject=purchase_order_number,
        )
    measures: Json = {"weight": {"unitOfMeasure": weight_unit, "value": _decimal_text(package.weight)}}
    sizes = (package.length, package.width, package.height)
    if all(size is not None for size in sizes) and package.dimension_unit:
        unit = _DIMENSION_UNITS.get(package.dimension_unit.strip().upper())
        if unit is None:
            raise DataError(
                f"package {package.container_identifier}: dimension unit must be IN or CM",
                code="InvalidDimensionUnit",
                subject=purchase_order_number,
            )
        measures["dimensions"] = {
            "length": _decimal_text(package.length or 0),
            "width": _decimal_text(package.width or 0),
            "height": _decimal_text(package.height or 0),
            "unitOfMeasure": unit,
        }
    return measures


def to_shipment_confirmation_json(confirmation: ShipmentConfirmation) -> Json:
    """One `ShipmentConfirmation` (Shipping 2021-12-28); always with containers (EMPTY_PACKAGES otherwise)."""
    number = confirmation.purchase_order_number
    status = _SHIPMENT_STATUS.get(confirmation.confirmation_type.strip().lower())
    if status is None:
        raise DataError(
            f"confirmation type {confirmation.confirmation_type!r} is neither Shipped nor FloorDenial",
            code="InvalidConfirmationType",
            subject=number,
        )
    body: Json = {
        "purchaseOrderNumber": number,
        "shipmentDetails": {"shippedDate": iso_utc(confirmation.shipped_date), "shipmentStatus": status},
        "sellingParty": _party(confirmation.selling_party_id),
        "shipFromParty": _party(confirmation.ship_from_party_id),
        "items": [_shipped_item(item, number, "shippedQuantity") for item in confirmation.items],
    }
    containers = [
        _container(package, sequence, number) for sequence, package in enumerate(confirmation.packages, start=1)
    ]
    if status == "SHIPPED" and not containers:
        # accepted with 202, then failed: "Request Rejected: Order ID ... has empty packages." (models #178)
        raise DataError(
            "a shipped order needs at least one package; Amazon fails it with EMPTY_PACKAGES otherwise",
            code="EmptyPackages",
            subject=number,
        )
    if containers:  # a floor denial ships nothing: no containers at all
        body["containers"] = containers
    return body


def to_inventory_json(update: InventoryUpdate) -> Json:
    """The `InventoryUpdate` object (Inventory v1) sent under the body key "inventory"."""
    return {
        "sellingParty": _party(update.selling_party_id),
        "isFullUpdate": update.is_full_update,
        "items": [
            {
                **_identifiers(item.buyer_product_identifier, item.vendor_product_identifier),
                "availableQuantity": {"amount": item.available_quantity, "unitOfMeasure": "Each"},
                "isObsolete": item.is_obsolete,
            }
            for item in update.items
        ],
    }


def to_label_request_json(request: LabelRequest) -> Json:
    """The body of createShippingLabels (`CreateShippingLabelsRequest`, Shipping 2021-12-28)."""
    number = request.purchase_order_number
    body: Json = {"sellingParty": _party(request.selling_party_id), "shipFromParty": _party(request.ship_from_party_id)}
    if request.cartons:
        containers = []
        for sequence, carton in enumerate(request.cartons, start=1):
            container: Json = {
                "containerType": "Carton",
                "containerIdentifier": carton.container_identifier,
                **_measures(carton, number),
                "packedItems": [_shipped_item(item, number, "packedQuantity") for item in carton.items],
            }
            if len(request.cartons) > 1:
                container["containerSequenceNumber"] = sequence  # the model: "for multi-box shipments only"
            containers.append(container)
        body["containers"] = containers
    return body


# ---------------------------------------------------------------- answers


def parse_transaction_id(body: Any) -> str:
    """202 answers: `{"transactionId"}` (2021-12-28) or `{"payload": {"transactionId"}}` (v1, inventory)."""
    if isinstance(body, Mapping):
        payload = body.get("payload")
        for node in (body, payload):
            if isinstance(node, Mapping):
                value = node.get("transactionId")
                if isinstance(value, str) and value:
                    return value
    raise ValueError("the answer has no transactionId")


def parse_error_details(raw: Any) -> tuple[AmazonErrorDetail, ...]:
    """Errors as `[Error]` (v1, error bodies) or `{"errors": [Error]}` (2021-12-28 ErrorList), or one `Error`."""
    if isinstance(raw, Mapping):
        raw = raw.get("errors", [raw] if "code" in raw else [])
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        return ()
    details = []
    for error in raw:
        if isinstance(error, Mapping):
            extra = error.get("details")
            details.append(
                AmazonErrorDetail(
                    code=str(error.get("code") or "Unknown"),
                    message=str(error.get("message") or ""),
                    details=str(extra) if extra else None,
                )
            )
    return tuple(details)


_TRANSACTION_STATES = {state.value.lower(): state for state in TransactionState}


def parse_transaction_status(body: Any, transaction_id: str) -> TransactionStatus:
    """`{"transactionStatus": {transactionId, status, errors?}}` -> TransactionStatus."""
    node = body.get("transactionStatus") if isinstance(body, Mapping) else None
    if isinstance(node, Mapping) and isinstance(node.get("payload"), Mapping):
        node = node["payload"]
    if not isinstance(node, Mapping) and isinstance(body, Mapping) and isinstance(body.get("payload"), Mapping):
        node = body["payload"].get("transactionStatus")  # v1 envelope
    status = _TRANSACTION_STATES.get(str(node.get("status", "")).lower()) if isinstance(node, Mapping) else None
    if not isinstance(node, Mapping) or status is None:
        raise DataError(
            "getTransactionStatus answered without a known transaction status",
            code="MalformedTransactionStatus",
            subject=transaction_id,
        )
    return TransactionStatus(
        transaction_id=str(node.get("transactionId") or transaction_id),
        status=status,
        errors=parse_error_details(node.get("errors")),
    )


def parse_restricted_data_token(body: Any) -> tuple[str, float]:
    """createRestrictedDataToken 200 -> (token, lifetime in seconds)."""
    token = body.get("restrictedDataToken") if isinstance(body, Mapping) else None
    if not isinstance(token, str) or not token:
        raise ValueError("the answer has no restrictedDataToken")
    lifetime = body.get("expiresIn", 3600)
    try:
        seconds = float(lifetime)
    except (TypeError, ValueError):
        seconds = 3600.0
    return token, seconds


# ---------------------------------------------------------------- labels, packing slips, order numbers


def _content(value: Any, field: str, subject: str | None) -> bytes:
    if not isinstance(value, str) or not value:
        raise ParseError(f"Amazon sent no {field}", code="MalformedResponse", subject=subject)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        message = f"Amazon sent a {field} that is not base64"
        raise ParseError(message, code="MalformedResponse", subject=subject) from None


def parse_shipping_label(body: Any, purchase_order_number: str | None = None) -> ShippingLabel:
    """A `ShippingLabel` -> ShippingLabel with each package's label decoded; ParseError names the field."""
    number = _order_number(body) or purchase_order_number
    if not isinstance(body, Mapping) or number is None:
        raise ParseError("Amazon sent a shipping label without its purchase order number", code="MalformedResponse",
                         subject=purchase_order_number)
    try:
        label_format = LabelFormat(str(body.get("labelFormat", "")).upper())
    except ValueError:
        raise ParseError("Amazon sent a shipping label whose labelFormat is neither ZPL nor PNG",
                         code="MalformedResponse", subject=number) from None
    data = body.get("labelData")
    if not isinstance(data, list) or not data:
        raise ParseError("Amazon sent a shipping label without labelData", code="MalformedResponse", subject=number)
    packages = []
    for index, item in enumerate(data):
        if not isinstance(item, Mapping):
            raise ParseError(f"labelData[{index}] is not an object", code="MalformedResponse", subject=number)
        tracking = item.get("trackingNumber")
        if not isinstance(tracking, str) or not tracking:
            raise ParseError(f"labelData[{index}].trackingNumber is missing", code="MalformedResponse", subject=number)
        packages.append(
            LabelPackage(
                package_identifier=str(item.get("packageIdentifier") or f"{index + 1:03d}"),
                tracking_number=tracking,
                ship_method=_optional_text(item.get("shipMethod")),
                ship_method_name=_optional_text(item.get("shipMethodName")),
                content=_content(item.get("content"), f"labelData[{index}].content", number),
            )
        )
    return ShippingLabel(
        purchase_order_number=number,
        selling_party_id=_text(body, "sellingParty.partyId", required=False) or "",
        ship_from_party_id=_text(body, "shipFromParty.partyId", required=False) or "",
        label_format=label_format,
        packages=tuple(packages),
    )


def _optional_text(value: Any) -> str | None:
    return str(value) if isinstance(value, str | int) and str(value) else None


def _next_token(body: Mapping[str, Any]) -> str | None:
    pagination = body.get("pagination")
    token = pagination.get("nextToken") if isinstance(pagination, Mapping) else None
    return str(token) if token else None


def parse_label_page(body: Any) -> LabelPage:
    """A `ShippingLabelList` -> LabelPage."""
    if not isinstance(body, Mapping) or not isinstance(body.get("shippingLabels", []), list):
        raise ParseError("getShippingLabels answered without a shippingLabels list", code="MalformedResponse")
    labels = tuple(parse_shipping_label(raw) for raw in body.get("shippingLabels") or [])
    return LabelPage(labels, _next_token(body))


def parse_packing_slip(body: Any, purchase_order_number: str | None = None) -> PackingSlip:
    """A `PackingSlip` -> PackingSlip with the PDF decoded."""
    number = _order_number(body) or purchase_order_number
    if not isinstance(body, Mapping) or number is None:
        raise ParseError("Amazon sent a packing slip without its purchase order number", code="MalformedResponse",
                         subject=purchase_order_number)
    return PackingSlip(
        purchase_order_number=number,
        content=_content(body.get("content"), "packing slip content", number),
        content_type=str(body.get("contentType") or "application/pdf"),
    )


def parse_packing_slips_page(body: Any) -> PackingSlipPage:
    """A `PackingSlipList` -> PackingSlipPage."""
    if not isinstance(body, Mapping) or not isinstance(body.get("packingSlips", []), list):
        raise ParseError("getPackingSlips answered without a packingSlips list", code="MalformedResponse")
    return PackingSlipPage(tuple(parse_packing_slip(raw) for raw in body.get("packingSlips") or []), _next_token(body))


def parse_order_numbers_page(body: Any) -> OrderNumbersPage:
    """An `OrderList` asked with includeDetails=false -> the purchase order numbers and the next token."""
    if not isinstance(body, Mapping) or not isinstance(body.get("orders", []), list):
        raise ParseError("getOrders answered without an orders list", code="MalformedResponse")
    numbers = tuple(number for raw in body.get("orders") or [] if (number := _order_number(raw)))
    return OrderNumbersPage(numbers, _next_token(body))
