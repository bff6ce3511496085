"""The simulator's shipping labels, packing slips and label-only masking, without sockets."""

from __future__ import annotations

import base64
import re
import struct
import zlib
from datetime import timedelta
from typing import Any

import pytest

from simulator.documents import _ups_check_digit, packing_slip_pdf, png_label, tracking_number
from simulator.schema import ORDERS_MODEL, SHIPPING_MODEL
from simulator.state import (
    MASK,
    Conflict,
    InvalidInput,
    ListQuery,
    NotAvailable,
    OrderQuery,
    SimulatorState,
    decode_cursor,
)
from tests.support.simulator_fixtures import assert_conforms
from tests.unit.test_simulator_state import T0, Clocks, confirmation, full_accept, make_state, settled


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


def _order(state: SimulatorState, **create: Any) -> dict[str, Any]:
    (number,) = state.create_orders(1, created_at=T0 - timedelta(hours=3), **create)
    order = state.order(number)
    assert order is not None
    return order


def _request(order: dict[str, Any], *weights: str) -> dict[str, Any]:
    details = order["orderDetails"]
    body: dict[str, Any] = {
        "sellingParty": {"partyId": details["sellingParty"]["partyId"]},
        "shipFromParty": {"partyId": details["shipFromParty"]["partyId"]},
    }
    if weights:
        body["containers"] = [
            {
                "containerType": "Carton",
                "containerIdentifier": f"C{index}",
                "weight": {"unitOfMeasure": "LB", "value": weight},
                "dimensions": {"length": "12", "width": "8", "height": "4", "unitOfMeasure": "IN"},
                "packedItems": [
                    {
                        "itemSequenceNumber": int(item["itemSequenceNumber"]),
                        "vendorProductIdentifier": item["vendorProductIdentifier"],
                        "packedQuantity": {"amount": item["orderedQuantity"]["amount"], "unitOfMeasure": "Each"},
                    }
                    for item in details["items"]
                ]
                if index == 1
                else [],
            }
            for index, weight in enumerate(weights, start=1)
        ]
    assert_conforms(SHIPPING_MODEL, "CreateShippingLabelsRequest", body)
    return body


def test_label_only_parties_get_the_ship_to_masked_as_the_model_describes(clocks: Clocks) -> None:
    state = make_state(clocks, label_only_parties=("VENDOR1",))
    order = _order(state)
    ship_to = order["orderDetails"]["shipToParty"]
    assert_conforms(ORDERS_MODEL, "Order", order)
    assert ship_to["name"] == ship_to["addressLine1"] == ship_to["city"] == ship_to["phone"] == MASK
    assert MASK not in (ship_to["stateOrRegion"], ship_to["postalCode"], ship_to["countryCode"])
    page, _ = state.orders_page(OrderQuery(T0 - timedelta(hours=4), T0))
    assert page[0]["orderDetails"]["shipToParty"]["name"] == MASK
    state.update_settings(label_only_parties=[])
    unmasked = state.order(order["purchaseOrderNumber"])
    assert unmasked is not None and unmasked["orderDetails"]["shipToParty"]["name"] != MASK


def test_a_label_per_container_with_its_own_tracking_number_then_409(clocks: Clocks) -> None:
    state = make_state(clocks, label_only_parties=("VENDOR1",))
    order = _order(state, lines=2)
    number = order["purchaseOrderNumber"]
    label = state.create_shipping_labels(number, _request(order, "2.5", "1.2"))
    assert_conforms(SHIPPING_MODEL, "ShippingLabel", label)
    assert label["labelFormat"] == "ZPL"
    assert [d["packageIdentifier"] for d in label["labelData"]] == ["001", "002"]
    tracking = [d["trackingNumber"] for d in label["labelData"]]
    assert len(set(tracking)) == 2
    zpl = base64.b64decode(label["labelData"][0]["content"]).decode("utf-8")
    assert zpl.startswith("^XA") and zpl.rstrip().endswith("^XZ")
    assert f"^BCN,220,Y,N,N^FD{tracking[0]}^FS" in zpl  # the tracking barcode
    assert "PKG 001 OF 002" in zpl and "2.5 LB" in zpl
    assert MASK not in zpl  # Amazon prints the real address on its label, even for label-only vendors

    with pytest.raises(Conflict):
        state.create_shipping_labels(number, _request(order))
    assert state.shipping_label(number) == label
    assert state.labels()[number]["conflicts"] == 1
    assert state.labels()[number]["trackingNumbers"] == tracking


