"""Health rules: what in the ledger's state needs a person (held orders, late-shipment risk, overdue downloads)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from tasks.core.config import OrderDownload
from tasks.core.models import LedgerOrder

ATTENTION_DAYS = 7  # quarantined files and failed transactions this recent still need a person


def required_ship_date(order: LedgerOrder) -> datetime | None:
    """The order's required ship date when the ledger keeps it (the shipments flow adds it), else None.

    Extension point: until `LedgerOrder.required_ship_date` exists, late-shipment risk is reported as unknown.
    """
    value = getattr(order, "required_ship_date", None)
    return value if isinstance(value, datetime) else None


def late_shipment_risk(
    exported: Sequence[LedgerOrder], *, now: datetime, within: timedelta = timedelta(hours=24)
) -> list[tuple[str, datetime]] | None:
    """Exported, unconfirmed orders whose required ship date is within `within` (or past); None when unknown."""
    dated = [(o.purchase_order_number, required_ship_date(o)) for o in exported]
    if exported and all(date is None for _, date in dated):
        return None
    return sorted(((po, d) for po, d in dated if d is not None and d - now <= within), key=lambda item: item[1])


def download_overdue(watermark: datetime | None, options: OrderDownload, *, now: datetime) -> timedelta | None:
    """How far the order watermark is behind what the schedule should have reached (None: on time or never run).

    A healthy watermark trails now by the lag plus at most one interval; two intervals and ten minutes more
    mean runs failed or did not run.
    """
    if watermark is None:
        return None
    expected = timedelta(minutes=options.lag_minutes + 2 * options.interval_minutes + 10)
    behind = now - watermark
    return behind if behind > expected else None
