"""push-inventory's decisions through the in-memory fakes: no Prefect, no sockets.

The flow's steps run as plain functions (`as_function`); everything else is the code the flow runs.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from flows.push_inventory import InventoryReport, as_function, failure_message, push_account
from flows.runtime import Runtime
from tasks.core.config import Settings, parse_config
from tasks.core.errors import (
    ConfigError,
    OutcomeUnknownError,
    PermanentError,
    RequestRefusedError,
    TransientError,
)
from tasks.core.models import (
    AmazonErrorDetail,
    ChunkState,
    FeedState,
    FileOutcome,
    TransactionKind,
    TransactionState,
)
from tests.fakes import FakeLedger, FakeVendorApi, FakeWarehouseDrop


def settings(*, warehouses: int = 1, **inventory: Any) -> Settings:
    return parse_config(
        {
            "accounts": [
                {
                    "name": "acme",
                    "selling_party_id": "VENDOR1",
                    "credentials": {"client_id": "env:A", "client_secret": "env:B", "refresh_token": "env:C"},
                    "warehouses": [
                        {
                            "name": "main" if n == 0 else f"wh{n}",
                            "ship_from_party_id": f"WH0{n + 1}",
                            "drop": {"kind": "local", "path": f"/srv/drop{n}"},
                            "inventory": {key: str(value) if isinstance(value, Path) else value
                                          for key, value in inventory.items()},
                        }
                        for n in range(warehouses)
                    ],
                }
            ]
        }
    )


class World:
    """Amazon, the ledger and each warehouse's drop as fakes, wired into a Runtime."""

    def __init__(self, config: Settings) -> None:
        self.api = FakeVendorApi()
        self.ledger = FakeLedger()
        self.drops = {w.name: FakeWarehouseDrop() for w in config.accounts[0].warehouses}
        self.config = config
        self.runtime = self.make_runtime()

    def make_runtime(self, api: Any = None, ledger: Any = None, drop: Any = None) -> Runtime:
        return Runtime(
            self.config,
            vendor_api_factory=lambda _a: api or self.api,
            drop_factory=lambda w: drop or self.drops[w.name],
            ledger_factory=lambda _s: ledger or self.ledger,
        )

    @property
    def drop(self) -> FakeWarehouseDrop:
        return self.drops["main"]

    def put(self, name: str, text: str, warehouse: str = "main") -> None:
        self.drops[warehouse].put("inventory", name, text.encode())

    def run(
        self, warehouse: str | None = None, *, force: bool = False, runtime: Runtime | None = None
    ) -> InventoryReport:
        reports = push_account(runtime or self.runtime, "acme", warehouse, force=force, task=as_function)
        return reports[0]

    def settle(self) -> None:
        """poll-transactions: the ledger records what Amazon decided."""
        for txn in self.ledger.load_transactions("acme", pending_only=True):
            self.ledger.record_transaction_status(self.api.transactions[txn.transaction_id])

    def sent(self) -> list[dict[str, int]]:
        """Each inventory request Amazon received, as key -> quantity."""
        return [
            {(i.vendor_product_identifier or i.buyer_product_identifier or ""): i.available_quantity for i in u.items}
            for _, u in self.api.inventory_updates
        ]

    def feeds(self) -> list[Any]:
        return self.ledger.load_inventory_feeds("acme")


def stock_file(**quantities: int) -> str:
    return "vendor_sku,available_quantity\n" + "".join(f"{sku},{n}\n" for sku, n in quantities.items())


CATALOGUE = {f"SKU-{i:03d}": (i % 7) * 3 for i in range(1, 41)}


@pytest.fixture
def world() -> World:
    return World(settings())


# ---------------------------------------------------------------------------------------------- full feeds


def test_a_full_feed_is_sent_once_and_its_file_archived(world: World):
    world.put("stock-1.csv", stock_file(**CATALOGUE))
    report = world.run()
    assert report.problems == [] and report.guard.startswith("passed")
    assert world.sent() == [CATALOGUE]
    (_, update), = world.api.inventory_updates
    assert update.is_full_update and update.warehouse_id == "WH01" and update.selling_party_id == "VENDOR1"
    assert (report.skus, report.sent, report.new, report.zeros) == (40, 40, 40, 5)
    assert world.drop.folders["inventory"] == {} and list(world.drop.folders["archive"]) == ["stock-1.csv"]
    (feed,) = world.feeds()
    assert feed.state is FeedState.SENT and report.transactions == list(feed.transaction_ids)
    (txn,) = world.ledger.load_transactions("acme")
    assert txn.kind is TransactionKind.INVENTORY_UPDATE and txn.subjects == ("WH01",)
    (record,) = world.ledger.load_files("acme", "main")
    assert (record.kind, record.outcome) == ("stock", FileOutcome.ARCHIVED)

    world.settle()
    assert world.feeds()[0].state is FeedState.ACCEPTED


