"""python-amazon-sp-api clients made safe for VDF: status-authoritative answers, local endpoints, locked LWA tokens."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from sp_api.api.tokens.tokens import Tokens
from sp_api.api.vendor_direct_fulfillment_inventory.vendor_direct_fulfillment_inventory import (
    VendorDirectFulfillmentInventory,
)
from sp_api.api.vendor_direct_fulfillment_orders.vendor_direct_fulfillment_orders_2021_12_28 import (
    VendorDirectFulfillmentOrdersV20211228,
)
from sp_api.api.vendor_direct_fulfillment_shipping.vendor_direct_fulfillment_shipping_2021_12_28 import (
    VendorDirectFulfillmentShippingV20211228,
)
from sp_api.api.vendor_direct_fulfillment_transactions.vendor_direct_fulfillment_transactions_2021_12_28 import (
    VendorDirectFulfillmentTransactionsV20211228,
)
from sp_api.auth import AccessTokenClient, AccessTokenResponse
from sp_api.base._transport_httpx import HttpxTransport

from adapters.amazon.json import parse_error_details
from tasks.core.errors import (
    IntegrationError,
    NotFoundError,
    NotSentError,
    PermanentError,
    RequestRefusedError,
    TokenRefusedError,
    TransientError,
)

log = logging.getLogger(__name__)

DEFAULT_TOKEN_URL = "https://api.amazon.com/auth/o2/token"  # noqa: S105 - a URL, not a secret
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# Answers that prove Amazon did not apply a write: throttled, or a 5xx that means "try again".
RESENDABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# Answers that say the request itself is wrong: Amazon applied none of it.
REFUSED_STATUSES = frozenset({400, 413, 422})


@dataclass(frozen=True)
class AmazonAnswer:
    """A 2xx answer: the HTTP status, the parsed JSON body and Amazon's request id."""

    status: int
    body: Any
    request_id: str | None


def resendable(exc: TransientError) -> bool:
    """Whether Amazon provably did not apply the request that failed with `exc`, so a write may be sent again."""
    return isinstance(exc, NotSentError) or exc.status in RESENDABLE_STATUSES


def failure_for(
    status: int,
    body: Any,
    *,
    request_id: str | None,
    what: str,
) -> IntegrationError:
    """Map a non-2xx SP-API answer to our error tree; the HTTP status decides, the body only explains."""
    errors = parse_error_details(body)
    first = errors[0] if errors else None
    # `details` is free text that may echo the payload (names, addresses): it stays out of the message.
    explanation = f"{first.code}: {first.message}" if first else "no error body"
    message = f"Amazon answered HTTP {status} to {what}: {explanation}"
    code = first.code if first else None
    if status in TRANSIENT_STATUSES or status >= 500:
        return TransientError(message, code=code, request_id=request_id, status=status)
    about_token = any(
        "token" in f"{error.code} {error.message} {error.details or ''}".lower() or "expired" in error.code.lower()
        for error in errors
    )
    if status in (401, 403) and about_token:
        return TokenRefusedError(message, code=code, request_id=request_id, status=status)
    if status == 404:
        return NotFoundError(message, code=code, request_id=request_id, status=status)
    if status in REFUSED_STATUSES:
        return RequestRefusedError(message, code=code, request_id=request_id, status=status)
    return PermanentError(message, code=code, request_id=request_id, status=status)


