"""The simulator over real HTTP on 127.0.0.1, through plain httpx and through python-amazon-sp-api 2.1.35."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sp_api.api import (
    Tokens,
    VendorDirectFulfillmentInventory,
    VendorDirectFulfillmentOrders,
    VendorDirectFulfillmentShipping,
    VendorDirectFulfillmentTransactions,
)
from sp_api.base import SellingApiForbiddenException

from simulator import RunningSimulator, SimulatorConfig
from simulator.schema import (
    INVENTORY_MODEL,
    ORDERS_MODEL,
    SHIPPING_MODEL,
    TOKENS_MODEL,
    TRANSACTIONS_MODEL,
)
from tests.support.simulator_fixtures import assert_conforms, sp_api_client_options

ORDERS = "/vendor/directFulfillment/orders/2021-12-28"
LIST = f"{ORDERS}/purchaseOrders"
ONE = f"{ORDERS}/purchaseOrders/{{purchaseOrderNumber}}"
CONFIRMATIONS = "/vendor/directFulfillment/shipping/2021-12-28/shipmentConfirmations"
TRANSACTIONS = "/vendor/directFulfillment/transactions/2021-12-28/transactions"
CREATED = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
WINDOW = {
    "createdAfter": (CREATED - timedelta(minutes=30)).isoformat(),
    "createdBefore": (CREATED + timedelta(minutes=30)).isoformat(),
}


@pytest.fixture
def http(simulator: RunningSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=simulator.base_url, timeout=5.0) as client:
        yield client


def lwa(http: httpx.Client, **form: str) -> httpx.Response:
    body = {"grant_type": "refresh_token", "refresh_token": "Atzr|r", "client_id": "app", "client_secret": "s", **form}
    return http.post("/auth/o2/token", data=body)


def rdt_for(http: httpx.Client, access_token: str, *paths: str) -> str:
    answer = http.post(
        "/tokens/2021-03-01/restrictedDataToken",
        json={"restrictedResources": [{"method": "GET", "path": path} for path in paths]},
        headers={"x-amz-access-token": access_token},
    )
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["restrictedDataToken"]
    return token


def error_code(response: httpx.Response, model: str = ORDERS_MODEL) -> str:
    body = response.json()
    assert_conforms(model, "ErrorList", body)
    code: str = body["errors"][0]["code"]
    return code


def settle(http: httpx.Client, token: str, transaction_id: str) -> dict[str, Any]:
    """Poll getTransactionStatus until it leaves Processing (the fixture's delay is 0.2 s)."""
    deadline = time.monotonic() + 5
    while True:
        answer = http.get(f"{TRANSACTIONS}/{transaction_id}", headers={"x-amz-access-token": token})
        assert answer.status_code == 200
        assert_conforms(TRANSACTIONS_MODEL, "TransactionStatus", answer.json())
        status: dict[str, Any] = answer.json()["transactionStatus"]
        if status["status"] != "Processing" or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


# ---- LWA and the Tokens API ----------------------------------------------------------------------------------


def test_lwa_token_exchange_accepts_form_and_json(http: httpx.Client) -> None:
    answer = lwa(http)
    assert answer.status_code == 200
    body = answer.json()
    assert body["access_token"].startswith("Atza|")
    assert (body["token_type"], body["expires_in"], body["refresh_token"]) == ("bearer", 3600, "Atzr|r")
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-amzn-RequestId"]
    as_json = http.post(
        "/auth/o2/token", json={"grant_type": "refresh_token", "refresh_token": "Atzr|r", "client_id": "app"}
    )
    assert as_json.status_code == 200 and as_json.json()["access_token"] != body["access_token"]
    assert lwa(http, grant_type="client_credentials").json()["error"] == "unsupported_grant_type"


def test_fixed_credentials_are_enforced_with_oauth_errors(simulator_factory: Callable[..., RunningSimulator]) -> None:
    sim = simulator_factory(client_id="app", client_secret="s", refresh_token="Atzr|good")
    with httpx.Client(base_url=sim.base_url) as http:
        assert lwa(http, refresh_token="Atzr|good").status_code == 200
        wrong_secret = lwa(http, refresh_token="Atzr|good", client_secret="nope")
        assert (wrong_secret.status_code, wrong_secret.json()["error"]) == (401, "invalid_client")
        wrong_grant = lwa(http, refresh_token="Atzr|revoked")
        assert (wrong_grant.status_code, wrong_grant.json()["error"]) == (400, "invalid_grant")


def test_restricted_data_token_through_python_amazon_sp_api(simulator: RunningSimulator) -> None:
    options = sp_api_client_options(simulator)
    with Tokens(options.pop("marketplace"), **options) as tokens:
        answer = tokens.create_restricted_data_token(restrictedResources=[{"method": "GET", "path": ONE}])
    assert answer.payload["restrictedDataToken"].startswith("Atz.sprdt|")
    assert answer.payload["expiresIn"] == 3600
    assert_conforms(TOKENS_MODEL, "CreateRestrictedDataTokenResponse", answer.payload)
    (call,) = simulator.requests(operation="createRestrictedDataToken")
    assert call["status"] == 200  # the injected marketplaceIds were tolerated
    assert len(simulator.requests(operation="getAccessToken")) == 1


def test_rdt_requests_are_checked(http: httpx.Client, simulator: RunningSimulator) -> None:
    headers = {"x-amz-access-token": lwa(http).json()["access_token"]}
    url = "/tokens/2021-03-01/restrictedDataToken"
    too_many = [{"method": "GET", "path": f"{LIST}/PO{i}"} for i in range(51)]
    assert error_code(http.post(url, json={"restrictedResources": too_many}, headers=headers)) == "InvalidInput"
    assert error_code(http.post(url, json={"restrictedResources": []}, headers=headers)) == "InvalidInput"
    bad_method = {"restrictedResources": [{"method": "", "path": LIST}]}
    assert "method" in http.post(url, json=bad_method, headers=headers).json()["errors"][0]["message"]
    assert http.post(url, json={"restrictedResources": [{"method": "GET", "path": LIST}]}).status_code == 403


# ---- token checks -------------------------------------------------------------------------------------------------


def test_orders_need_an_rdt_that_covers_the_path(http: httpx.Client, simulator: RunningSimulator) -> None:
    (number,) = simulator.create_orders(1, created_at=CREATED)
    access = lwa(http).json()["access_token"]
    list_only = rdt_for(http, access, LIST)
    generic = rdt_for(http, access, ONE)

    def get(path: str, token: str | None, **params: str) -> httpx.Response:
        return http.get(path, params=params, headers={"x-amz-access-token": token} if token else {})

    refused = get(LIST, access, **WINDOW)
    assert refused.status_code == 403
    assert refused.json()["errors"][0] | {"details": ""} == {
        "code": "Unauthorized",
        "message": "Access to requested resource is denied.",
        "details": "",
    }
    assert "x-amzn-RateLimit-Limit" not in refused.headers
    assert get(f"{LIST}/{number}", list_only).status_code == 403
    assert get(LIST, generic, **WINDOW).status_code == 403
    assert get(LIST, list_only, **WINDOW).status_code == 200
    answer = get(f"{LIST}/{number}", generic)
    assert answer.status_code == 200
    assert_conforms(ORDERS_MODEL, "Order", answer.json())
    assert (
        get(f"{LIST}/{number}", None).json()["errors"][0]["details"] == "Access token is missing in the request header."
    )
    assert get(f"{LIST}/{number}", "Atz.sprdt|forged").json()["errors"][0]["details"] == (
        "The access token you provided is revoked, malformed or invalid."
    )
    simulator.set_faults(expire_tokens=True)
    expired = get(f"{LIST}/{number}", generic)
    assert (expired.status_code, expired.json()["errors"][0]["details"]) == (
        403,
        "The access token you provided has expired.",
    )
    assert (
        get(f"{TRANSACTIONS}/x", access).json()["errors"][0]["details"] == "The access token you provided has expired."
    )


def test_tokens_expire_after_their_ttl(simulator_factory: Callable[..., RunningSimulator]) -> None:
    sim = simulator_factory(access_token_ttl=1, rdt_ttl=1)
    with httpx.Client(base_url=sim.base_url) as http:
        answer = lwa(http)
        assert answer.json()["expires_in"] == 1
        headers = {"x-amz-access-token": answer.json()["access_token"]}
        assert http.get(f"{TRANSACTIONS}/none", headers=headers).status_code == 404
        time.sleep(1.05)
        assert http.get(f"{TRANSACTIONS}/none", headers=headers).status_code == 403
    assert sim.state_summary()["tokens"] == {"access_tokens": 0, "restricted_data_tokens": 0, "expired": 1}


# ---- getOrders ------------------------------------------------------------------------------------------------


def test_five_pages_through_python_amazon_sp_api_stay_stable(simulator: RunningSimulator) -> None:
    created = set(simulator.create_orders(450, created_at=CREATED))
    simulator.create_orders(5, created_at=CREATED - timedelta(hours=1))  # outside the window
    options = sp_api_client_options(simulator)
    marketplace = options.pop("marketplace")
    with Tokens(marketplace, **options) as tokens:
        rdt = tokens.create_restricted_data_token(restrictedResources=[{"method": "GET", "path": LIST}]).payload
    seen: list[str] = []
    with VendorDirectFulfillmentOrders(
        marketplace, version="2021-12-28", restricted_data_token=rdt["restrictedDataToken"], **options
    ) as orders:
        next_token = None
        pages = 0
        while True:
            extra: dict[str, str] = {"nextToken": next_token} if next_token else {}
            page = orders.get_orders(limit=100, includeDetails="true", **WINDOW, **extra)
            pages += 1
            assert page.rate_limit == "10.0"
            assert_conforms(
                ORDERS_MODEL,
                "OrderList",
                {**page.payload, **({"pagination": page.pagination} if page.pagination else {})},
            )
            seen.extend(order["purchaseOrderNumber"] for order in page.payload["orders"])
            simulator.create_orders(7, created_at=CREATED - timedelta(minutes=29))  # must not shift the pages
            next_token = page.next_token
            if not next_token:
                assert page.pagination is None
                break
    assert pages == 5
    assert len(seen) == len(set(seen)) == 450
    assert set(seen) == created
    calls = simulator.requests(operation="getOrders")
    assert [c["status"] for c in calls] == [200] * 5
    assert all(c["query"]["MarketplaceId"] == "ATVPDKIKX0DER" for c in calls)  # injected, and ignored


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"createdBefore": WINDOW["createdBefore"]}, "createdAfter"),
        ({**WINDOW, "createdAfter": "2026-13-01T00:00:00Z"}, "createdAfter"),
        ({**WINDOW, "createdAfter": "2026-01-01 00:00:00+00:00"}, "createdAfter"),
        ({"createdAfter": WINDOW["createdBefore"], "createdBefore": WINDOW["createdAfter"]}, "earlier"),
        ({"createdAfter": "2026-01-01T00:00:00Z", "createdBefore": "2026-01-08T00:00:01Z"}, "7 days"),
        ({**WINDOW, "limit": "0"}, "limit"),
        ({**WINDOW, "limit": "101"}, "limit"),
        ({**WINDOW, "limit": "ten"}, "limit"),
        ({**WINDOW, "status": "OPEN"}, "status"),
        ({**WINDOW, "sortOrder": "asc"}, "sortOrder"),
        ({**WINDOW, "includeDetails": "yes"}, "includeDetails"),
        ({**WINDOW, "nextToken": "not-a-token"}, "nextToken"),
    ],
)
def test_bad_get_orders_parameters_are_400_invalid_input(
    http: httpx.Client, simulator: RunningSimulator, params: dict[str, str], field: str
) -> None:
    rdt = simulator.issue_restricted_data_token([("GET", LIST)])
    answer = http.get(LIST, params=params, headers={"x-amz-access-token": rdt})
    assert answer.status_code == 400
    assert error_code(answer) == "InvalidInput"
    assert field in answer.json()["errors"][0]["message"]
    assert answer.headers["x-amzn-RateLimit-Limit"] == "10.0"