def test_the_same_file_dropped_again_is_not_sent_again(world: World):
    world.put("stock-1.csv", stock_file(**CATALOGUE))
    world.run()
    world.settle()
    world.put("stock-1.csv", stock_file(**CATALOGUE))
    report = world.run()
    assert len(world.api.inventory_updates) == 1
    assert "already sent as feed 1 (accepted); not sent again" in " ".join(report.notes)
    first, second = world.drop.folders["archive"]  # the second under a free name: the first is kept
    assert first == "stock-1.csv" and second.startswith("stock-1-") and second.endswith(".csv")
    assert report.problems == []


def test_older_unprocessed_files_are_superseded_by_the_newest(world: World):
    world.put("stock-1.csv", stock_file(A=1))
    world.put("stock-2.csv", stock_file(A=2))
    world.put("stock-3.csv", stock_file(A=3, B=1))
    report = world.run()
    assert world.sent() == [{"A": 3, "B": 1}]
    assert report.superseded == ["stock-1.csv", "stock-2.csv"] and report.file == "stock-3.csv"
    assert "2 older stock file(s) archived unsent: stock-3.csv is newer" in report.notes
    assert sorted(world.drop.folders["archive"]) == ["stock-1.csv", "stock-2.csv", "stock-3.csv"]
    details = {f.name: f.detail for f in world.ledger.load_files("acme")}
    assert details["stock-1.csv"] == "superseded by stock-3.csv"
    assert details["stock-3.csv"] == "inventory feed 1: sent"


def test_a_sent_file_left_behind_by_a_crash_is_archived_as_sent(world: World):
    world.put("stock-1.csv", stock_file(A=1))
    with pytest.raises(Crash):
        world.run(runtime=world.make_runtime(drop=_BeforeArchive(world.drop)))
    world.put("stock-2.csv", stock_file(A=2))
    world.run()
    details = {f.name: f.detail for f in world.ledger.load_files("acme")}
    assert details["stock-1.csv"] == "already sent as inventory feed 1 (sent); superseded by stock-2.csv"
    assert world.sent() == [{"A": 1}, {"A": 2}]


class _BeforeArchive:
    """A drop whose process dies just before it moves a file (the feed was sent)."""

    def __init__(self, inner: FakeWarehouseDrop) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def archive(self, folder: str, name: str) -> str:
        raise Crash("the process dies before archiving")


def test_no_stock_file_is_a_note_not_a_failure(world: World):
    report = world.run()
    assert report.problems == [] and world.api.inventory_updates == []
    assert "no stock file" in report.notes[0]


# ---------------------------------------------------------------------------------------------- the guard


def test_a_truncated_file_is_held_kept_and_sent_with_force(world: World):
    world.put("stock-1.csv", stock_file(**CATALOGUE))
    world.run()
    world.settle()
    truncated = dict(list(CATALOGUE.items())[:10])
    world.put("stock-2.csv", stock_file(**truncated))
    report = world.run()
    assert len(world.api.inventory_updates) == 1  # nothing sent
    assert list(world.drop.folders["inventory"]) == ["stock-2.csv"]  # the file is kept
    assert report.guard.startswith("held: its SKU count fell by 75% (40 → 10)")
    message = failure_message("acme", [report])
    assert message is not None and "vdf run inventory --account acme --warehouse main --force" in message
    assert world.feeds()[0].state is FeedState.HELD

    # the next run without force holds it again; with force it goes out, once
    assert world.run().problems and len(world.api.inventory_updates) == 1
    forced = world.run("main", force=True)
    assert forced.problems == [] and forced.guard.startswith("forced past the guard")
    assert world.sent()[-1] == truncated and len(world.api.inventory_updates) == 2
    assert world.feeds()[0].forced and world.feeds()[0].state is FeedState.SENT
    assert world.drop.folders["inventory"] == {}


