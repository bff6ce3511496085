"""Schedule strings from vdf.yaml: cron or `every N minutes`, in a real time zone; the gap between runs."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tasks.core.schedules import check_timezone, parse_schedule


def test_cron_and_interval_forms():
    assert parse_schedule("*/30  * * * *").cron == "*/30 * * * *"
    every = parse_schedule("every 15 minutes", "Europe/Berlin")
    assert every.interval == timedelta(minutes=15) and every.timezone == "Europe/Berlin"
    assert parse_schedule("every 2 hours").interval == timedelta(hours=2)


@pytest.mark.parametrize("text", ["every minute", "every 0 minutes", "@hourly", "* * * * * *", "0 25 * * *", ""])
def test_what_would_not_run_is_refused(text):
    with pytest.raises(ValueError, match="schedule"):
        parse_schedule(text)


def test_time_zones_are_checked_with_a_suggestion():
    assert check_timezone("America/New_York") == "America/New_York"
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        check_timezone("Mars/Olympus")
    with pytest.raises(ValueError, match="did you mean 'America/New_York'"):
        check_timezone("America/New_Yrok")


def test_shortest_gap_between_runs():
    assert parse_schedule("*/5 * * * *").shortest_gap() == timedelta(minutes=5)
    assert parse_schedule("0 22 * * *", "Europe/Berlin").shortest_gap() >= timedelta(hours=23)
    assert parse_schedule("0,10 * * * *").shortest_gap() == timedelta(minutes=10)
    assert parse_schedule("every 3 hours").shortest_gap() == timedelta(hours=3)