def test_get_order_answers_404_for_an_unknown_number(http: httpx.Client, simulator: RunningSimulator) -> None:
    rdt = simulator.issue_restricted_data_token([("GET", ONE)])
    answer = http.get(f"{LIST}/NOSUCHPO", headers={"x-amz-access-token": rdt})
    assert (answer.status_code, error_code(answer)) == (404, "NotFound")
    assert answer.headers["x-amzn-RateLimit-Limit"] == "10.0"


# ---- acknowledgements, confirmations, inventory, transactions -----------------------------------------------------


def _ack(order: dict[str, Any], quantity_delta: int = 0) -> dict[str, Any]:
    details = order["orderDetails"]
    return {
        "purchaseOrderNumber": order["purchaseOrderNumber"],
        "vendorOrderNumber": "V1",
        "acknowledgementDate": datetime.now(UTC).isoformat(),
        "acknowledgementStatus": {"code": "00", "description": "Accepted"},
        "sellingParty": details["sellingParty"],
        "shipFromParty": details["shipFromParty"],
        "itemAcknowledgements": [
            {
                "itemSequenceNumber": item["itemSequenceNumber"],
                "buyerProductIdentifier": item["buyerProductIdentifier"],
                "vendorProductIdentifier": item["vendorProductIdentifier"],
                "acknowledgedQuantity": {
                    "amount": item["orderedQuantity"]["amount"] + quantity_delta,
                    "unitOfMeasure": "Each",
                },
            }
            for item in details["items"]
        ],
    }


