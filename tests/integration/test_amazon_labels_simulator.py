"""Labels, packing slips and the cancelled-order sweep: SpApiVendorApi against the simulator over HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from adapters.amazon.api import LABEL_PATH, ORDER_PATH, ORDERS_PATH, AmazonAccess, SpApiVendorApi
from simulator import SimulatorConfig, start_simulator
from tasks.core.errors import PermanentError, RequestRefusedError
from tasks.core.models import (
    AmazonOrderStatus,
    Carton,
    LabelFormat,
    LabelRequest,
    Package,
    ShipmentConfirmation,
    ShippedItem,
    TimeWindow,
    TransactionState,
)
from tests.integration.test_amazon_adapter_simulator import CREATED, STORM_RETRY, WINDOW, _full_accept, _settled


@pytest.fixture
def sim() -> Iterator[Any]:
    config = SimulatorConfig(port=0, selling_party_id="VENDOR1", warehouses=("WH01", "WH02"), transaction_delay=0.2,
                             seed=5)
    with start_simulator(config) as simulator:
        yield simulator


@pytest.fixture
def make_api(sim: Any) -> Iterator[Callable[..., SpApiVendorApi]]:
    built: list[SpApiVendorApi] = []

    def make(**options: Any) -> SpApiVendorApi:
        access = AmazonAccess("na", "VENDOR1", "amzn1.application-oa2-client.it", "it-secret", "Atzr|it-refresh",
                              endpoint=sim.base_url, token_url=sim.token_url, timeout=5.0)
        api = SpApiVendorApi(access, retry=STORM_RETRY, **options)
        built.append(api)
        return api

    yield make
    for api in built:
        api.close()


def _request(sim: Any, number: str, cartons: int = 1) -> LabelRequest:
    order = sim.order(number)["orderDetails"]
    items = tuple(
        ShippedItem(item["itemSequenceNumber"], item["orderedQuantity"]["amount"],
                    vendor_product_identifier=item["vendorProductIdentifier"])
        for item in order["items"]
    )
    return LabelRequest(
        number,
        order["sellingParty"]["partyId"],
        order["shipFromParty"]["partyId"],
        tuple(Carton(f"C{i}", 1.5 + i, "LB", items if i == 0 else (), 10, 8, 6, "IN") for i in range(cartons)),
    )


def test_a_label_is_made_once_and_asked_for_again_it_is_read_back(
    sim: Any, make_api: Callable[..., SpApiVendorApi]
) -> None:
    (number,) = sim.create_orders(1, created_at=CREATED, lines=2)
    api = make_api()
    label = api.create_shipping_labels(_request(sim, number, cartons=2))
    assert label.label_format is LabelFormat.ZPL and len(label.packages) == 2
    assert [p.package_identifier for p in label.packages] == ["001", "002"]
    assert all(p.content.startswith(b"^XA") for p in label.packages)
    assert [p.tracking_number for p in label.packages] == sim.labels()[number]["trackingNumbers"]

    again = api.create_shipping_labels(_request(sim, number))  # 409, then getShippingLabel
    assert again == label
    assert [r["status"] for r in sim.requests(operation="createShippingLabels")] == [200, 409]
    assert [r["status"] for r in sim.requests(operation="getShippingLabel")] == [200]
    assert api.fetch_shipping_label(number) == label
    # the labels carry the customer's address: every call went with the RDT, minted once for all paths
    assert len(sim.requests(operation="createRestrictedDataToken")) == 1


def test_labels_are_listed_by_window_and_a_missing_one_is_not_found(
    sim: Any, make_api: Callable[..., SpApiVendorApi]
) -> None:
    numbers = sim.create_orders(3, created_at=CREATED)
    api = make_api()
    for number in numbers:
        api.create_shipping_labels(_request(sim, number))
    now = datetime.now(UTC)
    page = api.fetch_shipping_labels_page(TimeWindow(now - timedelta(minutes=5), now + timedelta(seconds=5)), limit=2)
    rest = api.fetch_shipping_labels_page(
        TimeWindow(now - timedelta(minutes=5), now + timedelta(seconds=5)), next_token=page.next_token
    )
    assert [label.purchase_order_number for label in page.labels + rest.labels] == numbers
    assert rest.next_token is None
    (other,) = sim.create_orders(1, created_at=CREATED)
    with pytest.raises(PermanentError) as caught:
        api.fetch_shipping_label(other)
    assert caught.value.status == 404


def test_no_label_for_a_cancelled_order(sim: Any, make_api: Callable[..., SpApiVendorApi]) -> None:
    (number,) = sim.create_orders(1, created_at=CREATED)
    sim.cancel_order(number)
    with pytest.raises(RequestRefusedError, match="InvalidInput"):
        make_api().create_shipping_labels(_request(sim, number))
    assert sim.labels() == {}


def test_packing_slips_come_when_amazon_has_them(sim: Any, make_api: Callable[..., SpApiVendorApi]) -> None:
    sim.update_settings(packing_slip_delay=3600)
    numbers = sim.create_orders(12, created_at=CREATED)
    required = [n for n in numbers if sim.order(n)["orderDetails"]["shipmentDetails"]["isPslipRequired"]]
    api = make_api()
    assert api.fetch_packing_slip(required[0]) is None  # not ready: a later run looks again
    assert api.fetch_packing_slips_page(WINDOW).slips == ()
    sim.update_settings(packing_slip_delay=0)
    slip = api.fetch_packing_slip(required[0])
    assert slip is not None and slip.content.startswith(b"%PDF-1.4") and slip.content_type == "application/pdf"
    listed = api.fetch_packing_slips_page(WINDOW, ship_from_party_id="WH01")
    expected = {n for n in required if sim.order(n)["orderDetails"]["shipFromParty"]["partyId"] == "WH01"}
    assert {s.purchase_order_number for s in listed.slips} == expected


def test_the_cancelled_sweep_asks_for_numbers_only(sim: Any, make_api: Callable[..., SpApiVendorApi]) -> None:
    numbers = sim.create_orders(5, created_at=CREATED)
    sim.cancel_order(numbers[1])
    sim.cancel_order(numbers[3])
    page = make_api().fetch_order_numbers_page(WINDOW, status=AmazonOrderStatus.CANCELLED)
    assert sorted(page.numbers) == sorted([numbers[1], numbers[3]])
    (request,) = sim.requests(operation="getOrders")
    assert request["query"]["status"] == "CANCELLED" and request["query"]["includeDetails"] == "false"


def test_an_rdt_without_the_label_paths_is_refused_clearly(sim: Any, make_api: Callable[..., SpApiVendorApi]) -> None:
    (number,) = sim.create_orders(1, created_at=CREATED)
    api = make_api(restricted_paths=(ORDERS_PATH, ORDER_PATH, LABEL_PATH))  # GET only: createShippingLabels is POST
    with pytest.raises(PermanentError, match="Restricted Data Token") as caught:
        api.create_shipping_labels(_request(sim, number))
    assert caught.value.status == 403
    assert sim.labels() == {}


def test_the_simulator_refuses_an_lwa_token_on_the_label_paths(sim: Any) -> None:
    (number,) = sim.create_orders(1, created_at=CREATED, ship_from_party_id="WH01")
    token = sim.issue_access_token()
    base = f"{sim.base_url}/vendor/directFulfillment/shipping/2021-12-28"
    with httpx.Client(headers={"x-amz-access-token": token}) as client:
        body = {"sellingParty": {"partyId": "VENDOR1"}, "shipFromParty": {"partyId": "WH01"}}
        for response in (
            client.post(f"{base}/shippingLabels/{number}", json=body),
            client.get(f"{base}/shippingLabels/{number}"),
            client.get(f"{base}/packingSlips/{number}"),
        ):
            assert response.status_code == 403
            assert response.json()["errors"][0]["code"] == "Unauthorized"
        rdt = sim.issue_restricted_data_token([("POST", "/vendor/directFulfillment/shipping/2021-12-28/shippingLabels/"
                                                "{purchaseOrderNumber}")])
        made = client.post(f"{base}/shippingLabels/{number}", json=body, headers={"x-amz-access-token": rdt})
        assert made.status_code == 200, made.text
        extra = client.post(f"{base}/shippingLabels/{number}", json={**body, "marketplaceIds": ["X"]},
                            headers={"x-amz-access-token": rdt})
        assert extra.status_code == 400  # production refuses injected marketplace ids (sp-api #226)


def test_a_confirmation_with_the_labels_tracking_number_ships_the_order(
    sim: Any, make_api: Callable[..., SpApiVendorApi]
) -> None:
    (number,) = sim.create_orders(1, created_at=CREATED, lines=1)
    api = make_api()
    order = api.fetch_order(number)
    assert _settled(api, api.submit_acknowledgements([_full_accept(order)])).status is TransactionState.SUCCESS
    label = api.create_shipping_labels(_request(sim, number))
    line = order.lines[0]
    item = ShippedItem(line.item_sequence_number, line.ordered_quantity,
                       vendor_product_identifier=line.vendor_product_identifier)

    def confirmation(tracking: str) -> ShipmentConfirmation:
        package = Package("C0", tracking, 1.5, "LB", (item,), ship_method=label.packages[0].ship_method)
        return ShipmentConfirmation(number, datetime.now(UTC) - timedelta(minutes=1), "VENDOR1",
                                    order.ship_from_party_id, (item,), (package,))

    refused = _settled(api, api.submit_shipment_confirmations([confirmation("1Z-NOT-OURS")]))
    assert refused.status is TransactionState.FAILURE
    assert [e.code for e in refused.errors] == ["INVALID_TRACKING_NUMBER"]
    shipped = _settled(api, api.submit_shipment_confirmations([confirmation(label.packages[0].tracking_number)]))
    assert shipped.status is TransactionState.SUCCESS
    assert sim.order_status(number) == "SHIPPED"
