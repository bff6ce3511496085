"""Fixtures for the SP-API adapter: a route-table fake of LWA + SP-API for httpx.MockTransport, a virtual clock."""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

import simulator
from adapters.amazon.api import AmazonAccess, SpApiVendorApi
from adapters.amazon.pacing import RetryPolicy

# Amazon's official models ship inside the product (the simulator validates against them): tests use that copy.
MODELS = Path(simulator.__file__).resolve().parent / "models"

FAKE_ENDPOINT = "http://sp.test"
FAKE_TOKEN_URL = "http://lwa.test/auth/o2/token"
ORDERS = "/vendor/directFulfillment/orders/2021-12-28/purchaseOrders"
ACKS = "/vendor/directFulfillment/orders/2021-12-28/acknowledgements"
CONFIRMATIONS = "/vendor/directFulfillment/shipping/2021-12-28/shipmentConfirmations"
TRANSACTIONS = "/vendor/directFulfillment/transactions/2021-12-28/transactions"
INVENTORY = "/vendor/directFulfillment/inventory/v1/warehouses"
RDT = "/tokens/2021-03-01/restrictedDataToken"
LWA = "/auth/o2/token"

Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


def model_validator(model_file: str, definition: str) -> jsonschema.Draft4Validator:
    """A validator for one definition of Amazon's Swagger 2.0 model."""
    model = json.loads((MODELS / model_file).read_text(encoding="utf-8"))
    schema = {"$ref": f"#/definitions/{definition}", "definitions": model["definitions"]}
    return jsonschema.Draft4Validator(schema)


def amazon_order_json(number: str = "PO0001", **overrides: Any) -> dict[str, Any]:
    """A schema-valid Orders 2021-12-28 `Order` with made-up PII ("USA" as in Amazon's own examples)."""
    details: dict[str, Any] = {
        "customerOrderNumber": f"C-{number}",
        "orderDate": "2026-01-05T10:15:00Z",
        "orderStatus": "NEW",
        "shipmentDetails": {
            "isPriorityShipment": False,
            "isGift": True,
            "isPslipRequired": False,
            "shipMethod": "UPS_GR_RES",
            "shipmentDates": {
                "requiredShipDate": "2026-01-06T23:59:00Z",
                "promisedDeliveryDate": "2026-01-09T23:59:00Z",
            },
            "messageToCustomer": "Thank you",
        },
        "sellingParty": {"partyId": "VENDOR1"},
        "shipFromParty": {"partyId": "WH01"},
        "shipToParty": {
            "name": "Jane Secretname",
            "addressLine1": "1 Private Lane",
            "city": "Seattle",
            "stateOrRegion": "WA",
            "postalCode": "98109",
            "countryCode": "USA",
            "phone": "+1 555 0100",
        },
        "billToParty": {"partyId": "BILL1"},
        "items": [
            {
                "itemSequenceNumber": "00001",
                "buyerProductIdentifier": "B000ASIN01",
                "vendorProductIdentifier": "SKU-1",
                "title": "Kettle",
                "orderedQuantity": {"amount": 2, "unitOfMeasure": "Each"},
                "netPrice": {"currencyCode": "USD", "amount": "10.5"},
                "giftDetails": {"giftMessage": "Happy birthday Jane"},
            }
        ],
    }
    details.update(overrides)
    return {"purchaseOrderNumber": number, "orderDetails": details}


def json_reply(status: int, body: Any = None, *, request_id: str = "req-1", text: str | None = None) -> httpx.Response:
    headers = {"x-amzn-RequestId": request_id}
    if text is not None:
        return httpx.Response(status, text=text, headers=headers)
    if body is None:
        return httpx.Response(status, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


@dataclass
class FakeAmazon:
    """LWA + SP-API behind one MockTransport; replies are scripted per (method, path prefix).

    A scripted route answers its replies in order and then keeps repeating the last one. LWA and the Tokens
    API answer fresh tokens by default, numbered so tests can tell them apart.
    """

    requests: list[httpx.Request] = field(default_factory=list)
    routes: dict[tuple[str, str], deque[Reply]] = field(default_factory=dict)
    lwa_count: int = 0
    rdt_count: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def script(self, method: str, path: str, *replies: Reply) -> None:
        self.routes[(method, path)] = deque(replies)

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path.startswith(path)]

    def handler(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.requests.append(request)
            reply = self._pick(request)
        if isinstance(reply, Exception):
            raise reply
        if callable(reply) and not isinstance(reply, httpx.Response):
            return reply(request)
        return reply

    def _pick(self, request: httpx.Request) -> Reply:
        for (method, prefix), replies in sorted(self.routes.items(), key=lambda kv: -len(kv[0][1])):
            if request.method == method and request.url.path.startswith(prefix):
                return replies.popleft() if len(replies) > 1 else replies[0]
        if request.url.path == LWA:
            self.lwa_count += 1
            return json_reply(200, {"access_token": f"Atza|access-{self.lwa_count}", "expires_in": 3600})
        if request.url.path == RDT:
            self.rdt_count += 1
            return json_reply(200, {"restrictedDataToken": f"Atz.sprdt|rdt-{self.rdt_count}", "expiresIn": 3600})
        return json_reply(404, {"errors": [{"code": "NotFound", "message": "no route in FakeAmazon"}]})

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)


class VirtualClock:
    """A monotonic clock that only moves when someone sleeps on it (thread-safe)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self.now += max(0.0, seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


def fake_access(**overrides: Any) -> AmazonAccess:
    values: dict[str, Any] = {
        "region": "na",
        "selling_party_id": "VENDOR1",
        "client_id": "amzn1.application-oa2-client.test",
        "client_secret": "client-secret-do-not-leak",
        "refresh_token": "Atzr|refresh-do-not-leak",
        "endpoint": FAKE_ENDPOINT,
        "token_url": FAKE_TOKEN_URL,
        "timeout": 5.0,
    }
    values.update(overrides)
    return AmazonAccess(**values)


@pytest.fixture
def fake_amazon() -> FakeAmazon:
    return FakeAmazon()


@pytest.fixture
def virtual_clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def make_fake_vendor_api(
    fake_amazon: FakeAmazon, virtual_clock: VirtualClock
) -> Iterator[Callable[..., SpApiVendorApi]]:
    """Build SpApiVendorApi instances wired to `fake_amazon` and `virtual_clock`; all closed at teardown."""
    built: list[SpApiVendorApi] = []

    def make(**options: Any) -> SpApiVendorApi:
        options.setdefault("retry", RetryPolicy(max_attempts=4, base_delay=0.1, max_delay=1.0, max_total=30.0))
        access = fake_access(**options.pop("access", {}))
        api = SpApiVendorApi(
            access, clock=virtual_clock, sleep=virtual_clock.sleep, transport=fake_amazon.transport(), **options
        )
        built.append(api)
        return api

    yield make
    for api in built:
        api.close()
