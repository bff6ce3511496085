"""The simulator's request handling, independent of sockets: routes, auth, throttling, faults and the admin API."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from simulator.auth import DENIED, RateLimiter, Resource, TokenStore
from simulator.config import Faults, SimulatorConfig
from simulator.generator import LineSpec
from simulator.schema import (
    INVENTORY_MODEL,
    ORDERS_MODEL,
    SHIPPING_MODEL,
    TOKENS_MODEL,
    ModelValidator,
    parse_datetime,
)
from simulator.state import (
    Conflict,
    InvalidInput,
    ListQuery,
    NotAvailable,
    OrderQuery,
    SimulatorState,
    decode_cursor,
)

ORDERS = "/vendor/directFulfillment/orders/2021-12-28"
SHIPPING = "/vendor/directFulfillment/shipping/2021-12-28"
INVENTORY = "/vendor/directFulfillment/inventory/v1"
TRANSACTIONS = "/vendor/directFulfillment/transactions/2021-12-28"
TOKENS = "/tokens/2021-03-01"
LWA_PATH = "/auth/o2/token"
ADMIN = "/_sim"

# Usage plans from the models: every DF operation 10 rps / burst 10, the Tokens API 1 rps / burst 10.
RATE_PLANS = {
    "getOrders": (10.0, 10),
    "getOrder": (10.0, 10),
    "submitAcknowledgement": (10.0, 10),
    "submitShipmentConfirmations": (10.0, 10),
    "submitInventoryUpdate": (10.0, 10),
    "getTransactionStatus": (10.0, 10),
    "createShippingLabels": (10.0, 10),
    "getShippingLabel": (10.0, 10),
    "getShippingLabels": (10.0, 10),
    "getPackingSlip": (10.0, 10),
    "getPackingSlips": (10.0, 10),
    "createRestrictedDataToken": (1.0, 10),
}
_RATE_HEADER_STATUSES = frozenset({200, 202, 400, 404})
_ALNUM = re.compile(r"^[A-Za-z0-9]+$")
_FAULT_ERRORS = {
    500: ("InternalFailure", "We encountered an internal error. Please try again."),
    502: ("BadGateway", "Bad gateway. Please try again."),
    503: ("ServiceUnavailable", "Service temporarily unavailable. Please try again."),
    504: ("GatewayTimeout", "The request timed out. Please try again."),
}


@dataclass(frozen=True)
class Request:
    method: str
    target: str  # path and query as received
    headers: Mapping[str, str]  # lower-case names
    body: bytes = b""


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering
    delay: float = 0.0


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    operation: str
    restricted: bool = False


def _route(method: str, path: str, operation: str, restricted: bool = False) -> _Route:
    regex = re.sub(r"\{[^}]+\}", "([^/]+)", re.escape(path).replace(r"\{", "{").replace(r"\}", "}"))
    return _Route(method, re.compile(f"^{regex}$"), operation, restricted)


API_ROUTES = (
    _route("POST", LWA_PATH, "getAccessToken"),
    _route("POST", f"{TOKENS}/restrictedDataToken", "createRestrictedDataToken"),
    _route("GET", f"{ORDERS}/purchaseOrders", "getOrders", restricted=True),
    _route("GET", f"{ORDERS}/purchaseOrders/{{purchaseOrderNumber}}", "getOrder", restricted=True),
    _route("POST", f"{ORDERS}/acknowledgements", "submitAcknowledgement"),
    _route("POST", f"{SHIPPING}/shipmentConfirmations", "submitShipmentConfirmations"),
    # Restricted: the labels and slips carry the customer's address (Tokens guide; createShippingLabels answers
    # 403 to an LWA token, jlevers/selling-partner-api#637).
    _route("GET", f"{SHIPPING}/shippingLabels", "getShippingLabels", restricted=True),
    _route("GET", f"{SHIPPING}/shippingLabels/{{purchaseOrderNumber}}", "getShippingLabel", restricted=True),
    _route("POST", f"{SHIPPING}/shippingLabels/{{purchaseOrderNumber}}", "createShippingLabels", restricted=True),
    _route("GET", f"{SHIPPING}/packingSlips", "getPackingSlips", restricted=True),
    _route("GET", f"{SHIPPING}/packingSlips/{{purchaseOrderNumber}}", "getPackingSlip", restricted=True),
    _route("POST", f"{INVENTORY}/warehouses/{{warehouseId}}/items", "submitInventoryUpdate"),
    _route("GET", f"{TRANSACTIONS}/transactions/{{transactionId}}", "getTransactionStatus"),
)


def _json(status: int, payload: Any, **headers: str) -> Response:
    return Response(status, json.dumps(payload, separators=(",", ":")).encode(), headers=dict(headers))


def _errors(status: int, code: str, message: str, details: str | None = None, **headers: str) -> Response:
    error = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return _json(status, {"errors": [error]}, **headers)


class _BadRequest(Exception):
    """Raised inside an operation to answer 400 InvalidInput."""


class SimulatorApp:
    """Turns one Request into one Response; thread-safe because all state lives behind SimulatorState's lock."""

    def __init__(self, config: SimulatorConfig, state: SimulatorState, tokens: TokenStore) -> None:
        self.config = config
        self.state = state
        self.tokens = tokens
        self.limiter = RateLimiter(RATE_PLANS)
        self._orders_model = ModelValidator(ORDERS_MODEL)
        self._shipping_model = ModelValidator(SHIPPING_MODEL)
        self._inventory_model = ModelValidator(INVENTORY_MODEL)
        self._tokens_model = ModelValidator(TOKENS_MODEL)
        self._handlers: dict[str, Callable[[Request, str, dict[str, str], tuple[str, ...]], Response]] = {
            "getAccessToken": self._lwa_token,
            "createRestrictedDataToken": self._create_rdt,
            "getOrders": self._get_orders,
            "getOrder": self._get_order,
            "submitAcknowledgement": self._submit_acknowledgement,
            "submitShipmentConfirmations": self._submit_confirmations,
            "submitInventoryUpdate": self._submit_inventory,
            "getTransactionStatus": self._get_transaction,
            "createShippingLabels": self._create_shipping_labels,
            "getShippingLabel": self._get_shipping_label,
            "getShippingLabels": self._get_shipping_labels,
            "getPackingSlip": self._get_packing_slip,
            "getPackingSlips": self._get_packing_slips,
        }

    # ---- entry points -----------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        started = time.time()
        split = urlsplit(request.target)
        path = split.path
        query = {key: values[-1] for key, values in parse_qs(split.query, keep_blank_values=True).items()}
        if path == ADMIN or path.startswith(ADMIN + "/"):
            response = self._admin(request, path, query)
            operation = None
        else:
            operation, response = self._api(request, path, query)
            self.state.log_request(
                {
                    "method": request.method,
                    "path": path,
                    "query": query,
                    "status": 0 if response.drop else response.status,  # 0: dropped, no answer
                    "operation": operation,
                    "time": started,
                }
            )
        response.headers.setdefault("x-amzn-RequestId", str(uuid.uuid4()))
        return response

    def too_large(self, request: Request) -> Response:
        """413 for a body over max_body_bytes, answered without parsing it."""
        path = urlsplit(request.target).path
        operation = next(
            (r.operation for r in API_ROUTES if r.method == request.method and r.pattern.match(path)), None
        )
        response = _errors(413, "RequestEntityTooLarge", "The request size exceeded the maximum accepted size.")
        response.headers["x-amzn-RequestId"] = str(uuid.uuid4())
        self.state.log_request(
            {
                "method": request.method,
                "path": path,
                "query": {},
                "status": 413,
                "operation": operation,
                "time": time.time(),
            }
        )
        return response

    def summary(self) -> dict[str, Any]:
        """The state summary plus live and expired token counts (GET /_sim/state)."""
        return {**self.state.summary(), "tokens": self.tokens.counts()}

    # ---- SP-API and LWA ---------------------------------------------------------------------------------------

    def _api(self, request: Request, path: str, query: dict[str, str]) -> tuple[str | None, Response]:
        for route in API_ROUTES:
            match = route.pattern.match(path)
            if match and route.method == request.method:
                break
        else:
            return None, _errors(404, "NotFound", f"No operation matches {request.method} {path}.")
        operation = route.operation
        plan = self.state.plan_fault()
        if plan.drop:
            return operation, Response(0, drop=True)
        if plan.status is not None:
            response = self._fault_response(plan.status, plan.body, operation == "getAccessToken")
            response.delay = plan.delay
            return operation, response
        params = tuple(unquote(group) for group in match.groups())
        if operation == "getAccessToken":
            response = self._lwa_token(request, path, query, params)
        else:
            response = self._operation(route, request, path, query, params)
            if response.status in _RATE_HEADER_STATUSES:
                response.headers["x-amzn-RateLimit-Limit"] = f"{self.limiter.rate(operation):.1f}"
        response.delay = plan.delay
        return operation, response

    def _operation(
        self, route: _Route, request: Request, path: str, query: dict[str, str], params: tuple[str, ...]
    ) -> Response:
        denial = self.tokens.denial(
            request.headers.get("x-amz-access-token"), request.method, path, restricted=route.restricted
        )
        if denial is not None:
            return _errors(403, "Unauthorized", DENIED, denial, **{"x-amzn-ErrorType": "AccessDeniedException"})
        if self.config.rate_limits and not self.limiter.allow(route.operation):
            return _errors(429, "QuotaExceeded", "You exceeded your quota for the requested resource.")
        try:
            return self._handlers[route.operation](request, path, query, params)
        except _BadRequest as exc:
            return _errors(400, "InvalidInput", str(exc))

    def _fault_response(self, status: int, body: str, oauth: bool) -> Response:
        if body == "empty":
            return Response(status, b"")
        if body == "html":
            page = f"<html><head><title>{status}</title></head><body><h1>{status} Service Error</h1></body></html>"
            return Response(status, page.encode(), content_type="text/html; charset=utf-8")
        code, message = _FAULT_ERRORS[status]
        if oauth:
            return _json(status, {"error": "server_error", "error_description": message})
        return _errors(status, code, message)

    def _lwa_token(self, request: Request, path: str, query: dict[str, str], params: tuple[str, ...]) -> Response:
        content_type = request.headers.get("content-type", "")
        try:
            if "json" in content_type:
                raw = json.loads(request.body or b"{}")
                form = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
            else:
                form = {k: v[-1] for k, v in parse_qs(request.body.decode("utf-8"), keep_blank_values=True).items()}
        except (ValueError, UnicodeDecodeError):
            return _json(
                400, {"error": "invalid_request", "error_description": "The request body could not be parsed."}
            )
        cfg = self.config
        if form.get("grant_type") != "refresh_token":
            return _json(400, {"error": "unsupported_grant_type", "error_description": "Use grant_type=refresh_token."})
        if not form.get("client_id") or not form.get("refresh_token"):
            return _json(
                400, {"error": "invalid_request", "error_description": "client_id and refresh_token are required."}
            )
        if (cfg.client_id is not None and form.get("client_id") != cfg.client_id) or (
            cfg.client_secret is not None and form.get("client_secret") != cfg.client_secret
        ):
            return _json(401, {"error": "invalid_client", "error_description": "Client authentication failed"})
        if cfg.refresh_token is not None and form["refresh_token"] != cfg.refresh_token:
            return _json(
                400,
                {
                    "error": "invalid_grant",
                    "error_description": "The request has an invalid grant parameter : refresh_token",
                },
            )
        access_token = self.tokens.issue_access_token(cfg.access_token_ttl)
        body = {
            "access_token": access_token,
            "refresh_token": form["refresh_token"],
            "token_type": "bearer",
            "expires_in": cfg.access_token_ttl,
        }
        return _json(200, body, **{"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _json_body(self, request: Request, allowed: frozenset[str] | None) -> dict[str, Any]:
        """Parse a JSON object body; allowed lists the top-level keys Amazon accepts (None: any)."""
        content_type = request.headers.get("content-type", "application/json")
        if "json" not in content_type:
            raise _Unsupported(f"Content-Type {content_type} is not supported; send application/json.")
        try:
            body = json.loads(request.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise _Unsupported("The request body is not valid JSON.") from exc
        if not isinstance(body, dict):
            raise _BadRequest("The request body must be a JSON object.")
        if allowed is not None:
            # Production rejected injected marketplaceIds this way (python-amazon-sp-api #226).
            extra = sorted(set(body) - allowed)
            if extra:
                raise _BadRequest(f"Invalid content was found starting with element '{extra[0]}'.")
        return body

    def _create_rdt(self, request: Request, path: str, query: dict[str, str], params: tuple[str, ...]) -> Response:
        try:
            body = self._json_body(request, None)
        except _Unsupported as exc:
            return _errors(415, "UnsupportedMediaType", str(exc))
        self._check(self._tokens_model, "CreateRestrictedDataTokenRequest", body)
        resources = body["restrictedResources"]
        if not 1 <= len(resources) <= 50:
            raise _BadRequest("restrictedResources must hold between 1 and 50 resources.")
        for index, resource in enumerate(resources):
            if not resource["path"].startswith("/"):
                raise _BadRequest(f"restrictedResources[{index}].path must start with '/'.")
        token = self.tokens.issue_rdt([Resource(r["method"], r["path"]) for r in resources], self.config.rdt_ttl)
        return _json(200, {"restrictedDataToken": token, "expiresIn": self.config.rdt_ttl})

    def _check(self, validator: ModelValidator, definition: str, body: Any) -> None:
        problem = validator.problem(definition, body)
        if problem:
            raise _BadRequest(f"Invalid input: {problem}.")

    # ---- Orders --------------------------------------------------------------------------------------------

    def _get_orders(self, request: Request, path: str, query: dict[str, str], params: tuple[str, ...]) -> Response:
        page, token = self.state.orders_page(self._order_query(query))
        body: dict[str, Any] = {"orders": page}
        if token is not None:
            body["pagination"] = {"nextToken": token}
        return _json(200, body)

    def _order_query(self, query: Mapping[str, str]) -> OrderQuery:
        window = self._list_query(query)
        status = query.get("status")
        if status is not None and status not in ("NEW", "SHIPPED", "ACCEPTED", "CANCELLED"):
            raise _BadRequest("status must be one of NEW, SHIPPED, ACCEPTED, CANCELLED.")
        include = query.get("includeDetails", "true").lower()
        if include not in ("true", "false"):
            raise _BadRequest("includeDetails must be true or false.")
        return OrderQuery(
            created_after=window.created_after,
            created_before=window.created_before,
            ship_from_party_id=window.ship_from_party_id,
            status=status,
            limit=window.limit,
            descending=window.descending,
            include_details=include == "true",
            cursor=window.cursor,
        )

    def _list_query(self, query: Mapping[str, str]) -> ListQuery:
        """The window, paging and ship-from parameters shared by getOrders, getShippingLabels and getPackingSlips."""
        bounds = []
        for name in ("createdAfter", "createdBefore"):
            if not query.get(name):
                raise _BadRequest(f"{name} is required.")
            moment = parse_datetime(query[name])
            if moment is None:
                raise _BadRequest(f"{name} must be an ISO-8601 date-time, got {query[name]!r}.")
            bounds.append(moment)
        after, before = bounds
        if after >= before:
            raise _BadRequest("createdAfter must be earlier than createdBefore.")
        if before - after > timedelta(days=self.config.max_window_days):
            raise _BadRequest(f"The date range must not be more than {self.config.max_window_days:g} days.")
        limit = query.get("limit", "50")
        if not limit.isdigit() or not 1 <= int(limit) <= 100:
            raise _BadRequest("limit must be an integer between 1 and 100.")
        sort_order = query.get("sortOrder", "ASC")
        if sort_order not in ("ASC", "DESC"):
            raise _BadRequest("sortOrder must be ASC or DESC.")
        try:
            cursor = decode_cursor(query["nextToken"]) if query.get("nextToken") else None
        except InvalidInput as exc:
            raise _BadRequest(str(exc)) from exc
        return ListQuery(
            created_after=after,
            created_before=before,
            ship_from_party_id=query.get("shipFromPartyId") or None,
            limit=int(limit),
            descending=sort_order == "DESC",
            cursor=cursor,
        )

    def _get_order(self, request: Request, path: str, query: dict[str, str], params: tuple[str, ...]) -> Response:
        (number,) = params
        if not _ALNUM.match(number):
            raise _BadRequest("purchaseOrderNumber must be alphanumeric.")
        order = self.state.order(number)
        if order is None:
            return _errors(404, "NotFound", f"Purchase order {number} was not found.")
        return _json(200, order)

    def _submit_acknowledgement(
        self, request: Request, path: str, query: dict[str, str], params: tuple[str, ...]
    ) -> Response:
        try:
            body = self._json_body(request, frozenset({"orderAcknowledgements"}))
        except _Unsupported as exc:
            return _errors(415, "UnsupportedMediaType", str(exc))
        if not body.get("orderAcknowledgements"):
            raise _BadRequest("Invalid input: orderAcknowledgements is required and must not be empty.")
        self._check(self._orders_model, "SubmitAcknowledgementRequest", body)
        return _json(202, {"transactionId": self.state.submit_acknowledgements(body["orderAcknowledgements"])})

    # ---- Shipping, Inventory, Transactions ----------------------------------------------------------------------

    def _submit_confirmations(
        self, request: Request, path: str, query: dict[str, str], params: tuple[str, ...]
    ) -> Response:
        try:
            body = self._json_body(request, frozenset({"shipmentConfirmations"}))
        except _Unsupported as exc:
            return _errors(415, "UnsupportedMediaType", str(exc))
        if not body.get("shipmentConfirmations"):
            raise _BadRequest("Invalid input: shipmentConfirmations is required and must not be empty.")
        self._check(self._shipping_model, "SubmitShipmentConfirmationsRequest", body)
        return _json(202, {"transactionId": self.state.submit_confirmations(body["shipmentConfirmations"])})

    def _submit_inventory(
        self, request: Request, path: str, query: dict[str, str], params: tuple[str, ...]
    ) -> Response:
        (warehouse_id,) = params
        try:
            body = self._json_body(request, frozenset({"inventory"}))
        except _Unsupported as exc:
            return _errors(415, "UnsupportedMediaType", str(exc))
        if "inventory" not in body:
            raise _BadRequest("Invalid input: inventory is required.")
        self._check(self._inventory_model, "SubmitInventoryUpdateRequest", body)
        # Inventory is a v1 API: its 202 wraps the reference in "payload".
        return _json(202, {"payload": {"transactionId": self.state.submit_inventory(warehouse_id, body["inventory"])}})

    # ---- shipping labels and packing slips ----------------------------------------------------------------------

    def _create_shipping_labels(
        self, request: Request, path: str, query: dict[str, str], params: tuple[str, ...]
    ) -> Response:
        (number,) = params
        if not _ALNUM.match(number):
            raise _BadRequest("purchaseOrderNumber must be alphanumeric.")
        try:
            body = self._json_body(request, frozenset({"sellingParty", "shipFromParty", "containers"}))
        except _Unsupported as exc:
            return _errors(415, "UnsupportedMediaType", str(exc))
        self._check(self._shipping_model, "CreateShippingLabelsRequest", body)
        try:
            label = self.state.create_shipping_labels(number, body)
        except KeyError:
            return _errors(404, "NotFound", f"Purchase order {number} was not found.")
        except Conflict as exc:
            return _errors(409, "Conflict", str(exc))
        except InvalidInput as exc:
            raise _BadRequest(str(exc)) from exc
        return self._answer(200, "ShippingLabel", label)

    def _get_shipping_label(
        self, request: Request, path: str, query: dict[str, str], params: tuple[str, ...]
    ) -> Response:
        (number,) = params
        if not _ALNUM.match(number):
            raise _BadRequest("purchaseOrderNumber must be alphanumeric.")
        label = self.state.shipping_label(number)
        if label is None:
            return _errors(404, "NotFound", f"No shipping label exists for purchase order {number}.")
        return self._answer(200, "ShippingLabel", label)

    def _get_shipping_labels(
        self, request: Request, path: str, query: dict[str, str], params: tuple[str, ...]
    ) -> Response:
        labels, token = self.state.shipping_labels_page(self._list_query(query))
        body: dict[str, Any] = {"shippingLabels": labels}
        if token is not None:
            body["pagination"] = {"nextToken": token}
        return self._answer(200, "ShippingLabelList", body)

    def _get_packing_slip(
        self, request: Request, path: str, query: dict[str, str], params: tuple[str, ...]
    ) -> Response:
        (number,) = params
        if not _ALNUM.match(number):
            raise _BadRequest("purchaseOrderNumber must be alphanumeric.")
        try:
            slip = self.state.packing_slip(number)
        except KeyError:
            return _errors(404, "NotFound", f"Purchase order {number} was not found.")
        except NotAvailable as exc:
            return _errors(404, "NotFound", str(exc))
        return self._answer(200, "PackingSlip", slip)

    def _get_packing_slips(
        self, request: Request, path: str, query: dict[str, str], params: tuple[str, ...]
    ) -> Response:
        slips, token = self.state.packing_slips_page(self._list_query(query))
        body: dict[str, Any] = {"packingSlips": slips}
        if token is not None:
            body["pagination"] = {"nextToken": token}
        return self._answer(200, "PackingSlipList", body)

    def _answer(self, status: int, definition: str, body: Any) -> Response:
        """Answer with a body checked against the Shipping model: the simulator never says what Amazon cannot."""
        problem = self._shipping_model.problem(definition, body)
        if problem:
            return _errors(500, "InternalFailure", f"The simulator's answer does not match {definition}: {problem}.")
        return _json(status, body)

    def _get_transaction(self, request: Request, path: str, query: dict[str, str], params: tuple[str, ...]) -> Response:
        (transaction_id,) = params
        status = self.state.transaction(transaction_id)
        if status is None:
            return _errors(404, "NotFound", f"Transaction {transaction_id} was not found.")
        return _json(200, status)

    # ---- admin API -----------------------------------------------------------------------------------------------

    def _admin(self, request: Request, path: str, query: dict[str, str]) -> Response:
        route = (request.method, path[len(ADMIN) :])
        try:
            payload = json.loads(request.body) if request.body else {}
            if not isinstance(payload, dict):
                raise ValueError("the body must be a JSON object")
            if route == ("GET", "/state"):
                return _json(200, self.summary())
            if route == ("POST", "/orders"):
                numbers = self.state.create_orders(**admin_order_arguments(payload))
                return _json(201, {"purchase_order_numbers": numbers})
            if route == ("POST", "/faults"):
                expire = payload.get("expire_tokens", False)
                if not isinstance(expire, bool):
                    raise ValueError("expire_tokens must be a boolean")
                self.state.faults = Faults.from_mapping(payload)
                expired = self.tokens.expire_all() if expire else 0
                return _json(200, {"faults": self.state.faults.as_dict(), "expired_tokens": expired})
            if route == ("GET", "/acknowledgements"):
                return _json(200, self.state.acknowledgements())
            if route == ("GET", "/confirmations"):
                return _json(200, self.state.confirmations())
            if route == ("GET", "/requests"):
                return _json(200, self.state.requests(operation=query.get("operation")))
            if route == ("POST", "/reset"):
                self.state.reset()
                return _json(200, {"reset": True})
            if route == ("GET", "/settings"):
                return _json(200, self.state.settings())
            if route == ("POST", "/settings"):
                return _json(200, self.state.update_settings(**admin_settings_arguments(payload)))
            if route == ("GET", "/labels"):
                return _json(200, self.state.labels())
            cancel = re.fullmatch(r"/orders/([A-Za-z0-9]+)/cancel", route[1])
            if request.method == "POST" and cancel:
                return _json(200, {"purchaseOrderNumber": cancel[1], "orderStatus": self.state.cancel_order(cancel[1])})
            inventory = re.fullmatch(r"/inventory/([^/]+)", route[1])
            if request.method == "GET" and inventory:
                return _json(200, {"warehouseId": inventory[1], "items": self.state.inventory(unquote(inventory[1]))})
        except KeyError as exc:
            return _json(404, {"error": f"unknown purchase order {exc.args[0]}"})
        except (ValueError, TypeError) as exc:
            return _json(400, {"error": str(exc)})
        return _json(404, {"error": f"no admin route {request.method} {path}"})


class _Unsupported(Exception):
    """Raised when a body is not JSON: 415."""


def admin_settings_arguments(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Translate POST /_sim/settings JSON into update_settings keyword arguments."""
    unknown = set(payload) - {"label_only_parties", "label_format", "packing_slip_delay"}
    if unknown:
        raise ValueError(f"unknown settings: {sorted(unknown)}")
    arguments: dict[str, Any] = {}
    parties = payload.get("label_only_parties")
    if parties is not None:
        if not isinstance(parties, list) or not all(isinstance(party, str) for party in parties):
            raise ValueError("label_only_parties must be a list of selling party ids")
        arguments["label_only_parties"] = parties
    if payload.get("label_format") is not None:
        arguments["label_format"] = str(payload["label_format"])
    delay = payload.get("packing_slip_delay")
    if delay is not None:
        if isinstance(delay, bool) or not isinstance(delay, int | float):
            raise ValueError("packing_slip_delay must be a number of seconds")
        arguments["packing_slip_delay"] = float(delay)
    return arguments


def admin_order_arguments(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Translate the admin API's JSON into create_orders keyword arguments."""
    unknown = set(payload) - {"count", "ship_from_party_id", "created_at", "lines"}
    if unknown:
        raise ValueError(f"unknown fields: {sorted(unknown)}")
    arguments: dict[str, Any] = {"count": payload.get("count", 1)}
    if payload.get("ship_from_party_id") is not None:
        arguments["ship_from_party_id"] = str(payload["ship_from_party_id"])
    if payload.get("created_at") is not None:
        created = parse_datetime(str(payload["created_at"]))
        if created is None:
            raise ValueError("created_at must be an ISO-8601 date-time")
        arguments["created_at"] = created
    lines = payload.get("lines")
    if isinstance(lines, list):
        if not all(isinstance(line, dict) for line in lines):
            raise ValueError("lines must be a count or a list of objects")
        arguments["lines"] = [LineSpec.from_mapping(line) for line in lines]
    elif lines is not None:
        if isinstance(lines, bool) or not isinstance(lines, int):
            raise ValueError("lines must be a count or a list of objects")
        arguments["lines"] = lines
    return arguments
