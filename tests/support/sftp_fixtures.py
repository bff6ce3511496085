"""SFTP servers on 127.0.0.1 for tests: the embedded asyncssh one, and OpenSSH's sshd when it is installed."""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh
import paramiko
import pytest

from adapters.warehouse.sftp import SftpWarehouseDrop, load_private_key
from simulator.sftp_server import EmbeddedSftpServer, SftpServerConfig, start_sftp_server

SSHD = Path("/usr/sbin/sshd")
SFTP_USER = "warehouse"
SFTP_PASSWORD = "correct horse battery staple"  # a test-only secret for a loopback server


@dataclass(frozen=True)
class ClientKey:
    """A generated client key: its private text, its file, its public line and paramiko's view of it."""

    text: str
    path: Path
    public_line: str
    pkey: paramiko.PKey


def make_client_key(directory: Path, algorithm: str = "ssh-ed25519", passphrase: str | None = None) -> ClientKey:
    """Generate a key pair; encrypted keys use few bcrypt rounds so tests stay fast."""
    key = asyncssh.generate_private_key(algorithm)
    if passphrase is None:
        text = key.export_private_key("openssh").decode()
    else:
        text = key.export_private_key("openssh", passphrase, rounds=4, ignore_few_rounds=True).decode()
    path = directory / f"client_{algorithm.replace('-', '_')}"
    path.write_text(text)
    path.chmod(0o600)
    public_line = key.export_public_key("openssh").decode().strip()
    return ClientKey(text=text, path=path, public_line=public_line, pkey=load_private_key(text, passphrase=passphrase))


@dataclass
class SftpTarget:
    """One running SFTP server as a test sees it, whichever implementation serves it."""

    kind: str
    host: str
    port: int
    username: str
    password: str | None
    client_key: ClientKey
    known_hosts: Path
    fingerprint: str
    root: Path  # where the drop's folders live on this machine's disk
    base_path: str  # what the drop must prefix to reach root from its login directory
    drop_connections: Callable[[], int]
    stop: Callable[[], None]
    _drops: list[SftpWarehouseDrop] = field(default_factory=list)

    def drop(self, **overrides: Any) -> SftpWarehouseDrop:
        """A drop logged in with the client key and pinned through known_hosts, closed at teardown."""
        options: dict[str, Any] = {
            "pkey": self.client_key.pkey,
            "known_hosts": self.known_hosts,
            "timeout": 5.0,
            "base_path": self.base_path,
            "settle_seconds": 0.05,
        }
        options.update(overrides)
        drop = SftpWarehouseDrop(self.host, self.port, self.username, **options)
        self._drops.append(drop)
        return drop

    def close_drops(self) -> None:
        for drop in self._drops:
            drop.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def sftp_server_factory(tmp_path: Path) -> Iterator[Callable[..., tuple[SftpTarget, EmbeddedSftpServer]]]:
    """Start embedded servers with custom options; every one is stopped at teardown, clients first."""
    started: list[tuple[SftpTarget, EmbeddedSftpServer]] = []

    def start(**options: Any) -> tuple[SftpTarget, EmbeddedSftpServer]:
        n = len(started)
        root = tmp_path / f"sftp-root-{n}"
        root.mkdir()
        keys = tmp_path / f"sftp-keys-{n}"
        keys.mkdir()
        client_key = options.pop("client_key", None) or make_client_key(keys)
        config = SftpServerConfig(
            root=root,
            username=SFTP_USER,
            password=options.pop("password", SFTP_PASSWORD),
            authorized_keys=(client_key.public_line, *options.pop("authorized_keys", ())),
            **options,
        )
        server = start_sftp_server(config)
        known_hosts = keys / "known_hosts"
        known_hosts.write_text(server.known_hosts_line() + "\n")
        target = SftpTarget(
            kind="asyncssh",
            host=server.host,
            port=server.port,
            username=SFTP_USER,
            password=config.password,
            client_key=client_key,
            known_hosts=known_hosts,
            fingerprint=server.host_key_fingerprint,
            root=root,
            base_path="",  # the server chroots the user into root
            drop_connections=server.disconnect_all,
            stop=server.stop,
        )
        started.append((target, server))
        return target, server

    yield start
    for target, server in started:
        target.close_drops()
        server.stop()


