"""An embedded SFTP server (asyncssh, in-process, loopback only) serving one folder as a user's chroot."""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import asyncssh

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_STARTUP_SECONDS = 10.0
_SHUTDOWN_SECONDS = 10.0


@dataclass(frozen=True)
class SftpServerConfig:
    """What to serve, where, and to whom.

    `authorized_keys` holds OpenSSH public key lines (`ssh-ed25519 AAAA... comment`). `host_key_path` loads the
    host key from that file, or generates one and writes it there when the file does not exist yet; None keeps a
    fresh key in memory. `posix_rename=False` makes the server refuse `posix-rename@openssh.com`, like servers
    that lack the extension, so clients can exercise their fallback.
    """

    root: Path
    host: str = "127.0.0.1"
    port: int = 0
    username: str = "warehouse"
    password: str | None = None
    authorized_keys: tuple[str, ...] = ()
    host_key_path: Path | None = None
    posix_rename: bool = True
    # names listed in every folder with no file behind them, as a broken or hostile server might list them
    # (`../escape.csv`, `a/b.csv`): clients can check that no such name ever becomes a path
    phantom_names: tuple[str, ...] = ()


class _ChrootSftp(asyncssh.SFTPServer):
    """The stock asyncssh file server confined to the root, optionally without POSIX rename."""

    def __init__(
        self, chan: asyncssh.SSHServerChannel, root: Path, allow_posix_rename: bool, phantoms: tuple[str, ...] = ()
    ) -> None:
        super().__init__(chan, chroot=os.fsencode(root))
        self._allow_posix_rename = allow_posix_rename
        self._phantoms = phantoms

    async def scandir(self, path: bytes) -> AsyncIterator[asyncssh.SFTPName]:
        async for name in super().scandir(path):
            yield name
        for phantom in self._phantoms:
            attrs = asyncssh.SFTPAttrs(
                type=asyncssh.FILEXFER_TYPE_REGULAR, size=10, permissions=0o100644, mtime=int(time.time()) - 60
            )
            yield asyncssh.SFTPName(phantom.encode(), attrs=attrs)

    def posix_rename(self, oldpath: bytes, newpath: bytes) -> Any:
        if not self._allow_posix_rename:
            raise asyncssh.SFTPOpUnsupported("posix-rename@openssh.com is disabled on this server")
        return super().posix_rename(oldpath, newpath)