class _VdfClient:
    """Mixin over sp_api's Client: see each override for the library behaviour it corrects."""

    endpoint: str
    restricted_data_token: str | None
    user_agent: str
    auth: AccessTokenResponse
    _transport: HttpxTransport
    token_source: Callable[[], str] | None = None

    @property
    def headers(self) -> dict[str, str]:
        # sp_api sets host = endpoint[8:], which is wrong for http:// endpoints (simulator, proxies).
        token = self.token_source() if self.token_source is not None else self.auth.access_token
        return {
            "host": urlsplit(self.endpoint).netloc,
            "user-agent": self.user_agent,
            "x-amz-access-token": token,
            "x-amz-date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
            "content-type": "application/json",
        }

    def _request(self, path: str, **kwargs: Any) -> Any:
        # VDF takes no marketplace ids; production rejects the injected body keys (sp_api issue #226).
        kwargs["add_marketplace"] = False
        try:
            # Tokens first, outside the send: a token failure here means nothing went to Amazon.
            kwargs["headers"] = kwargs.get("headers") or self.headers
        except TransientError as exc:
            raise NotSentError(exc.message, code=exc.code, request_id=exc.request_id, status=exc.status) from exc
        try:
            return super()._request(path, **kwargs)  # type: ignore[misc]
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise NotSentError(
                f"could not connect to Amazon for {_described(exc, path)} ({type(exc).__name__})",
                code="ConnectFailed",
            ) from exc
        except httpx.TimeoutException as exc:
            # Read or write timeout: the request (or part of it) left; Amazon may have applied it.
            raise TransientError(
                f"Amazon did not answer {_described(exc, path)} in time ({type(exc).__name__})", code="Timeout"
            ) from exc
        except httpx.TransportError as exc:
            raise TransientError(
                f"the connection to Amazon failed during {_described(exc, path)} ({type(exc).__name__})",
                code="ConnectionError",
            ) from exc

    def _check_response(self, res: httpx.Response, *_: Any, **__: Any) -> AmazonAnswer:
        # sp_api raises only when a JSON body has "errors": a 429 with an empty body or a 502 HTML page would
        # come back as success. The status decides here.
        request_id = res.headers.get("x-amzn-RequestId")
        what = f"{res.request.method} {res.request.url.path}"
        try:
            body = res.json() if res.content else None
        except ValueError:
            body = None
        if 200 <= res.status_code < 300:
            if body is None:
                raise TransientError(
                    f"Amazon answered HTTP {res.status_code} to {what} without a JSON body",
                    code="MalformedResponse",
                    request_id=request_id,
                    status=res.status_code,
                )
            return AmazonAnswer(res.status_code, body, request_id)
        raise failure_for(res.status_code, body, request_id=request_id, what=what)

    def use_http_client(self, client: httpx.Client) -> None:
        """Send through a caller's httpx client (tests: MockTransport), closing the one sp_api built."""
        self._transport.close()
        self._transport = HttpxTransport(client=client)


def _described(exc: httpx.TransportError, path: str) -> str:
    """The method and path of the failed request; paths carry identifiers (order numbers, warehouses), never bodies."""
    try:
        request = exc.request
    except RuntimeError:  # httpx raises when the exception was built without its request
        return path
    return f"{request.method} {request.url.path}"


class OrdersClient(_VdfClient, VendorDirectFulfillmentOrdersV20211228):
    """VendorDirectFulfillmentOrders(version="2021-12-28") with the corrections above."""


class ShippingClient(_VdfClient, VendorDirectFulfillmentShippingV20211228):
    """VendorDirectFulfillmentShipping(version="2021-12-28") with the corrections above."""


class TransactionsClient(_VdfClient, VendorDirectFulfillmentTransactionsV20211228):
    """VendorDirectFulfillmentTransactions(version="2021-12-28") with the corrections above."""


class InventoryClient(_VdfClient, VendorDirectFulfillmentInventory):
    """VendorDirectFulfillmentInventory (v1, its only version) with the corrections above."""


class TokensClient(_VdfClient, Tokens):
    """Tokens 2021-03-01 (Restricted Data Tokens) with the corrections above."""


