"""confirm-shipments end to end: shipment files on a real SFTP server, the simulator over HTTP, real flow runs."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL

from flows.confirm_shipments import confirm_shipments
from flows.download_orders import download_orders
from flows.poll_transactions import poll_transactions
from tasks.core.models import (
    FileOutcome,
    OrderState,
    Package,
    ShipmentConfirmation,
    ShippedItem,
    TransactionKind,
)
from tests.support.shipment_files import shipment_file, shipment_row

ACCOUNT = "acme"


def _created(minutes_ago: float = 45) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes_ago)


def _shipped_at() -> str:
    return f"{datetime.now(UTC) - timedelta(minutes=5):%Y-%m-%dT%H:%M:%SZ}"


def _exported(cycle: Any, count: int, **options: Any) -> list[str]:
    created = cycle.sim.create_orders(count, ship_from_party_id="WH01", created_at=_created(), **options)
    download_orders(account=ACCOUNT)
    assert _states(cycle) == {"exported": count}
    return sorted(created)


def _rows(cycle: Any, numbers: list[str] | None = None, **values: object) -> list[dict[str, object]]:
    """Shipment rows for exported orders: every line, its full quantity, one package per order."""
    wanted = None if numbers is None else set(numbers)
    rows = []
    for line in cycle.exported_rows():
        po = line["purchase_order_number"]
        if wanted is None or po in wanted:
            rows.append(
                shipment_row(
                    po,
                    item_sequence_number=line["item_sequence_number"],
                    vendor_sku=line["vendor_sku"],
                    quantity_shipped=line["quantity"],
                    tracking_number=f"1Z{po}",
                    ship_date=_shipped_at(),
                    **values,
                )
            )
    return rows


def _drop(cycle: Any, name: str, rows: list[dict[str, object]] | bytes) -> bytes:
    folder = cycle.sftp_root / "main" / "inbound" / "shipments"
    folder.mkdir(parents=True, exist_ok=True)
    data = rows if isinstance(rows, bytes) else shipment_file(rows)
    (folder / name).write_bytes(data)
    return data


def _folder(cycle: Any, *parts: str) -> list[str]:
    path = cycle.sftp_root.joinpath("main", *parts)
    return sorted(p.name for p in path.iterdir()) if path.is_dir() else []


def _states(cycle: Any) -> dict[str, int]:
    return {str(k): v for k, v in cycle.ledger.count_orders(ACCOUNT).items() if v}


def _confirmed_once(cycle: Any) -> dict[str, int]:
    return {po: len(records) for po, records in cycle.admin("GET", "confirmations").items()}


def _poll(cycle: Any) -> Any:
    cycle.wait_until_settled()
    return poll_transactions(account=ACCOUNT, return_state=True)


# -- the main path, on both SFTP servers ---------------------------------------------------------------------


@pytest.mark.parametrize("server", ["asyncssh", pytest.param("sshd", marks=pytest.mark.sshd)])
def test_a_shipment_file_is_confirmed_and_poll_records_success(make_cycle, request, server: str) -> None:
    target = request.getfixturevalue("sftp_server" if server == "asyncssh" else "sshd_server")
    cycle = make_cycle(sftp=target)
    numbers = _exported(cycle, 6)
    _drop(cycle, "shipments-001.csv", _rows(cycle))

    rows = confirm_shipments(account=ACCOUNT)

    assert rows[0]["confirmed"] == 6 and rows[0]["problems"] == ""
    assert _confirmed_once(cycle) == dict.fromkeys(numbers, 1)
    assert _folder(cycle, "inbound", "shipments") == [] and _folder(cycle, "archive") == ["shipments-001.csv"]
    assert [f.outcome for f in cycle.ledger.load_files(ACCOUNT)] == [FileOutcome.ARCHIVED]
    assert _states(cycle) == {"confirming": 6}

    state = _poll(cycle)
    assert state.is_completed(), state.message
    assert _states(cycle) == {"confirmed": 6}
    assert {cycle.sim.order_status(po) for po in numbers} == {"SHIPPED"}
    # every confirmation carried a package with tracking number, ship method and weight
    for records in cycle.admin("GET", "confirmations").values():
        assert records[0]["containers"] == 1 and records[0]["trackingNumbers"][0].startswith("1Z")


def test_the_run_is_named_and_its_artifact_lists_files_and_orders(make_cycle) -> None:
    cycle = make_cycle()
    numbers = _exported(cycle, 3)
    _drop(cycle, "ship.csv", _rows(cycle))
    state = confirm_shipments(account=ACCOUNT, return_state=True)
    assert state.is_completed()

    async def read() -> tuple[Any, list[Any]]:
        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

        run_id = state.state_details.flow_run_id
        async with get_client() as client:  # the session's API holds other runs' artifacts under this key too
            run = await client.read_flow_run(run_id)
            artifacts = await client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    key=ArtifactFilterKey(any_=["confirm-shipments-acme"]),
                    flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]),
                )
            )
            return run, artifacts

    run, artifacts = asyncio.run(read())
    assert run.name.startswith("shipments-acme/all-") and len(artifacts) == 1
    text = str(artifacts[0].data)
    assert "ship.csv" in text and "archived" in text and numbers[0] in text
    exported = cycle.exported_rows()
    pii = {r["ship_to_name"] for r in exported} | {r["ship_to_address_line1"] for r in exported}
    assert not [value for value in pii if value and (value in text or value in run.name)]


# -- files with problems, twice, or in parts ------------------------------------------------------------------


def test_good_orders_go_through_and_the_bad_ones_are_reported_beside_the_file(make_cycle) -> None:
    cycle = make_cycle()
    numbers = _exported(cycle, 4, lines=1)
    rows = _rows(cycle)
    rows[1]["quantity_shipped"] = 99  # more than ordered
    rows.append(shipment_row("NOSUCHPO", ship_date=_shipped_at()))
    _drop(cycle, "mixed.csv", rows)

    state = confirm_shipments(account=ACCOUNT, return_state=True)

    assert state.is_failed() and "mixed.csv" in str(state.message)  # a person must look
    good = [po for po in numbers if po != rows[1]["purchase_order_number"]]
    assert _confirmed_once(cycle) == dict.fromkeys(good, 1)
    assert _folder(cycle, "error") == ["mixed.csv", "mixed.csv.errors.csv"]
    text = (cycle.sftp_root / "main" / "error" / "mixed.csv.errors.csv").read_text()
    report = list(csv.DictReader(io.StringIO(text)))
    assert [(r["row"], r["column"]) for r in report] == [("3", "quantity_shipped"), ("6", "purchase_order_number")]
    assert "NOSUCHPO is not in the ledger" in report[1]["reason"]
    assert [f.outcome for f in cycle.ledger.load_files(ACCOUNT)] == [FileOutcome.QUARANTINED]


def test_the_same_file_dropped_twice_confirms_once(make_cycle) -> None:
    cycle = make_cycle()
    numbers = _exported(cycle, 3)
    data = _drop(cycle, "ship.csv", _rows(cycle))
    confirm_shipments(account=ACCOUNT)
    _drop(cycle, "ship.csv", data)

    rows = confirm_shipments(account=ACCOUNT)

    assert rows[0]["confirmed"] == 0 and rows[0]["files"] == 1
    assert _confirmed_once(cycle) == dict.fromkeys(numbers, 1)
    assert len(_folder(cycle, "archive")) == 2 and _folder(cycle, "inbound", "shipments") == []


def test_a_partial_file_then_its_completion(make_cycle) -> None:
    cycle = make_cycle()
    (po,) = _exported(cycle, 1, lines=2)
    first, second = _rows(cycle)
    _drop(cycle, "part-1.csv", [first])

    waiting = confirm_shipments(account=ACCOUNT)
    assert waiting[0]["pending"] == 1 and waiting[0]["confirmed"] == 0 and _confirmed_once(cycle) == {}

    second["tracking_number"] = "1ZSECOND"
    _drop(cycle, "part-2.csv", [second])
    done = confirm_shipments(account=ACCOUNT)

    assert done[0]["confirmed"] == 1 and done[0]["pending"] == 0
    (record,) = cycle.admin("GET", "confirmations")[po]
    assert record["containers"] == 2 and sorted(record["trackingNumbers"]) == sorted([f"1Z{po}", "1ZSECOND"])
    assert _poll(cycle).is_completed() and _states(cycle) == {"confirmed": 1}


def test_could_not_ship_is_confirmed_as_floor_denial(make_cycle) -> None:
    cycle = make_cycle()
    (po,) = _exported(cycle, 1, lines=1)
    _drop(cycle, "ship.csv", [shipment_row(po, status="NOT SHIPPED", carrier="", ship_method="", scac="",
                                           tracking_number="", package_weight="", weight_unit="",
                                           ship_date=_shipped_at())])
    rows = confirm_shipments(account=ACCOUNT)
    assert rows[0]["floor_denials"] == 1
    assert _poll(cycle).is_completed() and cycle.sim.order_status(po) == "CANCELLED"
    assert _states(cycle) == {"confirmed": 1}


# -- crashes and storms ----------------------------------------------------------------------------------------


def test_a_run_killed_mid_submit_then_rerun_confirms_every_order_once(make_cycle, tmp_path: Path) -> None:
    cycle = make_cycle(shipments={"batch_size": 10})
    numbers = _exported(cycle, 400, lines=1)
    _drop(cycle, "big.csv", _rows(cycle))
    config = tmp_path / "vdf.yaml"
    config.write_text(yaml.safe_dump(cycle.settings.model_dump(mode="json", exclude_none=True)))
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), "PREFECT_LOGGING_LEVEL": "WARNING"}
    child = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "run", "shipments", "--config", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(cycle.sim.requests(operation="submitShipmentConfirmations")) < 8:
            assert child.poll() is None, "the run finished before it could be killed"
            time.sleep(0.01)
        os.killpg(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert 0 < len(_confirmed_once(cycle)) < len(numbers)

    cycle.wait_until_settled()
    confirm_shipments(account=ACCOUNT, return_state=True)
    confirm_shipments(account=ACCOUNT, return_state=True)

    assert _confirmed_once(cycle) == dict.fromkeys(numbers, 1)
    assert _poll(cycle).is_completed()
    assert _states(cycle) == {"confirmed": 400}
    assert _folder(cycle, "archive") == ["big.csv"]


@contextmanager
def _quota_eater(cycle: Any) -> Iterator[None]:
    """Another client of the same vendor spends the submitShipmentConfirmations quota: 429s for us."""
    token = cycle.sim.issue_access_token()
    stop = threading.Event()

    def eat() -> None:
        with httpx.Client(base_url=cycle.sim.base_url, timeout=5) as http:
            while not stop.is_set():
                http.post(
                    "/vendor/directFulfillment/shipping/2021-12-28/shipmentConfirmations",
                    json={"shipmentConfirmations": []},
                    headers={"x-amz-access-token": token},
                )
                time.sleep(0.02)

    thread = threading.Thread(target=eat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


def test_storms_of_429_and_5xx_and_an_sftp_drop_are_survived(make_cycle, monkeypatch) -> None:
    from tasks.amazon import submit_shipment_confirmations

    # short delays, and a few more of them: on a loaded machine the quota eater below can win several rounds
    monkeypatch.setattr(submit_shipment_confirmations, "retries", 6)
    monkeypatch.setattr(submit_shipment_confirmations, "retry_delay_seconds", [0.2] * 6)
    cycle = make_cycle(shipments={"batch_size": 5})
    numbers = _exported(cycle, 60, lines=1)
    _drop(cycle, "ship.csv", _rows(cycle))
    runtime = cycle.runtime
    factory = runtime.drop_factory
    cut = {"done": 0}

    class CutOnDownload:
        """The SFTP connection dies as the download starts: the drop reconnects once and reads the file."""

        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def download(self, folder: Any, name: str) -> bytes:
            if not cut["done"]:
                cut["done"] = cycle.sftp_servers[0].disconnect_all()
            return bytes(self.inner.download(folder, name))

    runtime.drop_factory = lambda w: CutOnDownload(factory(w))  # type: ignore[assignment,return-value]
    cycle.sim.set_faults(error_rate=0.3)
    with _quota_eater(cycle):
        state = confirm_shipments(account=ACCOUNT, return_state=True)
    cycle.sim.set_faults()

    assert cut["done"] and state.is_completed(), state.message
    assert _confirmed_once(cycle) == dict.fromkeys(numbers, 1)
    statuses = {r["status"] for r in cycle.sim.requests(operation="submitShipmentConfirmations")}
    assert {429, 500} <= statuses or {429, 503} <= statuses  # both storms really happened
    assert _poll(cycle).is_completed() and _states(cycle) == {"confirmed": 60}


# -- a wrong confirmation that our checks would have stopped ----------------------------------------------------


def test_a_wrong_confirmation_sneaked_past_our_checks_fails_poll_red(make_cycle) -> None:
    cycle = make_cycle()
    (po,) = _exported(cycle, 1, lines=1)
    order = cycle.ledger.load_orders(ACCOUNT, [OrderState.EXPORTED])[0]
    line = order.lines[0]
    item = ShippedItem(line.item_sequence_number, line.ordered_quantity, line.buyer_product_identifier,
                       line.vendor_product_identifier)
    weightless = Package("BOX1", f"1Z{po}", 0.0, "KG", (item,), carrier="UPS", ship_method="UPS_GROUND")
    wrong = ShipmentConfirmation(po, datetime.now(UTC) - timedelta(minutes=1), order.selling_party_id,
                                 order.ship_from_party_id, (item,), (weightless,))
    api = cycle.runtime.vendor_api(cycle.settings.account(ACCOUNT))
    transaction_id = api.submit_shipment_confirmations([wrong])  # straight through the adapter
    cycle.ledger.record_transaction(ACCOUNT, transaction_id, TransactionKind.SHIPMENT_CONFIRMATION, [po])

    state = _poll(cycle)

    assert state.is_failed()
    assert transaction_id in str(state.message) and po in str(state.message)
    assert "INVALID_PACKAGE_WEIGHT" in str(state.message)
