"""The inventory core: the newest file wins, mapping, the guard, changes, delta plans and chunks."""

from __future__ import annotations

import polars as pl
import pytest

from tasks.core.config import FileOptions
from tasks.core.errors import ConfigError
from tasks.core.inventory import (
    ITEM_SCHEMA,
    blocking_errors,
    build_update,
    check_guard,
    compare,
    file_notes,
    from_feed_items,
    map_items,
    pick_newest,
    plan_feed,
    sku_map_error,
    to_feed_items,
    to_sku_map,
)
from tasks.core.models import ChunkState, FeedMode, FeedState, InventoryFeed, InventoryItem
from tasks.core.ports import RemoteFile
from tasks.core.validation import validate_sku_map, validate_stock

OPTIONS = FileOptions()


def stock(text: str, options: FileOptions = OPTIONS) -> pl.DataFrame:
    result = validate_stock(text.encode(), options, file_name="stock.csv")
    assert result.ok, result.summary()
    return result.valid


def items(**quantities: int) -> pl.DataFrame:
    """Items keyed by vendor SKU (no ASIN)."""
    return pl.DataFrame(
        {"key": list(quantities), "vendor_sku": list(quantities), "asin": [None] * len(quantities),
         "quantity": list(quantities.values())},
        schema=ITEM_SCHEMA,
    ).sort("key")


NONE = items()


def sent_quantities(feed: pl.DataFrame) -> dict[str, int]:
    return dict(feed.filter(pl.col("chunk").is_not_null()).select("key", "quantity").iter_rows())


def last_feed(items_count: int, total: int) -> InventoryFeed:
    return InventoryFeed(
        feed_id=1, account="acme", warehouse="main", warehouse_id="WH01", file="stock-1.csv", checksum="aa",
        mode=FeedMode.FULL, state=FeedState.ACCEPTED, forced=False, items=items_count, total_quantity=total,
        sent_items=items_count, zeros=0, chunk_states=(ChunkState.SENT,), transaction_ids=("t1",),
    )


# ---------------------------------------------------------------------------------------------- the newest file


def test_the_newest_complete_file_wins_and_the_older_ones_are_superseded():
    files = [
        RemoteFile("inventory", "stock-b.csv", 10, 200.0),
        RemoteFile("inventory", "stock-a.csv", 10, 100.0),
        RemoteFile("inventory", "stock-c.csv", 10, 200.0),  # same second: the name breaks the tie
    ]
    choice = pick_newest(files)
    assert choice.newest is not None and choice.newest.name == "stock-c.csv"
    assert [f.name for f in choice.superseded] == ["stock-a.csv", "stock-b.csv"]
    assert pick_newest([]).newest is None and pick_newest([]).superseded == ()


# ---------------------------------------------------------------------------------------------- mapping


def test_without_a_map_the_file_sku_is_the_vendor_sku_and_the_asin_goes_along():
    rows = stock("vendor_sku,available_quantity,asin\nB-2,0,\nA-1,12,B000000001\n")
    mapped = map_items(rows, identifier="vendor_sku")
    assert mapped.items.rows() == [("A-1", "A-1", "B000000001", 12), ("B-2", "B-2", None, 0)]
    assert mapped.unmapped.is_empty() and mapped.conflicts.is_empty() and mapped.unmapped_note() is None


def test_asin_as_identifier_leaves_out_and_reports_skus_without_an_asin():
    mapped = map_items(stock("vendor_sku,available_quantity,asin\nA-1,12,B000000001\nB-2,3,\n"), identifier="asin")
    assert mapped.items.rows() == [("B000000001", "A-1", "B000000001", 12)]
    assert mapped.unmapped.rows() == [(3, "B-2", "no ASIN known for it")]
    assert "1 SKU(s) not sent" in (mapped.unmapped_note() or "") and "B-2" in (mapped.unmapped_note() or "")


def test_two_lines_that_are_the_same_amazon_item_are_a_conflict():
    mapped = map_items(
        stock("vendor_sku,available_quantity,asin\nA-1,1,B000000001\nA-2,2,B000000001\n"), identifier="asin"
    )
    assert mapped.conflicts.rows() == [
        (3, "vendor_sku", "A-2", "is the same Amazon item B000000001 as line 2; list each item once")
    ]


