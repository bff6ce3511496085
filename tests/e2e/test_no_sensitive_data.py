"""No PII and no secret through the side doors: the whole cycle at DEBUG everywhere, then every place data rests.

The simulator's ship-to values and every secret (LWA client secret and refresh token, the SFTP password, an
encrypted SSH key and its passphrase) carry recognisable markers; the access tokens and Restricted Data Tokens
the simulator issues are recognised by their shape. After the steps run, the scan reads every captured log line
(ours, Prefect's, python-amazon-sp-api's, httpx's, paramiko's, the simulator's) and what reached stdout/stderr,
Prefect's test database as raw bytes (flow and task runs, their names, parameters, states and results, logs,
artifacts), Prefect's local result storage, and every row of the ledger and its raw database file. Zero hits.

To cover another flow, add a Step to STEPS (e.g. confirm-shipments with a shipment file dropped on the SFTP).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from prefect import flow, get_run_logger
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_LOCAL_STORAGE_PATH, PREFECT_SERVER_DATABASE_CONNECTION_URL

from flows.download_orders import download_orders
from flows.poll_transactions import poll_transactions
from tests.support.sftp_fixtures import make_client_key

MARK = "q7Zx"  # in every planted value, so a hit is never a coincidence
SECRETS = {
    "E2E_LWA_SECRET": f"amzn1.oa2-cs.v1.ClientSecret{MARK}9f8e7d6c5b4a",
    "E2E_REFRESH": f"Atzr|IwEBIRefreshToken{MARK}-0123456789abcdef",
    "E2E_SFTP_PASSWORD": f"sftp-Password-{MARK}-hunter2",
    "E2E_SFTP_KEY_PASSPHRASE": f"key passphrase {MARK} correct horse",
}
SHIP_TO = {
    "name": f"Zoltan Scanname{MARK}",
    "attention": f"c/o Scanattention{MARK}",
    "addressLine1": f"77 Scanstreet{MARK} Lane",
    "addressLine2": f"Suite Scanline{MARK}",
    "city": f"Scancity{MARK}",
    "postalCode": f"9{MARK}1",
    "phone": f"+1 206 555 {MARK}",
}
TOKEN_SHAPES = re.compile(r"Atz(?:a|r|\.sprdt)\|[A-Za-z0-9_\-]{8,}")
DEBUG_LOGGERS = ("", "prefect", "sp_api", "httpx", "httpcore", "paramiko", "asyncssh", "simulator", "adapters",
                 "flows", "tasks", "urllib3", "sqlalchemy.engine", "alembic")


@dataclass(frozen=True)
class Step:
    """One flow run of the cycle; it must complete."""

    name: str
    run: Callable[[Any], Any]


def _poll(cycle: Any) -> Any:
    cycle.wait_until_settled()
    return poll_transactions(account="acme", return_state=True)


STEPS = [
    Step("download-orders", lambda cycle: download_orders(account="acme", return_state=True)),
    Step("poll-transactions", _poll),
]


class _Everything(logging.Handler):
    """Keeps every formatted record, exception text included."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def debug_everywhere() -> Iterator[_Everything]:
    """DEBUG on every logger that matters, captured on the root and on each logger that does not propagate."""
    capture = _Everything()
    touched: list[tuple[logging.Logger, int, bool]] = []
    for name in DEBUG_LOGGERS:
        logger = logging.getLogger(name)
        touched.append((logger, logger.level, False))
        logger.setLevel(logging.DEBUG)
    closed = [logging.getLogger(n) for n, lg in list(logging.root.manager.loggerDict.items())
              if isinstance(lg, logging.Logger) and not lg.propagate]
    for logger in [logging.getLogger(), *closed]:
        logger.addHandler(capture)
    try:
        yield capture
    finally:
        for logger in [logging.getLogger(), *closed]:
            logger.removeHandler(capture)
        for logger, level, _ in touched:
            logger.setLevel(level)


CANARY = f"Canary{MARK}Planted"


def _plant_canary() -> None:
    from prefect.artifacts import create_markdown_artifact
    from prefect.logging.handlers import APILogWorker

    logging.getLogger("flows.canary").warning("canary %s", CANARY)

    @flow(name="scan-canary")
    def canary() -> None:
        get_run_logger().info("canary %s", CANARY)
        create_markdown_artifact(markdown=CANARY, key="scan-canary")

    canary()
    APILogWorker.drain_all(timeout=10)  # the logs reach the API (and its database) before the scan


