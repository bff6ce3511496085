"""Amazon SP-API Vendor Direct Fulfillment, through python-amazon-sp-api."""

from __future__ import annotations

import functools
import logging
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx
from sp_api.base.credential_provider import FromCodeCredentialProvider, MissingCredentials

from adapters.amazon.http import (
    DEFAULT_TOKEN_URL,
    AmazonAnswer,
    InventoryClient,
    LwaTokens,
    OrdersClient,
    ShippingClient,
    TokensClient,
    TransactionsClient,
    guard_sp_api_logging,
    lwa_client_class,
    resendable,
)
from adapters.amazon.json import (
    iso_utc,
    parse_label_page,
    parse_order,
    parse_order_numbers_page,
    parse_orders_page,
    parse_packing_slip,
    parse_packing_slips_page,
    parse_restricted_data_token,
    parse_shipping_label,
    parse_transaction_id,
    parse_transaction_status,
    to_acknowledgement_json,
    to_inventory_json,
    to_label_request_json,
    to_shipment_confirmation_json,
)
from adapters.amazon.pacing import RetryPolicy, TokenBucket
from tasks.core.errors import (
    ConfigError,
    NotFoundError,
    OutcomeUnknownError,
    PermanentError,
    TokenRefusedError,
    TransientError,
)
from tasks.core.models import (
    AmazonOrderStatus,
    InventoryUpdate,
    LabelPage,
    LabelRequest,
    OrderAcknowledgement,
    OrderNumbersPage,
    OrderPage,
    PackingSlip,
    PackingSlipPage,
    PurchaseOrder,
    Region,
    ShipmentConfirmation,
    ShippingLabel,
    TimeWindow,
    TransactionStatus,
)