def test_a_sku_map_translates_warehouse_codes_and_reports_the_unknown_ones():
    map_file = (
        "warehouse_sku,vendor_sku,asin\n"
        "W-1,SKU-RED,\n"
        "W-2,SKU-BLU,B000000002\n"
        "W-3,,B000000003\n"  # known at Amazon by its ASIN only
    )
    result = validate_sku_map(map_file.encode(), OPTIONS, file_name="map.csv")
    assert result.ok, result.summary()
    sku_map = to_sku_map(result.valid)
    rows = stock("vendor_sku,available_quantity,asin\nW-1,4,B000000001\nW-2,5,\nW-3,6,\nW-9,7,\n")

    by_sku = map_items(rows, identifier="vendor_sku", sku_map=sku_map)
    # the file's ASIN goes along unless the map gives one
    assert by_sku.items.rows() == [("SKU-BLU", "SKU-BLU", "B000000002", 5), ("SKU-RED", "SKU-RED", "B000000001", 4)]
    assert by_sku.unmapped.rows() == [
        (4, "W-3", "the SKU map gives no vendor SKU for it"),
        (5, "W-9", "not in the SKU map"),
    ]
    by_asin = map_items(rows, identifier="asin", sku_map=sku_map)
    assert by_asin.items["key"].to_list() == ["B000000001", "B000000002", "B000000003"]
    assert by_asin.items.filter(pl.col("key") == "B000000003")["vendor_sku"].to_list() == [None]
    assert by_asin.unmapped.rows() == [(5, "W-9", "not in the SKU map")]


def test_the_sku_map_file_is_validated_on_its_own():
    bad = (
        "Warehouse SKU,Vendor SKU,ASIN\n"
        "W-1,SKU-1,\n"
        "W-1,SKU-2,\n"  # warehouse SKU twice
        "W-2,SKU-1,\n"  # vendor SKU twice
        "W-3,,\n"  # no Amazon identifier
        "W-4,,b0000001\n"  # not an ASIN
    )
    result = validate_sku_map(bad.encode(), OPTIONS, file_name="map.csv")
    problems = {(row, column, reason.split(";")[0]) for row, column, _, reason in result.errors.iter_rows()}
    assert (3, "warehouse_sku", "warehouse SKU is listed 2 times (first on line 2)") in problems
    assert (4, "vendor_sku", "vendor SKU is listed 2 times (first on line 2)") in problems
    assert (5, "vendor_sku", "give a vendor SKU or an ASIN for the warehouse SKU") in problems
    assert (6, "asin", "ASIN must be 10 capital letters or digits") in problems
    error = sku_map_error(result, "/etc/vdf/map.csv")
    assert isinstance(error, ConfigError) and "inventory.sku_map /etc/vdf/map.csv" in str(error)
    assert "line 3" in str(error)


def test_the_sku_map_headers_follow_the_warehouse_file_options():
    options = FileOptions(delimiter=";", columns={"sku_map": {"warehouse_sku": "Artikel"}})
    result = validate_sku_map(b"Artikel;vendor_sku\nW-1;SKU-1\n", options, file_name="map.csv")
    assert result.ok and to_sku_map(result.valid).rows() == [("W-1", "SKU-1", None)]


def test_a_bad_row_blocks_the_file_but_an_unknown_column_is_only_a_note():
    bad = validate_stock(b"vendor_sku,available_quantity\nA,1\nB,-2\n", OPTIONS, file_name="s.csv")
    assert blocking_errors(bad)["row"].to_list() == [3]
    noted = validate_stock(b"vendor_sku,available_quantity,colour\nA,1,red\n", OPTIONS, file_name="s.csv")
    assert blocking_errors(noted).is_empty()
    assert file_notes(noted) == ["column 'colour' is not one of this warehouse's stock columns and is ignored"]
    empty = validate_stock(b"", OPTIONS, file_name="s.csv")
    assert not blocking_errors(empty).is_empty() and file_notes(empty) == []


# ---------------------------------------------------------------------------------------------- the guard


@pytest.mark.parametrize(
    ("count", "total", "held"),
    [
        (1000, 10_000, False),
        (500, 10_000, False),  # fell by exactly the share allowed: passes
        (499, 10_000, True),  # fell by just more than half
        (1000, 5_000, False),
        (1000, 4_999, True),  # the quantity fell, the SKU count did not
        (1200, 30_000, False),  # growth never holds
    ],
)
def test_the_guard_holds_a_feed_that_shrank_by_more_than_the_share(count: int, total: int, held: bool):
    verdict = check_guard(items=count, total_quantity=total, last=last_feed(1000, 10_000), share=0.5)
    assert verdict.held is held
    assert verdict.label == ("held" if held else "passed")
    assert "stock-1.csv: 1,000 SKUs, 10,000 units" in verdict.text


def test_the_guard_names_what_fell_and_the_share():
    verdict = check_guard(items=100, total_quantity=900, last=last_feed(1000, 10_000), share=0.5)
    assert verdict.text.startswith("held: its SKU count fell by 90% (1,000 → 100); its total quantity fell by 91%")
    assert "more than the 50% allowed" in verdict.text


def test_the_guard_share_is_configurable():
    assert check_guard(items=850, total_quantity=10_000, last=last_feed(1000, 10_000), share=0.1).held
    assert not check_guard(items=850, total_quantity=10_000, last=last_feed(1000, 10_000), share=0.2).held