def _prefect_database_bytes() -> bytes:
    url = str(PREFECT_SERVER_DATABASE_CONNECTION_URL.value())
    path = Path(url.split(":///", 1)[1])
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


def _prefect_through_the_api() -> str:
    async def read() -> str:
        async with get_client() as client:
            runs = await client.read_flow_runs()
            tasks = await client.read_task_runs()
            logs = await client.read_logs()
            artifacts = await client.read_artifacts()
        parts = [f"{r.name} {r.parameters} {r.state.message if r.state else ''}" for r in runs]
        parts += [f"{t.name} {t.task_inputs} {t.state.message if t.state else ''}" for t in tasks]
        parts += [log.message for log in logs]
        parts += [f"{a.key} {a.description} {a.data}" for a in artifacts]
        return "\n".join(parts)

    return asyncio.run(read())


def _ledger_dump(cycle: Any) -> str:
    engine = cycle.ledger.engine
    with engine.connect() as conn:
        tables = sa.inspect(conn).get_table_names()
        rows = [f"{table}: {row}" for table in tables for row in conn.execute(sa.text(f'SELECT * FROM "{table}"'))]
    return "\n".join(rows)


def _ledger_file_bytes(cycle: Any) -> bytes:
    path = Path(cycle.ledger.url.database)
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


def _result_storage_bytes() -> bytes:
    root = Path(str(PREFECT_LOCAL_STORAGE_PATH.value())).expanduser()
    return b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file()) if root.exists() else b""


def _hits(where: str, text: str, needles: list[str]) -> list[str]:
    found = [f"{where}: {needle!r}" for needle in needles if needle in text]
    found += [f"{where}: token {match[:12]}…" for match in TOKEN_SHAPES.findall(text)]
    return found


def test_a_full_cycle_at_debug_leaves_no_pii_and_no_secret_anywhere(
    make_cycle: Callable[..., Any], debug_everywhere: _Everything, capfd: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    key = make_client_key(tmp_path, passphrase=SECRETS["E2E_SFTP_KEY_PASSPHRASE"])
    cycle = make_cycle(
        secrets=SECRETS,
        sftp_key=key,
        sim_options={"client_secret": SECRETS["E2E_LWA_SECRET"], "refresh_token": SECRETS["E2E_REFRESH"]},
    )
    created = cycle.sim.create_orders(
        12, ship_from_party_id="WH01", created_at=datetime.now(UTC) - timedelta(minutes=45), ship_to=SHIP_TO
    )
    account = cycle.settings.account("acme")
    cycle.runtime.vendor_api(account)  # built now, so a user's DEBUG level on sp_api stays (the adapter caps it)
    logging.getLogger("sp_api.base.client").setLevel(logging.DEBUG)
    for step in STEPS:
        state = step.run(cycle)
        assert state.is_completed(), f"{step.name}: {state.message}"
    _plant_canary()

    # the planted values really went through: the warehouse's order file (the one place PII belongs) has them
    exported = cycle.exported_rows()
    assert {row["purchase_order_number"] for row in exported} == set(created)
    assert {row["ship_to_name"] for row in exported} == {SHIP_TO["name"]}
    assert debug_everywhere.lines, "DEBUG logging captured nothing"
    assert any(line.startswith(("httpx", "httpcore")) for line in debug_everywhere.lines)
    assert any(line.startswith("paramiko") for line in debug_everywhere.lines)
    assert any(line.startswith("sp_api.base.client DEBUG Making request") for line in debug_everywhere.lines)

    needles = [*SECRETS.values(), *SHIP_TO.values(), *(line for line in key.text.splitlines() if len(line) > 20)]
    out, err = capfd.readouterr()
    places = {
        "log lines": "\n".join(debug_everywhere.lines),
        "stdout/stderr": out + err,
        "Prefect API (runs, task runs, logs, artifacts)": _prefect_through_the_api(),
        "Prefect database file": _prefect_database_bytes().decode("utf-8", errors="replace"),
        "Prefect result storage": _result_storage_bytes().decode("utf-8", errors="replace"),
        "ledger rows": _ledger_dump(cycle),
        "ledger database file": _ledger_file_bytes(cycle).decode("utf-8", errors="replace"),
    }
    # the scan reads the right places: a canary planted in a log line and in an artifact is found where it rests
    for where in ("log lines", "Prefect API (runs, task runs, logs, artifacts)", "Prefect database file"):
        assert _hits(where, places[where], [CANARY]), f"the scan does not see {where}"
    assert all(number in places["ledger rows"] for number in created)

    hits = [hit for where, text in places.items() for hit in _hits(where, text, needles)]
    assert hits == []
