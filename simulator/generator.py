"""Generates realistic drop-ship purchase orders (Orders 2021-12-28 JSON), deterministic for a given seed."""

from __future__ import annotations

import random
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

SHIP_METHODS = ("UPS_GR_RES", "UPS_2ND_DAY", "FEDEX_GROUND", "FEDEX_HOME", "USPS_PRIORITY", "USPS_FIRST_CLASS")

# Quotes and commas on purpose: they are what breaks naive CSV exports downstream.
_FIRST = ("Ana", "Bob", "Chloé", "Dmitri", "Erin", "Farah", "Gus", "Hana", "Ivan", "Jo", "Kemal", "Lena")
_LAST = ("O'Brien", "Smith", "García", "Nguyen", "D'Angelo", "Miller", "Okafor", "Schmidt", "Lee", "Brown")
_STREETS = ("Main St", "Oak Ave", "Pine Rd", "Maple Dr", "Cedar Ln", "Elm St", "Harbor Blvd", "Hill Ct")
_PLACES = (
    ("Seattle", "WA", "98109"),
    ("Austin", "TX", "73301"),
    ("Portland", "OR", "97201"),
    ("Denver", "CO", "80202"),
    ("Boston", "MA", "02108"),
    ("Miami", "FL", "33101"),
    ("Columbus", "OH", "43004"),
    ("Phoenix", "AZ", "85001"),
)
_ADJECTIVES = ("Stainless", "Compact", "Deluxe", "Cordless", "Organic", "Heavy-Duty", "Wireless", "Classic")
_NOUNS = ("Kettle", "Skillet", "Headphones", "Desk Lamp", "Backpack", "Water Bottle", "Blender", "Throw Blanket")
_GIFT_MESSAGES = (
    "Happy birthday, love you!",
    'Congrats on the new place - "home sweet home"',
    "Merry Christmas, from all of us",
)
_ALNUM = string.ascii_uppercase + string.digits
ADDRESS_FIELDS = frozenset(
    {"name", "attention", "addressLine1", "addressLine2", "addressLine3", "city", "county", "district",
     "stateOrRegion", "postalCode", "countryCode", "phone"}
)


@dataclass(frozen=True)
class Product:
    asin: str
    sku: str
    title: str
    price: Decimal


@dataclass(frozen=True)
class LineSpec:
    """What a caller may pin on a generated line; unset fields are generated."""

    quantity: int | None = None
    vendor_product_identifier: str | None = None
    buyer_product_identifier: str | None = None
    title: str | None = None
    price: str | None = None

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> LineSpec:
        allowed = {"quantity", "vendor_product_identifier", "buyer_product_identifier", "title", "price"}
        unknown = set(values) - allowed
        if unknown:
            raise ValueError(f"unknown line fields: {sorted(unknown)}")
        quantity = values.get("quantity")
        if quantity is not None and (isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1):
            raise ValueError("line quantity must be a positive integer")
        price = values.get("price")
        if price is not None:
            Decimal(str(price))  # raises on garbage
        return cls(
            quantity=quantity,
            vendor_product_identifier=values.get("vendor_product_identifier"),
            buyer_product_identifier=values.get("buyer_product_identifier"),
            title=values.get("title"),
            price=None if price is None else str(price),
        )


