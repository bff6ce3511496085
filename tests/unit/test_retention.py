"""Retention planning: only files the ledger says we placed, and only once both they and their records are old."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tasks.core.models import PlacedFile
from tasks.core.names import error_report_name, free_names, safe_name_for
from tasks.core.ports import RemoteFile
from tasks.core.retention import cutoff, plan_purge

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
BEFORE = cutoff(NOW, 30)
OLD = NOW - timedelta(days=40)
RECENT = NOW - timedelta(days=3)


def _file(folder: str, name: str, when: datetime) -> RemoteFile:
    return RemoteFile(folder, name, 10, when.timestamp())  # type: ignore[arg-type]


def _deleted(folder: str, listing: list[RemoteFile], placed: list[PlacedFile]) -> list[str]:
    return [f.name for f in plan_purge(folder, listing, placed, before=BEFORE).delete]


def test_order_files_we_exported_go_once_past_the_retention() -> None:
    placed = [
        PlacedFile("orders", "orders", "orders_acme_main_20261001T100000Z-1a2b.csv", OLD, ship_from_party_id="WH01"),
        PlacedFile("orders", "orders", "orders_acme_main_20261125T100000Z-3c4d.csv", RECENT, ship_from_party_id="WH01"),
    ]
    listing = [
        _file("orders", "orders_acme_main_20261001T100000Z-1a2b.csv", OLD),
        _file("orders", "orders_acme_main_20261125T100000Z-3c4d.csv", RECENT),
        _file("orders", "orders_acme_main_20260901T100000Z-ffff.csv", OLD),  # our pattern, but not in the ledger
        _file("orders", "warehouse-notes.txt", OLD),
    ]

    plan = plan_purge("orders", listing, placed, before=BEFORE)

    assert [f.name for f in plan.delete] == ["orders_acme_main_20261001T100000Z-1a2b.csv"]
    assert (plan.kept, plan.not_ours) == (1, 2)


def test_archived_files_under_their_name_or_a_timestamped_one() -> None:
    taken = list(free_names("ship.csv", OLD))[1:3]  # moved while "ship.csv" was taken in the archive
    placed = [PlacedFile("shipments", "archive", "ship.csv", OLD, warehouse="main")]
    listing = [_file("archive", "ship.csv", OLD), *(_file("archive", n, OLD) for n in taken),
               _file("archive", "ship-2.csv", OLD), _file("archive", "ship.csv.bak", OLD),
               _file("archive", "other.csv", OLD)]

    assert _deleted("archive", listing, placed) == ["ship.csv", *taken]


def test_quarantined_files_and_their_reports_go_together() -> None:
    placed = [PlacedFile("stock", "error", "stock.csv", OLD, warehouse="main")]
    report = error_report_name("stock.csv")
    stamped_report = list(free_names(report, OLD))[1]
    listing = [_file("error", "stock.csv", OLD), _file("error", report, OLD), _file("error", stamped_report, OLD),
               _file("error", "someone-elses.errors.csv", OLD)]

    assert _deleted("error", listing, placed) == ["stock.csv", report, stamped_report]


def test_files_the_drops_renamed_go_with_their_report_once_both_are_old() -> None:
    renamed = safe_name_for("ship\x1b.csv")
    left_in_place = error_report_name(safe_name_for("../escape.csv"))
    listing = [_file("error", renamed, OLD), _file("error", error_report_name(renamed), OLD),
               _file("error", left_in_place, OLD)]
    assert _deleted("error", listing, []) == [renamed, error_report_name(renamed), left_in_place]

    fresh_report = [_file("error", renamed, OLD), _file("error", error_report_name(renamed), RECENT)]
    assert _deleted("error", fresh_report, []) == []  # quarantined recently (a move keeps the old mtime)


@pytest.mark.parametrize(("placed_at", "modified"), [(RECENT, OLD), (OLD, RECENT)])
def test_both_the_ledger_time_and_the_file_time_must_be_old(placed_at: datetime, modified: datetime) -> None:
    placed = [PlacedFile("shipments", "archive", "ship.csv", placed_at, warehouse="main")]

    plan = plan_purge("archive", [_file("archive", "ship.csv", modified)], placed, before=BEFORE)

    assert plan.delete == () and plan.kept == 1


def test_a_file_placed_in_one_folder_is_not_ours_in_another() -> None:
    placed = [PlacedFile("shipments", "archive", "ship.csv", OLD, warehouse="main")]

    plan = plan_purge("error", [_file("error", "ship.csv", OLD)], placed, before=BEFORE)

    assert plan.delete == () and plan.not_ours == 1


def test_cutoff_needs_an_aware_now() -> None:
    assert cutoff(NOW, 30) == NOW - timedelta(days=30)
    with pytest.raises(ValueError, match="timezone-aware"):
        cutoff(datetime(2026, 1, 1), 30)
