"""The warehouse drop over SFTP (paramiko): pinned host key, atomic uploads, one connection reopened once."""

from __future__ import annotations

import contextlib
import errno
import functools
import hmac
import io
import logging
import posixpath
import socket
import stat
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import paramiko
from paramiko.sftp import SFTP_OP_UNSUPPORTED

from adapters.warehouse.common import (
    DEFAULT_SETTLE_SECONDS,
    Snapshot,
    check_name,
    folder_path,
    free_names,
    is_listable,
    is_temporary,
    is_unsafe,
    map_os_error,
    stable_files,
    temp_name,
    vanished_temp,
)
from tasks.core.config import Folders
from tasks.core.errors import ConfigError, IntegrationError, PermanentError, TransientError
from tasks.core.names import addressable, error_report_name, name_problem, safe_name_for, unsafe_name_report
from tasks.core.ports import Folder, RemoteFile
from tasks.core.text import visible

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_KEY_CLASSES: tuple[type[paramiko.PKey], ...] = (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey)


class _OpUnsupported(OSError):
    """The server answered SSH_FX_OP_UNSUPPORTED (paramiko folds it into a bare IOError otherwise)."""


class _SftpClient(paramiko.SFTPClient):
    """paramiko's client, telling "operation unsupported" apart from other failures."""

    def _convert_status(self, msg: paramiko.Message) -> None:
        start = msg.packet.tell()
        if msg.get_int() == SFTP_OP_UNSUPPORTED:
            raise _OpUnsupported(msg.get_text())
        msg.packet.seek(start)
        super()._convert_status(msg)  # type: ignore[misc]


def load_private_key(
    text: str | None = None, path: Path | None = None, passphrase: str | None = None
) -> paramiko.PKey:
    """Read an Ed25519, ECDSA or RSA private key from its text or a file, decrypting it with the passphrase."""
    if (text is None) == (path is None):
        raise ConfigError("give the private key either as text (private_key) or as a file (private_key_path)")
    where = "private_key" if text is not None else f"private_key_path {path}"
    for key_class in _KEY_CLASSES:
        try:
            if text is not None:
                return key_class.from_private_key(io.StringIO(text), password=passphrase)
            return key_class.from_private_key_file(str(path), password=passphrase)
        except paramiko.PasswordRequiredException as exc:
            raise ConfigError(f"{where} is encrypted: give private_key_passphrase") from exc
        except FileNotFoundError as exc:
            raise ConfigError(f"{where}: no such file") from exc
        except (paramiko.SSHException, ValueError, TypeError):
            continue  # not this key type (or a wrong passphrase): try the next class
        except OSError as exc:
            raise ConfigError(f"{where} could not be read: {exc.strerror or exc}") from exc
    raise ConfigError(
        f"{where} is not a readable Ed25519, ECDSA or RSA private key (check the format and the passphrase)"
    )


def fingerprint(key: paramiko.PKey) -> str:
    """The key's SHA256 fingerprint as `ssh-keygen -lf` prints it."""
    return key.fingerprint