@pytest.fixture
def sftp_server(sftp_server_factory: Callable[..., tuple[SftpTarget, EmbeddedSftpServer]]) -> SftpTarget:
    """The embedded asyncssh server with a tmp root, a password and a generated client key."""
    target, _ = sftp_server_factory()
    return target


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            # the command name may hold spaces and parentheses; the parent pid follows its closing one
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def _wait_for_banner(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sshd exited with {process.returncode}: {log.read_text(errors='replace')}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1) as probe:
            if probe.recv(4).startswith(b"SSH-"):
                return
        time.sleep(0.01)
    raise RuntimeError(f"sshd did not answer on port {port}: {log.read_text(errors='replace')}")


@pytest.fixture
def sshd_server(tmp_path: Path) -> Iterator[SftpTarget]:
    """OpenSSH's sshd -D on a free port, key login only, in its own session; its connections die with it."""
    if not SSHD.exists():
        pytest.skip(f"{SSHD} is not installed (run .ci/install-sshd)")
    if os.geteuid() != 0:
        pytest.skip("the sshd fixture logs in as the current user, which sshd only allows when it runs as root")
    user = pwd.getpwuid(os.geteuid()).pw_name
    base = tmp_path / "sshd"
    base.mkdir()
    root = base / "root"  # no ChrootDirectory: sshd refuses one under /tmp, so the drop uses this absolute path
    root.mkdir()
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    host_key_path = base / "host_ed25519"
    host_key_path.write_bytes(host_key.export_private_key("openssh"))
    host_key_path.chmod(0o600)
    client_key = make_client_key(base)
    authorized = base / "authorized_keys"
    authorized.write_text(client_key.public_line + "\n")
    port = free_port()
    log = base / "sshd.log"
    config = base / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {host_key_path}",
                f"PidFile {base / 'sshd.pid'}",
                f"AuthorizedKeysFile {authorized}",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PubkeyAuthentication yes",
                "PermitRootLogin prohibit-password",
                "UsePAM no",
                "StrictModes no",
                "Subsystem sftp internal-sftp",
                "LogLevel INFO",
                "",
            ]
        )
    )
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
    process = subprocess.Popen(
        [str(SSHD), "-D", "-E", str(log), "-f", str(config)],
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def drop_connections() -> int:
        # sshd forks one child per connection, and each calls setsid(): killing them by pid cuts the clients
        # and leaves the listener up, where killing the listener's process group would miss them.
        victims = _descendants(process.pid)
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return len(victims)

    def stop() -> None:
        if process.poll() is None:
            drop_connections()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)

    known_hosts = base / "known_hosts"
    algorithm, blob = host_key.export_public_key("openssh").decode().split()[:2]
    known_hosts.write_text(f"[127.0.0.1]:{port} {algorithm} {blob}\n")
    target = SftpTarget(
        kind="sshd",
        host="127.0.0.1",
        port=port,
        username=user,
        password=None,
        client_key=client_key,
        known_hosts=known_hosts,
        fingerprint=str(host_key.get_fingerprint("sha256")),
        root=root,
        base_path=str(root),
        drop_connections=drop_connections,
        stop=stop,
    )
    try:
        _wait_for_banner(port, process, log)
        yield target
    finally:
        target.close_drops()
        stop()


@pytest.fixture(params=["asyncssh", pytest.param("sshd", marks=pytest.mark.sshd)])
def sftp_target(request: pytest.FixtureRequest) -> SftpTarget:
    """Each SFTP test runs against the embedded server and against OpenSSH (when installed)."""
    name = "sftp_server" if request.param == "asyncssh" else "sshd_server"
    target: SftpTarget = request.getfixturevalue(name)
    return target