def test_force_only_sends_the_file_that_was_held(world: World):
    world.put("stock-1.csv", stock_file(**CATALOGUE))
    world.run()
    world.settle()
    world.put("stock-2.csv", stock_file(A=1))
    world.run()  # held: a person is asked to check stock-2.csv
    world.put("stock-3.csv", stock_file(B=1))  # meanwhile another truncated file arrives
    report = world.run("main", force=True)
    assert len(world.api.inventory_updates) == 1  # stock-3.csv was never checked: still guarded
    assert report.guard.startswith("held") and report.superseded == ["stock-2.csv"]
    assert "--force applies to a held feed only; stock-3.csv was not held, so it was guarded" in report.notes
    assert [f.state for f in world.feeds()] == [FeedState.HELD, FeedState.SUPERSEDED, FeedState.ACCEPTED]
    assert world.run("main", force=True).problems == [] and world.sent()[-1] == {"B": 1}


def test_an_empty_stock_file_is_held_even_without_an_earlier_feed(world: World):
    world.put("stock-1.csv", "vendor_sku,available_quantity\n")
    report = world.run()
    assert report.guard.startswith("held: the feed has no items")
    assert world.api.inventory_updates == [] and list(world.drop.folders["inventory"]) == ["stock-1.csv"]


def test_force_needs_one_warehouse():
    world = World(settings(warehouses=2))
    with pytest.raises(ConfigError, match="name the warehouse"):
        push_account(world.runtime, "acme", None, force=True, task=as_function)


def test_the_guard_share_comes_from_the_configuration():
    world = World(settings(guard_share=0.9))
    world.put("stock-1.csv", stock_file(**CATALOGUE))
    world.run()
    world.settle()
    world.put("stock-2.csv", stock_file(**dict(list(CATALOGUE.items())[:10])))
    assert world.run().guard.startswith("passed")


# ---------------------------------------------------------------------------------------------- bad files, maps


def test_a_stock_file_with_a_bad_row_is_quarantined_whole_with_its_report(world: World):
    world.put("stock-1.csv", "vendor_sku,available_quantity\nA,5\nB,-1\nA,2\n")
    report = world.run()
    assert world.api.inventory_updates == [] and world.feeds() == []
    assert list(world.drop.folders["error"]) == ["stock-1.csv", "stock-1.csv.errors.csv"]
    errors = world.drop.folders["error"]["stock-1.csv.errors.csv"].decode()
    assert '"stock-1.csv",3,"available_quantity","\'-1",' in errors and "SKU is listed 2 times" in errors
    assert report.problems and "quarantined" in report.problems[0] and "line 3" in report.problems[0]
    (record,) = world.ledger.load_files("acme")
    assert (record.outcome, record.detail) == (FileOutcome.QUARANTINED, "stock-1.csv.errors.csv")


def test_a_sku_map_translates_codes_and_unmapped_skus_are_reported(tmp_path: Path):
    sku_map = tmp_path / "map.csv"
    sku_map.write_text("warehouse_sku,vendor_sku,asin\nW-1,SKU-RED,B000000001\nW-2,SKU-BLU,\n")
    world = World(settings(sku_map=sku_map))
    world.put("stock-1.csv", stock_file(**{"W-1": 4, "W-2": 0, "W-3": 9}))
    report = world.run()
    assert world.sent() == [{"SKU-BLU": 0, "SKU-RED": 4}]
    (_, update), = world.api.inventory_updates
    assert [i.buyer_product_identifier for i in update.items] == [None, "B000000001"]
    assert report.unmapped == 1 and report.problems == []
    assert any("W-3" in note and "not in the SKU map" in note for note in report.notes)


def test_a_bad_sku_map_stops_the_warehouse_and_leaves_the_stock_file(tmp_path: Path):
    sku_map = tmp_path / "map.csv"
    sku_map.write_text("warehouse_sku,vendor_sku\nW-1,SKU-1\nW-1,SKU-2\n")
    world = World(settings(sku_map=sku_map))
    world.put("stock-1.csv", stock_file(**{"W-1": 4}))
    report = world.run()
    assert world.api.inventory_updates == [] and list(world.drop.folders["inventory"]) == ["stock-1.csv"]
    assert report.problems[0].startswith("ConfigError: inventory.sku_map")
    missing = World(settings(sku_map=tmp_path / "nope.csv"))
    missing.put("stock-1.csv", stock_file(A=1))
    assert "warehouse main inventory.sku_map: cannot read" in missing.run().problems[0]


# ---------------------------------------------------------------------------------------------- delta feeds


