"""The vdf command line: validate, check-config, status, migrate, with real files and a real ledger."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from flows.cli import app

DATA = Path(__file__).parent.parent / "data"
runner = CliRunner()


def _config(tmp_path: Path, **account_overrides: object) -> Path:
    drop = tmp_path / "drop"
    drop.mkdir(exist_ok=True)
    account = {
        "name": "acme",
        "selling_party_id": "ACME",
        "credentials": {"client_id": "env:CLI_ID", "client_secret": "env:CLI_SECRET", "refresh_token": "env:CLI_RT"},
        "warehouses": [{"name": "main", "ship_from_party_id": "WH01", "drop": {"kind": "local", "path": str(drop)}}],
        **account_overrides,
    }
    path = tmp_path / "vdf.yaml"
    path.write_text(yaml.safe_dump({"ledger_url": f"sqlite:///{tmp_path / 'ledger.db'}", "accounts": [account]}))
    return path


def test_validate_reports_problems_and_writes_the_report(tmp_path: Path):
    report = tmp_path / "report.csv"
    result = runner.invoke(
        app, ["validate", str(DATA / "shipments_mixed.csv"), "--kind", "shipments", "--report", str(report)]
    )
    assert result.exit_code == 1
    assert "quantity shipped must be a whole number" in result.output
    text = report.read_text()
    assert "quantity_shipped" in text and "two" in text


def test_validate_clean_file_and_warehouse_options(tmp_path: Path):
    assert runner.invoke(app, ["validate", str(DATA / "shipments_clean.csv")]).exit_code == 0
    config = _config(tmp_path)
    data = yaml.safe_load(config.read_text())
    data["accounts"][0]["warehouses"][0]["files"] = {
        "delimiter": ";",
        "header_aliases": {"vendor_sku": ["Vendor SKU"], "available_quantity": ["Qty Available"]},
    }
    config.write_text(yaml.safe_dump(data))
    result = runner.invoke(
        app,
        [
            "validate",
            str(DATA / "stock_semicolon.csv"),
            "--kind",
            "stock",
            "--warehouse",
            "main",
            "--config",
            str(config),
        ],
    )
    assert result.exit_code == 0, result.output


def test_validate_refuses_unknown_kind():
    result = runner.invoke(app, ["validate", str(DATA / "shipments_clean.csv"), "--kind", "invoices"])
    assert result.exit_code == 2


def test_check_config_names_every_missing_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    config = _config(tmp_path)
    result = runner.invoke(app, ["check-config", "--config", str(config)])
    assert result.exit_code == 1
    for name in ("CLI_ID", "CLI_SECRET", "CLI_RT"):
        assert name in result.output
    for name, value in {"CLI_ID": "a", "CLI_SECRET": "b", "CLI_RT": "c"}.items():
        monkeypatch.setenv(name, value)
    result = runner.invoke(app, ["check-config", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "configuration OK" in result.output


def test_check_config_reports_schema_errors_with_keys(tmp_path: Path):
    config = _config(tmp_path, region="moon")
    result = runner.invoke(app, ["check-config", "--config", str(config)])
    assert result.exit_code == 1
    assert "accounts[acme].region" in result.output


def test_check_config_connect_reaches_simulator_and_drop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, simulator):
    config = _config(tmp_path, endpoint=simulator.base_url, token_url=simulator.token_url)
    for name, value in {"CLI_ID": "a", "CLI_SECRET": "b", "CLI_RT": "c"}.items():
        monkeypatch.setenv(name, value)
    result = runner.invoke(app, ["check-config", "--config", str(config), "--connect"])
    assert result.exit_code == 0, result.output
    assert "credentials accepted" in result.output and "drop reachable" in result.output


def test_migrate_and_status_on_an_empty_ledger(tmp_path: Path):
    config = _config(tmp_path)
    assert runner.invoke(app, ["migrate", "--config", str(config)]).exit_code == 0
    result = runner.invoke(app, ["status", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "orders by state" in result.output and "Processing: 0" in result.output


def test_every_command_has_help():
    for command in (
        ["--help"],
        ["run", "orders", "--help"],
        ["simulator", "--help"],
        ["validate", "--help"],
        ["check-config", "--help"],
        ["status", "--help"],
        ["demo", "--help"],
        ["serve", "--help"],
    ):
        result = runner.invoke(app, command)
        assert result.exit_code == 0, (command, result.output)
