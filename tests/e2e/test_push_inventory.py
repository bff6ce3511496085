"""push-inventory end to end: stock files on the embedded SFTP server, the simulator over HTTP, real flow runs."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import httpx
from prefect.client.orchestration import get_client

from flows.poll_transactions import poll_transactions
from flows.push_inventory import push_inventory
from tasks.core.models import FeedState, FileOutcome

CATALOGUE = {f"SKU-{i:03d}": (i * 7) % 23 for i in range(1, 31)}
ASINS = {sku: f"B{i:09d}" for i, sku in enumerate(CATALOGUE, start=1) if i % 3 == 0}


def stock_file(quantities: dict[str, int]) -> str:
    lines = [f"{sku},{n},{ASINS.get(sku, '')}" for sku, n in quantities.items()]
    return "vendor_sku,available_quantity,asin\r\n" + "\r\n".join(lines) + "\r\n"


def drop_stock(cycle: Any, name: str, quantities: dict[str, int], warehouse: str = "main") -> Path:
    folder = cycle.sftp_root / warehouse / "inbound" / "inventory"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(stock_file(quantities))
    return path


def amazon_view(cycle: Any, warehouse: str = "WH01") -> dict[str, int]:
    """What Amazon would display for the warehouse: quantity per vendor SKU."""
    return {sku: item["availableQuantity"] for sku, item in cycle.sim.inventory(warehouse).items()}


def settle(cycle: Any) -> dict[str, int]:
    """How the account's transactions ended, as poll-transactions counts them."""
    cycle.wait_until_settled()
    rows = poll_transactions(account="acme")
    return {key: int(value) for row in rows if row.get("account") == "acme" for key, value in row.items()
            if isinstance(value, int)}


def feeds(cycle: Any) -> list[Any]:
    return cycle.ledger.load_inventory_feeds("acme", "main")


def with_inventory(cycle: Any, **options: Any) -> None:
    """Change the warehouse's inventory options between runs, as an edited configuration file would."""
    account = cycle.settings.accounts[0]
    warehouses = [
        w.model_copy(update={"inventory": w.inventory.model_copy(update=options)}) for w in account.warehouses
    ]
    accounts = [account.model_copy(update={"warehouses": warehouses})]
    cycle.runtime.settings = cycle.settings.model_copy(update={"accounts": accounts})


def test_a_full_feed_then_a_delta_show_on_amazon(make_cycle):
    cycle = make_cycle()
    drop_stock(cycle, "stock-20260301.csv", CATALOGUE)
    state = push_inventory(account="acme", return_state=True)
    assert state.is_completed(), state.message
    (row,) = state.result()
    assert (row["sent"], row["new"], row["zeros"], row["amazon_warehouse"]) == (30, 30, 1, "WH01")
    assert row["guard"].startswith("passed")
    assert settle(cycle)["Success"] == 1
    assert feeds(cycle)[0].state is FeedState.ACCEPTED
    assert amazon_view(cycle) == CATALOGUE
    assert cycle.sim.inventory("WH01")["SKU-003"]["buyerProductIdentifier"] == "B000000003"
    summary = cycle.sim.state_summary()["inventory"]["WH01"]
    assert (summary["skus"], summary["units"]) == (30, sum(CATALOGUE.values()))
    assert [p.name for p in (cycle.sftp_root / "main" / "archive").iterdir()] == ["stock-20260301.csv"]

    # the next day, in delta mode, in chunks of 4: only what changed goes out
    with_inventory(cycle, mode="delta", delta_chunk_size=4)
    today = dict(CATALOGUE)
    today.update({"SKU-001": 50, "SKU-002": 0, "SKU-031": 9})  # up, down to 0, new
    del today["SKU-010"]  # gone: Amazon must show 0
    drop_stock(cycle, "stock-20260302.csv", today)
    (row,) = push_inventory(account="acme", warehouse="main")
    assert (row["sent"], row["new"], row["up"], row["gone"]) == (4, 1, 1, 1)
    assert len(row["transactions"].split(", ")) == 1
    assert settle(cycle)["Success"] == 1
    assert amazon_view(cycle) == {**today, "SKU-010": 0}
    assert [f.state for f in feeds(cycle)] == [FeedState.ACCEPTED, FeedState.ACCEPTED]
    requests = cycle.sim.requests("submitInventoryUpdate", status=202)
    assert len(requests) == 2  # one full feed, one delta chunk


