"""File names from the warehouse: which may become a path, the names we give instead, and reports about them."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from tasks.core.names import (
    addressable,
    error_report_name,
    free_names,
    is_placed_as,
    name_problem,
    safe_name_for,
    unsafe_name_report,
)
from tasks.core.text import is_suspect
from tests.fakes import FakeWarehouseDrop


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("", "empty"),
        (".", "folder reference"),
        ("..", "folder reference"),
        ("../x.csv", "path separator"),
        ("a/b.csv", "path separator"),
        ("..\\x.csv", "path separator"),
        ("x\x00.csv", "U+0000 (NUL)"),
        ("x\x1b[2J.csv", "U+001B (ESCAPE)"),
        ("x\u202e.csv", "U+202E (RIGHT-TO-LEFT OVERRIDE)"),
        ("x" * 252 + ".csv", "longer than 255 bytes"),
    ],
)
def test_names_no_path_may_be_built_from(name: str, words: str) -> None:
    problem = name_problem(name)
    assert problem is not None and words in problem


@pytest.mark.parametrize("name", ["ship-2026-03-01.csv", "..hidden.csv", "ÉXPORT 1.CSV", "a.b.c", "x" * 251 + ".csv"])
def test_plain_names_pass(name: str) -> None:
    assert name_problem(name) is None and addressable(name)


def test_the_name_given_instead_is_plain_stable_and_recognisable() -> None:
    given = safe_name_for("ship\x1b[31m.csv")

    assert given == safe_name_for("ship\x1b[31m.csv") != safe_name_for("ship\x1b[32m.csv")
    assert given.startswith("renamed-") and given.endswith("-ship__31m.csv") and name_problem(given) is None
    assert name_problem(safe_name_for("../../" * 60)) is None


def test_the_report_about_a_name_shows_it_escaped_and_defused() -> None:
    report = unsafe_name_report("=cmd|'/C calc'!A0\x07.csv", "shipments", "the file name holds X", None)

    text = report.decode("utf-8")
    assert not any(is_suspect(char) for char in text.replace("\r\n", ""))
    (row,) = list(csv.DictReader(io.StringIO(text, newline="")))
    assert row["file"] == "'=cmd|'/C calc'!A0\\x07.csv"
    assert row["reason"].startswith("the file name holds X; it was left where it is")


def test_placed_names_are_recognised_and_nothing_else() -> None:
    when = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    names = list(free_names("ship.2024.csv", when))

    assert all(is_placed_as(candidate, "ship.2024.csv") for candidate in names)
    assert is_placed_as(error_report_name("ship.csv"), "ship.csv.errors.csv")
    for other in ("ship.2024.csv.bak", "xship.2024.csv", "ship.2024-20260301T100000Z.csv.txt", "ship-1.2024.csv",
                  "ship.2024-2026.csv", "README", "ship.2024.csv.errors.csv"):
        assert not is_placed_as(other, "ship.2024.csv"), other


def test_the_fake_drop_quarantines_unsafe_names_as_the_real_ones_do() -> None:
    drop = FakeWarehouseDrop()
    drop.put("shipments", "good.csv", b"a")
    drop.put("shipments", "bad\x1b.csv", b"b")
    drop.put("shipments", "../escape.csv", b"c")

    assert [f.name for f in drop.list_new("shipments", ["*.csv"])] == ["good.csv"]
    moved = safe_name_for("bad\x1b.csv")
    assert drop.folders["error"][moved] == b"b"
    reported = error_report_name(safe_name_for("../escape.csv"))
    assert set(drop.folders["error"]) == {moved, error_report_name(moved), reported}
    assert set(drop.folders["shipments"]) == {"good.csv", "../escape.csv"}