def _confirmation(order: dict[str, Any], shipped: datetime) -> dict[str, Any]:
    items = [
        {
            "itemSequenceNumber": int(item["itemSequenceNumber"]),
            "buyerProductIdentifier": item["buyerProductIdentifier"],
            "shippedQuantity": {"amount": item["orderedQuantity"]["amount"], "unitOfMeasure": "Each"},
        }
        for item in order["orderDetails"]["items"]
    ]
    return {
        "purchaseOrderNumber": order["purchaseOrderNumber"],
        "shipmentDetails": {"shippedDate": shipped.isoformat(), "shipmentStatus": "SHIPPED"},
        "sellingParty": order["orderDetails"]["sellingParty"],
        "shipFromParty": order["orderDetails"]["shipFromParty"],
        "items": items,
        "containers": [
            {
                "containerType": "Carton",
                "containerIdentifier": "BOX1",
                "trackingNumber": "1Z0001",
                "shipMethod": "UPS_GR_RES",
                "weight": {"unitOfMeasure": "KG", "value": "1.2"},
                "packedItems": [
                    {"itemSequenceNumber": i["itemSequenceNumber"], "packedQuantity": i["shippedQuantity"]}
                    for i in items
                ],
            }
        ],
    }


def test_acknowledge_then_confirm_through_python_amazon_sp_api(simulator: RunningSimulator) -> None:
    numbers = simulator.create_orders(3, created_at=CREATED)
    orders = [simulator.order(number) or {} for number in numbers]
    options = sp_api_client_options(simulator)
    marketplace = options.pop("marketplace")
    with (
        VendorDirectFulfillmentOrders(marketplace, version="2021-12-28", **options) as api,
        VendorDirectFulfillmentShipping(marketplace, version="2021-12-28", **options) as shipping,
        VendorDirectFulfillmentTransactions(marketplace, version="2021-12-28", **options) as transactions,
    ):
        acks = [_ack(order) for order in orders]
        assert_conforms(ORDERS_MODEL, "SubmitAcknowledgementRequest", {"orderAcknowledgements": acks})
        answer = api.submit_acknowledgement(orderAcknowledgements=acks)
        assert_conforms(ORDERS_MODEL, "TransactionId", answer.payload)
        ack_id = answer.payload["transactionId"]
        first = transactions.get_transaction_status(ack_id).payload["transactionStatus"]
        assert first == {"transactionId": ack_id, "status": "Processing"}
        time.sleep(0.25)
        assert transactions.get_transaction_status(ack_id).payload["transactionStatus"]["status"] == "Success"
        assert {simulator.order_status(n) for n in numbers} == {"ACCEPTED"}

        confirmations = [_confirmation(order, datetime.now(UTC) - timedelta(minutes=5)) for order in orders]
        assert_conforms(SHIPPING_MODEL, "SubmitShipmentConfirmationsRequest", {"shipmentConfirmations": confirmations})
        shipped = shipping.submit_shipment_confirmations(shipmentConfirmations=confirmations)
        assert_conforms(SHIPPING_MODEL, "TransactionReference", shipped.payload)
        time.sleep(0.25)
        status = transactions.get_transaction_status(shipped.payload["transactionId"]).payload["transactionStatus"]
        assert status["status"] == "Success"
    assert {simulator.order_status(n) for n in numbers} == {"SHIPPED"}
    assert {po: len(records) for po, records in simulator.acknowledgements().items()} == {n: 1 for n in numbers}
    assert {po: records[0]["result"] for po, records in simulator.confirmations().items()} == {
        n: "Success" for n in numbers
    }


