"""Settings of the Amazon VDF simulator: identity, timing, token lifetimes and injected faults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

# Amazon documents 500 and 503 for every VDF operation; 502/504 come from the gateway in front of it.
ALLOWED_FAULT_STATUSES = frozenset({500, 502, 503, 504})
LABEL_FORMATS = ("ZPL", "PNG")  # Shipping 2021-12-28 ShippingLabel.labelFormat


@dataclass(frozen=True)
class Faults:
    """Which share of SP-API and LWA requests misbehave, and how."""

    error_rate: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 0.0
    drop_rate: float = 0.0
    statuses: tuple[int, ...] = (500, 503)

    def __post_init__(self) -> None:
        for name in ("error_rate", "slow_rate", "drop_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if self.slow_seconds < 0:
            raise ValueError(f"slow_seconds must not be negative, got {self.slow_seconds}")
        if not self.statuses or not set(self.statuses) <= ALLOWED_FAULT_STATUSES:
            raise ValueError(f"statuses must be a non-empty subset of {sorted(ALLOWED_FAULT_STATUSES)}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Faults:
        """Build from JSON-like keys (the admin API and set_faults); unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known - {"expire_tokens"}
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        kwargs: dict[str, Any] = {}
        for name in ("error_rate", "slow_rate", "slow_seconds", "drop_rate"):
            if name in values:
                kwargs[name] = _number(name, values[name])
        if "statuses" in values:
            statuses = values["statuses"]
            if not isinstance(statuses, list | tuple) or not all(
                isinstance(s, int) and not isinstance(s, bool) for s in statuses
            ):
                raise ValueError("statuses must be a list of HTTP status codes")
            kwargs["statuses"] = tuple(statuses)
        return cls(**kwargs)

    def as_dict(self) -> dict[str, Any]:
        return {
            "error_rate": self.error_rate,
            "slow_rate": self.slow_rate,
            "slow_seconds": self.slow_seconds,
            "drop_rate": self.drop_rate,
            "statuses": list(self.statuses),
        }


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number")
    return float(value)


@dataclass(frozen=True)
class SimulatorConfig:
    """How one simulator instance behaves; every field has a CLI flag of the same meaning."""

    host: str = "127.0.0.1"
    port: int = 0  # 0 picks a free port
    selling_party_id: str = "VENDOR1"
    warehouses: tuple[str, ...] = ("WH01",)
    transaction_delay: float = 2.0  # seconds a transaction stays Processing
    rate_limits: bool = True
    client_id: str | None = None  # None accepts any LWA client id
    client_secret: str | None = None
    refresh_token: str | None = None
    access_token_ttl: int = 3600
    rdt_ttl: int = 3600
    seed: int | None = None
    order_rate_per_minute: float = 0.0  # > 0 starts a background order generator
    error_rate: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 0.0
    drop_rate: float = 0.0
    fault_statuses: tuple[int, ...] = (500, 503)
    max_body_bytes: int = 5 * 1024 * 1024  # Amazon publishes no figure for its 413
    max_window_days: float = 7.0
    currency_code: str = "USD"
    # selling parties that ship on Amazon's labels only: their orders' ship-to comes back as `xxxxx`
    label_only_parties: tuple[str, ...] = ()
    label_format: str = "ZPL"  # what createShippingLabels answers: ZPL or PNG
    packing_slip_delay: float = 0.0  # seconds after an order appears before its packing slip is available

    def __post_init__(self) -> None:
        if not self.warehouses:
            raise ValueError("the simulator needs at least one warehouse")
        if self.transaction_delay < 0 or self.order_rate_per_minute < 0:
            raise ValueError("transaction_delay and order_rate_per_minute must not be negative")
        if self.access_token_ttl <= 0 or self.rdt_ttl <= 0:
            raise ValueError("token lifetimes must be positive")
        if self.label_format not in LABEL_FORMATS:
            raise ValueError(f"label_format must be one of {', '.join(LABEL_FORMATS)}, got {self.label_format!r}")
        if self.packing_slip_delay < 0:
            raise ValueError("packing_slip_delay must not be negative")
        self.faults()  # validates the fault fields early, with the same messages as set_faults

    def faults(self) -> Faults:
        return Faults(
            error_rate=self.error_rate,
            slow_rate=self.slow_rate,
            slow_seconds=self.slow_seconds,
            drop_rate=self.drop_rate,
            statuses=self.fault_statuses,
        )
