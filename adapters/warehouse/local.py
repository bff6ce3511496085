"""A warehouse drop in a local (or mounted) folder, with the same atomicity rules as the SFTP one."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

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
from tasks.core.errors import IntegrationError, PermanentError
from tasks.core.names import addressable, error_report_name, name_problem, safe_name_for, unsafe_name_report
from tasks.core.ports import Folder, RemoteFile
from tasks.core.text import visible

log = logging.getLogger(__name__)

# Filesystems where hard links do not work; there we check-then-rename instead.
_NO_LINKS = {errno.EPERM, errno.EXDEV, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK}


class LocalWarehouseDrop:
    """Folders under one root directory; see WarehouseDrop for the contract.

    list_new looks at a folder twice, `settle_seconds` apart, and leaves out files whose size or mtime changed.
    """

    def __init__(self, root: Path, folders: Folders | None = None, *, settle_seconds: float = DEFAULT_SETTLE_SECONDS):
        self.root = Path(root)
        self.folders = folders or Folders()
        self.settle_seconds = settle_seconds

    def __repr__(self) -> str:
        return f"LocalWarehouseDrop(root={str(self.root)!r})"

    def upload(self, folder: Folder, name: str, data: bytes) -> None:
        directory = self._dir(folder)
        final = directory / check_name(name)
        temp = directory / temp_name(name)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._remove_leftovers(directory, folder, name)
            with open(temp, "xb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.replace(temp, final)
            except FileNotFoundError as exc:
                if temp.exists() or not directory.is_dir():
                    raise
                raise vanished_temp(f"{folder}/{name}") from exc
        except OSError as exc:
            with contextlib.suppress(OSError):
                temp.unlink(missing_ok=True)
            raise map_os_error(exc, "upload", f"{folder}/{name}") from exc
        log.info("uploaded %s/%s (%d bytes)", folder, name, len(data))

    def upload_many(self, folder: Folder, files: Mapping[str, bytes]) -> None:
        for name, data in files.items():
            self.upload(folder, name, data)

    def list_new(self, folder: Folder, patterns: Sequence[str] = ("*",)) -> list[RemoteFile]:
        unsafe: list[str] = []
        first = self._scan(folder, patterns, unsafe)
        self._quarantine_unsafe(folder, unsafe)
        if not first:
            return []
        time.sleep(self.settle_seconds)
        files = stable_files(folder, first, self._scan(folder, patterns))
        if len(files) < len(first):
            log.info("%s: %d file(s) still being written, left for the next run", folder, len(first) - len(files))
        return files

    def exists(self, folder: Folder, name: str) -> bool:
        path = self._dir(folder) / check_name(name)
        try:
            info = path.stat()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise map_os_error(exc, "check", f"{folder}/{name}") from exc
        return stat.S_ISREG(info.st_mode)

    def download(self, folder: Folder, name: str) -> bytes:
        path = self._dir(folder) / check_name(name)
        try:
            return path.read_bytes()
        except OSError as exc:
            raise map_os_error(exc, "download", f"{folder}/{name}") from exc

    def archive(self, folder: Folder, name: str) -> str:
        return self._move(folder, name, "archive")

    def quarantine(self, folder: Folder, name: str, report_name: str, report: bytes) -> str:
        check_name(report_name)
        moved = self._move(folder, name, "error")
        directory = self._dir("error")
        temp = directory / temp_name(report_name)
        try:
            temp.write_bytes(report)
            placed = self._place(temp, directory, report_name)
        except OSError as exc:
            with contextlib.suppress(OSError):
                temp.unlink(missing_ok=True)
            raise map_os_error(exc, "write quarantine report", f"error/{report_name}") from exc
        log.info("quarantined %s/%s as error/%s with report error/%s", folder, name, moved, placed)
        return moved

    def remove_stale_parts(self, folder: Folder, older_than_seconds: float = 3600) -> list[str]:
        directory = self._dir(folder)
        cutoff = time.time() - older_than_seconds
        removed: list[str] = []
        try:
            stale = [path for path, mtime in self._temporaries(directory) if mtime < cutoff]
            for path in stale:
                with contextlib.suppress(FileNotFoundError):  # removed meanwhile by another run
                    path.unlink()
                    removed.append(path.name)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise map_os_error(exc, "remove stale temporary files", folder) from exc
        if removed:
            log.info("%s: removed %d stale temporary file(s): %s", folder, len(removed), ", ".join(sorted(removed)))
        return sorted(removed)

    def close(self) -> None:
        """Nothing to release: every operation opens and closes its own files."""

    # retention ----

    def list_files(self, folder: Folder) -> list[RemoteFile]:
        directory = self._dir(folder)
        found: list[RemoteFile] = []
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    if name_problem(entry.name) is not None:
                        continue  # no path is built from it, so it is never deleted either
                    with contextlib.suppress(FileNotFoundError):
                        info = entry.stat(follow_symlinks=False)
                        if stat.S_ISREG(info.st_mode):
                            found.append(RemoteFile(folder, entry.name, info.st_size, info.st_mtime))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise map_os_error(exc, "list", folder) from exc
        return sorted(found, key=lambda f: (f.mtime, f.name))

    def delete(self, folder: Folder, name: str) -> bool:
        path = self._dir(folder) / check_name(name)
        try:
            if not stat.S_ISREG(path.lstat().st_mode):
                raise PermanentError("not a regular file: left alone", subject=f"{folder}/{name}")
            path.unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise map_os_error(exc, "delete", f"{folder}/{name}") from exc
        log.info("deleted %s/%s", folder, name)
        return True

    def _dir(self, folder: Folder) -> Path:
        return self.root / folder_path(self.folders, folder)

    def _temporaries(self, directory: Path, of: str | None = None) -> list[tuple[Path, float]]:
        """Temporary upload files in directory (of one final name, or of any), with their mtimes."""
        found = []
        with os.scandir(directory) as entries:
            for entry in entries:
                if not is_temporary(entry.name, of):
                    continue
                with contextlib.suppress(FileNotFoundError):
                    info = entry.stat(follow_symlinks=False)
                    if stat.S_ISREG(info.st_mode):
                        found.append((directory / entry.name, info.st_mtime))
        return found

    def _remove_leftovers(self, directory: Path, folder: Folder, name: str) -> None:
        """Remove what a killed upload of name left; one we may not remove is reported, not fatal to this upload."""
        for path, _ in self._temporaries(directory, of=name):
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                log.warning("%s: cannot remove leftover temporary file %s: %s", folder, path.name, exc.strerror)
                continue
            log.info("%s: removed temporary file %s left by an earlier upload", folder, path.name)

    def _scan(self, folder: Folder, patterns: Sequence[str], unsafe: list[str] | None = None) -> dict[str, Snapshot]:
        directory = self._dir(folder)
        seen: dict[str, Snapshot] = {}
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    if unsafe is not None and is_unsafe(entry.name, patterns):
                        unsafe.append(entry.name)
                    if not is_listable(entry.name, patterns):
                        continue
                    with contextlib.suppress(FileNotFoundError):  # moved away while we looked
                        info = entry.stat(follow_symlinks=False)
                        if stat.S_ISREG(info.st_mode):
                            seen[entry.name] = Snapshot(info.st_size, info.st_mtime)
        except FileNotFoundError:
            log.warning("folder %s (%s) does not exist; nothing to list", folder, directory)
        except OSError as exc:
            raise map_os_error(exc, "list", folder) from exc
        return seen

    def _quarantine_unsafe(self, folder: Folder, names: Sequence[str]) -> None:
        """Move files whose names no path may be built from into the error folder under names we make, with a
        report; one that cannot be addressed at all stays and is only reported (once)."""
        for name in names:
            problem = name_problem(name) or "the file name is not plain"
            placed: str | None = None
            try:
                if addressable(name) and (self._dir(folder) / name).is_file():
                    directory = self._dir("error")
                    directory.mkdir(parents=True, exist_ok=True)
                    placed = self._place(self._dir(folder) / name, directory, safe_name_for(name))
                report_name = error_report_name(placed or safe_name_for(name))
                if placed is None and self.exists("error", report_name):
                    continue
                self.upload("error", report_name, unsafe_name_report(name, folder, problem, placed))
            except (OSError, IntegrationError) as exc:
                log.warning("%s: file %s with an unsafe name could not be quarantined: %s", folder, visible(name), exc)
                continue
            _log_unsafe(folder, name, problem, placed, report_name)

    def _move(self, folder: Folder, name: str, target: Folder) -> str:
        source = self._dir(folder) / check_name(name)
        directory = self._dir(target)
        try:
            if not source.is_file():
                raise PermanentError(f"cannot move to {target}: file not found", subject=f"{folder}/{name}")
            directory.mkdir(parents=True, exist_ok=True)
            placed = self._place(source, directory, name)
        except OSError as exc:
            raise map_os_error(exc, f"move to {target}", f"{folder}/{name}") from exc
        log.info("moved %s/%s to %s/%s", folder, name, target, placed)
        return placed

    def _place(self, source: Path, directory: Path, name: str) -> str:
        """Move source into directory under the first free name; an existing file is never replaced."""
        for candidate in free_names(name):
            target = directory / candidate
            try:
                os.link(source, target)  # fails if target exists, so a concurrent writer cannot be overwritten
            except FileExistsError:
                continue
            except OSError as exc:
                if exc.errno not in _NO_LINKS:
                    raise
                if target.exists():
                    continue
                os.rename(source, target)
                return candidate
            source.unlink()
            return candidate
        raise PermanentError(f"no free name left in {directory.name}", subject=name)


def _log_unsafe(folder: Folder, name: str, problem: str, placed: str | None, report_name: str) -> None:
    if placed is not None:
        log.warning("%s: file %s refused (%s); moved to error/%s, report error/%s",
                    folder, visible(name), problem, placed, report_name)
    else:
        log.warning("%s: file %s refused (%s); no safe path to it, left in place, report error/%s",
                    folder, visible(name), problem, report_name)