def test_business_rule_failures_surface_only_in_the_transaction(
    http: httpx.Client, simulator: RunningSimulator
) -> None:
    short, ok = (simulator.order(n) or {} for n in simulator.create_orders(2, created_at=CREATED, lines=2))
    token = simulator.issue_access_token()
    headers = {"x-amz-access-token": token}
    answer = http.post(
        f"{ORDERS}/acknowledgements", json={"orderAcknowledgements": [_ack(short, -1), _ack(ok)]}, headers=headers
    )
    assert answer.status_code == 202
    status = settle(http, token, answer.json()["transactionId"])
    assert status["status"] == "Failure"
    assert {e["code"] for e in status["errors"]["errors"]} == {"QUANTITY_MISMATCH"}
    assert all(short["purchaseOrderNumber"] in e["details"] for e in status["errors"]["errors"])
    assert (
        simulator.order_status(short["purchaseOrderNumber"]),
        simulator.order_status(ok["purchaseOrderNumber"]),
    ) == (
        "NEW",
        "ACCEPTED",
    )

    future = _confirmation(ok, datetime.now(UTC) + timedelta(hours=1))
    unacknowledged = _confirmation(short, datetime.now(UTC))
    answer = http.post(CONFIRMATIONS, json={"shipmentConfirmations": [future, unacknowledged]}, headers=headers)
    status = settle(http, token, answer.json()["transactionId"])
    assert {e["code"] for e in status["errors"]["errors"]} == {"INVALID_SHIPPED_DATE", "ORDER_NOT_ACKNOWLEDGED"}
    admin = http.get("/_sim/confirmations").json()
    assert {po: [r["result"] for r in records] for po, records in admin.items()} == {
        ok["purchaseOrderNumber"]: ["Failure"],
        short["purchaseOrderNumber"]: ["Failure"],
    }