def test_one_label_for_the_whole_order_without_containers_and_png_when_asked(clocks: Clocks) -> None:
    state = make_state(clocks, label_format="PNG")
    order = _order(state)
    label = state.create_shipping_labels(order["purchaseOrderNumber"], _request(order))
    (data,) = label["labelData"]
    png = base64.b64decode(data["content"])
    assert label["labelFormat"] == "PNG" and _png_is_valid(png)


def _png_is_valid(png: bytes) -> bool:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    position, kinds, idat = 8, [], b""
    while position < len(png):
        (length,) = struct.unpack(">I", png[position : position + 4])
        kind, data = png[position + 4 : position + 8], png[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", png[position + 8 + length : position + 12 + length])
        assert zlib.crc32(kind + data) & 0xFFFFFFFF == crc
        kinds.append(kind)
        idat += data if kind == b"IDAT" else b""
        position += 12 + length
    width, height = struct.unpack(">II", png[16:24])
    return kinds == [b"IHDR", b"IDAT", b"IEND"] and len(zlib.decompress(idat)) == height * (1 + (width + 7) // 8)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda body, _order: {**body, "shipFromParty": {"partyId": "WH99"}}, "shipFromParty does not match"),
        (
            lambda body, _order: {
                **body,
                "containers": [{**body["containers"][0], "packedItems": [
                    {"itemSequenceNumber": 77, "packedQuantity": {"amount": 1, "unitOfMeasure": "Each"}}
                ]}],
            },
            "not on the order",
        ),
    ],
)
def test_label_requests_that_do_not_fit_the_order_are_refused(clocks: Clocks, change: Any, message: str) -> None:
    state = make_state(clocks)
    order = _order(state)
    with pytest.raises(InvalidInput, match=message):
        state.create_shipping_labels(order["purchaseOrderNumber"], change(_request(order, "1"), order))
    assert state.labels() == {}


def test_no_label_for_a_cancelled_or_unknown_order(clocks: Clocks) -> None:
    state = make_state(clocks)
    order = _order(state)
    state.cancel_order(order["purchaseOrderNumber"])
    with pytest.raises(InvalidInput, match="cancelled"):
        state.create_shipping_labels(order["purchaseOrderNumber"], _request(order))
    with pytest.raises(KeyError):
        state.create_shipping_labels("NOSUCHPO", _request(order))


def test_labels_are_listed_by_creation_time_in_pages(clocks: Clocks) -> None:
    state = make_state(clocks)
    numbers = []
    for _ in range(5):
        order = _order(state)
        state.create_shipping_labels(order["purchaseOrderNumber"], _request(order))
        numbers.append(order["purchaseOrderNumber"])
        clocks.advance(1)
    seen: list[str] = []
    token: str | None = None
    window = ListQuery(T0 - timedelta(minutes=1), T0 + timedelta(minutes=1), limit=2)
    while True:
        query = window if token is None else ListQuery(window.created_after, window.created_before, limit=2,
                                                        cursor=_cursor(token))
        page, token = state.shipping_labels_page(query)
        assert_conforms(SHIPPING_MODEL, "ShippingLabelList", {"shippingLabels": page})
        seen += [label["purchaseOrderNumber"] for label in page]
        if token is None:
            break
    assert seen == numbers
    only_wh02, _ = state.shipping_labels_page(ListQuery(window.created_after, window.created_before,
                                                        ship_from_party_id="NOPE"))
    assert only_wh02 == []


def _cursor(token: str) -> Any:
    return decode_cursor(token)


def test_a_confirmation_must_carry_a_tracking_number_amazon_issued(clocks: Clocks) -> None:
    state = make_state(clocks)
    order = _order(state, lines=2)
    number = order["purchaseOrderNumber"]
    assert settled(state, clocks, state.submit_acknowledgements([full_accept(order)]))["status"] == "Success"
    label = state.create_shipping_labels(number, _request(order))
    issued = label["labelData"][0]["trackingNumber"]

    wrong = settled(state, clocks, state.submit_confirmations([confirmation(order)]))  # carries 1Z999
    assert wrong["status"] == "Failure"
    assert {e["code"] for e in wrong["errors"]["errors"]} == {"INVALID_TRACKING_NUMBER"}
    assert state.order_status(number) == "ACCEPTED"

    body = confirmation(order)
    body["containers"] = [{**body["containers"][0], "trackingNumber": issued}]
    assert settled(state, clocks, state.submit_confirmations([body]))["status"] == "Success"
    assert state.order_status(number) == "SHIPPED"


