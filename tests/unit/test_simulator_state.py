"""The simulator's pure parts without sockets: generated orders, paging, business rules, tokens and buckets."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from simulator import LineSpec, SimulatorConfig, rules
from simulator.app import Request, SimulatorApp
from simulator.auth import EXPIRED, INVALID, MISSING, NEEDS_RDT, RDT_SCOPE, Resource, TokenBucket, TokenStore
from simulator.config import Faults
from simulator.schema import ORDERS_MODEL, SHIPPING_MODEL, ModelValidator, parse_datetime
from simulator.state import OrderQuery, SimulatorState, decode_cursor
from tests.support.simulator_fixtures import assert_conforms

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
WINDOW = (T0 - timedelta(hours=1), T0 + timedelta(hours=1))


class Clocks:
    """A monotonic clock and a wall clock that move together, by hand."""

    def __init__(self) -> None:
        self.seconds = 1000.0

    def monotonic(self) -> float:
        return self.seconds

    def wall(self) -> datetime:
        return T0 + timedelta(seconds=self.seconds - 1000.0)

    def advance(self, seconds: float) -> None:
        self.seconds += seconds


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


def make_state(clocks: Clocks, **overrides: Any) -> SimulatorState:
    config = SimulatorConfig(**{"warehouses": ("WH01", "WH02"), "transaction_delay": 2.0, "seed": 3, **overrides})
    return SimulatorState(config, clock=clocks.monotonic, wall_clock=clocks.wall)


def full_accept(order: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    details = order["orderDetails"]
    ack = {
        "purchaseOrderNumber": order["purchaseOrderNumber"],
        "vendorOrderNumber": "V" + order["purchaseOrderNumber"],
        "acknowledgementDate": "2026-03-02T12:05:00Z",
        "acknowledgementStatus": {"code": "00", "description": "Shipping 100 percent of ordered product"},
        "sellingParty": {"partyId": details["sellingParty"]["partyId"]},
        "shipFromParty": {"partyId": details["shipFromParty"]["partyId"]},
        "itemAcknowledgements": [
            {
                "itemSequenceNumber": item["itemSequenceNumber"],
                "buyerProductIdentifier": item["buyerProductIdentifier"],
                "vendorProductIdentifier": item["vendorProductIdentifier"],
                "acknowledgedQuantity": {"amount": item["orderedQuantity"]["amount"], "unitOfMeasure": "Each"},
            }
            for item in details["items"]
        ],
    }
    return {**ack, **overrides}


def confirmation(order: dict[str, Any], shipped_date: str = "2026-03-02T11:00:00Z", **overrides: Any) -> dict[str, Any]:
    details = order["orderDetails"]
    items = [
        {
            "itemSequenceNumber": int(item["itemSequenceNumber"]),
            "vendorProductIdentifier": item["vendorProductIdentifier"],
            "shippedQuantity": {"amount": item["orderedQuantity"]["amount"], "unitOfMeasure": "Each"},
        }
        for item in details["items"]
    ]
    body = {
        "purchaseOrderNumber": order["purchaseOrderNumber"],
        "shipmentDetails": {"shippedDate": shipped_date, "shipmentStatus": "SHIPPED"},
        "sellingParty": {"partyId": details["sellingParty"]["partyId"]},
        "shipFromParty": {"partyId": details["shipFromParty"]["partyId"]},
        "items": items,
        "containers": [
            {
                "containerType": "Carton",
                "containerIdentifier": "C1",
                "trackingNumber": "1Z999",
                "shipMethod": "UPS_GR_RES",
                "weight": {"unitOfMeasure": "LB", "value": "2.5"},
                "packedItems": [
                    {"itemSequenceNumber": i["itemSequenceNumber"], "packedQuantity": dict(i["shippedQuantity"])}
                    for i in items
                ],
            }
        ],
    }
    return {**body, **overrides}


def settled(state: SimulatorState, clocks: Clocks, transaction_id: str) -> dict[str, Any]:
    clocks.advance(2.0)
    status = state.transaction(transaction_id)
    assert status is not None
    result: dict[str, Any] = status["transactionStatus"]
    return result


def codes(status: dict[str, Any]) -> set[str]:
    return {error["code"] for error in status.get("errors", {}).get("errors", [])}


# ---- generated orders -----------------------------------------------------------------------------------------


def test_generated_orders_conform_to_the_model_and_are_deterministic(clocks: Clocks) -> None:
    first, second = make_state(clocks), make_state(clocks)
    numbers = first.create_orders(200, created_at=T0)
    assert numbers == second.create_orders(200, created_at=T0)
    orders = [first.order(number) for number in numbers]
    assert orders == [second.order(number) for number in numbers]
    for order in orders:
        assert_conforms(ORDERS_MODEL, "Order", order)
    assert all(number.isalnum() and len(number) == 8 for number in numbers)
    names = [order["orderDetails"]["shipToParty"]["name"] for order in orders if order]
    assert any("," in name for name in names) and any('"' in name for name in names)
    items = [item for order in orders if order for item in order["orderDetails"]["items"]]
    assert {len(order["orderDetails"]["items"]) for order in orders if order} == {1, 2, 3, 4}
    assert any("giftDetails" in item for item in items)
    assert all(isinstance(item["netPrice"]["amount"], str) for item in items)
    assert {order["orderDetails"]["shipFromParty"]["partyId"] for order in orders if order} == {"WH01", "WH02"}


def test_pinned_lines_and_warehouse(clocks: Clocks) -> None:
    state = make_state(clocks)
    (number,) = state.create_orders(
        1, ship_from_party_id="WH02", lines=[LineSpec(quantity=5, vendor_product_identifier="SKU-X", price="9.90")]
    )
    order = state.order(number)
    assert order is not None
    (item,) = order["orderDetails"]["items"]
    assert (item["vendorProductIdentifier"], item["orderedQuantity"]["amount"]) == ("SKU-X", 5)
    assert item["netPrice"]["amount"] == "9.90"
    assert order["orderDetails"]["shipFromParty"] == {"partyId": "WH02"}
    with pytest.raises(ValueError, match="WH09"):
        state.create_orders(1, ship_from_party_id="WH09")
    with pytest.raises(ValueError, match="count"):
        state.create_orders(0)


# ---- paging ---------------------------------------------------------------------------------------------------


def test_pages_are_stable_while_new_orders_arrive(clocks: Clocks) -> None:
    state = make_state(clocks)
    created = set()
    for minute in range(50):
        created.update(state.create_orders(2, created_at=T0 - timedelta(minutes=minute)))
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page, token = state.orders_page(OrderQuery(*WINDOW, limit=20, cursor=cursor))
        pages += 1
        seen.extend(order["purchaseOrderNumber"] for order in page)
        # Orders arriving mid-paging, inside the window and before the cursor, must not shift later pages.
        state.create_orders(3, created_at=T0 - timedelta(minutes=55))
        if token is None:
            break
        cursor = decode_cursor(token)
    assert pages == 5
    assert len(seen) == len(set(seen)) == 100
    assert set(seen) == created


def test_descending_filters_and_numbers_only(clocks: Clocks) -> None:
    state = make_state(clocks)
    old = state.create_orders(3, ship_from_party_id="WH01", created_at=T0 - timedelta(minutes=30))
    new = state.create_orders(2, ship_from_party_id="WH02", created_at=T0)
    state.create_orders(4, created_at=T0 + timedelta(hours=2))  # outside the window
    page, token = state.orders_page(OrderQuery(*WINDOW, descending=True, include_details=False))
    assert token is None
    assert [o["purchaseOrderNumber"] for o in page] == sorted(new, reverse=True) + sorted(old, reverse=True)
    assert all(set(o) == {"purchaseOrderNumber"} for o in page)
    page, _ = state.orders_page(OrderQuery(*WINDOW, ship_from_party_id="WH02"))
    assert {o["purchaseOrderNumber"] for o in page} == set(new)
    state.cancel_order(old[0])
    page, _ = state.orders_page(OrderQuery(*WINDOW, status="CANCELLED"))
    assert [o["purchaseOrderNumber"] for o in page] == [old[0]]
    assert page[0]["orderDetails"]["orderStatus"] == "CANCELLED"


def test_a_page_of_one_hundred_orders_is_served_well_under_100_ms(clocks: Clocks) -> None:
    config = SimulatorConfig(transaction_delay=0.0, rate_limits=False, seed=5)
    state = SimulatorState(config, clock=clocks.monotonic, wall_clock=clocks.wall)
    state.create_orders(5000, created_at=T0)
    tokens = TokenStore()
    app = SimulatorApp(config, state, tokens)
    rdt = tokens.issue_rdt([Resource("GET", "/vendor/directFulfillment/orders/2021-12-28/purchaseOrders")], 60)
    target = (
        "/vendor/directFulfillment/orders/2021-12-28/purchaseOrders"
        "?createdAfter=2026-03-02T11:00:00Z&createdBefore=2026-03-02T13:00:00Z&limit=100"
    )
    timings = []
    for _ in range(10):
        started = time.perf_counter()
        response = app.handle(Request("GET", target, {"x-amz-access-token": rdt}))
        timings.append(time.perf_counter() - started)
        assert response.status == 200
        assert len(json.loads(response.body)["orders"]) == 100
    assert sorted(timings)[5] < 0.05, timings


# ---- acknowledgements -----------------------------------------------------------------------------------------


def test_an_acknowledgement_is_processing_then_success_and_accepts_the_order(clocks: Clocks) -> None:
    state = make_state(clocks)
    numbers = state.create_orders(2, created_at=T0)
    orders = [state.order(n) for n in numbers]
    transaction_id = state.submit_acknowledgements([full_accept(o) for o in orders if o])
    assert state.transaction(transaction_id) == {
        "transactionStatus": {"transactionId": transaction_id, "status": "Processing"}
    }
    assert state.order_status(numbers[0]) == "NEW"
    assert settled(state, clocks, transaction_id) == {"transactionId": transaction_id, "status": "Success"}
    assert [state.order_status(n) for n in numbers] == ["ACCEPTED", "ACCEPTED"]
    record = state.acknowledgements()[numbers[0]]
    assert [(r["transactionId"], r["result"], r["acknowledgementCode"]) for r in record] == [
        (transaction_id, "Success", "00")
    ]


def test_a_rejection_code_cancels_the_order(clocks: Clocks) -> None:
    state = make_state(clocks)
    (number,) = state.create_orders(1)
    order = state.order(number)
    assert order is not None
    ack = full_accept(order, acknowledgementStatus={"code": "03", "description": "Out of stock"})
    assert settled(state, clocks, state.submit_acknowledgements([ack]))["status"] == "Success"
    assert state.order_status(number) == "CANCELLED"


def _first_line(ack: dict[str, Any], **changes: Any) -> dict[str, Any]:
    lines = [dict(line) for line in ack["itemAcknowledgements"]]
    lines[0].update(changes)
    return {**ack, "itemAcknowledgements": lines}


ACK_BREAKAGES = {
    "INVALID_ORDER_ID": lambda ack: {**ack, "purchaseOrderNumber": "NOSUCHPO"},
    "INVALID_SELLING_PARTY": lambda ack: {**ack, "sellingParty": {"partyId": "OTHER"}},
    "INVALID_SHIP_FROM_PARTY": lambda ack: {**ack, "shipFromParty": {"partyId": "WH99"}},
    "INVALID_ACKNOWLEDGEMENT_CODE": lambda ack: {**ack, "acknowledgementStatus": {"code": "99"}},
    "QUANTITY_MISMATCH": lambda ack: _first_line(ack, acknowledgedQuantity={"amount": 99, "unitOfMeasure": "Each"}),
    "PRODUCT_ID_MISMATCH": lambda ack: _first_line(ack, vendorProductIdentifier="sku-0001 "),
    "INVALID_LINE_ITEM": lambda ack: _first_line(ack, itemSequenceNumber="77"),
    "MISSING_LINE_ITEM": lambda ack: {**ack, "itemAcknowledgements": ack["itemAcknowledgements"][1:]},
    "DUPLICATE_LINE_ITEM": lambda ack: {**ack, "itemAcknowledgements": ack["itemAcknowledgements"] * 2},
}


@pytest.mark.parametrize("code", sorted(ACK_BREAKAGES))
def test_acknowledgement_rules_fail_the_transaction(clocks: Clocks, code: str) -> None:
    state = make_state(clocks)
    (number,) = state.create_orders(1, lines=2)
    order = state.order(number)
    assert order is not None
    status = settled(state, clocks, state.submit_acknowledgements([ACK_BREAKAGES[code](full_accept(order))]))
    assert status["status"] == "Failure"
    assert code in codes(status)
    assert_conforms(
        "vendorDirectFulfillmentTransactions_2021-12-28.json", "TransactionStatus", {"transactionStatus": status}
    )
    assert state.order_status(number) == "NEW"


def test_a_second_acknowledgement_and_one_for_a_cancelled_order_fail(clocks: Clocks) -> None:
    state = make_state(clocks)
    accepted, cancelled = state.create_orders(2)
    orders = {n: state.order(n) for n in (accepted, cancelled)}
    assert (
        settled(state, clocks, state.submit_acknowledgements([full_accept(orders[accepted] or {})]))["status"]
        == "Success"
    )
    state.cancel_order(cancelled)
    status = settled(
        state,
        clocks,
        state.submit_acknowledgements([full_accept(orders[accepted] or {}), full_accept(orders[cancelled] or {})]),
    )
    assert codes(status) == {"DUPLICATE_ACKNOWLEDGEMENT", "ORDER_CANCELLED"}
    assert [r["result"] for r in state.acknowledgements()[accepted]] == ["Success", "Failure"]


# ---- shipment confirmations ------------------------------------------------------------------------------------


def _accepted_order(state: SimulatorState, clocks: Clocks, lines: int = 2) -> dict[str, Any]:
    (number,) = state.create_orders(1, lines=lines, created_at=T0 - timedelta(hours=3))
    order = state.order(number)
    assert order is not None
    assert settled(state, clocks, state.submit_acknowledgements([full_accept(order)]))["status"] == "Success"
    return order


def test_a_confirmation_ships_the_order(clocks: Clocks) -> None:
    state = make_state(clocks)
    order = _accepted_order(state, clocks)
    body = confirmation(order)
    assert_conforms(SHIPPING_MODEL, "ShipmentConfirmation", body)
    status = settled(state, clocks, state.submit_confirmations([body]))
    assert status["status"] == "Success", status
    assert state.order_status(order["purchaseOrderNumber"]) == "SHIPPED"
    (record,) = state.confirmations()[order["purchaseOrderNumber"]]
    assert (record["result"], record["containers"], record["trackingNumbers"]) == ("Success", 1, ["1Z999"])


def _over_ship(body: dict[str, Any]) -> dict[str, Any]:
    items = [dict(i) for i in body["items"]]
    items[0]["shippedQuantity"] = {"amount": 50, "unitOfMeasure": "Each"}
    containers = [dict(body["containers"][0])]
    packed = [dict(p) for p in containers[0]["packedItems"]]
    packed[0]["packedQuantity"] = {"amount": 50, "unitOfMeasure": "Each"}
    containers[0]["packedItems"] = packed
    return {**body, "items": items, "containers": containers}


CONFIRMATION_BREAKAGES = {
    "INVALID_ORDER_ID": lambda body: {**body, "purchaseOrderNumber": "NOSUCHPO"},
    "QUANTITY_EXCEEDS_ORDERED": _over_ship,
    "INVALID_SHIPPED_DATE": lambda body: {
        **body,
        "shipmentDetails": {**body["shipmentDetails"], "shippedDate": "2026-03-09T00:00:00Z"},
    },
    "EMPTY_PACKAGES": lambda body: {k: v for k, v in body.items() if k != "containers"},
    "MISSING_SHIP_METHOD": lambda body: {
        **body,
        "containers": [{k: v for k, v in body["containers"][0].items() if k != "shipMethod"}],
    },
    "PACKED_QUANTITY_MISMATCH": lambda body: {
        **body,
        "containers": [{**body["containers"][0], "packedItems": body["containers"][0]["packedItems"][:1]}],
    },
    "MISSING_LINE_ITEM": lambda body: {**body, "items": body["items"][:1]},
    "INVALID_PACKAGE_WEIGHT": lambda body: {
        **body,
        "containers": [{**body["containers"][0], "weight": {"unitOfMeasure": "KG", "value": "0"}}],
    },
    "INVALID_SHIP_FROM_PARTY": lambda body: {**body, "shipFromParty": {"partyId": "WH99"}},
}


@pytest.mark.parametrize("code", sorted(CONFIRMATION_BREAKAGES))
def test_confirmation_rules_fail_the_transaction(clocks: Clocks, code: str) -> None:
    state = make_state(clocks)
    order = _accepted_order(state, clocks)
    status = settled(state, clocks, state.submit_confirmations([CONFIRMATION_BREAKAGES[code](confirmation(order))]))
    assert status["status"] == "Failure"
    assert code in codes(status)
    assert state.order_status(order["purchaseOrderNumber"]) == "ACCEPTED"


def test_a_shipped_date_before_the_order_fails_and_names_the_order(clocks: Clocks) -> None:
    state = make_state(clocks)
    order = _accepted_order(state, clocks)
    early = confirmation(order, shipped_date="2020-01-01T00:00:00Z")
    status = settled(state, clocks, state.submit_confirmations([early]))
    (problem,) = status["errors"]["errors"]
    assert problem["code"] == "INVALID_SHIPPED_DATE" and order["purchaseOrderNumber"] in problem["message"]


def test_zero_padded_order_lines_match_integer_shipment_lines() -> None:
    details = {"items": [{"itemSequenceNumber": "00001", "vendorProductIdentifier": "SKU-1",
                          "orderedQuantity": {"amount": 2}}]}
    shipped = [("1", {"vendorProductIdentifier": "SKU-1"}, 2)]
    assert rules.line_problems(details, shipped, "purchaseOrderNumber=PO1", exact=False) == []
    unknown = rules.line_problems(details, [("2", {"vendorProductIdentifier": "SKU-1"}, 1)], "x", exact=False)
    assert {p["code"] for p in unknown} == {"INVALID_LINE_ITEM", "MISSING_LINE_ITEM"}


def test_an_unacknowledged_order_cannot_be_confirmed_and_floor_denial_cancels(clocks: Clocks) -> None:
    state = make_state(clocks)
    (number,) = state.create_orders(1, created_at=T0 - timedelta(hours=3))
    order = state.order(number)
    assert order is not None
    assert codes(settled(state, clocks, state.submit_confirmations([confirmation(order)]))) == {
        "ORDER_NOT_ACKNOWLEDGED"
    }
    accepted = _accepted_order(state, clocks)
    denial = confirmation(accepted, containers=[])
    denial["shipmentDetails"] = {**denial["shipmentDetails"], "shipmentStatus": "FLOOR_DENIAL"}
    assert settled(state, clocks, state.submit_confirmations([denial]))["status"] == "Success"
    assert state.order_status(accepted["purchaseOrderNumber"]) == "CANCELLED"


# ---- inventory ---------------------------------------------------------------------------------------------------


def _stock(full: bool, *items: tuple[str, int]) -> dict[str, Any]:
    return {
        "sellingParty": {"partyId": "VENDOR1"},
        "isFullUpdate": full,
        "items": [
            {"vendorProductIdentifier": sku, "availableQuantity": {"amount": n, "unitOfMeasure": "Each"}}
            for sku, n in items
        ],
    }


def test_full_inventory_zeroes_what_it_leaves_out_and_partial_merges(clocks: Clocks) -> None:
    state = make_state(clocks)
    assert (
        settled(state, clocks, state.submit_inventory("WH01", _stock(True, ("A", 5), ("B", 7))))["status"] == "Success"
    )
    assert (
        settled(state, clocks, state.submit_inventory("WH01", _stock(False, ("B", 1), ("C", 2))))["status"] == "Success"
    )
    assert {k: v["availableQuantity"] for k, v in state.inventory("WH01").items()} == {"A": 5, "B": 1, "C": 2}
    assert settled(state, clocks, state.submit_inventory("WH01", _stock(True, ("C", 3))))["status"] == "Success"
    # Amazon: "Any items not in the full feed are updated as not available" - they stay listed, at 0.
    assert {k: v["availableQuantity"] for k, v in state.inventory("WH01").items()} == {"A": 0, "B": 0, "C": 3}
    assert state.summary()["inventory"]["WH01"] == {"skus": 3, "available_skus": 1, "units": 3, "updates": 3}


def test_inventory_for_an_unknown_warehouse_or_vendor_fails(clocks: Clocks) -> None:
    state = make_state(clocks)
    assert codes(settled(state, clocks, state.submit_inventory("WH77", _stock(True, ("A", 1))))) == {
        "INVALID_WAREHOUSE_ID"
    }
    other = {**_stock(True, ("A", 1)), "sellingParty": {"partyId": "SOMEONE"}}
    assert codes(settled(state, clocks, state.submit_inventory("WH01", other))) == {"INVALID_SELLING_PARTY"}
    assert state.inventory("WH01") == {}


# ---- tokens, buckets, schemas, faults ---------------------------------------------------------------------------


def test_tokens_expire_and_rdts_are_bound_to_their_paths(clocks: Clocks) -> None:
    store = TokenStore(clock=clocks.monotonic)
    access = store.issue_access_token(60)
    generic = store.issue_rdt([Resource("GET", "/orders/2021-12-28/purchaseOrders/{purchaseOrderNumber}")], 30)
    assert store.denial(access, "POST", "/acks", restricted=False) is None
    assert store.denial(access, "GET", "/orders/2021-12-28/purchaseOrders/PO1", restricted=True) == NEEDS_RDT
    assert store.denial(generic, "GET", "/orders/2021-12-28/purchaseOrders/PO1", restricted=True) is None
    assert store.denial(generic, "GET", "/orders/2021-12-28/purchaseOrders", restricted=True) == RDT_SCOPE
    assert store.denial(generic, "POST", "/orders/2021-12-28/purchaseOrders/PO1", restricted=True) == RDT_SCOPE
    assert store.denial(None, "GET", "/x", restricted=False) == MISSING
    assert store.denial("Atza|forged", "GET", "/x", restricted=False) == INVALID
    clocks.advance(31)
    assert store.denial(generic, "GET", "/orders/2021-12-28/purchaseOrders/PO1", restricted=True) == EXPIRED
    assert store.denial(access, "POST", "/acks", restricted=False) is None
    store.expire_all()
    assert store.denial(access, "POST", "/acks", restricted=False) == EXPIRED
    assert store.counts() == {"access_tokens": 0, "restricted_data_tokens": 0, "expired": 2}


def test_token_bucket_bursts_then_refills_at_its_rate(clocks: Clocks) -> None:
    bucket = TokenBucket(10.0, 10, clock=clocks.monotonic)
    assert [bucket.take() for _ in range(11)] == [True] * 10 + [False]
    clocks.advance(0.25)
    assert [bucket.take() for _ in range(3)] == [True, True, False]
    slow = TokenBucket(1.0, 10, clock=clocks.monotonic)
    assert sum(slow.take() for _ in range(20)) == 10
    clocks.advance(1.0)
    assert slow.take() and not slow.take()


def test_the_model_validator_names_the_first_bad_field() -> None:
    validator = ModelValidator(ORDERS_MODEL)
    body = {"orderAcknowledgements": [{"purchaseOrderNumber": "PO1", "sellingParty": {}}]}
    assert (
        validator.problem("SubmitAcknowledgementRequest", body)
        == "orderAcknowledgements[0].acknowledgementDate is required"
    )
    ack = full_accept(
        {
            "purchaseOrderNumber": "PO1",
            "orderDetails": {"sellingParty": {"partyId": "V"}, "shipFromParty": {"partyId": "W"}, "items": []},
        }
    )
    assert validator.problem("OrderAcknowledgementItem", ack) is None
    assert (
        validator.problem("OrderAcknowledgementItem", {**ack, "sellingParty": {}}) == "sellingParty.partyId is required"
    )
    assert validator.problem("OrderAcknowledgementItem", {**ack, "acknowledgementDate": "yesterday"}) == (
        "acknowledgementDate must be an ISO-8601 date-time"
    )
    shipping = ModelValidator(SHIPPING_MODEL)
    assert shipping.problem("ShipmentConfirmation", {"purchaseOrderNumber": "PO1"}) == "items is required"
    assert (
        shipping.problem("ShipmentConfirmation", confirmation_shell("PO-1"))
        == "purchaseOrderNumber does not match ^[a-zA-Z0-9]+$"
    )


def confirmation_shell(number: str) -> dict[str, Any]:
    return {
        "purchaseOrderNumber": number,
        "shipmentDetails": {"shippedDate": "2026-03-02T11:00:00Z", "shipmentStatus": "SHIPPED"},
        "sellingParty": {"partyId": "V"},
        "shipFromParty": {"partyId": "W"},
        "items": [],
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-02T12:00:00Z", T0),
        ("2026-03-02T13:00:00+01:00", T0),
        ("2026-03-02T12:00:00.000000001Z", T0),
        ("2026-03-02T12:00:00", T0),
        ("2026-03-02 12:00:00+00:00", None),  # what python-amazon-sp-api sends for a datetime object
        ("02/03/2026", None),
        ("2026-13-02T12:00:00Z", None),
    ],
)
def test_parse_datetime(text: str, expected: datetime | None) -> None:
    assert parse_datetime(text) == expected


def test_fault_settings_are_checked() -> None:
    assert Faults.from_mapping({"error_rate": 0.5, "statuses": [503]}) == Faults(error_rate=0.5, statuses=(503,))
    with pytest.raises(ValueError, match="error_rate"):
        Faults(error_rate=1.5)
    with pytest.raises(ValueError, match="statuses"):
        Faults(statuses=(404,))
    with pytest.raises(ValueError, match="unknown"):
        Faults.from_mapping({"eror_rate": 0.1})
    with pytest.raises(ValueError, match="drop_rate"):
        SimulatorConfig(drop_rate=-0.1)


def test_fault_plans_follow_the_rates(clocks: Clocks) -> None:
    state = make_state(clocks)
    state.faults = Faults(error_rate=1.0, slow_rate=1.0, slow_seconds=0.5, statuses=(503,))
    plans = [state.plan_fault() for _ in range(40)]
    assert {(p.status, p.delay, p.drop) for p in plans} == {(503, 0.5, False)}
    assert {p.body for p in plans} == {"json", "empty", "html"}
    state.faults = Faults(drop_rate=1.0)
    assert state.plan_fault().drop
    state.faults = Faults()
    assert state.plan_fault() == type(state.plan_fault())()