log = logging.getLogger(__name__)


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The TLS settings every client of this process shares (httpx's defaults: certifi's CA bundle, verified).

    Loading the CA bundle takes ~0.1 s; sp_api builds one HTTP client per API, six per adapter.
    """
    return httpx.create_ssl_context()


# ------------------------------------------------------------------------------------------------ implementation


def _window_params(
    window: TimeWindow, ship_from_party_id: str | None, next_token: str | None, limit: int
) -> dict[str, object]:
    """The query of the window-and-page listings (getOrders, getShippingLabels, getPackingSlips)."""
    if not 1 <= limit <= 100:
        raise PermanentError(f"limit must be between 1 and 100, got {limit}")
    params: dict[str, object] = {
        "createdAfter": iso_utc(window.start),
        "createdBefore": iso_utc(window.end),
        "limit": limit,
        "sortOrder": "ASC",
    }
    if ship_from_party_id:
        params["shipFromPartyId"] = ship_from_party_id
    if next_token:
        params["nextToken"] = next_token  # exactly as Amazon sent it; httpx URL-encodes it
    return params


@dataclass(frozen=True)
class AmazonAccess:
    """What it takes to call SP-API for one vendor account; secrets are hidden from repr."""

    region: Region | str
    selling_party_id: str
    client_id: str = field(repr=False)
    client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)
    endpoint: str | None = None  # SP-API base URL override (simulator, sandbox, proxy)
    token_url: str | None = None  # LWA token URL override
    timeout: float = 20.0


@dataclass(frozen=True)
class _Marketplace:
    """The three attributes sp_api reads from its Marketplaces enum; VDF needs no real marketplace id."""

    endpoint: str
    marketplace_id: str
    region: str


_REGIONS = {
    Region.NA: _Marketplace("https://sellingpartnerapi-na.amazon.com", "ATVPDKIKX0DER", "us-east-1"),
    Region.EU: _Marketplace("https://sellingpartnerapi-eu.amazon.com", "A1PA6795UKMFR9", "eu-west-1"),
    Region.FE: _Marketplace("https://sellingpartnerapi-fe.amazon.com", "A1VC38T7YXB528", "us-west-2"),
}

ORDERS_PATH = "/vendor/directFulfillment/orders/2021-12-28/purchaseOrders"
ORDER_PATH = ORDERS_PATH + "/{purchaseOrderNumber}"
LABELS_PATH = "/vendor/directFulfillment/shipping/2021-12-28/shippingLabels"
LABEL_PATH = LABELS_PATH + "/{purchaseOrderNumber}"
SLIPS_PATH = "/vendor/directFulfillment/shipping/2021-12-28/packingSlips"
SLIP_PATH = SLIPS_PATH + "/{purchaseOrderNumber}"
# Every restricted operation the product calls, in one RDT (at most 50 resources); a bare path means GET.
RESTRICTED_RESOURCES: tuple[str | tuple[str, str], ...] = (
    ORDERS_PATH,
    ORDER_PATH,
    LABELS_PATH,
    LABEL_PATH,
    ("POST", LABEL_PATH),  # createShippingLabels: restricted too (it answers 403 to an LWA token)
    SLIPS_PATH,
    SLIP_PATH,
)
RDT_REFRESH_MARGIN = 300.0  # mint a new RDT this long before the old one expires (lifetime 3600 s)

OPERATIONS = (
    "getOrders",
    "getOrder",
    "submitAcknowledgement",
    "submitShipmentConfirmations",
    "submitInventoryUpdate",
    "getTransactionStatus",
    "createShippingLabels",
    "getShippingLabel",
    "getShippingLabels",
    "getPackingSlip",
    "getPackingSlips",
)


class SpApiVendorApi:
    """VendorApi through python-amazon-sp-api: paced, retried, thread-safe, errors mapped to tasks.core.errors.

    Reads are retried on every transient failure. Writes are resent only when Amazon provably did not apply
    them (429/500/502/503/504, or no connection made); otherwise they raise OutcomeUnknownError, never resent.
    A malformed order does not sink its page: it comes back in `OrderPage.rejected`.
    """

    def __init__(
        self,
        access: AmazonAccess,
        *,
        pace: TokenBucket | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rdt_pace: TokenBucket | None = None,
        restricted_paths: Sequence[str | tuple[str, str]] = RESTRICTED_RESOURCES,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        guard_sp_api_logging()
        try:
            marketplace = _REGIONS[Region(access.region)]
        except ValueError:
            raise ConfigError(f"unknown Amazon region {access.region!r}; use one of na, eu, fe") from None
        if access.endpoint:
            marketplace = _Marketplace(access.endpoint.rstrip("/"), marketplace.marketplace_id, marketplace.region)
        self.access = access
        self._retry = retry or RetryPolicy()
        self._clock = clock
        self._sleep = sleep
        # Amazon's plan is 10/s burst 10; saving up one token fewer leaves a cushion for network jitter, where
        # a bucket of exactly Amazon's shape met about one 429 per 50 pages in bench/amazon_download.py.
        template = pace or TokenBucket(10, 9)
        self._buckets = {name: template.fresh(clock=clock, sleep=sleep) for name in OPERATIONS}
        # createRestrictedDataToken is limited to 1 request/s, apart from the DF operations' buckets.
        self._rdt_bucket = (rdt_pace or TokenBucket(1, 1)).fresh(clock=clock, sleep=sleep)
        self._restricted = tuple(
            (path, "GET") if isinstance(path, str) else (path[1], path[0]) for path in restricted_paths
        )
        self._http = httpx.Client(timeout=access.timeout, transport=transport) if transport else None
        self._lwa = LwaTokens(
            access.token_url or DEFAULT_TOKEN_URL,
            access.client_id,
            access.client_secret,
            access.refresh_token,
            http=self._http or httpx.Client(timeout=access.timeout, verify=tls_context()),
            clock=clock,
        )
        lwa_class = lwa_client_class(self._lwa)
        common: dict[str, object] = {
            "refresh_token": access.refresh_token,
            "credentials": {
                "lwa_app_id": access.client_id,
                "lwa_client_secret": access.client_secret,
                "refresh_token": access.refresh_token,
            },
            "credential_providers": [FromCodeCredentialProvider],
            "auth_token_client_class": lwa_class,
            "timeout": access.timeout,
            "verify": tls_context(),  # one CA bundle load per process, not one per sp_api client
        }
        try:
            self._orders_read = OrdersClient(marketplace, **common)
            self._orders = OrdersClient(marketplace, **common)
            self._shipping = ShippingClient(marketplace, **common)
            self._shipping_read = ShippingClient(marketplace, **common)
            self._transactions = TransactionsClient(marketplace, **common)
            self._inventory = InventoryClient(marketplace, **common)
            self._tokens = TokensClient(marketplace, **common)
        except MissingCredentials as exc:
            raise ConfigError(f"Amazon credentials are incomplete: {exc}") from exc
        self._clients = (
            self._orders_read,
            self._orders,
            self._shipping,
            self._shipping_read,
            self._transactions,
            self._inventory,
            self._tokens,
        )
        # getOrders/getOrder, labels and packing slips need the RDT instead of the LWA token; acknowledgements
        # and shipment confirmations must not carry it.
        self._orders_read.token_source = self._restricted_token
        self._shipping_read.token_source = self._restricted_token
        if self._http is not None:
            for client in self._clients:
                client.use_http_client(self._http)
        self._rdt_lock = threading.Lock()
        self._rdt: str | None = None
        self._rdt_expires_at = 0.0

    # ---------------------------------------------------------------- lifecycle

    def close(self) -> None:
        """Close every HTTP connection pool this adapter opened."""
        for client in self._clients:
            client.close()
        self._lwa.close()

    def __enter__(self) -> SpApiVendorApi:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SpApiVendorApi(region={self.access.region!s}, selling_party_id={self.access.selling_party_id!r})"

    # ---------------------------------------------------------------- orders

    def fetch_orders_page(
        self,
        window: TimeWindow,
        *,
        ship_from_party_id: str | None = None,
        next_token: str | None = None,
        limit: int = 100,
        status: AmazonOrderStatus | None = None,
    ) -> OrderPage:
        """One page of getOrders (2021-12-28, details and PII included), unreadable orders in `rejected`."""
        if not 1 <= limit <= 100:
            raise PermanentError(f"getOrders limit must be between 1 and 100, got {limit}")
        params: dict[str, object] = {
            "createdAfter": iso_utc(window.start),
            "createdBefore": iso_utc(window.end),
            "limit": limit,
            "sortOrder": "ASC",
            "includeDetails": "true",
        }
        if ship_from_party_id:
            params["shipFromPartyId"] = ship_from_party_id
        if status is not None:
            params["status"] = str(status)
        if next_token:
            params["nextToken"] = next_token  # exactly as Amazon sent it; httpx URL-encodes it
        answer = self._call("getOrders", lambda: self._orders_read.get_orders(**params), restricted=True)
        try:
            orders, rejected, token = parse_orders_page(answer.body)
        except ValueError as exc:
            raise PermanentError(
                f"getOrders answered with an unexpected body: {exc}",
                code="MalformedResponse",
                request_id=answer.request_id,
                status=answer.status,
            ) from exc
        if rejected:
            log.warning(
                "getOrders %s: %d malformed order(s) rejected: %s (request-id %s)",
                window.label(),
                len(rejected),
                ", ".join(order.purchase_order_number or "(no number)" for order in rejected),
                answer.request_id,
            )
        return OrderPage(orders, token, rejected)

    def fetch_order(self, purchase_order_number: str) -> PurchaseOrder:
        """getOrder (2021-12-28) for one purchase order."""
        answer = self._call(
            "getOrder", lambda: self._orders_read.get_order(purchase_order_number), restricted=True
        )
        return parse_order(answer.body)

    # ---------------------------------------------------------------- writes

    def submit_acknowledgements(self, acknowledgements: Sequence[OrderAcknowledgement]) -> str:
        """submitAcknowledgement for many orders at once; returns the transaction id."""
        if not acknowledgements:
            raise PermanentError("submitAcknowledgement needs at least one acknowledgement")
        body = [to_acknowledgement_json(ack) for ack in acknowledgements]
        answer = self._call(
            "submitAcknowledgement",
            lambda: self._orders.submit_acknowledgement(orderAcknowledgements=body),
            write=True,
        )
        return self._transaction_id("submitAcknowledgement", answer)

    def submit_shipment_confirmations(self, confirmations: Sequence[ShipmentConfirmation]) -> str:
        """submitShipmentConfirmations for many orders at once; returns the transaction id."""
        if not confirmations:
            raise PermanentError("submitShipmentConfirmations needs at least one confirmation")
        body = [to_shipment_confirmation_json(confirmation) for confirmation in confirmations]
        answer = self._call(
            "submitShipmentConfirmations",
            lambda: self._shipping.submit_shipment_confirmations(shipmentConfirmations=body),
            write=True,
        )
        return self._transaction_id("submitShipmentConfirmations", answer)

    def submit_inventory_update(self, update: InventoryUpdate) -> str:
        """submitInventoryUpdate (v1) for one warehouse; returns the transaction id."""
        inventory = to_inventory_json(update)
        answer = self._call(
            "submitInventoryUpdate",
            lambda: self._inventory.submit_inventory_update(update.warehouse_id, inventory=inventory),
            write=True,
        )
        return self._transaction_id("submitInventoryUpdate", answer)

    def fetch_transaction_status(self, transaction_id: str) -> TransactionStatus:
        """getTransactionStatus (2021-12-28)."""
        answer = self._call(
            "getTransactionStatus", lambda: self._transactions.get_transaction_status(transaction_id)
        )
        return parse_transaction_status(answer.body, transaction_id)

    # ---------------------------------------------------------------- labels and packing slips

    def create_shipping_labels(self, request: LabelRequest) -> ShippingLabel:
        """createShippingLabels (synchronous); a 409 (labels exist) answers with getShippingLabel instead.

        It is paced and retried like a read: resending it cannot make a second label, Amazon answers 409.
        """
        number = request.purchase_order_number
        body = to_label_request_json(request)
        try:
            answer = self._call(
                "createShippingLabels",
                lambda: self._shipping_read.create_shipping_labels(number, **body),
                restricted=True,
            )
        except PermanentError as exc:
            if exc.status != 409:
                raise
            log.info("createShippingLabels %s: labels exist already (409); reading them", number)
            return self.fetch_shipping_label(number)
        return parse_shipping_label(answer.body, number)

    def fetch_shipping_label(self, purchase_order_number: str) -> ShippingLabel:
        """getShippingLabel; NotFoundError when the order has no label."""
        answer = self._call(
            "getShippingLabel",
            lambda: self._shipping_read.get_shipping_label(purchase_order_number),
            restricted=True,
        )
        return parse_shipping_label(answer.body, purchase_order_number)

    def fetch_shipping_labels_page(
        self,
        window: TimeWindow,
        *,
        ship_from_party_id: str | None = None,
        next_token: str | None = None,
        limit: int = 100,
    ) -> LabelPage:
        """One page of getShippingLabels: labels created in the window."""
        params = _window_params(window, ship_from_party_id, next_token, limit)
        answer = self._call(
            "getShippingLabels", lambda: self._shipping_read.get_shipping_labels(**params), restricted=True
        )
        return parse_label_page(answer.body)

    def fetch_packing_slip(self, purchase_order_number: str) -> PackingSlip | None:
        """getPackingSlip; None while Amazon has no slip for the order."""
        try:
            answer = self._call(
                "getPackingSlip",
                lambda: self._shipping_read.get_packing_slip(purchase_order_number),
                restricted=True,
            )
        except NotFoundError:
            return None
        return parse_packing_slip(answer.body, purchase_order_number)

    def fetch_packing_slips_page(
        self,
        window: TimeWindow,
        *,
        ship_from_party_id: str | None = None,
        next_token: str | None = None,
        limit: int = 100,
    ) -> PackingSlipPage:
        """One page of getPackingSlips: slips that became available in the window."""
        params = _window_params(window, ship_from_party_id, next_token, limit)
        answer = self._call(
            "getPackingSlips", lambda: self._shipping_read.get_packing_slips(**params), restricted=True
        )
        return parse_packing_slips_page(answer.body)

    def fetch_order_numbers_page(
        self,
        window: TimeWindow,
        *,
        status: AmazonOrderStatus,
        ship_from_party_id: str | None = None,
        next_token: str | None = None,
        limit: int = 100,
    ) -> OrderNumbersPage:
        """One page of getOrders filtered by status, numbers only (includeDetails=false: no PII comes back)."""
        params = _window_params(window, ship_from_party_id, next_token, limit)
        params.update(status=AmazonOrderStatus(status).value, includeDetails="false")
        answer = self._call("getOrders", lambda: self._orders_read.get_orders(**params), restricted=True)
        return parse_order_numbers_page(answer.body)

    @staticmethod
    def _transaction_id(operation: str, answer: AmazonAnswer) -> str:
        try:
            return parse_transaction_id(answer.body)
        except ValueError as exc:
            # Amazon accepted the write: resending it could apply it twice.
            raise OutcomeUnknownError(
                f"{operation} answered HTTP {answer.status} without a transaction id; it may have been applied",
                code="MalformedResponse",
                request_id=answer.request_id,
                status=answer.status,
            ) from exc

    # ---------------------------------------------------------------- tokens, pacing, retry

    def _restricted_token(self) -> str:
        """The RDT covering getOrders and getOrder, minted once and reused until shortly before it expires."""
        with self._rdt_lock:
            if self._rdt is not None and self._clock() < self._rdt_expires_at:
                return self._rdt
            resources = [{"method": method, "path": path} for path, method in self._restricted]
            answer = self._call(
                "createRestrictedDataToken",
                lambda: self._tokens.create_restricted_data_token(restrictedResources=resources),
                bucket=self._rdt_bucket,
            )
            try:
                token, lifetime = parse_restricted_data_token(answer.body)
            except ValueError as exc:
                raise PermanentError(
                    "createRestrictedDataToken answered without a token",
                    code="MalformedResponse",
                    request_id=answer.request_id,
                    status=answer.status,
                ) from exc
            self._rdt = token
            self._rdt_expires_at = self._clock() + max(0.0, lifetime - RDT_REFRESH_MARGIN)
            return token

    def _forget_restricted_token(self, token: str) -> None:
        with self._rdt_lock:
            if self._rdt == token:
                self._rdt = None

    def _call(
        self,
        operation: str,
        send: Callable[[], AmazonAnswer],
        *,
        restricted: bool = False,
        bucket: TokenBucket | None = None,
        write: bool = False,
    ) -> AmazonAnswer:
        """Send one request: paced by the operation's bucket, token renewed once on 403, transient errors retried.

        A write is resent only when Amazon provably did not apply it; any other transient failure after it was
        sent (timeout, dropped connection, a 2xx without a body) raises OutcomeUnknownError.
        """
        bucket = bucket or self._buckets[operation]
        started = self._clock()
        retries = 0
        renewed = False
        while True:
            sending = False
            try:
                token = self._restricted_token() if restricted else self._lwa.access_token()
                sending = True
                bucket.acquire()
                return send()
            except PermanentError as exc:
                refused = isinstance(exc, TokenRefusedError) or (restricted and exc.status in (401, 403))
                if not (sending and refused):
                    raise
                if renewed:
                    if restricted:
                        raise PermanentError(
                            f"Amazon refused a fresh Restricted Data Token for {operation}: the RDT does not cover "
                            "this path, or the application lacks the Direct-to-Consumer Shipping role. "
                            f"First answer: {exc.message}",
                            code=exc.code,
                            request_id=exc.request_id,
                            status=exc.status,
                        ) from exc
                    raise
                renewed = True
                if restricted:
                    self._forget_restricted_token(token)
                else:
                    self._lwa.forget(token)
                log.info("%s: Amazon refused the token (%s); renewing it once", operation, exc.code)
            except TransientError as exc:
                if restricted and not sending:
                    raise  # minting the RDT already spent its own retries
                if write and sending and not resendable(exc):
                    raise OutcomeUnknownError(
                        f"{operation} was sent but its outcome is unknown, so it is not resent "
                        f"(attempt {retries + 1}, {self._clock() - started:.1f}s): {exc.message}",
                        code=exc.code,
                        request_id=exc.request_id,
                        status=exc.status,
                    ) from exc
                retries += 1
                delay = self._retry.delay(retries)
                if retries >= self._retry.max_attempts or self._clock() - started + delay > self._retry.max_total:
                    raise
                log.warning("%s: %s; retry %d in %.2fs", operation, exc, retries, delay)
                self._sleep(delay)

