"""SpApiVendorApi through the real sp_api clients against an httpx.MockTransport fake: wire format, tokens, errors."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import parse_qs

import httpx
import pytest

from adapters.amazon.api import ORDERS_PATH, SpApiVendorApi
from adapters.amazon.pacing import RetryPolicy
from flows.runtime import vendor_api_for
from tasks.core.config import Account
from tasks.core.errors import ConfigError, OutcomeUnknownError, PermanentError, TransientError, is_transient
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
    TimeWindow,
    TransactionState,
)
from tasks.core.orders import follow_pages
from tests.support.amazon_fixtures import (
    ACKS,
    CONFIRMATIONS,
    INVENTORY,
    LWA,
    ORDERS,
    RDT,
    TRANSACTIONS,
    FakeAmazon,
    VirtualClock,
    amazon_order_json,
    fake_access,
    json_reply,
    model_validator,
)

Make = Callable[..., SpApiVendorApi]
WINDOW = TimeWindow(datetime(2026, 1, 5, 9, 0, tzinfo=UTC), datetime(2026, 1, 5, 9, 30, tzinfo=UTC))
SECRETS = ("client-secret-do-not-leak", "Atzr|refresh-do-not-leak", "Atza|", "Atz.sprdt|")


def _query(request: httpx.Request) -> dict[str, list[str]]:
    return parse_qs(request.url.query.decode(), keep_blank_values=True)


def _ack(number: str = "PO1") -> OrderAcknowledgement:
    return OrderAcknowledgement(
        purchase_order_number=number,
        vendor_order_number=f"V-{number}",
        acknowledgement_date=datetime(2026, 1, 5, 11, 0, tzinfo=UTC),
        selling_party_id="VENDOR1",
        ship_from_party_id="WH01",
        lines=(AcknowledgementLine("00001", 2, vendor_product_identifier="SKU-1"),),
    )


def test_get_orders_sends_iso_strings_rdt_and_no_marketplace_params(
    fake_amazon: FakeAmazon, make_fake_vendor_api: Make
) -> None:
    fake_amazon.script("GET", ORDERS, json_reply(200, {"orders": [amazon_order_json("PO1")]}))
    api = make_fake_vendor_api()

    page = api.fetch_orders_page(WINDOW, ship_from_party_id="WH01", limit=50)

    assert [o.purchase_order_number for o in page.orders] == ["PO1"]
    assert page.next_token is None
    (request,) = fake_amazon.sent("GET", ORDERS)
    query = _query(request)
    assert query["createdAfter"] == ["2026-01-05T09:00:00Z"]
    assert query["createdBefore"] == ["2026-01-05T09:30:00Z"]
    assert query["limit"] == ["50"] and query["includeDetails"] == ["true"] and query["shipFromPartyId"] == ["WH01"]
    assert not {"MarketplaceId", "MarketplaceIds", "marketplace_ids", "marketplaceIds"} & set(query)
    assert request.headers["host"] == "sp.test"
    assert request.headers["x-amz-access-token"] == "Atz.sprdt|rdt-1"
    (mint,) = fake_amazon.sent("POST", RDT)
    assert mint.headers["x-amz-access-token"] == "Atza|access-1"
    # one RDT for every restricted path the product calls: order reads, labels (createShippingLabels is a POST)
    # and packing slips
    labels = "/vendor/directFulfillment/shipping/2021-12-28/shippingLabels"
    slips = "/vendor/directFulfillment/shipping/2021-12-28/packingSlips"
    assert json.loads(mint.content) == {
        "restrictedResources": [
            {"method": "GET", "path": ORDERS_PATH},
            {"method": "GET", "path": ORDERS_PATH + "/{purchaseOrderNumber}"},
            {"method": "GET", "path": labels},
            {"method": "GET", "path": labels + "/{purchaseOrderNumber}"},
            {"method": "POST", "path": labels + "/{purchaseOrderNumber}"},
            {"method": "GET", "path": slips},
            {"method": "GET", "path": slips + "/{purchaseOrderNumber}"},
        ]
    }


def test_the_status_filter_reaches_amazon_only_when_asked(fake_amazon: FakeAmazon, make_fake_vendor_api: Make) -> None:
    fake_amazon.script("GET", ORDERS, json_reply(200, {"orders": []}), json_reply(200, {"orders": []}))
    api = make_fake_vendor_api()
    api.fetch_orders_page(WINDOW, status=AmazonOrderStatus.NEW)
    api.fetch_orders_page(WINDOW)
    assert [_query(r).get("status") for r in fake_amazon.sent("GET", ORDERS)] == [["NEW"], None]


def test_pages_follow_next_token_exactly(fake_amazon: FakeAmazon, make_fake_vendor_api: Make) -> None:
    tokens = {None: "MDAw+/MQ==", "MDAw+/MQ==": "page 3&x=y", "page 3&x=y": None}

    def page(request: httpx.Request) -> httpx.Response:
        current = _query(request).get("nextToken", [None])[0]
        body: dict[str, object] = {"orders": [amazon_order_json(f"PO{len(fake_amazon.sent('GET', ORDERS))}")]}
        if tokens[current]:
            body["pagination"] = {"nextToken": tokens[current]}
        return json_reply(200, body)

    fake_amazon.script("GET", ORDERS, page)
    api = make_fake_vendor_api()

    pages = list(follow_pages(lambda token: api.fetch_orders_page(WINDOW, next_token=token), what="test"))

    assert [p.orders[0].purchase_order_number for p in pages] == ["PO1", "PO2", "PO3"]
    sent = [_query(r).get("nextToken") for r in fake_amazon.sent("GET", ORDERS)]
    assert sent == [None, ["MDAw+/MQ=="], ["page 3&x=y"]]
    assert all(_query(r)["createdAfter"] == ["2026-01-05T09:00:00Z"] for r in fake_amazon.sent("GET", ORDERS))
    assert fake_amazon.rdt_count == 1 and fake_amazon.lwa_count == 1


def test_malformed_order_does_not_sink_the_page(
    fake_amazon: FakeAmazon, make_fake_vendor_api: Make, caplog: pytest.LogCaptureFixture
) -> None:
    bad = amazon_order_json("PO2")
    del bad["orderDetails"]["shipmentDetails"]
    fake_amazon.script(
        "GET", ORDERS, json_reply(200, {"orders": [amazon_order_json("PO1"), bad, amazon_order_json("PO3")]})
    )
    api = make_fake_vendor_api()

    with caplog.at_level(logging.DEBUG):
        page = api.fetch_orders_page(WINDOW)

    assert [o.purchase_order_number for o in page.orders] == ["PO1", "PO3"]
    reason = "missing or malformed field orderDetails.shipmentDetails.shipMethod"
    assert page.rejected == (RejectedOrder("PO2", reason),)
    assert "PO2" in caplog.text
    assert "Secretname" not in caplog.text and "Private Lane" not in caplog.text


def test_a_page_that_repeats_the_token_it_was_asked_with_stops_pagination(
    fake_amazon: FakeAmazon, make_fake_vendor_api: Make
) -> None:
    first = json_reply(200, {"orders": [amazon_order_json("PO1")], "pagination": {"nextToken": "T1"}})
    again = json_reply(
        200, {"orders": [amazon_order_json("PO2")], "pagination": {"nextToken": "T1"}}, request_id="rq-2"
    )
    fake_amazon.script("GET", ORDERS, first, again)
    api = make_fake_vendor_api()

    pages = follow_pages(lambda token: api.fetch_orders_page(WINDOW, next_token=token), what="test")
    assert next(pages).next_token == "T1"
    assert next(pages).next_token == "T1"  # the adapter hands the page back as Amazon sent it
    with pytest.raises(PermanentError, match="nextToken it had returned before") as caught:
        next(pages)
    assert caught.value.code == "PaginationLoop"
    assert len(fake_amazon.sent("GET", ORDERS)) == 2


def test_rdt_is_reused_then_reminted_before_expiry(
    fake_amazon: FakeAmazon, make_fake_vendor_api: Make, virtual_clock: VirtualClock
) -> None:
    fake_amazon.script("GET", ORDERS, json_reply(200, amazon_order_json("PO1")))
    api = make_fake_vendor_api()

    for _ in range(5):
        api.fetch_order("PO1")
    assert fake_amazon.rdt_count == 1
    virtual_clock.advance(3600 - 300 - 1)
    api.fetch_order("PO1")
    assert fake_amazon.rdt_count == 1
    virtual_clock.advance(2)  # now within 5 minutes of expiry
    api.fetch_order("PO1")
    assert fake_amazon.rdt_count == 2
    assert fake_amazon.sent("GET", ORDERS)[-1].headers["x-amz-access-token"] == "Atz.sprdt|rdt-2"


def test_acknowledgements_carry_the_lwa_token_not_the_rdt(fake_amazon: FakeAmazon, make_fake_vendor_api: Make) -> None:
    fake_amazon.script("GET", ORDERS, json_reply(200, amazon_order_json("PO1")))
    fake_amazon.script("POST", ACKS, json_reply(202, {"transactionId": "T-ACK"}))
    api = make_fake_vendor_api()
    api.fetch_order("PO1")

    assert api.submit_acknowledgements([_ack("PO1"), _ack("PO2")]) == "T-ACK"

    (request,) = fake_amazon.sent("POST", ACKS)
    assert request.headers["x-amz-access-token"] == "Atza|access-1"
    body = json.loads(request.content)
    model_validator("vendorDirectFulfillmentOrders_2021-12-28.json", "SubmitAcknowledgementRequest").validate(body)
    assert set(body) == {"orderAcknowledgements"}
    assert [a["purchaseOrderNumber"] for a in body["orderAcknowledgements"]] == ["PO1", "PO2"]


def test_a_refused_rdt_is_reminted_once(fake_amazon: FakeAmazon, make_fake_vendor_api: Make) -> None:
    refused = json_reply(
        403, {"errors": [{"code": "Unauthorized", "message": "Access to requested resource is denied."}]}
    )
    fake_amazon.script("GET", ORDERS, refused, json_reply(200, amazon_order_json("PO1")))
    api = make_fake_vendor_api()

    assert api.fetch_order("PO1").purchase_order_number == "PO1"
    assert fake_amazon.rdt_count == 2
    assert [r.headers["x-amz-access-token"] for r in fake_amazon.sent("GET", ORDERS)] == [
        "Atz.sprdt|rdt-1",
        "Atz.sprdt|rdt-2",
    ]


def test_an_rdt_refused_twice_is_a_clear_permanent_error(fake_amazon: FakeAmazon, make_fake_vendor_api: Make) -> None:
    refused = json_reply(
        403,
        {"errors": [{"code": "Unauthorized", "message": "Access to requested resource is denied."}]},
        request_id="rq-9",
    )
    fake_amazon.script("GET", ORDERS, refused)
    api = make_fake_vendor_api()

    with pytest.raises(PermanentError, match="Restricted Data Token") as caught:
        api.fetch_order("PO1")
    assert (caught.value.status, caught.value.code, caught.value.request_id) == (403, "Unauthorized", "rq-9")
    assert len(fake_amazon.sent("GET", ORDERS)) == 2


def test_an_expired_access_token_is_refreshed_once(fake_amazon: FakeAmazon, make_fake_vendor_api: Make) -> None:
    expired = json_reply(
        403,
        {
            "errors": [
                {
                    "code": "Unauthorized",
                    "message": "Access to requested resource is denied.",
                    "details": "The access token you provided has expired.",
                }
            ]
        },
    )
    fake_amazon.script(
        "GET",
        TRANSACTIONS,
        expired,
        json_reply(200, {"transactionStatus": {"transactionId": "T1", "status": "Success"}}),
    )
    api = make_fake_vendor_api()

    assert api.fetch_transaction_status("T1").status is TransactionState.SUCCESS
    assert fake_amazon.lwa_count == 2
    assert [r.headers["x-amz-access-token"] for r in fake_amazon.sent("GET", TRANSACTIONS)] == [
        "Atza|access-1",
        "Atza|access-2",
    ]


def test_a_forbidden_answer_not_about_tokens_fails_at_once(fake_amazon: FakeAmazon, make_fake_vendor_api: Make) -> None:
    fake_amazon.script(
        "GET", TRANSACTIONS, json_reply(403, {"errors": [{"code": "AccessDenied", "message": "Role missing."}]})
    )
    api = make_fake_vendor_api()
    with pytest.raises(PermanentError, match="AccessDenied: Role missing"):
        api.fetch_transaction_status("T1")
    assert len(fake_amazon.sent("GET", TRANSACTIONS)) == 1 and fake_amazon.lwa_count == 1


def test_cold_token_cache_under_threads_makes_one_lwa_call(fake_amazon: FakeAmazon, make_fake_vendor_api: Make) -> None:
    fake_amazon.script(
        "GET", TRANSACTIONS, json_reply(200, {"transactionStatus": {"transactionId": "T", "status": "Processing"}})
    )
    api = make_fake_vendor_api()
    failures: list[BaseException] = []

    def poll() -> None:
        try:
            api.fetch_transaction_status("T")
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=poll) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert fake_amazon.lwa_count == 1


def _confirmation() -> ShipmentConfirmation:
    item = ShippedItem("00001", 2, vendor_product_identifier="SKU-1")
    package = Package("BOX1", "1Z999", 1.5, "KG", (item,), ship_method="UPS_GR_RES", scac="UPSN")
    return ShipmentConfirmation("PO1", datetime(2026, 1, 6, 15, 30, tzinfo=UTC), "VENDOR1", "WH01", (item,), (package,))


@pytest.mark.parametrize(
    "first",
    [
        json_reply(429),
        json_reply(502, text="<html>Bad Gateway</html>"),
        json_reply(500, {"message": "no errors key"}),
        json_reply(503, {"errors": [{"code": "ServiceUnavailable", "message": "later"}]}),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadTimeout("timed out"),
        httpx.ConnectError("refused"),
    ],
    ids=["429-empty", "502-html", "500-no-errors", "503", "dropped", "timeout", "connect"],
)
def test_transient_failures_are_retried_with_backoff(
    fake_amazon: FakeAmazon, make_fake_vendor_api: Make, virtual_clock: VirtualClock, first: httpx.Response | Exception
) -> None:
    fake_amazon.script(
        "GET",
        TRANSACTIONS,
        first,
        first,
        json_reply(200, {"transactionStatus": {"transactionId": "T", "status": "Success"}}),
    )
    api = make_fake_vendor_api(retry=RetryPolicy(max_attempts=4, base_delay=0.1, max_delay=1.0, random=lambda: 1.0))

    assert api.fetch_transaction_status("T").status is TransactionState.SUCCESS
    assert len(fake_amazon.sent("GET", TRANSACTIONS)) == 3
    assert virtual_clock.slept == pytest.approx([0.1, 0.2])


def test_retries_stop_after_max_attempts_with_the_last_error(
    fake_amazon: FakeAmazon, make_fake_vendor_api: Make
) -> None:
    fake_amazon.script("GET", TRANSACTIONS, json_reply(502, text="<html>Bad Gateway</html>", request_id="rq-502"))
    api = make_fake_vendor_api(retry=RetryPolicy(max_attempts=3, base_delay=0.1))

    with pytest.raises(TransientError) as caught:
        api.fetch_transaction_status("T")
    assert (caught.value.status, caught.value.request_id) == (502, "rq-502")
    assert len(fake_amazon.sent("GET", TRANSACTIONS)) == 3


def test_retries_stop_when_the_time_budget_is_spent(
    fake_amazon: FakeAmazon, make_fake_vendor_api: Make, virtual_clock: VirtualClock
) -> None:
    fake_amazon.script("GET", TRANSACTIONS, json_reply(503))
    api = make_fake_vendor_api(
        retry=RetryPolicy(max_attempts=100, base_delay=1.0, max_delay=4.0, max_total=10.0, random=lambda: 1.0)
    )

    with pytest.raises(TransientError):
        api.fetch_transaction_status("T")
    assert sum(virtual_clock.slept) <= 10.0
    assert len(fake_amazon.sent("GET", TRANSACTIONS)) == 4  # slept 1 + 2 + 4, a further 4 would pass 10 s


@pytest.mark.parametrize("status", [400, 404, 413, 415])
def test_rejections_are_permanent_with_code_message_and_request_id(
    fake_amazon: FakeAmazon, make_fake_vendor_api: Make, status: int
) -> None:
    error = {
        "code": "InvalidInput",
        "message": "The content of element 'sellingParty' is not complete.",
        "details": "shipToParty: Jane Secretname, 1 Private Lane",  # free text can echo the payload
    }
    fake_amazon.script("POST", ACKS, json_reply(status, {"errors": [error]}, request_id="rq-400"))
    api = make_fake_vendor_api()

    with pytest.raises(PermanentError) as caught:
        api.submit_acknowledgements([_ack()])
    assert (caught.value.status, caught.value.code, caught.value.request_id) == (status, "InvalidInput", "rq-400")
    assert "sellingParty" in str(caught.value)
    assert "Secretname" not in str(caught.value) and "Private Lane" not in str(caught.value)
    assert "Secretname" not in caught.value.message
    assert len(fake_amazon.sent("POST", ACKS)) == 1
    assert not any(secret in str(caught.value) for secret in SECRETS)


def test_a_2xx_without_json_is_not_taken_for_success(fake_amazon: FakeAmazon, make_fake_vendor_api: Make) -> None:
    fake_amazon.script("GET", TRANSACTIONS, json_reply(200, text="<html>ok</html>"))
    api = make_fake_vendor_api(retry=RetryPolicy(max_attempts=2, base_delay=0.01))
    with pytest.raises(TransientError, match="without a JSON body"):
        api.fetch_transaction_status("T")
    assert len(fake_amazon.sent("GET", TRANSACTIONS)) == 2  # a read may be asked again


def test_a_write_accepted_without_a_readable_answer_is_not_resent(
    fake_amazon: FakeAmazon, make_fake_vendor_api: Make
) -> None:
    fake_amazon.script("POST", ACKS, json_reply(202, text="<html>ok</html>"))
    api = make_fake_vendor_api()
    with pytest.raises(OutcomeUnknownError, match="without a JSON body") as caught:
        api.submit_acknowledgements([_ack()])
    assert caught.value.status == 202
    fake_amazon.script("POST", ACKS, json_reply(202, {"unexpected": True}))
    with pytest.raises(OutcomeUnknownError, match="without a transaction id"):
        api.submit_acknowledgements([_ack()])
    assert len(fake_amazon.sent("POST", ACKS)) == 2  # one per call, none resent


_ACCEPTED = json_reply(202, {"payload": {"transactionId": "T-W"}})


def _write(api: SpApiVendorApi, operation: str) -> str:
    if operation == "submitAcknowledgement":
        return api.submit_acknowledgements([_ack()])
    if operation == "submitShipmentConfirmations":
        return api.submit_shipment_confirmations([_confirmation()])
    return api.submit_inventory_update(InventoryUpdate("VENDOR1", "WH01", (InventoryItem("SKU-1", 5),)))


_WRITE_PATHS = {
    "submitAcknowledgement": ACKS,
    "submitShipmentConfirmations": CONFIRMATIONS,
    "submitInventoryUpdate": INVENTORY,
}


@pytest.mark.parametrize(
    "first",
    [
        json_reply(429),
        json_reply(500, {"errors": [{"code": "InternalFailure", "message": "retry"}]}),
        json_reply(502, text="<html>Bad Gateway</html>"),
        json_reply(503),
        json_reply(504, text="<html>Gateway Timeout</html>"),
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("no SYN-ACK"),
        httpx.PoolTimeout("no free connection"),
    ],
    ids=["429", "500", "502", "503", "504", "connect-refused", "connect-timeout", "pool-timeout"],
)
def test_a_write_amazon_provably_did_not_apply_is_resent(
    fake_amazon: FakeAmazon, make_fake_vendor_api: Make, first: httpx.Response | Exception
) -> None:
    fake_amazon.script("POST", ACKS, first, _ACCEPTED)
    api = make_fake_vendor_api()

    assert api.submit_acknowledgements([_ack()]) == "T-W"
    assert len(fake_amazon.sent("POST", ACKS)) == 2


@pytest.mark.parametrize(
    "first",
    [
        httpx.ReadTimeout("timed out"),
        httpx.WriteTimeout("timed out"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadError("connection reset by peer"),
        httpx.WriteError("broken pipe"),
        json_reply(408),
    ],
    ids=["read-timeout", "write-timeout", "dropped", "read-error", "write-error", "408"],
)
def test_a_write_that_may_have_been_applied_is_never_resent(
    fake_amazon: FakeAmazon, make_fake_vendor_api: Make, first: httpx.Response | Exception
) -> None:
    fake_amazon.script("POST", ACKS, first, _ACCEPTED)
    api = make_fake_vendor_api()

    with pytest.raises(OutcomeUnknownError) as caught:
        api.submit_acknowledgements([_ack()])
    (sent,) = fake_amazon.sent("POST", ACKS)
    assert sent.content  # the body did leave
    assert not is_transient(caught.value)  # neither the adapter nor Prefect may resend it
    assert "submitAcknowledgement" in str(caught.value)
    if isinstance(first, Exception):
        assert f"POST {ACKS}" in str(caught.value) and type(first).__name__ in str(caught.value)
    assert not any(value in str(caught.value) for value in ("V-PO1", "SKU-1"))  # nothing of the body


@pytest.mark.parametrize("operation", ["submitShipmentConfirmations", "submitInventoryUpdate"])
def test_every_write_follows_the_resend_rule(
    fake_amazon: FakeAmazon, make_fake_vendor_api: Make, operation: str
) -> None:
    path = _WRITE_PATHS[operation]
    api = make_fake_vendor_api()

    fake_amazon.script("POST", path, httpx.ReadTimeout("timed out"), _ACCEPTED)
    with pytest.raises(OutcomeUnknownError, match=operation):
        _write(api, operation)
    assert len(fake_amazon.sent("POST", path)) == 1

    fake_amazon.script("POST", path, json_reply(503), _ACCEPTED)
    assert _write(api, operation) == "T-W"
    assert len(fake_amazon.sent("POST", path)) == 3


def test_a_write_whose_token_could_not_be_had_is_retried(fake_amazon: FakeAmazon, make_fake_vendor_api: Make) -> None:
    fake_amazon.script(
        "POST",
        LWA,
        httpx.ReadTimeout("LWA is slow"),
        json_reply(200, {"access_token": "Atza|late", "expires_in": 3600}),
    )
    fake_amazon.script("POST", ACKS, _ACCEPTED)
    api = make_fake_vendor_api()

    assert api.submit_acknowledgements([_ack()]) == "T-W"
    assert [r.headers["x-amz-access-token"] for r in fake_amazon.sent("POST", ACKS)] == ["Atza|late"]


def test_lwa_refusal_is_permanent_and_names_no_secret(fake_amazon: FakeAmazon, make_fake_vendor_api: Make) -> None:
    fake_amazon.script(
        "POST", LWA, json_reply(401, {"error": "invalid_client", "error_description": "Client authentication failed"})
    )
    api = make_fake_vendor_api()
    with pytest.raises(PermanentError, match="invalid_client") as caught:
        api.fetch_transaction_status("T")
    assert caught.value.status == 401
    assert not any(secret in str(caught.value) for secret in SECRETS)


def test_lwa_outage_with_an_html_page_is_retried(fake_amazon: FakeAmazon, make_fake_vendor_api: Make) -> None:
    fake_amazon.script(
        "POST",
        LWA,
        json_reply(503, text="<html>down</html>"),
        json_reply(200, {"access_token": "Atza|late", "expires_in": 3600}),
    )
    fake_amazon.script(
        "GET", TRANSACTIONS, json_reply(200, {"transactionStatus": {"transactionId": "T", "status": "Success"}})
    )
    api = make_fake_vendor_api()
    assert api.fetch_transaction_status("T").status is TransactionState.SUCCESS
    assert fake_amazon.sent("GET", TRANSACTIONS)[0].headers["x-amz-access-token"] == "Atza|late"


@pytest.mark.parametrize("answer", [{"payload": {"transactionId": "T-INV"}}, {"transactionId": "T-INV"}])
def test_inventory_update_accepts_both_202_shapes(
    fake_amazon: FakeAmazon, make_fake_vendor_api: Make, answer: dict[str, object]
) -> None:
    fake_amazon.script("POST", INVENTORY, json_reply(202, answer))
    api = make_fake_vendor_api()
    update = InventoryUpdate("VENDOR1", "WH 01", (InventoryItem("SKU-1", 5),))

    assert api.submit_inventory_update(update) == "T-INV"
    (request,) = fake_amazon.sent("POST", INVENTORY)
    assert request.url.raw_path.decode().endswith("/warehouses/WH%2001/items")
    body = json.loads(request.content)
    model_validator("vendorDirectFulfillmentInventoryV1.json", "SubmitInventoryUpdateRequest").validate(body)
    assert set(body) == {"inventory"}


def test_sp_api_debug_logging_cannot_leak_tokens_or_pii(
    fake_amazon: FakeAmazon, make_fake_vendor_api: Make, caplog: pytest.LogCaptureFixture
) -> None:
    fake_amazon.script("GET", ORDERS, json_reply(200, amazon_order_json("PO1")))
    api = make_fake_vendor_api()
    logging.getLogger("sp_api.base.client").setLevel(logging.DEBUG)  # what a curious user might do
    try:
        with caplog.at_level(logging.DEBUG):
            api.fetch_order("PO1")
            api.fetch_order("PO1")
    finally:
        logging.getLogger("sp_api.base.client").setLevel(logging.INFO)
    assert "Making request" in caplog.text  # sp_api did log at DEBUG ...
    assert not any(secret in caplog.text for secret in SECRETS)  # ... but no token
    assert "Secretname" not in caplog.text


def test_secrets_stay_out_of_reprs() -> None:
    access = fake_access()
    assert not any(secret in repr(access) for secret in SECRETS)


def test_vendor_api_for_resolves_secret_refs(monkeypatch: pytest.MonkeyPatch) -> None:
    account = Account.model_validate(
        {
            "name": "acme",
            "region": "eu",
            "selling_party_id": "VENDOR1",
            "credentials": {"client_id": "env:T_ID", "client_secret": "env:T_SECRET", "refresh_token": "env:T_REFRESH"},
            "endpoint": "http://127.0.0.1:9/",
            "token_url": "http://127.0.0.1:9/auth/o2/token",
            "warehouses": [{"name": "main", "ship_from_party_id": "WH01", "drop": {"kind": "local", "path": "/tmp/x"}}],
        }
    )
    with pytest.raises(ConfigError, match="T_ID"):
        vendor_api_for(account)
    monkeypatch.setenv("T_ID", "id")
    monkeypatch.setenv("T_SECRET", "secret")
    monkeypatch.setenv("T_REFRESH", "refresh")
    with vendor_api_for(account) as api:
        assert api.access.region == "eu"
        assert (api.access.endpoint, api.access.client_id) == ("http://127.0.0.1:9", "id")


def test_unknown_region_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="region"):
        SpApiVendorApi(fake_access(region="mars"))
