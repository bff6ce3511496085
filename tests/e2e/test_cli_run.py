"""`vdf run orders` from a configuration file, as a person runs it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import flows.runtime
from flows.cli import app


def test_run_orders_from_a_config_file(make_cycle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    cycle = make_cycle()
    created = cycle.sim.create_orders(
        12, ship_from_party_id="WH01", created_at=datetime.now(UTC) - timedelta(minutes=45)
    )
    config = tmp_path / "vdf.yaml"
    config.write_text(yaml.safe_dump(cycle.settings.model_dump(mode="json", exclude_none=True)))
    monkeypatch.setattr(flows.runtime, "_override", None)  # build everything from the file
    result = CliRunner().invoke(app, ["run", "orders", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "acme" in result.output
    assert {r["purchase_order_number"] for r in cycle.exported_rows()} == set(created)

    since = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    result = CliRunner().invoke(app, ["run", "orders", "--config", str(config), "--since", since, "--until", "bad"])
    assert result.exit_code == 2 and "ISO-8601" in result.output


def test_run_purge_from_a_config_file(make_cycle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    cycle = make_cycle()
    config = tmp_path / "vdf.yaml"
    config.write_text(yaml.safe_dump(cycle.settings.model_dump(mode="json", exclude_none=True)))
    monkeypatch.setattr(flows.runtime, "_override", None)  # build everything from the file
    left = cycle.sftp_root / "main" / "archive" / "warehouse-own.csv"
    left.parent.mkdir(parents=True)
    left.write_bytes(b"not ours")

    result = CliRunner().invoke(app, ["run", "purge", "--config", str(config), "--account", "acme"])

    assert result.exit_code == 0, result.output
    assert "purge (retention 30 days)" in result.output and "archive" in result.output
    assert left.exists()  # never placed by us: never touched
    unknown = CliRunner().invoke(app, ["run", "purge", "--config", str(config), "--account", "nobody"])
    assert unknown.exit_code == 2 and "no account 'nobody'" in unknown.output