def format_timestamp(moment: datetime) -> str:
    """Amazon-style UTC timestamp with milliseconds, e.g. 2024-05-01T10:00:00.123Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class OrderGenerator:
    """Makes purchase orders for one vendor; the same seed gives the same catalogue, numbers and customers."""

    def __init__(self, selling_party_id: str, warehouses: Sequence[str], seed: int | None, currency: str) -> None:
        self._rng = random.Random(seed)
        self._selling_party_id = selling_party_id
        self._warehouses = tuple(warehouses)
        self._currency = currency
        self.catalogue = tuple(self._product(i) for i in range(40))

    def purchase_order_number(self) -> str:
        return "".join(self._rng.choice(_ALNUM) for _ in range(8))

    def order(
        self,
        purchase_order_number: str,
        created_at: datetime,
        ship_from_party_id: str | None,
        lines: int | Sequence[LineSpec] | None,
        ship_to: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """An Order object (purchaseOrderNumber + orderDetails without orderStatus, which the state owns).

        `ship_to` replaces fields of the generated address (Amazon's names: name, addressLine1, phone, ...).
        """
        rng = self._rng
        specs: Sequence[LineSpec]
        if lines is None:
            specs = [LineSpec()] * rng.randint(1, 4)
        elif isinstance(lines, int):
            specs = [LineSpec()] * lines
        else:
            specs = lines
        is_gift = rng.random() < 0.2
        items = [self._item(index + 1, spec, is_gift) for index, spec in enumerate(specs)]
        ship_date = created_at + timedelta(days=rng.randint(1, 2))
        customer_order = f"{rng.randint(100, 999)}-{rng.randint(0, 9999999):07d}-{rng.randint(0, 9999999):07d}"
        details: dict[str, Any] = {
            "customerOrderNumber": customer_order,
            # Amazon's createdAfter/createdBefore filter on when an order became available to the vendor,
            # which comes a little after the customer's orderDate: keep them apart, as clients must
            "orderDate": format_timestamp(created_at - timedelta(seconds=rng.randint(0, 300))),
            "shipmentDetails": {
                "isPriorityShipment": rng.random() < 0.15,
                "isScheduledDeliveryShipment": False,
                "isPslipRequired": rng.random() < 0.5,
                "isGift": is_gift,
                "shipMethod": rng.choice(SHIP_METHODS),
                "shipmentDates": {
                    "requiredShipDate": format_timestamp(ship_date),
                    "promisedDeliveryDate": format_timestamp(ship_date + timedelta(days=rng.randint(2, 5))),
                },
                "messageToCustomer": "Thank you for shopping with us, we hope you enjoy your purchase.",
            },
            "sellingParty": {"partyId": self._selling_party_id},
            "shipFromParty": {"partyId": ship_from_party_id or rng.choice(self._warehouses)},
            "shipToParty": self._address(ship_to),
            "billToParty": {
                "partyId": "AMZN_US",
                "taxInfo": {"taxRegistrationType": "VAT", "taxRegistrationNumber": "US123456789"},
            },
            "items": items,
        }
        return {"purchaseOrderNumber": purchase_order_number, "orderDetails": details}

    def _product(self, index: int) -> Product:
        rng = self._rng
        title = f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}"
        if index % 5 == 0:
            title = f'{title}, 12" Edition'
        return Product(
            asin="B0" + "".join(rng.choice(_ALNUM) for _ in range(8)),
            sku=f"SKU-{index + 1:04d}",
            title=title,
            price=Decimal(rng.randint(499, 19999)) / 100,
        )

    def _item(self, sequence: int, spec: LineSpec, is_gift: bool) -> dict[str, Any]:
        rng = self._rng
        product = rng.choice(self.catalogue)
        quantity = spec.quantity or rng.choice((1, 1, 1, 2, 3))
        price = Decimal(spec.price) if spec.price is not None else product.price
        item: dict[str, Any] = {
            "itemSequenceNumber": str(sequence),
            "buyerProductIdentifier": spec.buyer_product_identifier or product.asin,
            "vendorProductIdentifier": spec.vendor_product_identifier or product.sku,
            "title": spec.title or product.title,
            "orderedQuantity": {"amount": quantity, "unitOfMeasure": "Each"},
            "netPrice": {"currencyCode": self._currency, "amount": str(price)},
            "totalPrice": {"currencyCode": self._currency, "amount": str(price * quantity)},
        }
        if is_gift:
            item["giftDetails"] = {"giftMessage": rng.choice(_GIFT_MESSAGES), "giftWrapId": "GW01"}
        return item

    def _address(self, overrides: Mapping[str, str] | None = None) -> dict[str, Any]:
        unknown = set(overrides or {}) - ADDRESS_FIELDS
        if unknown:
            raise ValueError(f"unknown ship-to fields: {sorted(unknown)}")
        address = self._generated_address()
        address.update(overrides or {})
        return address

    def _generated_address(self) -> dict[str, Any]:
        rng = self._rng
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        name = rng.choice((f"{first} {last}", f"{last}, {first}", f'{first} "{first[:2]}" {last}'))
        city, state, postal = rng.choice(_PLACES)
        address: dict[str, Any] = {
            "name": name,
            "addressLine1": f"{rng.randint(1, 9999)} {rng.choice(_STREETS)}",
            "city": city,
            "stateOrRegion": state,
            "postalCode": postal,
            "countryCode": "US",
            "phone": f"+1 {rng.randint(200, 989)}-555-{rng.randint(0, 9999):04d}",
        }
        if rng.random() < 0.3:
            address["addressLine2"] = f"Apt {rng.randint(1, 40)}, Floor {rng.randint(1, 9)}"
        if rng.random() < 0.1:
            address["attention"] = f"c/o {rng.choice(_FIRST)}"
        return address