class _Gatekeeper(asyncssh.SSHServer):
    """Authenticates the one configured user and tracks live connections so they can be cut."""

    def __init__(self, owner: EmbeddedSftpServer) -> None:
        self._owner = owner
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._owner._connection_opened(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._owner._connection_closed(self._conn)

    def begin_auth(self, username: str) -> bool:
        return True  # always require authentication, even for unknown users

    def password_auth_supported(self) -> bool:
        return self._owner.config.password is not None

    def validate_password(self, username: str, password: str) -> bool:
        expected = self._owner.config.password
        if expected is None or username != self._owner.config.username:
            return False
        return hmac.compare_digest(password.encode(), expected.encode())

    def public_key_auth_supported(self) -> bool:
        return bool(self._owner.authorized_keys)

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        if username != self._owner.config.username:
            return False
        offered = key.public_data
        return any(hmac.compare_digest(offered, known.public_data) for known in self._owner.authorized_keys)


class EmbeddedSftpServer:
    """A running server; stop it (or use it as a context manager) to close every connection and its thread."""

    def __init__(self, config: SftpServerConfig) -> None:
        self.config = config
        self.host_key = _host_key(config.host_key_path)
        self.authorized_keys = [asyncssh.import_public_key(line) for line in config.authorized_keys]
        self.connections_accepted = 0
        self._connections: set[asyncssh.SSHServerConnection] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="embedded-sftp", daemon=True)
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._stopped = False
        self.port = 0

    @property
    def host(self) -> str:
        return self.config.host

    @property
    def host_key_fingerprint(self) -> str:
        """The host key's fingerprint as `ssh-keygen -lf` prints it (`SHA256:...`)."""
        return str(self.host_key.get_fingerprint("sha256"))

    def known_hosts_line(self) -> str:
        """A known_hosts entry for this server (`[host]:port` unless the port is 22)."""
        name = self.host if self.port == 22 else f"[{self.host}]:{self.port}"
        algorithm, blob = self.host_key.export_public_key("openssh").decode().split()[:2]
        return f"{name} {algorithm} {blob}"

    def start(self) -> EmbeddedSftpServer:
        self._thread.start()
        try:
            self._acceptor = self._call(self._listen(), _STARTUP_SECONDS)
        except BaseException:
            self._stopped = True
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(_SHUTDOWN_SECONDS)
            raise
        self.port = self._acceptor.get_port()
        log.info("embedded SFTP server listening on %s:%d, root %s", self.host, self.port, self.config.root)
        return self

    def disconnect_all(self) -> int:
        """Cut every client connection at once (the listener stays up); returns how many were cut."""
        return self._call(self._abort_connections(), _SHUTDOWN_SECONDS)

    def stop(self) -> None:
        """Close the listener and every connection, finish every task, then end the loop's thread."""
        if self._stopped or not self._thread.is_alive():
            self._stopped = True
            return
        self._stopped = True
        try:
            self._call(self._shutdown(), _SHUTDOWN_SECONDS)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(_SHUTDOWN_SECONDS)
        log.info("embedded SFTP server on %s:%d stopped", self.host, self.port)

    def __enter__(self) -> EmbeddedSftpServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _connection_opened(self, conn: asyncssh.SSHServerConnection) -> None:
        self.connections_accepted += 1
        self._connections.add(conn)

    def _connection_closed(self, conn: asyncssh.SSHServerConnection) -> None:
        self._connections.discard(conn)

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    def _call(self, coro: Coroutine[Any, Any, _T], timeout: float) -> _T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _listen(self) -> asyncssh.SSHAcceptor:
        root, allow_posix_rename, phantoms = self.config.root, self.config.posix_rename, self.config.phantom_names
        return await asyncssh.listen(
            self.config.host,
            self.config.port,
            server_host_keys=[self.host_key],
            server_factory=lambda: _Gatekeeper(self),
            sftp_factory=lambda chan: _ChrootSftp(chan, root, allow_posix_rename, phantoms),
            allow_scp=False,
            agent_forwarding=False,
            x11_forwarding=False,
        )

    async def _abort_connections(self) -> int:
        live = list(self._connections)
        for conn in live:
            conn.abort()
        for conn in live:
            await conn.wait_closed()
        return len(live)

    async def _shutdown(self) -> None:
        if self._acceptor is not None:
            # Stop accepting, but close the asyncio server only after the connections it already accepted have
            # their transports: their tasks hold bare sockets until their first step, and on Python 3.11 a
            # transport made for a closed server fails an assertion, so either way the socket was never closed
            # (an "unclosed socket" ResourceWarning when collected). Callbacks run in the order they were
            # scheduled, so one turn of the loop lets every task queued before it take that first step.
            for sock in self._acceptor.sockets:
                self._loop.remove_reader(sock.fileno())
            await asyncio.sleep(0)
            self._acceptor.close()
            await self._acceptor.wait_closed()
        live = list(self._connections)
        for conn in live:
            conn.close()
        for conn in live:
            await conn.wait_closed()
        # Sessions and SFTP handlers may still have tasks winding down; a loop closed under them warns.
        current = asyncio.current_task()
        leftovers = [task for task in asyncio.all_tasks() if task is not current]
        for task in leftovers:
            task.cancel()
        await asyncio.gather(*leftovers, return_exceptions=True)


def _host_key(path: Path | None) -> asyncssh.SSHKey:
    if path is None:
        return asyncssh.generate_private_key("ssh-ed25519")
    if path.exists():
        return asyncssh.read_private_key(path)
    key = asyncssh.generate_private_key("ssh-ed25519")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.export_private_key("openssh"))
    return key


def start_sftp_server(config: SftpServerConfig) -> EmbeddedSftpServer:
    """Start serving config.root over SFTP on a daemon thread; returns once the port is listening."""
    if not config.root.is_dir():
        raise ValueError(f"SFTP root {config.root} is not a directory")
    if config.password is None and not config.authorized_keys:
        raise ValueError("give a password or at least one authorized key, or nobody can log in")
    return EmbeddedSftpServer(config).start()