def test_report_and_run_name(make_cycle):
    cycle = make_cycle()
    drop_stock(cycle, "stock-1.csv", CATALOGUE)
    state = push_inventory(account="acme", return_state=True)
    assert state.is_completed()

    async def read() -> tuple[Any, Any]:
        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

        run_id = state.state_details.flow_run_id
        async with get_client() as client:
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    key=ArtifactFilterKey(any_=["push-inventory-acme"]),
                    flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]),
                )
            )
            run = await client.read_flow_run(state.state_details.flow_run_id)
            return found, run

    found, run = asyncio.run(read())
    assert len(found) == 1, "one table artifact per run"
    assert run.name.startswith("inventory-acme/all-")
    data = str(found[0].data)
    assert "stock-1.csv" in data and "passed" in data and '"sent": 30' in data.replace("'", '"')


def test_a_truncated_file_is_held_until_forced(make_cycle):
    cycle = make_cycle()
    drop_stock(cycle, "stock-1.csv", CATALOGUE)
    push_inventory(account="acme")
    settle(cycle)
    truncated = dict(list(CATALOGUE.items())[:5])
    held_file = drop_stock(cycle, "stock-2.csv", truncated)
    state = push_inventory(account="acme", return_state=True)
    assert state.is_failed()
    message = str(state.message)
    assert "held: its SKU count fell by 83% (30 → 5)" in message
    assert "vdf run inventory --account acme --warehouse main --force" in message
    assert held_file.exists() and amazon_view(cycle) == CATALOGUE
    assert feeds(cycle)[0].state is FeedState.HELD

    forced = push_inventory(account="acme", warehouse="main", force=True, return_state=True)
    assert forced.is_completed(), forced.message
    assert not held_file.exists()
    settle(cycle)
    # a full feed: what it leaves out is zero at Amazon
    assert amazon_view(cycle) == {sku: truncated.get(sku, 0) for sku in CATALOGUE}
    assert len(cycle.sim.requests("submitInventoryUpdate", status=202)) == 2


def test_a_bad_file_is_quarantined_with_its_report(make_cycle):
    cycle = make_cycle()
    drop_stock(cycle, "stock-1.csv", {**CATALOGUE, "SKU-001": -4})
    state = push_inventory(account="acme", return_state=True)
    assert state.is_failed() and "quarantined" in str(state.message)
    error = cycle.sftp_root / "main" / "error"
    assert sorted(p.name for p in error.iterdir()) == ["stock-1.csv", "stock-1.csv.errors.csv"]
    assert "available quantity must be a whole number >= 0" in (error / "stock-1.csv.errors.csv").read_text()
    assert cycle.sim.requests("submitInventoryUpdate") == []
    assert cycle.ledger.load_files("acme")[0].outcome is FileOutcome.QUARANTINED


def _our_requests(cycle: Any) -> list[int]:
    return [r["status"] for r in cycle.sim.requests("submitInventoryUpdate") if "/WH01/" in r["path"]]


def test_throttling_is_survived_without_a_second_feed(make_cycle):
    cycle = make_cycle(inventory={"mode": "delta", "delta_chunk_size": 3})
    drop_stock(cycle, "stock-1.csv", CATALOGUE)  # 10 requests
    token = cycle.sim.issue_access_token()
    stop = threading.Event()

    def another_client_on_the_same_quota() -> None:
        """Spends the operation's quota (one bucket per vendor and operation) until one of ours is throttled."""
        item = {"vendorProductIdentifier": "OTHER", "availableQuantity": {"amount": 1, "unitOfMeasure": "Each"}}
        body = {"inventory": {"sellingParty": {"partyId": "VENDOR1"}, "isFullUpdate": False, "items": [item]}}
        with httpx.Client(base_url=cycle.sim.base_url, timeout=5) as client:
            while not stop.is_set() and 429 not in _our_requests(cycle):
                client.post(
                    "/vendor/directFulfillment/inventory/v1/warehouses/WH02/items",
                    json=body,
                    headers={"x-amz-access-token": token},
                )

    # several threads, so the quota stays spent even when this machine is busy
    hammers = [threading.Thread(target=another_client_on_the_same_quota) for _ in range(3)]
    for hammer in hammers:
        hammer.start()
    try:
        state = push_inventory(account="acme", return_state=True)
    finally:
        stop.set()
        for hammer in hammers:
            hammer.join()
    assert state.is_completed(), state.message
    statuses = _our_requests(cycle)
    assert 429 in statuses
    assert statuses.count(202) == 10, "each chunk reached Amazon exactly once"
    settle(cycle)
    assert amazon_view(cycle) == CATALOGUE