def test_a_delta_sends_changes_and_zeros_in_chunks():
    world = World(settings(mode="delta", delta_chunk_size=3))
    world.put("stock-1.csv", stock_file(A=5, B=3, C=1, D=2))
    first = world.run()
    assert first.sent == 4 and len(world.api.inventory_updates) == 2  # no earlier feed: everything, in 2 chunks
    assert not any(u.is_full_update for _, u in world.api.inventory_updates)
    world.settle()
    assert world.feeds()[0].state is FeedState.ACCEPTED

    world.put("stock-2.csv", stock_file(A=5, B=4, C=0, E=7))
    report = world.run()
    assert world.sent()[2:] == [{"B": 4, "C": 0, "D": 0}, {"E": 7}]
    assert (report.new, report.up, report.down, report.gone, report.unchanged) == (1, 1, 1, 1, 1)
    assert (report.sent, report.zeros) == (4, 2)

    world.settle()
    world.put("stock-3.csv", stock_file(A=5, B=4, C=0, E=7))
    nothing = world.run()
    assert len(world.api.inventory_updates) == 4 and nothing.sent == 0
    assert "nothing changed since the last feed: nothing to send" in nothing.notes
    assert world.feeds()[0].state is FeedState.ACCEPTED


def test_a_failed_feed_is_not_the_base_of_the_next_delta():
    world = World(settings(mode="delta"))
    world.put("stock-1.csv", stock_file(A=5, B=3))
    world.run()
    world.settle()
    world.put("stock-2.csv", stock_file(A=6, B=3))
    world.run()
    txn = world.feeds()[0].transaction_ids[0]
    world.api.settle(txn, TransactionState.FAILURE, [AmazonErrorDetail("INVALID_ITEM", "unknown item")])
    world.settle()
    failed = world.feeds()[0]
    assert failed.state is FeedState.FAILED and "INVALID_ITEM" in (failed.detail or "")
    # A=6 may not have been applied: the next file says it again although it equals that feed's value
    world.put("stock-3.csv", stock_file(A=6, B=3))
    world.run()
    assert world.sent()[-1] == {"A": 6}


# ---------------------------------------------------------------------------------------------- Amazon's answers


def test_an_unknown_outcome_is_never_resent():
    world = World(settings())
    world.put("stock-1.csv", stock_file(A=1))
    world.api.faults.fail("submit_inventory_update", OutcomeUnknownError("timeout after sending (test)"))
    report = world.run()
    assert "has an unknown outcome, so it is not sent again" in report.problems[0]
    (feed,) = world.feeds()
    assert feed.state is FeedState.UNKNOWN and feed.chunk_states == (ChunkState.UNKNOWN,)
    assert world.drop.folders["inventory"] == {}  # archived: it may have been applied
    world.put("stock-1.csv", stock_file(A=1))
    world.run()
    assert world.api.faults.calls["submit_inventory_update"] == 1


def test_a_transient_failure_leaves_the_request_for_the_next_run():
    world = World(settings())
    world.put("stock-1.csv", stock_file(A=1, B=2))
    world.api.faults.fail("submit_inventory_update", TransientError("HTTP 503 (test)", status=503))
    report = world.run()
    assert report.problems[0].startswith("TransientError")
    assert world.feeds()[0].chunk_states == (ChunkState.PENDING,)
    assert list(world.drop.folders["inventory"]) == ["stock-1.csv"]
    again = world.run()
    assert again.problems == [] and world.sent() == [{"A": 1, "B": 2}]
    assert "resumed feed 1, left half sent by an interrupted run" in again.notes


def test_refused_credentials_leave_the_request_for_the_next_run():
    world = World(settings())
    world.put("stock-1.csv", stock_file(A=1))
    world.api.faults.fail("submit_inventory_update", PermanentError("HTTP 403 (test)", status=403))
    assert world.run().problems
    assert world.feeds()[0].chunk_states == (ChunkState.PENDING,)
    world.run()
    assert world.sent() == [{"A": 1}]


def test_a_full_feed_too_large_for_amazon_says_to_use_delta():
    world = World(settings())
    world.put("stock-1.csv", stock_file(**CATALOGUE))
    world.api.faults.fail(
        "submit_inventory_update", RequestRefusedError("Amazon answered HTTP 413", status=413, code="TooLarge")
    )
    report = world.run()
    assert "Amazon refused feed 1 request 1 of 1 (40 items; nothing applied)" in report.problems[0]
    assert "set inventory.mode: delta" in report.problems[0]
    assert world.feeds()[0].state is FeedState.FAILED
    assert world.drop.folders["inventory"] == {}


