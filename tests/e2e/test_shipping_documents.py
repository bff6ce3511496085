"""download-orders with Amazon labels, packing slips and cancellation notices: simulator, embedded SFTP, real flows."""

from __future__ import annotations

import base64
import csv
import io
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flows.download_orders import download_orders
from tasks.core.models import LabelState, PackingSlipState

LABELS = {"labels": {"labels": "amazon", "default_package": {"weight": 2.5, "weight_unit": "LB"}}}
SLIPS = {"packing_slips": "amazon"}


def _created(minutes_ago: float = 45) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes_ago)


def _folder(cycle: Any, name: str) -> Path:
    return cycle.sftp_root / "main" / "outbound" / name


def _files(cycle: Any, name: str) -> list[str]:
    folder = _folder(cycle, name)
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def _states(cycle: Any) -> dict[str, int]:
    return {str(k): v for k, v in cycle.ledger.count_orders("acme").items() if v}


def _label_creations(cycle: Any) -> list[dict[str, Any]]:
    """createShippingLabels requests that made a label (a 429 under load is paced and sent again: not counted)."""
    return cycle.sim.requests(operation="createShippingLabels", status=200)


def _by_order(rows: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    return {row["purchase_order_number"]: row for row in rows}


def test_label_only_orders_reach_the_warehouse_with_amazons_labels(make_cycle: Any) -> None:
    cycle = make_cycle(sim_options={"label_only_parties": ("VENDOR1",)}, warehouse_options=LABELS)
    created = cycle.sim.create_orders(12, ship_from_party_id="WH01", created_at=_created())
    rows = download_orders(account="acme")
    assert rows[0]["exported"] == 12 and rows[0]["labels"] == 12 and rows[0]["problems"] == ""

    exported = cycle.exported_rows()
    assert {r["ship_to_name"] for r in exported} == {"xxxxx"}  # the warehouse could not ship from this alone
    issued = cycle.sim.labels()
    assert set(issued) == set(created) and {v["conflicts"] for v in issued.values()} == {0}
    label_files = _files(cycle, "labels")
    assert label_files == sorted(f"{po}_001.zpl" for po in created)
    for po, row in _by_order(exported).items():
        assert row["label_tracking_numbers"] == issued[po]["trackingNumbers"][0]
        assert row["label_files"] == f"{po}_001.zpl"
        assert row["label_ship_method"] == row["ship_method"]
        zpl = (_folder(cycle, "labels") / f"{po}_001.zpl").read_text(encoding="utf-8")
        assert zpl.startswith("^XA") and issued[po]["trackingNumbers"][0] in zpl and "xxxxx" not in zpl
    # the ledger keeps the tracking numbers, never the label
    labels = cycle.ledger.load_labels("acme")
    assert {r.state for r in labels} == {LabelState.DROPPED} and all(p.content == b"" for r in labels
                                                                     for p in r.packages)
    # Amazon now refuses a confirmation whose tracking number is not on the label
    assert _states(cycle) == {"exported": 12}

    again = download_orders(account="acme")
    assert again[0]["labels"] == 0 and again[0]["exported"] == 0
    assert {v["conflicts"] for v in cycle.sim.labels().values()} == {0}  # never asked twice
    assert len(_label_creations(cycle)) == 12


class Crash(Exception):
    """Stands for the process dying right after a step succeeded."""


def test_a_crash_between_label_and_export_reads_the_label_back_instead_of_asking_twice(make_cycle: Any) -> None:
    cycle = make_cycle(warehouse_options=LABELS)
    created = cycle.sim.create_orders(30, ship_from_party_id="WH01", created_at=_created())

    class DiesAfterAmazonAnswers:
        """The label is made at Amazon, then the process dies before the ledger hears of it."""

        def __init__(self, inner: Any) -> None:
            self.inner = inner
            self.calls = 0

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def create_shipping_labels(self, request: Any) -> Any:
            label = self.inner.create_shipping_labels(request)
            self.calls += 1
            if self.calls == 7:
                raise Crash("killed after createShippingLabels")
            return label

    with cycle.wrapped(api=DiesAfterAmazonAnswers):
        assert download_orders(account="acme", return_state=True).is_failed()
    assert cycle.order_files() == []  # nothing exported without its label
    stuck = cycle.ledger.load_labels("acme", states=[LabelState.REQUESTING])
    assert len(stuck) >= 1

    rows = download_orders(account="acme")
    assert rows[0]["exported"] == 30 and rows[0]["problems"] == ""
    issued = cycle.sim.labels()
    assert set(issued) == set(created)
    # the orders that crashed mid-request were read back with getShippingLabel(s), not created again
    assert sum(v["conflicts"] for v in issued.values()) == 0
    creates = Counter(r["path"].rsplit("/", 1)[-1] for r in _label_creations(cycle))
    assert set(creates.values()) == {1}
    assert Counter(r["purchase_order_number"] for r in cycle.exported_rows()) == Counter(
        {po: len(cycle.sim.order_lines(po)) for po in created}
    )
    exported = _by_order(cycle.exported_rows())
    for po in created:
        assert exported[po]["label_tracking_numbers"] == issued[po]["trackingNumbers"][0]


def test_orders_wait_for_a_late_packing_slip_then_go_with_it(make_cycle: Any) -> None:
    cycle = make_cycle(sim_options={"packing_slip_delay": 3600}, warehouse_options={"labels": SLIPS})
    created = cycle.sim.create_orders(20, ship_from_party_id="WH01", created_at=_created())
    needs = {po for po in created if cycle.sim.order(po)["orderDetails"]["shipmentDetails"]["isPslipRequired"]}
    assert needs and needs != set(created)

    first = download_orders(account="acme")
    assert first[0]["exported"] == len(created) - len(needs)
    assert first[0]["waiting_for_documents"] == len(needs) and first[0]["problems"] == ""
    assert _files(cycle, "packing-slips") == []
    waiting = cycle.ledger.load_packing_slips("acme")
    assert {r.purchase_order_number for r in waiting} == needs
    assert {r.state for r in waiting} == {PackingSlipState.WAITING}

    cycle.sim.update_settings(packing_slip_delay=0)  # Amazon has made the slips available since
    second = download_orders(account="acme")
    assert second[0]["exported"] == len(needs) and second[0]["packing_slips"] == len(needs)
    assert _files(cycle, "packing-slips") == sorted(f"{po}.pdf" for po in needs)
    for po in needs:
        pdf = (_folder(cycle, "packing-slips") / f"{po}.pdf").read_bytes()
        assert pdf.startswith(b"%PDF-1.4") and f"Purchase order {po}".encode() in pdf
    rows = _by_order(cycle.exported_rows())
    assert {po for po, row in rows.items() if row["packing_slip_required"] == "true"} == needs
    assert {rows[po]["packing_slip_file"] for po in needs} == {f"{po}.pdf" for po in needs}
    assert _states(cycle) == {"exported": 20}


@pytest.mark.parametrize("policy", ["export", "hold"])
def test_a_packing_slip_past_its_deadline_is_exported_flagged_or_held(make_cycle: Any, policy: str) -> None:
    options = {**SLIPS, "packing_slip_deadline_minutes": 0, "packing_slip_overdue": policy}
    cycle = make_cycle(sim_options={"packing_slip_delay": 3600}, warehouse_options={"labels": options})
    created = cycle.sim.create_orders(10, ship_from_party_id="WH01", created_at=_created())
    needs = {po for po in created if cycle.sim.order(po)["orderDetails"]["shipmentDetails"]["isPslipRequired"]}
    state = download_orders(account="acme", return_state=True)
    rows = _by_order(cycle.exported_rows())
    if policy == "export":
        assert state.is_completed()
        assert set(rows) == set(created)
        assert {po for po, row in rows.items() if row["packing_slip_missing"] == "true"} == needs
        assert _states(cycle) == {"exported": 10}
    else:
        assert state.is_failed() and all(po in str(state.message) for po in needs)  # a person is told
        assert set(rows) == set(created) - needs
        assert _states(cycle) == {"exported": 10 - len(needs), "held": len(needs)}


def test_an_order_cancelled_after_export_reaches_the_cancellations_folder_exactly_once(make_cycle: Any) -> None:
    cycle = make_cycle(warehouse_options=LABELS)
    created = cycle.sim.create_orders(8, ship_from_party_id="WH01", created_at=_created())
    download_orders(account="acme")
    assert _states(cycle) == {"exported": 8}
    cycle.wait_until_settled()
    gone = created[:2]
    for po in gone:
        cycle.admin("POST", f"orders/{po}/cancel")

    rows = download_orders(account="acme")
    assert rows[0]["cancellations_told"] == 2
    (notice_file,) = _files(cycle, "cancellations")
    notices = _rows(_folder(cycle, "cancellations") / notice_file)
    assert sorted(r["purchase_order_number"] for r in notices) == sorted(gone)
    assert {r["exported_in_file"] for r in notices} == {cycle.order_files()[0].name}
    assert notice_file in str(rows[0]["files"])
    # the cheap sweep: getOrders with status CANCELLED and no details (no PII asked for)
    sweeps = cycle.sim.requests(operation="getOrders")
    assert any(r["query"].get("status") == "CANCELLED" and r["query"].get("includeDetails") == "false"
               for r in sweeps)

    # told once: later runs add nothing, a further cancellation gets its own file
    assert download_orders(account="acme")[0]["cancellations_told"] == 0
    assert _files(cycle, "cancellations") == [notice_file]
    cycle.admin("POST", f"orders/{created[2]}/cancel")
    download_orders(account="acme")
    files = _files(cycle, "cancellations")
    assert len(files) == 2
    told = [r["purchase_order_number"] for f in files for r in _rows(_folder(cycle, "cancellations") / f)]
    assert sorted(told) == sorted(created[:3])
    assert {n.purchase_order_number for n in cycle.ledger.load_cancellation_notices("acme")} == set(created[:3])
    assert _states(cycle) == {"exported": 8}  # exported stays final; the notice is its own record


def test_a_crash_after_the_cancellations_upload_does_not_tell_the_warehouse_twice(make_cycle: Any) -> None:
    cycle = make_cycle()
    created = cycle.sim.create_orders(5, ship_from_party_id="WH01", created_at=_created())
    download_orders(account="acme")
    cycle.wait_until_settled()
    cycle.admin("POST", f"orders/{created[0]}/cancel")

    class DiesAfterUpload:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def upload_many(self, folder: str, files: dict[str, bytes]) -> None:
            self.inner.upload_many(folder, files)
            if folder == "cancellations":
                raise Crash("killed after the cancellations upload")

    with cycle.wrapped(drop=DiesAfterUpload):
        assert download_orders(account="acme", return_state=True).is_failed()
    assert len(_files(cycle, "cancellations")) == 1
    rows = download_orders(account="acme")
    assert rows[0]["cancellations_told"] == 1  # the claimed file is found on the drop: marked, not sent again
    assert len(_files(cycle, "cancellations")) == 1
    assert [n.notified_at is not None for n in cycle.ledger.load_cancellation_notices("acme")] == [True]


def test_labels_from_the_packages_the_warehouse_weighed(make_cycle: Any) -> None:
    options = {"labels": {"labels": "amazon", "packages": "file"}}
    cycle = make_cycle(warehouse_options=options)
    created = cycle.sim.create_orders(4, ship_from_party_id="WH01", created_at=_created(), lines=2)
    first = download_orders(account="acme")
    assert first[0]["exported"] == 4 and first[0]["labels"] == 0  # the order goes first: the warehouse weighs
    assert _files(cycle, "labels") == []

    lines = {po: cycle.sim.order_lines(po) for po in created}
    rows = ["purchase_order_number,package_id,weight,weight_unit,length,width,height,dimension_unit,"
            "item_sequence_number,quantity"]
    a, b, c, _ = created
    rows += [f"{a},BOX1,3.2,LB,12,9,4,IN,{lines[a][0]['itemSequenceNumber']},"
             f"{lines[a][0]['orderedQuantity']['amount']}",
             f"{a},BOX2,1.1,LB,8,6,3,IN,{lines[a][1]['itemSequenceNumber']},"
             f"{lines[a][1]['orderedQuantity']['amount']}",
             f"{b},B-1,2.0,KG,,,,,,",
             f"{c},C-1,0,KG,,,,,,",  # a weight of 0: this order is held back, the file is quarantined
             "NOSUCHPO1,X,1.0,LB,,,,,,"]
    inbound = cycle.sftp_root / "main" / "inbound" / "packages"
    inbound.mkdir(parents=True)
    (inbound / "weighed-1.csv").write_text("\r\n".join(rows) + "\r\n", encoding="utf-8")
    state = download_orders(account="acme", return_state=True)
    assert state.is_failed() and "NOSUCHPO1" in str(state.message)  # a person looks at the quarantined file
    assert "weighed-1.csv.errors.csv" in str(state.message)
    issued = cycle.sim.labels()
    assert set(issued) == {a, b} and len(issued[a]["trackingNumbers"]) == 2
    assert _files(cycle, "labels") == sorted([f"{a}_001.zpl", f"{a}_002.zpl", f"{b}_001.zpl",
                                              "labels_weighed-1.csv"])
    manifest = _rows(_folder(cycle, "labels") / "labels_weighed-1.csv")
    assert sorted((r["purchase_order_number"], r["package_id"], r["amazon_package_id"]) for r in manifest) == sorted(
        [(a, "BOX1", "001"), (a, "BOX2", "002"), (b, "B-1", "001")]
    )
    tracking = {(r["purchase_order_number"], r["amazon_package_id"]): r["tracking_number"] for r in manifest}
    assert [tracking[(a, "001")], tracking[(a, "002")]] == issued[a]["trackingNumbers"]
    assert [tracking[(b, "001")]] == issued[b]["trackingNumbers"]
    error_folder = cycle.sftp_root / "main" / "error"
    assert sorted(p.name for p in error_folder.iterdir()) == ["weighed-1.csv", "weighed-1.csv.errors.csv"]
    assert list(inbound.iterdir()) == []

    third = download_orders(account="acme")  # the file was handled: nothing happens again
    assert third[0]["labels"] == 0 and set(cycle.sim.labels()) == {a, b}
    report = (error_folder / "weighed-1.csv.errors.csv").read_text(encoding="utf-8")
    assert "weight must be a number" in report and "NOSUCHPO1 is not an exported order" in report


def test_labels_follow_the_package_profile(make_cycle: Any, tmp_path: Path) -> None:
    profile = tmp_path / "profile.csv"
    options = {"labels": {"labels": "amazon", "packages": "profile", "package_profile": str(profile)}}
    cycle = make_cycle(warehouse_options=options)
    created = cycle.sim.create_orders(3, ship_from_party_id="WH01", created_at=_created(), lines=1)
    sku = {po: cycle.sim.order_lines(po)[0]["vendorProductIdentifier"] for po in created}
    profiled = {sku[created[0]], sku[created[1]]}
    profile.write_text(
        "vendor_sku,weight,weight_unit,length,width,height,dimension_unit,units_per_package\n"
        + "".join(f"{one},1.5,LB,10,8,6,IN,1\n" for one in sorted(profiled)),
        encoding="utf-8",
    )
    unknown = [po for po in created if sku[po] not in profiled]
    state = download_orders(account="acme", return_state=True)
    issued = cycle.sim.labels()
    for po in set(created) - set(unknown):
        units = cycle.sim.order_lines(po)[0]["orderedQuantity"]["amount"]
        assert len(issued[po]["trackingNumbers"]) == units  # one carton per unit
    if unknown:  # no profile and no default package: held for a person, named in the failed run
        assert state.is_failed() and all(po in str(state.message) for po in unknown)
        assert _states(cycle) == {"exported": 3 - len(unknown), "held": len(unknown)}
    else:
        assert state.is_completed() and _states(cycle) == {"exported": 3}


def test_labels_answered_as_png_are_dropped_as_png(make_cycle: Any) -> None:
    cycle = make_cycle(sim_options={"label_format": "PNG"}, warehouse_options=LABELS)
    created = cycle.sim.create_orders(2, ship_from_party_id="WH01", created_at=_created())
    download_orders(account="acme")
    assert _files(cycle, "labels") == sorted(f"{po}_001.png" for po in created)
    png = (_folder(cycle, "labels") / f"{created[0]}_001.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert base64.b64encode(png)  # whole file, as Amazon sent it


LEDGER_STEPS = ["claim_labels", "record_labels", "mark_labels_dropped"]


@pytest.mark.parametrize("step", [*LEDGER_STEPS, "upload_many", "create_shipping_labels"])
def test_a_crash_after_any_label_step_then_a_rerun_gives_one_label_and_one_export_per_order(
    make_cycle: Any, step: str
) -> None:
    from tests.e2e.test_download_orders import CrashOnce

    cycle = make_cycle(warehouse_options=LABELS)
    created = cycle.sim.create_orders(60, ship_from_party_id="WH01", created_at=_created())
    port = "ledger" if step in LEDGER_STEPS else "drop" if step == "upload_many" else "api"
    crash = CrashOnce(step)
    with cycle.wrapped(**{port: crash}):
        assert download_orders(account="acme", return_state=True).is_failed()
    assert crash.fired

    rows = download_orders(account="acme")
    assert rows[0]["problems"] == ""
    issued = cycle.sim.labels()
    assert set(issued) == set(created)
    creates = Counter(r["path"].rsplit("/", 1)[-1] for r in _label_creations(cycle))
    assert creates == Counter(dict.fromkeys(created, 1))  # made once per order, crash or not
    assert {v["conflicts"] for v in issued.values()} == {0}  # and never asked for again
    assert _files(cycle, "labels") == sorted(f"{po}_001.zpl" for po in created)
    exported = Counter(r["purchase_order_number"] for r in cycle.exported_rows())
    assert exported == Counter({po: len(cycle.sim.order_lines(po)) for po in created})
    by_order = _by_order(cycle.exported_rows())
    assert all(by_order[po]["label_tracking_numbers"] == issued[po]["trackingNumbers"][0] for po in created)
    assert _states(cycle) == {"exported": 60}
    assert {r.state for r in cycle.ledger.load_labels("acme")} == {LabelState.DROPPED}