def test_server_errors_are_survived_without_a_second_feed(make_cycle):
    cycle = make_cycle(inventory={"mode": "delta", "delta_chunk_size": 2})
    drop_stock(cycle, "stock-1.csv", CATALOGUE)  # 15 requests
    cycle.sim.set_faults(error_rate=0.4, statuses=[500, 503])
    try:
        state = push_inventory(account="acme", return_state=True)
    finally:
        cycle.sim.set_faults()
    assert state.is_completed(), state.message
    statuses = _our_requests(cycle)
    assert {500, 503} & set(statuses)
    assert statuses.count(202) == 15, "each chunk reached Amazon exactly once"
    settle(cycle)
    assert amazon_view(cycle) == CATALOGUE


def test_a_dropped_sftp_connection_is_survived(make_cycle):
    cycle = make_cycle()
    drop_stock(cycle, "stock-1.csv", CATALOGUE)
    runtime = cycle.runtime
    factory = runtime.drop_factory
    cut = {"left": 1}

    class Cutting:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def download(self, folder: str, name: str) -> bytes:
            if cut["left"]:
                cut["left"] -= 1
                assert cycle.sftp_servers[0].disconnect_all() >= 1  # the server drops us mid-run
            return self.inner.download(folder, name)

    runtime.drop_factory = lambda w: Cutting(factory(w))  # type: ignore[assignment,return-value]
    state = push_inventory(account="acme", return_state=True)
    assert state.is_completed(), state.message
    assert cut["left"] == 0
    settle(cycle)
    assert amazon_view(cycle) == CATALOGUE
    assert not (cycle.sftp_root / "main" / "inbound" / "inventory" / "stock-1.csv").exists()


def test_vdf_run_inventory_from_a_config_file(make_cycle, tmp_path: Path, monkeypatch):
    import yaml
    from typer.testing import CliRunner

    import flows.runtime
    from flows.cli import app

    cycle = make_cycle()
    drop_stock(cycle, "stock-1.csv", CATALOGUE)
    config = tmp_path / "vdf.yaml"
    config.write_text(yaml.safe_dump(cycle.settings.model_dump(mode="json", exclude_none=True)))
    monkeypatch.setattr(flows.runtime, "_override", None)  # build everything from the file
    runner = CliRunner()
    result = runner.invoke(app, ["run", "inventory", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "stock-1.csv" in result.output and "passed" in result.output
    cycle.wait_until_settled()
    poll_transactions(account="acme", config=str(config))

    drop_stock(cycle, "stock-2.csv", dict(list(CATALOGUE.items())[:3]))
    held = runner.invoke(app, ["run", "inventory", "--config", str(config), "--account", "acme"])
    assert held.exit_code == 1 and "--force" in held.output
    refused = runner.invoke(app, ["run", "inventory", "--config", str(config), "--force"])
    assert refused.exit_code == 2 and "--force" in refused.output  # one checked file: account and warehouse
    forced = runner.invoke(
        app, ["run", "inventory", "--config", str(config), "--account", "acme", "--warehouse", "main", "--force"]
    )
    assert forced.exit_code == 0, forced.output
    assert len(cycle.sim.requests("submitInventoryUpdate", status=202)) == 2


def test_a_full_feed_too_large_for_amazon_fails_saying_to_use_delta(make_cycle):
    cycle = make_cycle(sim_options={"max_body_bytes": 2_000})  # 30 items are about 4 KB of JSON
    drop_stock(cycle, "stock-1.csv", CATALOGUE)
    state = push_inventory(account="acme", return_state=True)
    assert state.is_failed()
    assert "HTTP 413" in str(state.message) and "set inventory.mode: delta" in str(state.message)
    assert feeds(cycle)[0].state is FeedState.FAILED and amazon_view(cycle) == {}

    with_inventory(cycle, mode="delta", delta_chunk_size=8)
    drop_stock(cycle, "stock-2.csv", CATALOGUE)
    state = push_inventory(account="acme", return_state=True)
    assert state.is_completed(), state.message
    settle(cycle)
    assert amazon_view(cycle) == CATALOGUE


def test_a_failure_at_amazon_fails_the_feed_and_the_poll_run(make_cycle):
    cycle = make_cycle(warehouses=("WH09",))  # a warehouse code Amazon has not set up for this vendor
    drop_stock(cycle, "stock-1.csv", CATALOGUE)
    (row,) = push_inventory(account="acme")
    (transaction_id,) = row["transactions"].split(", ")
    cycle.wait_until_settled()
    state = poll_transactions(account="acme", return_state=True)
    assert state.is_failed() and transaction_id in str(state.message)
    assert "INVALID_WAREHOUSE_ID" in str(state.message)
    (feed,) = feeds(cycle)
    assert feed.state is FeedState.FAILED and "INVALID_WAREHOUSE_ID" in (feed.detail or "")
    assert cycle.ledger.load_inventory_baseline("acme", "main").accepted is None