def test_a_newer_file_stops_a_half_sent_feed():
    world = World(settings(mode="delta", delta_chunk_size=2))
    world.put("stock-1.csv", stock_file(A=1, B=2, C=3, D=4))
    world.api.faults.fail("submit_inventory_update", TransientError("503 (test)", status=503))
    world.run()  # the first request fails transiently: the feed stays half sent, its file stays
    world.put("stock-2.csv", stock_file(A=1, B=2, C=3, D=5))
    report = world.run()
    old, new = world.feeds()[1], world.feeds()[0]
    assert old.state is FeedState.SUPERSEDED and set(old.chunk_states) == {ChunkState.CANCELLED}
    assert new.file == "stock-2.csv" and new.state is FeedState.SENT
    assert any("stopped for the newer stock-2.csv" in note for note in report.notes)
    assert report.superseded == ["stock-1.csv"]
    # nothing of the first feed reached Amazon, so the new delta says every item
    assert world.sent() == [{"A": 1, "B": 2}, {"C": 3, "D": 5}]


# ---------------------------------------------------------------------------------------------- crashes


class Crash(Exception):
    """Stands for the process dying right after a step succeeded (not an error of ours: nothing catches it)."""


class CrashAfter:
    """Wraps a fake; the chosen method succeeds, then the 'process dies' (once)."""

    def __init__(self, inner: Any, method: str, nth: int = 1) -> None:
        self._inner, self._method, self._left = inner, method, nth

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name != self._method or self._left <= 0:
            return attr

        def crash(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            self._left -= 1
            if self._left == 0:
                raise Crash(f"crash after {name}")
            return result

        return crash


LEDGER_STEPS = [
    "load_unfinished_inventory_feeds",
    "record_file_received",
    "load_inventory_feed",
    "load_inventory_baseline",
    "record_inventory_feed",
    "claim_inventory_chunk",
    "load_inventory_chunk",
    "mark_inventory_chunk",
    "mark_file",
]
API_STEPS = ["submit_inventory_update"]
DROP_STEPS = ["list_new", "download", "archive"]
# A crash between the claim and the recorded answer leaves a request that may or may not have reached Amazon.
IN_FLIGHT = {"claim_inventory_chunk", "load_inventory_chunk", "submit_inventory_update"}


def _ledger_method(step: str) -> str:
    return "load_inventory_feeds" if step == "load_unfinished_inventory_feeds" else step


@pytest.mark.parametrize("mode", ["full", "delta"])
@pytest.mark.parametrize("nth", [1, 2])
@pytest.mark.parametrize("step", LEDGER_STEPS + API_STEPS + DROP_STEPS)
def test_a_crash_after_any_step_never_sends_anything_twice(step: str, nth: int, mode: str):
    world = World(settings(mode=mode, delta_chunk_size=15))
    world.put("stock-1.csv", stock_file(**CATALOGUE))
    wrapped: dict[str, Any] = {}
    if step in API_STEPS:
        wrapped["api"] = CrashAfter(world.api, step, nth)
    elif step in DROP_STEPS:
        wrapped["drop"] = CrashAfter(world.drop, step, nth)
    else:
        wrapped["ledger"] = CrashAfter(world.ledger, _ledger_method(step), nth)
    crashed = False
    try:
        world.run(runtime=world.make_runtime(**wrapped))
    except Crash:
        crashed = True
    assert crashed or nth > 1, "the first call of every step happens on a run"

    report = world.run()
    world.run()  # and once more: nothing left to do

    per_item = Counter(key for request in world.sent() for key in request)
    assert set(per_item.values()) <= {1}, "an item was sent twice"
    (feed,) = world.feeds()
    assert world.drop.folders["inventory"] == {} and list(world.drop.folders["archive"]) == ["stock-1.csv"]
    if crashed and step in IN_FLIGHT:
        assert feed.state is FeedState.UNKNOWN and ChunkState.UNKNOWN in feed.chunk_states
        assert any("may or may not have reached Amazon" in p for p in report.problems)
        assert len(per_item) < len(CATALOGUE) or step == "submit_inventory_update"
    else:
        assert feed.state is FeedState.SENT and set(feed.chunk_states) == {ChunkState.SENT}
        assert per_item == Counter(dict.fromkeys(CATALOGUE, 1))
    assert world.ledger.load_files("acme")[0].outcome is FileOutcome.ARCHIVED