def test_packing_slips_only_when_required_and_after_the_delay(clocks: Clocks) -> None:
    state = make_state(clocks, packing_slip_delay=600)
    orders = [_order(state) for _ in range(12)]
    required = [o["purchaseOrderNumber"] for o in orders if o["orderDetails"]["shipmentDetails"]["isPslipRequired"]]
    not_required = [o["purchaseOrderNumber"] for o in orders if o["purchaseOrderNumber"] not in required]
    assert required and not_required
    with pytest.raises(NotAvailable, match="not available yet"):
        state.packing_slip(required[0])
    with pytest.raises(NotAvailable, match="does not require"):
        state.packing_slip(not_required[0])
    assert state.packing_slips_page(ListQuery(T0 - timedelta(hours=4), T0 + timedelta(hours=1)))[0] == []

    clocks.advance(600)
    slip = state.packing_slip(required[0])
    assert_conforms(SHIPPING_MODEL, "PackingSlip", slip)
    _assert_pdf(base64.b64decode(slip["content"]), required[0])
    # listed by the time the slip became available: the order's time plus the delay
    listed, _ = state.packing_slips_page(ListQuery(T0 - timedelta(hours=3), T0 - timedelta(hours=2, minutes=49)))
    assert sorted(s["purchaseOrderNumber"] for s in listed) == sorted(required)
    early, _ = state.packing_slips_page(ListQuery(T0 - timedelta(hours=4), T0 - timedelta(hours=3)))
    assert early == []

    state.update_settings(packing_slip_delay=0)
    paged: list[str] = []
    query = ListQuery(T0 - timedelta(hours=4), T0, limit=1)
    while True:
        page, token = state.packing_slips_page(query)
        paged += [s["purchaseOrderNumber"] for s in page]
        if token is None:
            break
        query = ListQuery(query.created_after, query.created_before, limit=1, cursor=_cursor(token))
    assert sorted(paged) == sorted(required)


def _assert_pdf(pdf: bytes, number: str) -> None:
    assert pdf.startswith(b"%PDF-1.4") and pdf.rstrip().endswith(b"%%EOF")
    xref = int(re.findall(rb"startxref\n(\d+)", pdf)[-1])
    assert pdf[xref:].startswith(b"xref")
    offsets = [int(o) for o in re.findall(rb"(\d{10}) 00000 n", pdf)]
    for index, offset in enumerate(offsets, start=1):
        assert pdf[offset:].startswith(f"{index} 0 obj".encode())
    assert f"Purchase order {number}".encode() in pdf


def test_tracking_numbers_take_the_carriers_shape() -> None:
    import random

    rng = random.Random(1)
    assert re.fullmatch(r"1Z[A-Z0-9]{6}03\d{8}", tracking_number("UPS_GR_RES", rng))
    assert re.fullmatch(r"\d{12}", tracking_number("FEDEX_HOME", rng))
    assert re.fullmatch(r"94001\d{17}", tracking_number("USPS_PRIORITY", rng))
    assert re.fullmatch(r"TBA\d{12}", tracking_number("AMZL_US", rng))
    ups = tracking_number("UPS_2ND_DAY", rng)
    assert int(ups[-1]) == _ups_check_digit(ups[2:-1])
    assert _ups_check_digit("999AA1012345678") == 4  # the widely published sample 1Z999AA10123456784


def test_documents_escape_their_text() -> None:
    pdf = packing_slip_pdf({
        "purchaseOrderNumber": "PO1",
        "orderDetails": {"customerOrderNumber": "1-2", "shipToParty": {"name": "A (B) \\ C"},
                         "items": [{"title": "Kettle, 12\" Edition", "orderedQuantity": {"amount": 2}}]},
    })
    assert b"A \\(B\\) \\\\ C" in pdf
    _assert_pdf(pdf, "PO1")
    assert _png_is_valid(png_label("1Z0000000000000000"))