def test_bad_bodies_are_rejected_before_any_transaction(http: httpx.Client, simulator: RunningSimulator) -> None:
    (number,) = simulator.create_orders(1, created_at=CREATED)
    ack = _ack(simulator.order(number) or {})
    headers = {"x-amz-access-token": simulator.issue_access_token()}
    url = f"{ORDERS}/acknowledgements"

    missing = {**ack, "sellingParty": {}}
    answer = http.post(url, json={"orderAcknowledgements": [missing]}, headers=headers)
    assert (answer.status_code, error_code(answer)) == (400, "InvalidInput")
    assert "orderAcknowledgements[0].sellingParty.partyId" in answer.json()["errors"][0]["message"]
    injected = http.post(url, json={"orderAcknowledgements": [ack], "marketplaceIds": ["X"]}, headers=headers)
    assert "marketplaceIds" in injected.json()["errors"][0]["message"]
    assert http.post(url, json={"orderAcknowledgements": []}, headers=headers).status_code == 400
    not_json = http.post(url, content=b"<xml/>", headers={**headers, "content-type": "application/xml"})
    assert (not_json.status_code, error_code(not_json)) == (415, "UnsupportedMediaType")
    assert http.post(url, content=b"{oops", headers={**headers, "content-type": "application/json"}).status_code == 415
    huge = b'{"orderAcknowledgements": ["' + b"x" * (5 * 1024 * 1024) + b'"]}'
    too_large = http.post(url, content=huge, headers={**headers, "content-type": "application/json"})
    assert (too_large.status_code, error_code(too_large)) == (413, "RequestEntityTooLarge")
    assert simulator.state_summary()["transactions"]["total"] == 0
    assert simulator.acknowledgements() == {}


