"""Transport: host keys are always verified outside the tests, and the local servers listen on loopback only."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from flows.cli import simulator as simulator_command
from simulator import SimulatorConfig, start_simulator
from simulator.sftp_server import SftpServerConfig, start_sftp_server

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("flows", "tasks", "adapters", "simulator", "bench")
# paramiko's ways to accept an unknown host key, and asyncssh's (known_hosts=None turns checking off)
LAX = {"AutoAddPolicy", "WarningPolicy", "set_missing_host_key_policy", "load_system_host_keys"}


def _product_files() -> list[Path]:
    return sorted(path for package in PRODUCT for path in (ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", _product_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_product_code_accepts_an_unverified_host_key(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    names |= {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    names |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names}
    assert not names & LAX
    for call in (node for node in ast.walk(tree) if isinstance(node, ast.Call)):
        for keyword in call.keywords:
            is_none = isinstance(keyword.value, ast.Constant) and keyword.value.value is None
            assert not (keyword.arg == "known_hosts" and is_none and "connect" in ast.unparse(call.func)), path


def _listening_addresses(port: int) -> set[str]:
    """The local addresses a TCP port listens on, from /proc/net/tcp{,6} (state 0A = LISTEN)."""
    found = set()
    for table in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")):
        if not table.exists():
            continue
        for line in table.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


LOOPBACK = "0100007F"  # 127.0.0.1 as /proc/net/tcp writes it


def test_the_simulator_listens_on_loopback_unless_told_otherwise() -> None:
    assert SimulatorConfig().host == "127.0.0.1"
    assert inspect.signature(simulator_command).parameters["host"].default == "127.0.0.1"
    sim = start_simulator(SimulatorConfig(port=0))
    try:
        assert sim.host == "127.0.0.1"
        if Path("/proc/net/tcp").exists():
            assert _listening_addresses(sim.port) == {LOOPBACK}
    finally:
        sim.stop()


def test_the_embedded_sftp_server_listens_on_loopback_unless_told_otherwise(tmp_path: Path) -> None:
    assert SftpServerConfig(root=tmp_path).host == "127.0.0.1"
    server = start_sftp_server(SftpServerConfig(root=tmp_path, password="x" * 12))
    try:
        if Path("/proc/net/tcp").exists():
            assert _listening_addresses(server.port) == {LOOPBACK}
    finally:
        server.stop()