def test_an_empty_feed_is_held_even_as_the_first_one_and_force_sends_it():
    assert check_guard(items=0, total_quantity=0, last=None, share=0.5).held
    assert check_guard(items=0, total_quantity=0, last=last_feed(10, 10), share=0.5).held
    first = check_guard(items=3, total_quantity=0, last=None, share=0.5)
    assert not first.held and "no accepted feed yet" in first.text
    forced = check_guard(items=0, total_quantity=0, last=last_feed(10, 10), share=0.5, force=True)
    assert not forced.held and forced.forced and forced.label == "forced"
    assert forced.text.startswith("forced past the guard: the feed has no items")


def test_a_last_feed_with_zero_units_does_not_divide_by_zero():
    assert not check_guard(items=5, total_quantity=0, last=last_feed(5, 0), share=0.5).held


# ---------------------------------------------------------------------------------------------- changes, plans


def test_changes_against_the_last_feed():
    changes = compare(items(A=5, B=3, C=0, N=1), items(A=5, B=4, C=1, D=2, Z=0))
    assert (changes.new, changes.up, changes.down, changes.gone, changes.unchanged) == (1, 0, 2, 1, 1)
    assert compare(items(A=1), NONE).new == 1


def test_a_full_feed_sends_every_item_in_one_request():
    build = plan_feed(FeedMode.FULL, items(A=5, B=0, C=2), last=items(A=5, D=1), pending=NONE, chunk_size=1)
    assert build.chunks == 1 and build.sent_items == 3 and build.zeros == 1
    assert build.items["chunk"].to_list() == [0, 0, 0]
    assert build.changes.gone == 1  # D: Amazon zeroes what a full feed leaves out


def test_a_delta_sends_new_changed_and_gone_items_only():
    build = plan_feed(
        FeedMode.DELTA, items(A=5, B=3, C=7, N=1), last=items(A=5, B=4, C=7, G=2, Z=0), pending=NONE, chunk_size=100
    )
    sent = sent_quantities(build.items)
    assert sent == {"B": 3, "N": 1, "G": 0}  # Z was already 0 at Amazon: nothing to say
    # the feed's stock is the whole file, plus the zeros it sends: what Amazon shows once it is accepted
    stock = dict(build.items.select("key", "quantity").iter_rows())
    assert stock == {"A": 5, "B": 3, "C": 7, "G": 0, "N": 1}
    assert (build.sent_items, build.zeros, build.chunks) == (3, 1, 1)


def test_a_delta_also_sends_what_a_newer_unsettled_feed_changed():
    # Amazon may apply the pending feed (A=9) after the last accepted one (A=5): A=5 must be said again.
    build = plan_feed(FeedMode.DELTA, items(A=5, B=1), last=items(A=5, B=1), pending=items(A=9, C=4), chunk_size=10)
    sent = sent_quantities(build.items)
    assert sent == {"A": 5, "C": 0}


def test_an_item_only_a_never_settled_feed_carried_is_said_again():
    # The unsettled feed may never have reached Amazon: only the accepted feed tells what Amazon surely shows.
    build = plan_feed(FeedMode.DELTA, items(A=1, B=2), last=items(B=2), pending=items(A=1, B=2), chunk_size=10)
    assert sent_quantities(build.items) == {"A": 1}


def test_a_delta_with_no_change_sends_nothing():
    build = plan_feed(FeedMode.DELTA, items(A=5, B=1), last=items(A=5, B=1), pending=NONE, chunk_size=10)
    assert (build.chunks, build.sent_items) == (0, 0)
    assert build.changes.unchanged == 2


def test_a_delta_is_cut_into_chunks_in_key_order():
    current = items(**{f"S{i:03d}": i + 1 for i in range(25)})
    build = plan_feed(FeedMode.DELTA, current, last=NONE, pending=NONE, chunk_size=10)
    assert build.chunks == 3
    sizes = build.items.group_by("chunk").len().sort("chunk")["len"].to_list()
    assert sizes == [10, 10, 5]
    assert build.items.filter(pl.col("chunk") == 0)["key"].to_list() == [f"S{i:03d}" for i in range(10)]


def test_feed_items_round_trip_and_become_one_request():
    build = plan_feed(FeedMode.FULL, items(A=5, B=0), last=NONE, pending=NONE, chunk_size=10)
    stored = to_feed_items(build.items)
    assert from_feed_items(stored).equals(build.items)
    update = build_update(stored, selling_party_id="V1", warehouse_id="WH01", full=True)
    assert update.is_full_update and update.warehouse_id == "WH01" and update.selling_party_id == "V1"
    assert update.items == (InventoryItem("A", 5, None), InventoryItem("B", 0, None))
    assert len(to_feed_items(NONE)) == 0