def test_inventory_updates_through_python_amazon_sp_api(simulator_factory: Callable[..., RunningSimulator]) -> None:
    sim = simulator_factory(warehouses=("WH01", "WH02"))
    options = sp_api_client_options(sim)
    marketplace = options.pop("marketplace")

    def feed(full: bool, **stock: int) -> dict[str, Any]:
        items = [
            {"vendorProductIdentifier": sku, "availableQuantity": {"amount": n, "unitOfMeasure": "Each"}}
            for sku, n in stock.items()
        ]
        body = {"sellingParty": {"partyId": "VENDOR1"}, "isFullUpdate": full, "items": items}
        assert_conforms(INVENTORY_MODEL, "SubmitInventoryUpdateRequest", {"inventory": body})
        return body

    with (
        VendorDirectFulfillmentInventory(marketplace, **options) as inventory,
        VendorDirectFulfillmentTransactions(marketplace, version="2021-12-28", **options) as transactions,
    ):
        ids = [
            inventory.submit_inventory_update("WH01", inventory=feed(True, A=3, B=4)),
            inventory.submit_inventory_update("WH01", inventory=feed(False, B=0, C=9)),
            inventory.submit_inventory_update("WH99", inventory=feed(True, A=1)),
        ]
        time.sleep(0.25)
        statuses = [
            transactions.get_transaction_status(answer.payload["transactionId"]).payload["transactionStatus"]
            for answer in ids
        ]
    assert [s["status"] for s in statuses] == ["Success", "Success", "Failure"]
    assert statuses[2]["errors"]["errors"][0]["code"] == "INVALID_WAREHOUSE_ID"
    assert {sku: item["availableQuantity"] for sku, item in sim.inventory("WH01").items()} == {"A": 3, "B": 0, "C": 9}
    assert sim.state_summary()["inventory"] == {
        "WH01": {"skus": 3, "available_skus": 2, "units": 12, "updates": 2},
        "WH02": {"skus": 0, "available_skus": 0, "units": 0, "updates": 0},
    }


def test_inventory_answers_202_wrapped_in_payload(http: httpx.Client, simulator: RunningSimulator) -> None:
    body = {"inventory": {"sellingParty": {"partyId": "VENDOR1"}, "isFullUpdate": False, "items": []}}
    headers = {"x-amz-access-token": simulator.issue_access_token()}
    answer = http.post("/vendor/directFulfillment/inventory/v1/warehouses/WH01/items", json=body, headers=headers)
    assert answer.status_code == 202
    assert_conforms(INVENTORY_MODEL, "SubmitInventoryUpdateResponse", answer.json())
    assert set(answer.json()) == {"payload"}
    unknown = http.get(f"{TRANSACTIONS}/20260101000000-nope", headers=headers)
    assert (unknown.status_code, error_code(unknown, TRANSACTIONS_MODEL)) == (404, "NotFound")


# ---- throttling and faults -------------------------------------------------------------------------------------


def test_a_burst_of_thirty_calls_is_throttled(http: httpx.Client, simulator: RunningSimulator) -> None:
    headers = {"x-amz-access-token": simulator.issue_access_token()}
    answers = [http.get(f"{TRANSACTIONS}/unknown", headers=headers) for _ in range(30)]
    statuses = [a.status_code for a in answers]
    assert statuses[:10] == [404] * 10
    throttled = [a for a in answers if a.status_code == 429]
    assert len(throttled) >= 15
    assert throttled[0].json() == {
        "errors": [{"code": "QuotaExceeded", "message": "You exceeded your quota for the requested resource."}]
    }
    assert all("x-amzn-RateLimit-Limit" not in a.headers and a.headers["x-amzn-RequestId"] for a in throttled)
    assert len({a.headers["x-amzn-RequestId"] for a in answers}) == 30
    time.sleep(0.2)  # two tokens back at 10/s
    assert http.get(f"{TRANSACTIONS}/unknown", headers=headers).status_code == 404
    # Buckets are per operation: getOrders still has its whole burst.
    rdt = simulator.issue_restricted_data_token([("GET", LIST)])
    assert http.get(LIST, params=WINDOW, headers={"x-amz-access-token": rdt}).status_code == 200


def test_rate_limits_can_be_turned_off(simulator_factory: Callable[..., RunningSimulator]) -> None:
    sim = simulator_factory(rate_limits=False)
    with httpx.Client(base_url=sim.base_url) as http:
        headers = {"x-amz-access-token": sim.issue_access_token()}
        assert {http.get(f"{TRANSACTIONS}/x", headers=headers).status_code for _ in range(30)} == {404}


