"""Serves the simulator over HTTP/1.1 on a stdlib ThreadingHTTPServer and manages its lifecycle."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from simulator.app import LWA_PATH, Request, Response, SimulatorApp
from simulator.auth import Resource, TokenStore
from simulator.config import Faults, SimulatorConfig
from simulator.generator import LineSpec
from simulator.state import SimulatorState

logger = logging.getLogger(__name__)

_DRAIN_LIMIT = 64 * 1024 * 1024  # past this an oversized body is not even read: the connection is cut
_CHUNK = 64 * 1024


class _HttpServer(ThreadingHTTPServer):
    """Tracks open connections so stop() can cut idle keep-alive sockets and join every handler thread."""

    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: SimulatorApp, stopping: threading.Event) -> None:
        self.app = app
        self.stopping = stopping
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_open_connections(self) -> None:
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                logger.debug("socket already closed")

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up mid-answer are normal under fault injection; keep stderr clean.
        logger.debug("connection error", exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every answer carries Content-Length
    timeout = 120  # an idle keep-alive connection is closed after this many seconds
    server: _HttpServer
    server_version = "vdf-simulator"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in two writes; without this, Nagle plus delayed ACKs add ~40 ms per answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def _serve(self) -> None:
        headers = {name.lower(): value for name, value in self.headers.items()}
        app = self.server.app
        try:
            body, too_large = self._read_body(headers, app.config.max_body_bytes)
        except ValueError:
            self.close_connection = True
            self._write(Response(400, b'{"errors":[{"code":"InvalidInput","message":"Malformed request body."}]}'))
            return
        request = Request(self.command, self.path, headers, body)
        response = app.too_large(request) if too_large else app.handle(request)
        if response.delay and self.server.stopping.wait(response.delay):
            response = Response(0, drop=True)
        if response.drop:
            self.close_connection = True
            return
        if too_large:
            self.close_connection = True
        self._write(response)

    def _read_body(self, headers: dict[str, str], limit: int) -> tuple[bytes, bool]:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return self._read_chunked(limit)
        length = int(headers.get("content-length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        if length > limit:
            if length <= _DRAIN_LIMIT:
                # Read and drop it, so the client gets to see the 413 instead of a reset.
                remaining = length
                while remaining:
                    chunk = self.rfile.read(min(remaining, _CHUNK))
                    if not chunk:
                        break
                    remaining -= len(chunk)
            return b"", True
        return self.rfile.read(length), False

    def _read_chunked(self, limit: int) -> tuple[bytes, bool]:
        parts: list[bytes] = []
        size_total = 0
        while True:
            line = self.rfile.readline(1024)
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                break
            chunk = self.rfile.read(size)
            self.rfile.readline(1024)
            size_total += size
            if size_total <= limit:
                parts.append(chunk)
        return (b"", True) if size_total > limit else (b"".join(parts), False)

    def _write(self, response: Response) -> None:
        self.send_response(response.status)
        if response.body:
            self.send_header("Content-Type", response.content_type)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        # The request line holds only the path and query (no bodies, so no PII).
        logger.debug("%s - %s", self.address_string(), format % args)


class RunningSimulator:
    """A simulator serving on a background thread; stop() (or leaving `with`) shuts it down and joins its threads."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self._stopping = threading.Event()
        self._tokens = TokenStore()
        self._state = SimulatorState(config)
        self._app = SimulatorApp(config, self._state, self._tokens)
        self._server = _HttpServer((config.host, config.port), self._app, self._stopping)
        host, port = self._server.server_address[:2]
        self.host = str(host)
        self.port = int(port)
        self.base_url = f"http://{self.host}:{self.port}"
        self.token_url = self.base_url + LWA_PATH
        # A short poll interval makes stop() fast: shutdown() waits for the serving loop's next poll.
        self._threads = [
            threading.Thread(target=self._server.serve_forever, args=(0.05,), name=f"simulator-{self.port}")
        ]
        if config.order_rate_per_minute > 0:
            self._threads.append(threading.Thread(target=self._generate_orders, name=f"simulator-orders-{self.port}"))
        for thread in self._threads:
            thread.start()
        self._stopped = False

    def _generate_orders(self) -> None:
        interval = 60.0 / self.config.order_rate_per_minute
        while not self._stopping.wait(interval):
            self._state.create_orders(1)

    # ---- the public API ---------------------------------------------------------------------------------------

    def create_orders(
        self,
        count: int,
        ship_from_party_id: str | None = None,
        created_at: datetime | None = None,
        lines: int | Sequence[LineSpec] | None = None,
        ship_to: Mapping[str, str] | None = None,
    ) -> list[str]:
        """Make `count` new orders (status NEW); returns their purchase order numbers.

        `ship_to` pins ship-to fields (Amazon's names), e.g. recognisable values a test looks for in logs.
        """
        return self._state.create_orders(count, ship_from_party_id, created_at, lines, ship_to)

    def state_summary(self) -> dict[str, Any]:
        """Same document as GET /_sim/state."""
        return self._app.summary()

    def set_faults(
        self,
        error_rate: float = 0.0,
        slow_rate: float = 0.0,
        slow_seconds: float = 0.0,
        drop_rate: float = 0.0,
        expire_tokens: bool = False,
        statuses: Sequence[int] = (500, 503),
    ) -> None:
        """Replace the fault settings; expire_tokens=True expires every token issued so far (once)."""
        self._state.faults = Faults(error_rate, slow_rate, slow_seconds, drop_rate, tuple(statuses))
        if expire_tokens:
            self._tokens.expire_all()

    def requests(
        self, operation: str | None = None, method: str | None = None, status: int | None = None
    ) -> list[dict[str, Any]]:
        """The SP-API/LWA request log, admin calls excluded; status 0 means the connection was dropped."""
        return self._state.requests(operation, method, status)

    def acknowledgements(self) -> dict[str, list[dict[str, Any]]]:
        """Every acknowledgement received, per purchase order, with its transaction's result."""
        return self._state.acknowledgements()

    def confirmations(self) -> dict[str, list[dict[str, Any]]]:
        """Every shipment confirmation received, per purchase order, with its transaction's result."""
        return self._state.confirmations()

    def inventory(self, warehouse_id: str) -> dict[str, dict[str, Any]]:
        """Current stock of one warehouse, keyed by vendor SKU (or ASIN when no SKU was sent)."""
        return self._state.inventory(warehouse_id)

    def order(self, purchase_order_number: str) -> dict[str, Any] | None:
        """The order as getOrder would answer it, or None."""
        return self._state.order(purchase_order_number)

    def order_lines(self, purchase_order_number: str) -> list[dict[str, Any]]:
        """The order's items as getOrder shows them (KeyError if unknown)."""
        order = self._state.order(purchase_order_number)
        if order is None:
            raise KeyError(purchase_order_number)
        items: list[dict[str, Any]] = order["orderDetails"]["items"]
        return items

    def order_status(self, purchase_order_number: str) -> str | None:
        return self._state.order_status(purchase_order_number)

    def transaction(self, transaction_id: str) -> dict[str, Any] | None:
        """The getTransactionStatus body, or None for an unknown id."""
        return self._state.transaction(transaction_id)

    def labels(self) -> dict[str, dict[str, Any]]:
        """Every order with shipping labels: creation time, tracking numbers, format and 409s answered."""
        return self._state.labels()

    def update_settings(
        self,
        *,
        label_only_parties: Sequence[str] | None = None,
        label_format: str | None = None,
        packing_slip_delay: float | None = None,
    ) -> dict[str, Any]:
        """Change which selling parties are label-only, the label format, or the packing slip delay."""
        return self._state.update_settings(
            label_only_parties=label_only_parties, label_format=label_format, packing_slip_delay=packing_slip_delay
        )

    def cancel_order(self, purchase_order_number: str) -> None:
        """Amazon cancels an order (KeyError if unknown, ValueError once shipped)."""
        self._state.cancel_order(purchase_order_number)

    def reset(self) -> None:
        """Forget orders, transactions, stock and the request log; issued tokens stay valid."""
        self._state.reset()

    def issue_access_token(self) -> str:
        """An LWA access token, as if fetched from the token endpoint (for plain-HTTP clients and tests)."""
        return self._tokens.issue_access_token(self.config.access_token_ttl)

    def issue_restricted_data_token(self, resources: Sequence[tuple[str, str]]) -> str:
        """An RDT for (method, path) pairs, as if created through the Tokens API."""
        return self._tokens.issue_rdt([Resource(m, p) for m, p in resources], self.config.rdt_ttl)

    def stop(self) -> None:
        """Stop serving, cut open connections and join every thread; safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        self._stopping.set()
        self._server.shutdown()
        self._server.close_open_connections()
        self._server.server_close()
        for thread in self._threads:
            thread.join()

    def __enter__(self) -> RunningSimulator:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


def start_simulator(config: SimulatorConfig | None = None) -> RunningSimulator:
    """Start a simulator in background threads and return once it accepts connections."""
    return RunningSimulator(config or SimulatorConfig())


def serve_forever(config: SimulatorConfig) -> None:
    """Run a simulator in the foreground until Ctrl-C (the `vdf simulator` command)."""
    simulator = start_simulator(config)
    print(f"Amazon VDF simulator: SP-API base URL {simulator.base_url}", flush=True)
    print(f"LWA token URL {simulator.token_url}; admin API {simulator.base_url}/_sim/state; Ctrl-C stops", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        print("stopping", flush=True)
    finally:
        simulator.stop()
