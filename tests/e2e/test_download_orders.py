"""download-orders end to end: simulator over HTTP, embedded SFTP, SQL ledger, real Prefect flow runs."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prefect.client.orchestration import get_client

from flows.download_orders import download_orders
from tasks.core.errors import TransientError
from tasks.core.models import OrderState

AGO_45 = timedelta(minutes=45)


def _created(minutes_ago: float = 45) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes_ago)


def _all_states(cycle, account: str = "acme") -> dict[str, int]:
    return {str(k): v for k, v in cycle.ledger.count_orders(account).items() if v}


def test_orders_are_acknowledged_and_exported_once(make_cycle):
    cycle = make_cycle()
    created = cycle.sim.create_orders(250, ship_from_party_id="WH01", created_at=_created())
    rows = download_orders(account="acme")
    assert rows[0]["new"] == 250 and rows[0]["acknowledged"] == 250 and rows[0]["exported"] == 250
    assert rows[0]["ledger_states"] == "exported=250"

    acks = cycle.acknowledgements_per_order()
    assert set(acks) == set(created) and set(acks.values()) == {1}
    files = cycle.order_files()
    assert len(files) == 1 and files[0].name.startswith("orders_acme_main_")
    exported = cycle.exported_rows()
    assert {r["purchase_order_number"] for r in exported} == set(created)
    assert _all_states(cycle) == {"exported": 250}

    # downloading again changes nothing: no new acknowledgement, no new file
    again = download_orders(account="acme")
    assert again[0]["new"] == 0 and again[0]["exported"] == 0
    assert cycle.acknowledgements_per_order() == acks
    assert cycle.order_files() == files


def test_report_artifact_and_run_name_hold_no_pii(make_cycle):
    cycle = make_cycle()
    created = cycle.sim.create_orders(5, ship_from_party_id="WH01", created_at=_created())
    state = download_orders(account="acme", return_state=True)
    assert state.is_completed()
    exported = cycle.exported_rows()
    pii = {r["ship_to_name"] for r in exported} | {r["ship_to_address_line1"] for r in exported}
    assert len(pii) >= 5

    async def artifacts_and_run() -> tuple[list[Any], Any]:
        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

        async with get_client() as client:
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["download-orders-acme"]))
            )
            run = await client.read_flow_run(state.state_details.flow_run_id)
            logs = await client.read_logs()
            return found, (run, logs)

    import asyncio

    found, (run, logs) = asyncio.run(artifacts_and_run())
    found = [a for a in found if a.flow_run_id == run.id]  # earlier tests' runs share the key
    assert found, "a table artifact is published per run"
    text = " ".join(str(a.data) for a in found) + run.name + " ".join(log.message for log in logs)
    assert run.name.startswith("orders-acme/main-") and ".." in run.name  # account, warehouse and window
    assert str(len(created)) in str(found[0].data)
    for value in pii:
        assert value not in text


def test_orders_cancelled_before_export_are_recorded_not_exported(make_cycle):
    cycle = make_cycle()
    created = cycle.sim.create_orders(6, ship_from_party_id="WH01", created_at=_created())
    for po in created[:2]:
        cycle.admin("POST", f"orders/{po}/cancel")
    rows = download_orders(account="acme")
    assert rows[0]["cancelled"] == 2 and rows[0]["exported"] == 4
    assert set(cycle.acknowledgements_per_order()) == set(created[2:])
    assert {r["purchase_order_number"] for r in cycle.exported_rows()} == set(created[2:])
    assert _all_states(cycle) == {"cancelled": 2, "exported": 4}


def test_catches_up_after_downtime_in_slices(make_cycle):
    cycle = make_cycle()
    cycle.ledger.record_watermark("acme", "WH01", datetime.now(UTC) - timedelta(days=10))
    old = cycle.sim.create_orders(3, ship_from_party_id="WH01", created_at=datetime.now(UTC) - timedelta(days=9))
    mid = cycle.sim.create_orders(3, ship_from_party_id="WH01", created_at=datetime.now(UTC) - timedelta(days=2))
    new = cycle.sim.create_orders(3, ship_from_party_id="WH01", created_at=_created())
    too_new = cycle.sim.create_orders(2, ship_from_party_id="WH01", created_at=_created(5))
    download_orders(account="acme")
    exported = {r["purchase_order_number"] for r in cycle.exported_rows()}
    assert exported == set(old + mid + new)
    assert not exported & set(too_new)  # younger than the lag: next run
    assert cycle.ledger.load_watermark("acme", "WH01") > datetime.now(UTC) - timedelta(minutes=31)


def test_manual_rescan_window(make_cycle):
    cycle = make_cycle(orders={"backfill_days": 1, "sweep_days": 1})  # the automatic scans stop short of them
    old = cycle.sim.create_orders(4, ship_from_party_id="WH01", created_at=datetime.now(UTC) - timedelta(days=3))
    download_orders(account="acme")
    assert cycle.exported_rows() == []
    since = datetime.now(UTC) - timedelta(days=3, hours=1)
    download_orders(account="acme", since=since, until=since + timedelta(hours=2))
    assert {r["purchase_order_number"] for r in cycle.exported_rows()} == set(old)


def test_several_warehouses_get_their_own_files(make_cycle):
    cycle = make_cycle(warehouses=("WH01", "WH02"))
    one = cycle.sim.create_orders(4, ship_from_party_id="WH01", created_at=_created())
    two = cycle.sim.create_orders(3, ship_from_party_id="WH02", created_at=_created())
    rows = download_orders(account="acme")
    assert [r["exported"] for r in rows] == [4, 3]
    assert {r["purchase_order_number"] for r in cycle.exported_rows("main")} == set(one)
    assert {r["purchase_order_number"] for r in cycle.exported_rows("wh1")} == set(two)
    assert {r["ship_from_party_id"] for r in cycle.exported_rows("wh1")} == {"WH02"}


class Crash(Exception):
    """Stands for the process dying right after a step succeeded (not an error of ours: the flow never handles it)."""


class CrashOnce:
    """Wraps adapters; the chosen method succeeds once, then the 'process dies'."""

    def __init__(self, method: str) -> None:
        self.method = method
        self.fired = False

    def __call__(self, inner: Any) -> Any:
        crasher = self

        class Wrapper:
            def __getattr__(self, name: str) -> Any:
                attr = getattr(inner, name)
                if name != crasher.method or crasher.fired:
                    return attr

                def crash(*args: Any, **kwargs: Any) -> Any:
                    attr(*args, **kwargs)
                    crasher.fired = True
                    raise Crash(f"crash after {name}")

                return crash

        return Wrapper()


# The whole matrix (every ledger step, the acknowledgement call, the upload) runs on the fakes in
# tests/unit/test_download_orders_flow.py; here one step per port proves the real parts resume together.
STEPS = {"record_downloaded": "ledger", "mark_exporting": "ledger", "submit_acknowledgements": "api", "upload": "drop"}


@pytest.mark.parametrize("step", list(STEPS))
def test_crash_at_a_step_then_rerun_gives_exactly_once(make_cycle, step):
    cycle = make_cycle()
    created = cycle.sim.create_orders(120, ship_from_party_id="WH01", created_at=_created())
    crash = CrashOnce(step)
    with cycle.wrapped(**{STEPS[step]: crash}):
        state = download_orders(account="acme", return_state=True)
    assert state.is_failed() and crash.fired

    cycle.wait_until_settled()
    download_orders(account="acme")

    assert cycle.acknowledgements_per_order() == {po: 1 for po in created}
    exported = Counter(r["purchase_order_number"] for r in cycle.exported_rows())
    assert exported == Counter({po: len(cycle.sim.order_lines(po)) for po in created})
    assert _all_states(cycle) == {"exported": 120}


def test_faults_on_amazon_side_still_export_every_order_once(make_cycle):
    cycle = make_cycle()
    created = cycle.sim.create_orders(300, ship_from_party_id="WH01", created_at=_created())
    cycle.sim.set_faults(error_rate=0.15, drop_rate=0.05, slow_rate=0.05, slow_seconds=0.3)
    first = download_orders(account="acme", return_state=True)
    cycle.sim.set_faults()
    # a dropped acknowledgement has an unknown outcome: it is never resent blindly, the next run settles it
    runs = 1
    while _all_states(cycle) != {"exported": 300} and runs < 4:
        cycle.wait_until_settled()
        download_orders(account="acme", return_state=True)
        runs += 1
    assert first.is_completed() or "unknown outcome" in str(first.message)
    assert cycle.acknowledgements_per_order() == {po: 1 for po in created}
    assert sorted({r["purchase_order_number"] for r in cycle.exported_rows()}) == sorted(created)
    assert _all_states(cycle) == {"exported": 300}


def test_sftp_drop_mid_upload_is_retried_without_partial_file(make_cycle, monkeypatch):
    from tasks.warehouse import upload_file

    monkeypatch.setattr(upload_file, "retry_delay_seconds", [0.1, 0.1, 0.1])
    cycle = make_cycle()
    created = cycle.sim.create_orders(10, ship_from_party_id="WH01", created_at=_created())
    failures = {"left": 1}

    class Flaky:
        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def upload(self, folder, name, data):
            if failures["left"]:
                failures["left"] -= 1
                raise TransientError("connection dropped mid-upload (test)")
            self.inner.upload(folder, name, data)

    with cycle.wrapped(drop=Flaky):
        download_orders(account="acme")
    files = [p.name for p in cycle.order_files()]
    assert len(files) == 1
    assert {r["purchase_order_number"] for r in cycle.exported_rows()} == set(created)
    leftovers = [p.name for p in (cycle.sftp_root / "main" / "outbound" / "orders").iterdir() if ".part" in p.name]
    assert leftovers == []


def test_ledger_keeps_no_pii(make_cycle):
    cycle = make_cycle()
    cycle.sim.create_orders(5, ship_from_party_id="WH01", created_at=_created())
    download_orders(account="acme")
    pii = {r["ship_to_name"] for r in cycle.exported_rows()} | {r["ship_to_city"] for r in cycle.exported_rows()}
    dump = repr(cycle.ledger.load_orders("acme", list(OrderState)))
    for value in pii:
        assert value and value not in dump


class RefusingApi:
    """Amazon refuses any acknowledgement request that contains one chosen order (HTTP 400), or all (403)."""

    def __init__(self, inner: Any, *, bad_order: str | None = None, status: int = 400, times: int = 1000) -> None:
        self._inner = inner
        self.bad_order = bad_order
        self.status = status
        self.times = times
        self.requests = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def submit_acknowledgements(self, acks):
        from tasks.core.errors import PermanentError, RequestRefusedError

        self.requests += 1
        if self.times and (self.bad_order is None or any(a.purchase_order_number == self.bad_order for a in acks)):
            self.times -= 1
            error = RequestRefusedError if self.status == 400 else PermanentError
            raise error("refused (test)", code="InvalidInput", status=self.status)
        return self._inner.submit_acknowledgements(acks)


def test_a_refused_order_is_held_alone_and_the_rest_of_its_batch_goes_through(make_cycle):
    cycle = make_cycle(orders={"acknowledgement_batch": 40})
    created = cycle.sim.create_orders(40, ship_from_party_id="WH01", created_at=_created())
    bad = created[17]
    apis: list[RefusingApi] = []

    def refusing(inner: Any) -> RefusingApi:
        apis.append(RefusingApi(inner, bad_order=bad))
        return apis[-1]

    with cycle.wrapped(api=refusing):
        state = download_orders(account="acme", return_state=True)
    (api,) = apis
    assert state.is_failed() and bad in str(state.message)  # a person is told which order
    assert set(cycle.acknowledgements_per_order()) == set(created) - {bad}
    assert {r["purchase_order_number"] for r in cycle.exported_rows()} == set(created) - {bad}
    assert _all_states(cycle) == {"exported": 39, "held": 1}
    assert api.requests <= 2 * 6 + 1  # found by halving, not one request per order


def test_refused_credentials_give_the_orders_back_for_the_next_run(make_cycle):
    cycle = make_cycle()
    created = cycle.sim.create_orders(30, ship_from_party_id="WH01", created_at=_created())
    with cycle.wrapped(api=lambda inner: RefusingApi(inner, status=403, times=1)):
        assert download_orders(account="acme", return_state=True).is_failed()
    assert _all_states(cycle) == {"downloaded": 30}  # not stuck in 'acknowledging' for the settle time
    download_orders(account="acme")
    assert cycle.acknowledgements_per_order() == {po: 1 for po in created}
    assert _all_states(cycle) == {"exported": 30}


def test_go_live_backfills_the_orders_amazon_still_shows_new(make_cycle):
    cycle = make_cycle()
    waiting = cycle.sim.create_orders(40, ship_from_party_id="WH01", created_at=datetime.now(UTC) - timedelta(days=2))
    for po in waiting[:5]:
        cycle.admin("POST", f"orders/{po}/cancel")  # cancelled before go-live: nothing to do
    rows = download_orders(account="acme")
    assert rows[0]["backfilled"] == 35
    assert "backfill over 7 days: 35 order(s) still NEW, 35 new to the ledger" in str(rows[0]["notes"])
    assert cycle.acknowledgements_per_order() == dict.fromkeys(waiting[5:], 1)
    assert {r["purchase_order_number"] for r in cycle.exported_rows()} == set(waiting[5:])
    new_scans = [r for r in cycle.sim.requests(operation="getOrders") if r["query"].get("status") == "NEW"]
    assert len(new_scans) == 1  # 7 days back, one slice, one page


def test_the_sweep_reads_only_new_orders_one_request_when_none_is_new(make_cycle):
    cycle = make_cycle(orders={"sweep_interval_minutes": 0})
    created = cycle.sim.create_orders(1000, ship_from_party_id="WH01", created_at=_created())
    download_orders(account="acme")
    cycle.wait_until_settled()  # Amazon has processed the acknowledgements: no order is NEW any more
    before = len(cycle.sim.requests(operation="getOrders"))
    rows = download_orders(account="acme")
    sweep = [r for r in cycle.sim.requests(operation="getOrders")[before:] if r["query"].get("status") == "NEW"]
    assert len(sweep) == 1 and rows[0]["caught_by_sweep"] == ""
    assert cycle.acknowledgements_per_order() == dict.fromkeys(created, 1)

    # an order Amazon makes visible an hour after its window was read is caught by the next sweep
    (late,) = cycle.sim.create_orders(1, ship_from_party_id="WH01", created_at=_created(90))
    rows = download_orders(account="acme")
    assert rows[0]["caught_by_sweep"] == late
    assert late in {r["purchase_order_number"] for r in cycle.exported_rows()}
