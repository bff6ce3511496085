"""End-to-end fixtures: Prefect's test harness, and the whole cycle on real local servers."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
from prefect.testing.utilities import prefect_test_harness

from adapters.ledger import SqlLedger
from flows.runtime import Runtime, drop_for, use_runtime, vendor_api_for
from simulator import SimulatorConfig, start_simulator
from simulator.sftp_server import SftpServerConfig, start_sftp_server
from tasks.core.config import Settings, parse_config

SELLING_PARTY = "VENDOR1"
WAREHOUSES = ("WH01", "WH02")


@pytest.fixture(scope="session", autouse=True)
def prefect_backend() -> Iterator[None]:
    """One Prefect API for the whole e2e session; the heartbeat is off so each flow run ends at once."""
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        with prefect_test_harness(server_startup_timeout=120):
            yield


@dataclass
class Cycle:
    """The product's parts, running on 127.0.0.1, and a runtime wired to them."""

    sim: Any
    sftp_root: Path
    settings: Settings
    runtime: Runtime
    ledger: SqlLedger
    account: str = "acme"
    sftp_servers: list[Any] = field(default_factory=list)  # one embedded server per warehouse, in order

    def admin(self, method: str, path: str, **kw: Any) -> Any:
        response = httpx.request(method, f"{self.sim.base_url}/_sim/{path}", timeout=10, **kw)
        response.raise_for_status()
        return response.json()

    def wait_until_settled(self, timeout: float = 15.0) -> None:
        """Wait until Amazon has processed every transaction it received (none left Processing)."""
        deadline = time.monotonic() + timeout
        while self.sim.state_summary()["transactions"]["by_status"]["Processing"]:
            assert time.monotonic() < deadline, "the simulator still has transactions Processing"
            time.sleep(0.05)

    @contextmanager
    def wrapped(
        self,
        *,
        api: Callable[[Any], Any] | None = None,
        drop: Callable[[Any], Any] | None = None,
        ledger: Callable[[Any], Any] | None = None,
    ) -> Iterator[Runtime]:
        """Run flows with the real adapters wrapped (crash or fault injection) through the Runtime's factories."""

        def same(adapter: Any) -> Any:
            return adapter

        runtime = Runtime(
            self.settings,
            vendor_api_factory=lambda account: (api or same)(vendor_api_for(account)),
            drop_factory=lambda warehouse: (drop or same)(drop_for(warehouse.drop)),
            ledger_factory=lambda _settings: (ledger or same)(self.ledger),
        )
        with use_runtime(runtime):
            try:
                yield runtime
            finally:
                runtime.close()

    def acknowledgements_per_order(self) -> dict[str, int]:
        data = self.admin("GET", "acknowledgements")
        return {po: len(acks) for po, acks in data.items()}

    def order_files(self, warehouse: str = "main") -> list[Path]:
        return sorted((self.sftp_root / warehouse / "outbound" / "orders").glob("*.csv"))

    def exported_rows(self, warehouse: str = "main") -> list[dict[str, str]]:
        rows: list[dict[str, str]] = []
        for path in self.order_files(warehouse):
            rows.extend(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
        return rows


class _Closing:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def stop(self) -> None:
        self.runtime.close()


@pytest.fixture
def make_cycle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sqlite_ledger_url: str
) -> Iterator[Callable[..., Cycle]]:
    """Start simulator + embedded SFTP and wire a runtime; options change the account or the ledger."""
    stack: list[Any] = []

    def build(
        *,
        ledger_url: str | None = None,
        warehouses: tuple[str, ...] = ("WH01",),
        transaction_delay: float = 0.2,
        orders: dict[str, Any] | None = None,
        sim_options: dict[str, Any] | None = None,
        secrets: dict[str, str] | None = None,
        sftp_key: Any = None,
        inventory: dict[str, Any] | None = None,
        warehouse_options: dict[str, Any] | None = None,
        shipments: dict[str, Any] | None = None,
        sftp: Any | None = None,
    ) -> Cycle:
        """`secrets` replaces the E2E_* secret values; `sftp_key` (a ClientKey, its passphrase in secrets as
        E2E_SFTP_KEY_PASSPHRASE) makes the drops log in with that key, its text given through E2E_SFTP_KEY."""
        sim = start_simulator(
            SimulatorConfig(
                port=0,
                selling_party_id=SELLING_PARTY,
                warehouses=WAREHOUSES,
                transaction_delay=transaction_delay,
                seed=7,
                **(sim_options or {}),
            )
        )
        stack.append(sim)
        root = tmp_path / "sftp"
        root.mkdir(exist_ok=True)
        values = {
            "E2E_LWA_ID": "amzn1.application-oa2-client.e2e",
            "E2E_LWA_SECRET": "e2e-secret",
            "E2E_REFRESH": "Atzr|e2e",
            "E2E_SFTP_PASSWORD": "e2e-password",
            **({"E2E_SFTP_KEY": sftp_key.text} if sftp_key is not None else {}),
            **(secrets or {}),
        }
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        key_login: dict[str, Any] = {}
        if sftp_key is not None:
            key_login = {"private_key": "env:E2E_SFTP_KEY"}
            if "E2E_SFTP_KEY_PASSPHRASE" in values:
                key_login["private_key_passphrase"] = "env:E2E_SFTP_KEY_PASSPHRASE"
        servers = []
        embedded: list[Any] = []
        if sftp is not None:
            # the first warehouse on a given server (an SftpTarget: embedded or OpenSSH), key login
            root = sftp.root
            (root / "main").mkdir(exist_ok=True)
        for index, code in enumerate(warehouses):
            name = "main" if index == 0 else f"wh{index}"
            (root / name).mkdir(exist_ok=True)
            if index == 0 and sftp is not None:
                servers.append(
                    {
                        "name": name,
                        "ship_from_party_id": code,
                        "drop": {
                            "kind": "sftp",
                            "host": sftp.host,
                            "port": sftp.port,
                            "username": sftp.username,
                            "private_key_path": str(sftp.client_key.path),
                            "known_hosts": str(sftp.known_hosts),
                            "base_path": f"{sftp.base_path}/main" if sftp.base_path else "main",
                            "timeout_seconds": 10,
                        },
                        "shipments": {"confirmation_settle_minutes": 0, **(shipments or {})},
                    }
                )
                continue
            server = start_sftp_server(
                SftpServerConfig(
                    root=root / name,
                    port=0,
                    username="warehouse",
                    password=values["E2E_SFTP_PASSWORD"],
                    authorized_keys=(sftp_key.public_line,) if sftp_key is not None else (),
                )
            )
            stack.append(server)
            embedded.append(server)
            known = tmp_path / f"known_hosts_{name}"
            known.write_text(server.known_hosts_line() + "\n")
            servers.append(
                {
                    "name": name,
                    "ship_from_party_id": code,
                    "drop": {
                        "kind": "sftp",
                        "host": "127.0.0.1",
                        "port": server.port,
                        "username": "warehouse",
                        "password": "env:E2E_SFTP_PASSWORD",
                        "known_hosts": str(known),
                        "timeout_seconds": 10,
                        **key_login,

                        "settle_seconds": 0.1,  # files are written whole before a test lists them
                    },
                    "inventory": inventory or {},
                    "shipments": {"confirmation_settle_minutes": 0, **(shipments or {})},
                    **(warehouse_options or {}),
                }
            )
        settings = parse_config(
            {
                "ledger_url": ledger_url or sqlite_ledger_url,
                "accounts": [
                    {
                        "name": "acme",
                        "selling_party_id": SELLING_PARTY,
                        "credentials": {
                            "client_id": "env:E2E_LWA_ID",
                            "client_secret": "env:E2E_LWA_SECRET",
                            "refresh_token": "env:E2E_REFRESH",
                        },
                        "endpoint": sim.base_url,
                        "token_url": sim.token_url,
                        "orders": {"acknowledgement_settle_minutes": 0, **(orders or {})},
                        "warehouses": servers,
                    }
                ],
            }
        )
        ledger = SqlLedger(settings.ledger_url)
        stack.append(ledger)
        runtime = Runtime(settings, ledger_factory=lambda _s: ledger)
        stack.append(_Closing(runtime))
        stack.append(use_runtime(runtime))
        stack[-1].__enter__()
        return Cycle(
            sim=sim, sftp_root=root, settings=settings, runtime=runtime, ledger=ledger, sftp_servers=embedded
        )

    yield build
    for item in reversed(stack):
        if hasattr(item, "__exit__") and not hasattr(item, "stop"):
            item.__exit__(None, None, None)
        elif hasattr(item, "stop"):
            item.stop()
