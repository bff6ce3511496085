"""The embedded SFTP server: host key, login rules, chroot, and a clean stop."""

from __future__ import annotations

import base64
import gc
import io
import logging
import socket
import stat
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import paramiko
import pytest

from simulator.sftp_server import EmbeddedSftpServer, SftpServerConfig, start_sftp_server
from tests.support.sftp_fixtures import SFTP_PASSWORD, SftpTarget, make_client_key

ServerFactory = Callable[..., tuple[SftpTarget, EmbeddedSftpServer]]


@contextmanager
def raw_client(port: int, fingerprint: str, username: str, password: str) -> Iterator[paramiko.SFTPClient]:
    """A bare paramiko session for protocol-level checks; the host key is still pinned."""
    transport = paramiko.Transport(("127.0.0.1", port))
    try:
        transport.start_client(timeout=5)
        assert transport.get_remote_server_key().fingerprint == fingerprint
        transport.auth_password(username, password)
        sftp = paramiko.SFTPClient.from_transport(transport)
        assert sftp is not None
        yield sftp
    finally:
        transport.close()


def test_it_advertises_the_host_key_it_serves(sftp_server: SftpTarget) -> None:
    line = sftp_server.known_hosts.read_text().strip()

    name, algorithm, blob = line.split()
    assert name == f"[127.0.0.1]:{sftp_server.port}"
    assert algorithm == "ssh-ed25519"
    key = paramiko.Ed25519Key(data=base64.b64decode(blob))
    assert key.fingerprint == sftp_server.fingerprint
    with raw_client(sftp_server.port, sftp_server.fingerprint, sftp_server.username, SFTP_PASSWORD) as sftp:
        assert sftp.listdir(".") == []


def test_the_user_is_confined_to_the_root(sftp_server: SftpTarget) -> None:
    with raw_client(sftp_server.port, sftp_server.fingerprint, sftp_server.username, SFTP_PASSWORD) as sftp:
        sftp.putfo(io.BytesIO(b"inside"), "/../../escape.txt")
        with pytest.raises(FileNotFoundError):
            sftp.stat("/../../etc/passwd")
        assert sftp.normalize("..") == "/"

    assert (sftp_server.root / "escape.txt").read_bytes() == b"inside"
    assert not (sftp_server.root.parent / "escape.txt").exists()


def test_only_the_configured_user_gets_in(sftp_server: SftpTarget) -> None:
    with pytest.raises(paramiko.AuthenticationException), raw_client(
        sftp_server.port, sftp_server.fingerprint, "someone-else", SFTP_PASSWORD
    ):
        pass  # the login itself is what fails


def test_the_host_key_persists_in_host_key_path(tmp_path: Path) -> None:
    key_path = tmp_path / "keys" / "host_ed25519"
    root = tmp_path / "root"
    root.mkdir()
    config = SftpServerConfig(root=root, password="pw", host_key_path=key_path)

    with start_sftp_server(config) as first:
        fingerprint = first.host_key_fingerprint
    with start_sftp_server(config) as second:
        assert second.host_key_fingerprint == fingerprint

    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600


def test_a_second_server_on_the_same_port_takes_over_after_a_stop(tmp_path: Path) -> None:
    key = make_client_key(tmp_path)
    root = tmp_path / "root"
    root.mkdir()
    with start_sftp_server(SftpServerConfig(root=root, authorized_keys=(key.public_line,))) as first:
        port = first.port
    with start_sftp_server(SftpServerConfig(root=root, port=port, authorized_keys=(key.public_line,))) as second:
        assert second.port == port


def test_stopping_with_clients_connected_ends_cleanly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    server = start_sftp_server(SftpServerConfig(root=root, password="pw"))
    transport = paramiko.Transport(("127.0.0.1", server.port))
    try:
        transport.start_client(timeout=5)
        transport.auth_password("warehouse", "pw")
        sftp = paramiko.SFTPClient.from_transport(transport)
        assert sftp is not None
        sftp.putfo(io.BytesIO(b"x"), "left-open.txt")

        with caplog.at_level(logging.WARNING, logger="asyncio"):
            server.stop()
            gc.collect()  # pending tasks would complain when collected

        assert not any(t.name == "embedded-sftp" for t in threading.enumerate())
        assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", server.port), timeout=1):
            pass
    finally:
        transport.close()
    server.stop()  # a second stop is harmless


def test_a_connection_arriving_as_the_server_stops_is_closed_too(tmp_path: Path) -> None:
    # A connection accepted just before stop() used to keep its socket open past the loop's end; collected
    # later, it raised "unclosed socket" in whichever test happened to run then. The race hit about one
    # stop in two, so twenty rounds catch it.
    root = tmp_path / "root"
    root.mkdir()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        for _ in range(20):
            server = start_sftp_server(SftpServerConfig(root=root, password="pw"))
            with socket.create_connection(("127.0.0.1", server.port), timeout=5):
                server.stop()
            gc.collect()

    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_cutting_connections_keeps_the_listener(sftp_server_factory: ServerFactory) -> None:
    target, server = sftp_server_factory()
    drop = target.drop()
    drop.upload("orders", "a.csv", b"a")

    assert server.disconnect_all() == 1
    drop.upload("orders", "b.csv", b"b")

    assert server.connections_accepted == 2


def test_without_posix_rename_the_extension_is_refused(sftp_server_factory: ServerFactory) -> None:
    target, _ = sftp_server_factory(posix_rename=False)

    with raw_client(target.port, target.fingerprint, target.username, SFTP_PASSWORD) as sftp:
        sftp.putfo(io.BytesIO(b"x"), "a")
        with pytest.raises(OSError):
            sftp.posix_rename("a", "b")
        sftp.rename("a", "b")
        assert sftp.listdir(".") == ["b"]


def test_it_refuses_to_start_without_a_way_in(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="password or at least one authorized key"):
        start_sftp_server(SftpServerConfig(root=tmp_path))
    with pytest.raises(ValueError, match="not a directory"):
        start_sftp_server(SftpServerConfig(root=tmp_path / "missing", password="pw"))
