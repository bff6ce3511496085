"""Schedules as vdf.yaml writes them: a 5-field cron expression or `every N minutes|hours`, in a named time zone."""

from __future__ import annotations

import difflib
import itertools
import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from cronsim import CronSim, CronSimError

_EVERY = re.compile(r"^every\s+(\d+)\s+(minute|minutes|hour|hours)$", re.IGNORECASE)
EXAMPLES = "a cron expression such as '*/15 * * * *' (minute hour day month weekday) or 'every 15 minutes'"


@dataclass(frozen=True)
class Schedule:
    """One parsed schedule: exactly one of cron or interval, and the time zone it is read in."""

    cron: str | None
    interval: timedelta | None
    timezone: str

    def describe(self) -> str:
        what = self.cron if self.cron is not None else f"every {_human(self.interval)}"
        return f"{what} ({self.timezone})"

    def shortest_gap(self, start: datetime | None = None) -> timedelta:
        """The shortest time between two runs (over the next 200 cron times): the time one run may take."""
        if self.interval is not None:
            return self.interval
        assert self.cron is not None
        begin = (start or datetime(2026, 1, 5, tzinfo=UTC)).astimezone(zoneinfo.ZoneInfo(self.timezone))
        times = list(itertools.islice(CronSim(self.cron, begin), 200))
        gaps = [b - a for a, b in itertools.pairwise(times)]
        return min(gaps) if gaps else timedelta(days=366)


def _human(delta: timedelta | None) -> str:
    minutes = int((delta or timedelta()).total_seconds() // 60)
    if minutes % 60 == 0:
        return f"{minutes // 60} hour(s)"
    return f"{minutes} minute(s)"


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_timezone(name: str) -> str:
    """The IANA time zone name, or a ValueError that suggests the nearest real one."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        close = difflib.get_close_matches(name, sorted(_zones()), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else "; use an IANA name such as 'America/New_York' or 'UTC'"
        raise ValueError(f"unknown time zone {name!r}{hint}") from None
    return name


def parse_schedule(text: str, timezone: str = "UTC") -> Schedule:
    """Parse a schedule string; a ValueError says what is wrong and shows the accepted forms."""
    check_timezone(timezone)
    value = " ".join(str(text).split())
    match = _EVERY.match(value)
    if match:
        count = int(match.group(1))
        if count < 1:
            raise ValueError(f"schedule {text!r}: the interval must be at least 1")
        unit = timedelta(hours=1) if match.group(2).lower().startswith("hour") else timedelta(minutes=1)
        return Schedule(cron=None, interval=count * unit, timezone=timezone)
    fields = value.split(" ")
    if len(fields) != 5:
        raise ValueError(f"schedule {text!r} is not {EXAMPLES}")
    try:
        next(iter(CronSim(value, datetime(2026, 1, 1))))
    except (CronSimError, StopIteration) as exc:
        raise ValueError(f"schedule {text!r} is not a valid cron expression ({exc or 'it never fires'})") from None
    return Schedule(cron=value, interval=None, timezone=timezone)