def test_server_errors_come_with_json_empty_or_html_bodies(http: httpx.Client, simulator: RunningSimulator) -> None:
    simulator.set_faults(error_rate=1.0, statuses=(500, 503))
    answers = [http.get(f"{TRANSACTIONS}/x") for _ in range(40)]
    assert {a.status_code for a in answers} == {500, 503}
    kinds = {a.headers.get("content-type", "").split(";")[0] if a.content else "empty" for a in answers}
    assert kinds == {"application/json", "text/html", "empty"}
    internal = next(a for a in answers if a.status_code == 500 and a.headers.get("content-type") == "application/json")
    assert internal.json()["errors"][0]["code"] == "InternalFailure"
    assert lwa(http).status_code in (500, 503)  # LWA misbehaves too
    simulator.set_faults()
    assert lwa(http).status_code == 200


def test_dropped_connections_and_slow_answers(http: httpx.Client, simulator: RunningSimulator) -> None:
    simulator.set_faults(drop_rate=1.0)
    with pytest.raises(httpx.RemoteProtocolError):
        http.get(f"{TRANSACTIONS}/x")
    assert simulator.requests()[-1]["status"] == 0
    simulator.set_faults(slow_rate=1.0, slow_seconds=0.3)
    started = time.monotonic()
    assert http.get(f"{TRANSACTIONS}/x").status_code == 403
    assert time.monotonic() - started >= 0.3
    answer = http.post("/_sim/faults", json={"error_rate": 0.0})
    assert answer.json()["faults"]["slow_rate"] == 0.0
    started = time.monotonic()
    assert http.get(f"{TRANSACTIONS}/x").status_code == 403
    assert time.monotonic() - started < 0.3


def test_faults_from_the_configuration(simulator_factory: Callable[..., RunningSimulator]) -> None:
    sim = simulator_factory(SimulatorConfig(error_rate=1.0, fault_statuses=(503,), seed=1))
    with httpx.Client(base_url=sim.base_url) as http:
        assert http.get(f"{TRANSACTIONS}/x").status_code == 503
    assert sim.state_summary()["faults"]["error_rate"] == 1.0


def test_stop_cuts_keep_alive_connections_and_slow_answers(simulator_factory: Callable[..., RunningSimulator]) -> None:
    before = threading.active_count()
    sim = simulator_factory(slow_rate=1.0, slow_seconds=30.0)
    with httpx.Client(base_url=sim.base_url) as http:
        assert http.get("/_sim/state").status_code == 200  # an idle keep-alive connection stays open
        errors: list[Exception] = []
        waiting = threading.Thread(target=lambda: _expect_error(http, errors))
        waiting.start()
        time.sleep(0.2)
        started = time.monotonic()
        sim.stop()
        waiting.join(5)
    assert time.monotonic() - started < 2
    assert len(errors) == 1
    assert threading.active_count() == before


def _expect_error(http: httpx.Client, errors: list[Exception]) -> None:
    try:
        http.get(f"{TRANSACTIONS}/x", timeout=10)
    except httpx.HTTPError as exc:
        errors.append(exc)


# ---- admin API, request log, background orders -------------------------------------------------------------------