class SftpWarehouseDrop:
    """A warehouse drop on an SFTP server; see WarehouseDrop for the contract.

    The server's host key is checked against `known_hosts` (OpenSSH format, `[host]:port` entries for ports
    other than 22, hashed entries allowed) or against `host_key_fingerprint` ("SHA256:..."); an unknown or
    different key is refused. Folders are relative to `base_path`, which is empty for the login directory (or
    the chroot). One connection serves every call (one thread at a time); when it drops, the call reconnects
    once and tries again once. list_new looks twice, `settle_seconds` apart, and leaves out files still changing.
    """

    def __init__(
        self,
        host: str,
        port: int = 22,
        username: str = "",
        *,
        password: str | None = None,
        pkey: paramiko.PKey | None = None,
        known_hosts: Path | None = None,
        host_key_fingerprint: str | None = None,
        timeout: float = 30.0,
        folders: Folders | None = None,
        base_path: str = "",
        settle_seconds: float = DEFAULT_SETTLE_SECONDS,
    ) -> None:
        if not username:
            raise ConfigError("SFTP username is empty")
        if password is None and pkey is None:
            raise ConfigError(f"SFTP {host}: give a password or a private key")
        if (known_hosts is None) == (host_key_fingerprint is None):
            raise ConfigError(f"SFTP {host}: give exactly one of known_hosts or host_key_fingerprint")
        if host_key_fingerprint is not None and not host_key_fingerprint.startswith("SHA256:"):
            raise ConfigError(f"SFTP {host}: host_key_fingerprint must look like SHA256:... (ssh-keygen -lf)")
        self.host = host
        self.port = port
        self.username = username
        self._password = password
        self._pkey = pkey
        self.known_hosts = known_hosts
        self.host_key_fingerprint = host_key_fingerprint
        self.timeout = timeout
        self.folders = folders or Folders()
        self.base_path = base_path
        self.settle_seconds = settle_seconds
        self.connections_opened = 0
        self._transport: paramiko.Transport | None = None
        self._sftp: _SftpClient | None = None
        self._known_dirs: set[str] = set()
        self._posix_rename = True

    def __repr__(self) -> str:
        return f"SftpWarehouseDrop({self.username}@{self.host}:{self.port}, base_path={self.base_path!r})"

    def __enter__(self) -> SftpWarehouseDrop:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- the WarehouseDrop operations ------------------------------------------------------------------------

    def upload(self, folder: Folder, name: str, data: bytes) -> None:
        directory = self._dir(folder)
        check_name(name)

        def put(sftp: _SftpClient) -> None:
            self._makedirs(sftp, directory)
            # Also clears the temporary file of an attempt cut off with the connection, when this is the retry.
            self._remove_leftovers(sftp, directory, folder, name)
            self._put(sftp, directory, folder, name, data)

        self._run("upload", f"{folder}/{name}", put)
        log.info("uploaded %s/%s (%d bytes) to %s", folder, name, len(data), self.host)

    def upload_many(self, folder: Folder, files: Mapping[str, bytes]) -> None:
        directory = self._dir(folder)
        names = {check_name(name) for name in files}

        def clear(sftp: _SftpClient) -> None:
            self._makedirs(sftp, directory)
            # one listing for the batch: a folder of thousands of label files must not be listed per file
            for entry in self._temporaries(sftp, directory):
                if entry.filename.split(".part-", 1)[0] in names:
                    with contextlib.suppress(FileNotFoundError):
                        sftp.remove(posixpath.join(directory, entry.filename))
                        log.info("%s: removed temporary file %s left by an earlier upload", folder, entry.filename)

        self._run("upload", f"{folder} ({len(files)} files)", clear)
        for name, data in files.items():
            put = functools.partial(self._put, directory=directory, folder=folder, name=name, data=data)
            self._run("upload", f"{folder}/{name}", put)
        log.info("uploaded %d file(s) to %s on %s", len(files), folder, self.host)

    def _put(self, sftp: _SftpClient, directory: str, folder: Folder, name: str, data: bytes) -> None:
        """Write a temporary file beside the final name, then rename it over the final name."""
        final = posixpath.join(directory, name)
        temp = posixpath.join(directory, temp_name(name))
        try:
            sftp.putfo(io.BytesIO(data), temp, file_size=len(data), confirm=True)
            self._replace(sftp, temp, final)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            if self._alive() and not self._discard(sftp, temp) and isinstance(exc, FileNotFoundError):
                raise vanished_temp(f"{folder}/{name}") from exc
            raise

    def list_new(self, folder: Folder, patterns: Sequence[str] = ("*",)) -> list[RemoteFile]:
        directory = self._dir(folder)
        unsafe: list[str] = []
        first = self._run("list", folder, lambda sftp: self._scan(sftp, directory, patterns, unsafe))
        self._quarantine_unsafe(folder, sorted(set(unsafe)))
        if not first:
            return []
        time.sleep(self.settle_seconds)
        second = self._run("list", folder, lambda sftp: self._scan(sftp, directory, patterns))
        files = stable_files(folder, first, second)
        if len(files) < len(first):
            log.info("%s: %d file(s) still being written, left for the next run", folder, len(first) - len(files))
        return files

    def exists(self, folder: Folder, name: str) -> bool:
        path = posixpath.join(self._dir(folder), check_name(name))

        def look(sftp: _SftpClient) -> bool:
            try:
                attributes = sftp.stat(path)
            except FileNotFoundError:
                return False
            return stat.S_ISREG(attributes.st_mode or 0)

        return self._run("check", f"{folder}/{name}", look)

    def download(self, folder: Folder, name: str) -> bytes:
        path = posixpath.join(self._dir(folder), check_name(name))

        def get(sftp: _SftpClient) -> bytes:
            buffer = io.BytesIO()
            sftp.getfo(path, buffer)
            return buffer.getvalue()

        return self._run("download", f"{folder}/{name}", get)

    def archive(self, folder: Folder, name: str) -> str:
        return self._run("archive", f"{folder}/{name}", lambda sftp: self._move(sftp, folder, name, "archive"))

    def quarantine(self, folder: Folder, name: str, report_name: str, report: bytes) -> str:
        check_name(report_name)
        moved = self._run("quarantine", f"{folder}/{name}", lambda sftp: self._move(sftp, folder, name, "error"))
        directory = self._dir("error")

        def write_report(sftp: _SftpClient) -> str:
            temp = posixpath.join(directory, temp_name(report_name))
            try:
                sftp.putfo(io.BytesIO(report), temp, file_size=len(report), confirm=True)
                return self._place(sftp, temp, directory, report_name)
            except (OSError, EOFError, paramiko.SSHException):
                if self._alive():
                    with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
                        sftp.remove(temp)
                raise

        placed = self._run("write quarantine report", f"error/{report_name}", write_report)
        log.info("quarantined %s/%s as error/%s with report error/%s", folder, name, moved, placed)
        return moved

    def remove_stale_parts(self, folder: Folder, older_than_seconds: float = 3600) -> list[str]:
        """See WarehouseDrop; ages compare the server's mtimes with this machine's clock: keep them above any skew."""
        directory = self._dir(folder)
        removed: list[str] = []  # kept across the reconnect, so the answer names what the first attempt removed

        def clean(sftp: _SftpClient) -> None:
            cutoff = time.time() - older_than_seconds
            for entry in self._temporaries(sftp, directory):
                if entry.st_mtime is not None and entry.st_mtime < cutoff:
                    with contextlib.suppress(FileNotFoundError):  # removed meanwhile by another run
                        sftp.remove(posixpath.join(directory, entry.filename))
                        removed.append(entry.filename)

        self._run("remove stale temporary files", folder, clean)
        if removed:
            log.info(
                "%s: removed %d stale temporary file(s) on %s: %s",
                folder, len(removed), self.host, ", ".join(sorted(removed)),
            )
        return sorted(removed)

    # retention ----

    def list_files(self, folder: Folder) -> list[RemoteFile]:
        directory = self._dir(folder)

        def look(sftp: _SftpClient) -> list[RemoteFile]:
            try:
                entries = sftp.listdir_attr(directory or ".")
            except FileNotFoundError:
                return []
            return [
                RemoteFile(folder, entry.filename, entry.st_size or 0, float(entry.st_mtime or 0))
                for entry in entries
                if stat.S_ISREG(entry.st_mode or 0) and name_problem(entry.filename) is None
            ]

        return sorted(self._run("list", folder, look), key=lambda f: (f.mtime, f.name))

    def delete(self, folder: Folder, name: str) -> bool:
        path = posixpath.join(self._dir(folder), check_name(name))

        def remove(sftp: _SftpClient) -> bool:
            try:
                if not stat.S_ISREG(sftp.lstat(path).st_mode or 0):
                    raise PermanentError("not a regular file: left alone", subject=f"{folder}/{name}")
                sftp.remove(path)
            except FileNotFoundError:
                return False
            return True

        deleted = self._run("delete", f"{folder}/{name}", remove)
        if deleted:
            log.info("deleted %s/%s on %s", folder, name, self.host)
        return deleted

    def close(self) -> None:
        """Close the SFTP session and the SSH connection."""
        sftp, transport = self._sftp, self._transport
        self._sftp, self._transport = None, None
        if sftp is not None:
            with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
                sftp.close()
        if transport is not None:
            transport.close()

    # -- one connection, reopened once -----------------------------------------------------------------------

    def _run(self, action: str, subject: str, operation: Callable[[_SftpClient], _T]) -> _T:
        for attempt in (1, 2):
            sftp = self._client()
            try:
                return operation(sftp)
            except IntegrationError:
                raise
            except (OSError, EOFError, paramiko.SSHException) as exc:
                if not self._lost(exc):
                    raise self._map_sftp_error(exc, action, subject) from exc
                self.close()
                if attempt == 2:
                    raise TransientError(
                        f"SFTP connection to {self.host}:{self.port} dropped again during {action}", subject=subject
                    ) from exc
                log.warning(
                    "SFTP connection to %s:%d dropped during %s (%s); reconnecting once",
                    self.host, self.port, action, type(exc).__name__,
                )
        raise AssertionError("unreachable: the second attempt returns or raises")

    def _client(self) -> _SftpClient:
        if self._sftp is not None and self._alive():
            return self._sftp
        if self._sftp is not None:
            log.info("SFTP connection to %s:%d was closed by the server; reconnecting", self.host, self.port)
            self.close()
        self._sftp = self._connect()
        return self._sftp

    def _alive(self) -> bool:
        return self._transport is not None and self._transport.is_active()

    def _lost(self, exc: BaseException) -> bool:
        """A failure of the connection rather than of the file operation."""
        if isinstance(exc, EOFError | paramiko.SSHException | TimeoutError | ConnectionError):
            return True
        return not self._alive()

    def _map_sftp_error(self, exc: BaseException, action: str, subject: str) -> IntegrationError:
        if isinstance(exc, OSError):
            return map_os_error(exc, action, subject)
        return TransientError(f"{action} failed: {type(exc).__name__}", subject=subject)

    def _connect(self) -> _SftpClient:
        where = f"{self.host}:{self.port}"
        pinned = self._pinned_keys()  # a broken known_hosts file fails before any connection is opened
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except socket.gaierror as exc:
            if exc.errno == socket.EAI_NONAME:
                raise PermanentError(f"SFTP host {self.host} cannot be resolved") from exc
            raise TransientError(f"SFTP host {self.host} lookup failed: {exc.strerror}") from exc
        except TimeoutError as exc:
            raise TransientError(f"SFTP connect to {where} timed out after {self.timeout:g}s") from exc
        except OSError as exc:
            raise TransientError(f"SFTP connect to {where} failed: {exc.strerror or exc}") from exc
        transport = paramiko.Transport(sock)
        try:
            sftp = self._handshake(transport, pinned)
        except BaseException:
            transport.close()
            sock.close()  # Transport.close() leaves the socket alone when the handshake never started
            raise
        self._transport = transport
        self._known_dirs = set()
        self._posix_rename = True
        self.connections_opened += 1
        log.info("SFTP connected to %s as %s", where, self.username)
        return sftp

    def _handshake(self, transport: paramiko.Transport, pinned: dict[str, paramiko.PKey]) -> _SftpClient:
        """Negotiate, check the host key, log in and open the SFTP subsystem, in our error terms."""
        where = f"{self.host}:{self.port}"
        transport.banner_timeout = self.timeout
        transport.handshake_timeout = self.timeout
        transport.auth_timeout = self.timeout
        transport.channel_timeout = self.timeout
        if pinned:
            # Ask for the key type we have pinned first, as OpenSSH does, or the server may offer another.
            options = transport.get_security_options()
            options.key_types = [*pinned, *(t for t in options.key_types if t not in pinned)]
        try:
            transport.start_client(timeout=self.timeout)
            self._verify_host_key(transport.get_remote_server_key(), pinned)
            self._authenticate(transport)
            sftp = _SftpClient.from_transport(transport)
            if sftp is None:
                raise TransientError(f"SFTP subsystem on {where} could not be opened")
            sftp.get_channel().settimeout(self.timeout)  # type: ignore[union-attr]
            return sftp
        except paramiko.BadAuthenticationType as exc:
            raise PermanentError(
                f"SFTP {where} does not accept this login method for {self.username}; it allows {exc.allowed_types}"
            ) from exc
        except paramiko.AuthenticationException as exc:
            if "timeout" in str(exc).lower():
                raise TransientError(f"SFTP authentication on {where} timed out") from exc
            raise PermanentError(f"SFTP authentication failed for user {self.username} on {where}") from exc
        except paramiko.SSHException as exc:
            if "incompatible" in str(exc).lower():
                raise PermanentError(f"SFTP {where}: no common SSH algorithms ({exc})") from exc
            raise TransientError(f"SFTP {where}: SSH negotiation failed ({exc})") from exc
        except (OSError, EOFError) as exc:
            raise TransientError(f"SFTP {where}: connection failed during setup ({type(exc).__name__})") from exc

    def _known_hosts_name(self) -> str:
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"

    def _pinned_keys(self) -> dict[str, paramiko.PKey]:
        """The known_hosts keys for this server, by key type (empty when pinning by fingerprint)."""
        if self.known_hosts is None:
            return {}
        host_keys = paramiko.HostKeys()
        try:
            host_keys.load(str(self.known_hosts))
        except OSError as exc:
            raise ConfigError(f"known_hosts file {self.known_hosts} cannot be read: {exc.strerror or exc}") from exc
        entry = host_keys.lookup(self._known_hosts_name())
        return dict(entry) if entry else {}

    def _verify_host_key(self, key: paramiko.PKey, pinned: dict[str, paramiko.PKey]) -> None:
        seen = f"{key.get_name()} {fingerprint(key)}"
        name = self._known_hosts_name()
        if self.host_key_fingerprint is not None:
            if not hmac.compare_digest(fingerprint(key), self.host_key_fingerprint):
                raise PermanentError(
                    f"SFTP host key for {name} does not match the pinned fingerprint: "
                    f"server sent {seen}, expected {self.host_key_fingerprint}"
                )
            return
        if not pinned:
            raise PermanentError(
                f"SFTP host {name} is not in known_hosts {self.known_hosts}; the server sent {seen} "
                f"(add it only after checking that fingerprint with the warehouse)"
            )
        expected = pinned.get(key.get_name())
        if expected is None or not hmac.compare_digest(expected.asbytes(), key.asbytes()):
            wanted = ", ".join(f"{kind} {fingerprint(k)}" for kind, k in pinned.items())
            raise PermanentError(
                f"SFTP host key for {name} does not match known_hosts {self.known_hosts}: "
                f"server sent {seen}, expected {wanted}"
            )

    def _authenticate(self, transport: paramiko.Transport) -> None:
        if self._pkey is not None:
            try:
                transport.auth_publickey(self.username, self._pkey)
            except paramiko.AuthenticationException:
                if self._password is None:
                    raise
        if not transport.is_authenticated() and self._password is not None:
            transport.auth_password(self.username, self._password)
        if not transport.is_authenticated():
            raise PermanentError(f"SFTP server {self.host}:{self.port} wants more authentication than we have")

    # -- file operations on an open session ------------------------------------------------------------------

    def _dir(self, folder: Folder) -> str:
        return posixpath.join(self.base_path, folder_path(self.folders, folder))

    def _makedirs(self, sftp: _SftpClient, directory: str) -> None:
        if not directory or directory in self._known_dirs:
            return
        path = "/" if directory.startswith("/") else ""
        for part in directory.strip("/").split("/"):
            path = posixpath.join(path, part)
            if path in self._known_dirs:
                continue
            try:
                sftp.stat(path)
            except FileNotFoundError:
                try:
                    sftp.mkdir(path)
                except OSError:
                    sftp.stat(path)  # created meanwhile by someone else is fine; still missing is the real error
            self._known_dirs.add(path)

    def _replace(self, sftp: _SftpClient, temp: str, final: str) -> None:
        if self._posix_rename:
            try:
                sftp.posix_rename(temp, final)
                return
            except _OpUnsupported:
                self._posix_rename = False
                log.warning(
                    "SFTP %s:%d lacks posix-rename@openssh.com: replacing files by remove then rename, "
                    "so a reader may briefly miss the file",
                    self.host, self.port,
                )
        with contextlib.suppress(FileNotFoundError):
            sftp.remove(final)
        sftp.rename(temp, final)

    def _temporaries(
        self, sftp: _SftpClient, directory: str, of: str | None = None
    ) -> list[paramiko.SFTPAttributes]:
        """Temporary upload files in directory, of one final name or of any; none when it does not exist."""
        try:
            entries = sftp.listdir_attr(directory or ".")
        except FileNotFoundError:
            return []
        return [e for e in entries if is_temporary(e.filename, of) and stat.S_ISREG(e.st_mode or 0)]

    def _remove_leftovers(self, sftp: _SftpClient, directory: str, folder: Folder, name: str) -> None:
        """Remove what a killed upload of name left; one we may not remove is reported, not fatal to this upload."""
        for entry in self._temporaries(sftp, directory, of=name):
            try:
                sftp.remove(posixpath.join(directory, entry.filename))
            except FileNotFoundError:
                continue
            except OSError as exc:
                if not self._alive():
                    raise
                log.warning(
                    "%s: cannot remove leftover temporary file %s on %s: %s",
                    folder, entry.filename, self.host, exc.strerror or exc,
                )
                continue
            log.info("%s: removed temporary file %s left by an earlier upload", folder, entry.filename)

    def _scan(
        self, sftp: _SftpClient, directory: str, patterns: Sequence[str], unsafe: list[str] | None = None
    ) -> dict[str, Snapshot]:
        try:
            entries = sftp.listdir_attr(directory or ".")
        except FileNotFoundError:
            log.warning("folder %s does not exist on %s; nothing to list", directory, self.host)
            return {}
        if unsafe is not None:  # a server may list any name, "../x" included: none of them becomes a path
            unsafe.extend(entry.filename for entry in entries if is_unsafe(entry.filename, patterns))
        return {
            entry.filename: Snapshot(entry.st_size or 0, float(entry.st_mtime or 0))
            for entry in entries
            if is_listable(entry.filename, patterns) and stat.S_ISREG(entry.st_mode or 0)
        }

    def _quarantine_unsafe(self, folder: Folder, names: list[str]) -> None:
        """Move files whose names no path may be built from into the error folder under names we make, with a
        report; one that cannot be addressed at all stays and is only reported (once)."""
        directory = self._dir(folder)
        for name in names:
            problem = name_problem(name) or "the file name is not plain"

            def move(sftp: _SftpClient, name: str = name) -> str | None:
                if not addressable(name):
                    return None
                self._makedirs(sftp, self._dir("error"))
                return self._place(sftp, posixpath.join(directory, name), self._dir("error"), safe_name_for(name))

            try:
                placed = self._run("quarantine", folder, move)
                report_name = error_report_name(placed or safe_name_for(name))
                if placed is None and self.exists("error", report_name):
                    continue
                self.upload("error", report_name, unsafe_name_report(name, folder, problem, placed))
            except IntegrationError as exc:
                log.warning("%s: file %s with an unsafe name could not be quarantined: %s", folder, visible(name), exc)
                continue
            if placed is not None:
                log.warning("%s: file %s on %s refused (%s); moved to error/%s, report error/%s",
                            folder, visible(name), self.host, problem, placed, report_name)
            else:
                log.warning("%s: file %s on %s refused (%s); no safe path to it, left in place, report error/%s",
                            folder, visible(name), self.host, problem, report_name)

    def _move(self, sftp: _SftpClient, folder: Folder, name: str, target: Folder) -> str:
        source = posixpath.join(self._dir(folder), check_name(name))
        directory = self._dir(target)
        try:
            sftp.stat(source)
        except FileNotFoundError as exc:
            raise PermanentError(f"cannot move to {target}: file not found", subject=f"{folder}/{name}") from exc
        self._makedirs(sftp, directory)
        placed = self._place(sftp, source, directory, name)
        log.info("moved %s/%s to %s/%s on %s", folder, name, target, placed, self.host)
        return placed

    def _place(self, sftp: _SftpClient, source: str, directory: str, name: str) -> str:
        """Rename source into directory under the first free name; plain SFTP rename never replaces a file."""
        for candidate in free_names(name):
            target = posixpath.join(directory, candidate)
            try:
                sftp.rename(source, target)
                return candidate
            except OSError as exc:
                if isinstance(exc, _OpUnsupported) or exc.errno == errno.ENOENT or not self._exists(sftp, target):
                    raise
        raise PermanentError(f"no free name left in {directory}", subject=name)

    def _discard(self, sftp: _SftpClient, path: str) -> bool:
        """Remove path if we can; tells whether it was there (one we failed to remove counts as there)."""
        try:
            sftp.remove(path)
        except FileNotFoundError:
            return False
        except (OSError, EOFError, paramiko.SSHException):
            return True
        return True

    def _exists(self, sftp: _SftpClient, path: str) -> bool:
        try:
            sftp.stat(path)
        except FileNotFoundError:
            return False
        return True
