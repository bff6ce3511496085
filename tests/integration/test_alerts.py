"""Alerts end to end: a real `prefect server start`, our automations, and a webhook receiver on 127.0.0.1.

A failed run of ours and a run that holds orders each send exactly one notification naming the account, the
warehouse, the run and the reason; a failed run that is not ours (no vdf-bridge tag) sends none.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from flows.local_prefect import LocalPrefect, free_port, local_prefect_server

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


class Receiver:
    """An HTTP server that keeps every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                received.append(json.loads(self.rfile.read(length) or b"{}"))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, count: int, timeout: float = 90.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.bodies) < count:
            assert time.monotonic() < deadline, f"{len(self.bodies)} notification(s) after {timeout} s: {self.bodies}"
            time.sleep(0.25)
        return list(self.bodies)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPrefect]:
    with local_prefect_server(tmp_path_factory.mktemp("prefect-home"), port=free_port()) as server:
        yield server


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.stop()


def _run(code: str, server: LocalPrefect, **env: str) -> subprocess.CompletedProcess[str]:
    """Run Python against the server in its own process, as a worker's flow run would."""
    environment = {**os.environ, "PREFECT_API_URL": server.api_url, "PYTHONPATH": str(ROOT), **env}
    environment.pop("PREFECT_HOME", None)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


APPLY = """
    from flows.alerts import apply_alerts
    from flows.runtime import resolve_secret
    from tasks.core.config import Notifications
    for _ in range(2):  # applying twice replaces the automations, never doubles them
        for line in apply_alerts(Notifications(webhook_url={"env": "ALERT_URL"}), resolve_secret):
            print(line)
"""

FAIL_AND_HOLD = """
    from prefect import flow, tags
    from flows.alerts import announce
    from tasks.core.errors import IntegrationError

    @flow(name="download-orders", flow_run_name="orders-acme-probe")
    def failing():
        raise IntegrationError("Amazon at http://127.0.0.1:9 could not be reached")

    @flow(name="download-orders", flow_run_name="orders-acme-holds")
    def holding():
        announce("order-held", account="acme", warehouse="main", reason="Amazon no longer returns them", count=2)

    @flow(name="not-ours", flow_run_name="someone-elses-run")
    def foreign():
        raise ValueError("not a vdf-bridge run")

    with tags("vdf-bridge", "flow:orders", "account:acme", "warehouse:main"):
        assert failing(return_state=True).is_failed()
        holding()
    assert foreign(return_state=True).is_failed()
"""


def test_a_failed_run_and_held_orders_each_send_one_notification(prefect_server: LocalPrefect, receiver: Receiver):
    applied = _run(APPLY, prefect_server, ALERT_URL=receiver.url)
    assert applied.returncode == 0, applied.stderr
    assert "'vdf-bridge: run failed' sends to 1 destination(s)" in applied.stdout

    ran = _run(FAIL_AND_HOLD, prefect_server)
    assert ran.returncode == 0, ran.stderr
    bodies = receiver.wait_for(2)
    time.sleep(5)  # anything more would arrive now: the foreign failure, a doubled automation
    assert len(receiver.bodies) == 2, receiver.bodies

    failed = next(b for b in bodies if "orders-acme-probe" in b["body"])
    assert "ended Failed" in failed["body"]
    assert "account:acme" in failed["body"] and "warehouse:main" in failed["body"]
    assert "Amazon at http://127.0.0.1:9 could not be reached" in failed["body"]
    assert "orders-acme-probe" in failed["subject"]

    held = next(b for b in bodies if "order(s) held" in b["body"])
    assert "2 order(s) held" in held["body"]
    assert "account:acme" in held["body"] and "warehouse:main" in held["body"]
    assert "run: orders-acme-holds" in held["body"]
    assert "Amazon no longer returns them" in held["body"]


REFUSE = """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from flows.cli import _refuse_worker_deployments
    from flows.deployments import plan_deployments
    from tasks.core.config import parse_config
    from tasks.core.errors import IntegrationError

    settings = parse_config({"accounts": [{
        "name": "acme", "selling_party_id": "V",
        "credentials": {"client_id": "env:A", "client_secret": "env:B", "refresh_token": "env:C"},
        "warehouses": [{"name": "main", "ship_from_party_id": "W", "drop": {"kind": "local", "path": "."}}]}]})
    specs = plan_deployments(settings, "/etc/vdf.yaml")
    _refuse_worker_deployments(specs)  # nothing deployed yet: serving is fine
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name="vdf", type="process"))
        flow_id = client.create_flow_from_name("download-orders")
        client.create_deployment(
            flow_id=flow_id, name="orders-acme", work_pool_name="vdf",
            entrypoint="flows/download_orders.py:download_orders",
        )
    try:
        _refuse_worker_deployments(specs)
    except IntegrationError as exc:
        print(exc)
"""


def test_serve_refuses_deployments_a_work_pool_already_runs(prefect_server: LocalPrefect):
    ran = _run(REFUSE, prefect_server)
    assert ran.returncode == 0, ran.stderr
    assert "download-orders/orders-acme (work pool vdf)" in ran.stdout
    assert "Serve and workers must not share a deployment" in ran.stdout