class LwaTokens:
    """LWA access tokens for one application + refresh token, fetched under a lock and cached until expiry.

    sp_api's own cache is a module-global, unlocked TTLCache keyed by the refresh token alone that ignores
    expires_in: eight threads on a cold cache make eight LWA calls, and a token Amazon expired early stays
    cached. This cache is per adapter, honours expires_in, and forgets a token Amazon refused.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        *,
        http: httpx.Client,
        clock: Callable[[], float] = time.monotonic,
        margin: float = 60.0,
    ) -> None:
        self.token_url = token_url
        self._form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": client_id,
            "client_secret": client_secret,
        }
        self._http = http
        self._clock = clock
        self._margin = margin
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self.fetches = 0

    def __repr__(self) -> str:
        return f"LwaTokens(token_url={self.token_url!r})"

    def access_token(self) -> str:
        """The cached access token, or a new one from LWA."""
        with self._lock:
            if self._token is not None and self._clock() < self._expires_at:
                return self._token
            token, lifetime = self._fetch()
            self._token = token
            self._expires_at = self._clock() + max(0.0, lifetime - self._margin)
            return token

    def close(self) -> None:
        """Close the HTTP client used for LWA."""
        self._http.close()

    def forget(self, token: str) -> None:
        """Drop `token` if it is still the cached one (another thread may already have replaced it)."""
        with self._lock:
            if self._token == token:
                self._token = None

    def _fetch(self) -> tuple[str, float]:
        self.fetches += 1
        try:
            res = self._http.post(
                self.token_url,
                data=self._form,
                headers={"content-type": "application/x-www-form-urlencoded;charset=UTF-8"},
            )
        except httpx.TimeoutException as exc:
            raise TransientError("Login with Amazon did not answer in time", code="Timeout") from exc
        except httpx.TransportError as exc:
            raise TransientError(
                f"the connection to Login with Amazon failed ({type(exc).__name__})", code="ConnectionError"
            ) from exc
        try:
            body = res.json()
        except ValueError:
            body = None
        if res.status_code == 200 and isinstance(body, Mapping) and isinstance(body.get("access_token"), str):
            expires_in = body.get("expires_in", 3600)
            return body["access_token"], float(expires_in) if isinstance(expires_in, int | float) else 3600.0
        code = str(body.get("error")) if isinstance(body, Mapping) and body.get("error") else None
        description = body.get("error_description") if isinstance(body, Mapping) else None
        message = f"Login with Amazon refused the refresh token exchange (HTTP {res.status_code}"
        message += f", {code}: {description})" if code else ")"
        if res.status_code in TRANSIENT_STATUSES or res.status_code >= 500 or res.status_code == 200:
            return_error: IntegrationError = TransientError(
                message, code=code or "LwaUnavailable", status=res.status_code
            )
        else:
            return_error = PermanentError(
                message + "; check the client id, client secret and refresh token of this account",
                code=code or "LwaRefused",
                status=res.status_code,
            )
        raise return_error


def lwa_client_class(tokens: LwaTokens) -> type[AccessTokenClient]:
    """An AccessTokenClient whose token URL is `tokens.token_url` and whose tokens come from `tokens`."""
    parts = urlsplit(tokens.token_url)

    class _LwaClient(AccessTokenClient):
        scheme = f"{parts.scheme}://"
        host = parts.netloc
        path = parts.path or "/auth/o2/token"

        def __init__(self, refresh_token: Any = None, credentials: Any = None, **_: Any) -> None:
            # Deliberately no super().__init__: it would build an unused httpx client per sp_api client.
            self.cred = None

        def get_auth(self) -> AccessTokenResponse:
            return AccessTokenResponse(access_token=tokens.access_token(), token_type="bearer")  # noqa: S106

    return _LwaClient


_SECRET_RECORDS = ("Request Headers", "Response", "Request Data")


class _NoSecretsFilter(logging.Filter):
    """sp_api logs request headers (the access token or RDT) and whole responses (ship-to PII) at DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_SECRET_RECORDS)


_guard_lock = threading.Lock()


def guard_sp_api_logging() -> None:
    """Make sp_api's client logger unable to emit tokens or payloads, whatever level a user sets."""
    with _guard_lock:
        logger = logging.getLogger("sp_api.base.client")
        if not any(isinstance(existing, _NoSecretsFilter) for existing in logger.filters):
            logger.addFilter(_NoSecretsFilter())
        if logger.level < logging.INFO:
            logger.setLevel(logging.INFO)