def test_admin_api(http: httpx.Client, simulator: RunningSimulator) -> None:
    created = http.post(
        "/_sim/orders",
        json={
            "count": 2,
            "created_at": CREATED.isoformat(),
            "lines": [{"quantity": 2, "vendor_product_identifier": "S1"}],
        },
    )
    assert created.status_code == 201
    first, second = created.json()["purchase_order_numbers"]
    assert simulator.order_lines(first)[0]["vendorProductIdentifier"] == "S1"
    # created_at is when Amazon makes the order available (what getOrders filters on); the customer's
    # orderDate lies up to five minutes before it
    order_date = datetime.fromisoformat((simulator.order(first) or {})["orderDetails"]["orderDate"])
    assert CREATED - timedelta(minutes=5) <= order_date <= CREATED
    assert http.post(f"/_sim/orders/{first}/cancel").json() == {
        "purchaseOrderNumber": first,
        "orderStatus": "CANCELLED",
    }
    assert http.post("/_sim/orders/NOSUCH/cancel").status_code == 404
    assert http.post("/_sim/orders", json={"count": 0}).status_code == 400
    assert http.post("/_sim/orders", json={"count": 1, "ship_from_party_id": "WH42"}).status_code == 400
    assert http.post("/_sim/orders", content=b"[1]").status_code == 400
    assert http.post("/_sim/faults", json={"error_rate": 2}).status_code == 400
    state = http.get("/_sim/state").json()
    assert state["orders"] == {"total": 2, "by_status": {"NEW": 1, "ACCEPTED": 0, "SHIPPED": 0, "CANCELLED": 1}}
    assert state == simulator.state_summary()
    assert http.get("/_sim/acknowledgements").json() == {}
    assert http.get("/_sim/inventory/WH01").json() == {"warehouseId": "WH01", "items": {}}
    assert http.get("/_sim/nothing").status_code == 404
    rdt = simulator.issue_restricted_data_token([("GET", ONE)])
    assert http.get(f"{LIST}/{second}", headers={"x-amz-access-token": rdt}).status_code == 200
    logged = http.get("/_sim/requests").json()
    assert [(r["operation"], r["status"]) for r in logged] == [("getOrder", 200)]
    assert http.post("/_sim/reset").status_code == 200
    assert simulator.state_summary()["orders"]["total"] == 0
    assert simulator.requests() == []
    assert http.get(f"{LIST}/{second}", headers={"x-amz-access-token": rdt}).status_code == 404  # tokens survive


def test_the_request_log_and_server_log_carry_no_pii(
    http: httpx.Client, simulator: RunningSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="simulator")
    numbers = simulator.create_orders(20, created_at=CREATED)
    rdt = simulator.issue_restricted_data_token([("GET", LIST), ("GET", ONE)])
    assert http.get(LIST, params=WINDOW, headers={"x-amz-access-token": rdt}).status_code == 200
    token = simulator.issue_access_token()
    ack = _ack(simulator.order(numbers[0]) or {})
    http.post(
        f"{ORDERS}/acknowledgements", json={"orderAcknowledgements": [ack]}, headers={"x-amz-access-token": token}
    )
    pii = [
        value
        for number in numbers
        for key, value in (simulator.order(number) or {})["orderDetails"]["shipToParty"].items()
        if key in ("name", "addressLine1", "phone")
    ]
    logged = json.dumps(simulator.requests()) + caplog.text
    assert "getOrders" in logged and "submitAcknowledgement" in logged
    assert not [value for value in pii if value in logged]
    assert set(simulator.requests()[0]) == {"method", "path", "query", "status", "operation", "time"}


def test_background_order_generator(simulator_factory: Callable[..., RunningSimulator]) -> None:
    sim = simulator_factory(order_rate_per_minute=1200.0)  # one every 50 ms
    deadline = time.monotonic() + 3
    while sim.state_summary()["orders"]["total"] < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sim.state_summary()["orders"]["total"] >= 3
    sim.stop()
    total = sim.state_summary()["orders"]["total"]
    time.sleep(0.15)
    assert sim.state_summary()["orders"]["total"] == total


def test_python_amazon_sp_api_forbidden_error_for_an_lwa_token(simulator: RunningSimulator) -> None:
    options = sp_api_client_options(simulator)
    with (
        VendorDirectFulfillmentOrders(options.pop("marketplace"), version="2021-12-28", **options) as orders,
        pytest.raises(SellingApiForbiddenException) as caught,
    ):
        orders.get_orders(**WINDOW)
    assert caught.value.amzn_code == "Unauthorized"
    assert caught.value.headers["x-amzn-RequestId"]


def test_serve_forever_prints_the_url_and_stops_on_ctrl_c() -> None:
    script = (
        "from simulator import SimulatorConfig, serve_forever; "
        "serve_forever(SimulatorConfig(port=0, warehouses=('WH01', 'WH02'), seed=4))"
    )
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        base_url = first.split("base URL ")[1].strip()
        with httpx.Client(base_url=base_url) as http:
            assert http.post("/_sim/orders", json={"count": 2}).status_code == 201
            assert http.get("/_sim/state").json()["orders"]["total"] == 2
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
