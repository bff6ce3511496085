"""purge-data end to end: real SFTP drop, SQL ledger, Prefect flow runs; only our files go, once past retention."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prefect.client.orchestration import get_client

from flows.download_orders import download_orders
from flows.purge_data import purge_data
from flows.runtime import Runtime, drop_for, use_runtime
from tasks.core.errors import PermanentError
from tasks.core.models import FileOutcome
from tasks.core.ports import Folder, WarehouseDrop


def _later(cycle: Any, days: float) -> Runtime:
    """The same parts, with the clock moved on: the files and ledger records are then `days` old."""
    return Runtime(
        cycle.settings, ledger_factory=lambda _s: cycle.ledger, clock=lambda: datetime.now(UTC) + timedelta(days=days)
    )


def _put(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _latest_artifact() -> Any:
    async def read() -> Any:
        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

        async with get_client() as client:
            wanted = ArtifactFilter(key=ArtifactFilterKey(any_=["purge-data"]))
            found = await client.read_artifacts(artifact_filter=wanted)
        return max(found, key=lambda a: a.created)

    return asyncio.run(read())


def test_purge_deletes_only_the_files_we_placed_once_past_the_retention(make_cycle: Any) -> None:
    cycle = make_cycle()
    cycle.sim.create_orders(3, ship_from_party_id="WH01", created_at=datetime.now(UTC) - timedelta(minutes=45))
    download_orders(account="acme")
    (order_file,) = cycle.order_files()
    root = cycle.sftp_root / "main"
    # what the inbound flows leave: a shipment file archived, a stock file quarantined with its report
    for name, kind, outcome in (("ship-1.csv", "shipments", FileOutcome.ARCHIVED),
                                ("stock-1.csv", "stock", FileOutcome.QUARANTINED)):
        cycle.ledger.record_file_received("acme", "main", kind, name, "ab" * 32)
        cycle.ledger.mark_file("acme", "main", name, "ab" * 32, outcome)
    ours = [
        order_file,
        _put(root / "archive" / "ship-1.csv"),
        _put(root / "archive" / "ship-1-20261101T090000Z.csv"),  # archived again while the name was taken
        _put(root / "error" / "stock-1.csv"),
        _put(root / "error" / "stock-1.csv.errors.csv"),
    ]
    theirs = [
        _put(root / "archive" / "warehouse-own.csv"),
        _put(root / "outbound" / "orders" / "orders_acme_main_20200101T000000Z.csv"),  # our pattern, not our file
        _put(root / "error" / "notes.txt"),
        _put(root / "inbound" / "shipments" / "ship-2.csv"),
    ]

    with use_runtime(_later(cycle, days=29)):
        early = purge_data(account="acme")
    assert all(path.exists() for path in ours + theirs)
    assert sum(row["deleted"] for row in early) == 0 and sum(row["kept"] for row in early) == len(ours)

    with use_runtime(_later(cycle, days=31)):
        rows = purge_data(account="acme")

    assert [path.name for path in ours if path.exists()] == []
    assert all(path.exists() for path in theirs)
    by_folder = {row["folder"]: row for row in rows}
    assert (by_folder["orders"]["deleted"], by_folder["archive"]["deleted"], by_folder["error"]["deleted"]) == (1, 2, 2)
    assert (by_folder["orders"]["not_ours"], by_folder["archive"]["not_ours"], by_folder["error"]["not_ours"]) == (
        1, 1, 1
    )
    purged = {(p.folder, p.name) for p in cycle.ledger.load_purged("acme")}
    assert purged == {("orders", order_file.name), ("archive", "ship-1.csv"),
                      ("archive", "ship-1-20261101T090000Z.csv"), ("error", "stock-1.csv"),
                      ("error", "stock-1.csv.errors.csv")}
    artifact = _latest_artifact()
    assert order_file.name in str(artifact.data) and "ship-1.csv" in str(artifact.data)

    with use_runtime(_later(cycle, days=32)):
        again = purge_data(account="acme")
    assert sum(row["deleted"] for row in again) == 0 and len(cycle.ledger.load_purged("acme")) == len(purged)


class _RefusingDrop:
    """The real drop, except that deleting one name fails as a server refusing it would."""

    def __init__(self, drop: WarehouseDrop, refused: str) -> None:
        self._drop, self._refused = drop, refused

    def __getattr__(self, name: str) -> Any:
        return getattr(self._drop, name)

    def delete(self, folder: Folder, name: str) -> bool:
        if name == self._refused:
            raise PermanentError("delete failed: Permission denied", subject=f"{folder}/{name}")
        return self._drop.delete(folder, name)


def test_a_file_that_cannot_be_deleted_fails_the_run_and_the_others_still_go(make_cycle: Any) -> None:
    cycle = make_cycle()
    cycle.sim.create_orders(2, ship_from_party_id="WH01", created_at=datetime.now(UTC) - timedelta(minutes=45))
    download_orders(account="acme")
    (order_file,) = cycle.order_files()
    root = cycle.sftp_root / "main"
    for name in ("a.csv", "b.csv"):
        cycle.ledger.record_file_received("acme", "main", "shipments", name, "cd" * 32)
        cycle.ledger.mark_file("acme", "main", name, "cd" * 32, FileOutcome.ARCHIVED)
        _put(root / "archive" / name)
    later = _later(cycle, days=31)
    later.drop_factory = lambda warehouse: _RefusingDrop(drop_for(warehouse.drop), "a.csv")  # type: ignore[assignment]

    with use_runtime(later):
        state = purge_data(account="acme", return_state=True)

    assert state.is_failed() and "a.csv" in (state.message or "") and "Permission denied" in (state.message or "")
    assert (root / "archive" / "a.csv").exists()
    assert not order_file.exists() and not (root / "archive" / "b.csv").exists()  # the others went all the same
    assert {p.name for p in cycle.ledger.load_purged("acme")} == {order_file.name, "b.csv"}
