"""Rules every warehouse drop shares: folder and file names, what counts as a complete file, error mapping."""

from __future__ import annotations

import errno
import fnmatch
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import NamedTuple, get_args

from tasks.core.config import Folders
from tasks.core.errors import IntegrationError, PermanentError, TransientError
from tasks.core.names import free_names as free_names  # where the drops and their tests have always found it
from tasks.core.names import name_problem
from tasks.core.ports import Folder, RemoteFile
from tasks.core.text import visible

# How long list_new waits between its two looks at a folder: a file whose size or mtime changed in between is
# still being written and is left for the next run. SFTP reports mtimes in whole seconds, so size is what
# usually gives a slow writer away.
DEFAULT_SETTLE_SECONDS = 2.0

_PARTIAL = re.compile(r"\.part[^.]*$", re.IGNORECASE)  # ours are `<name>.part-<uuid>`; others use .part/.partial
_FOLDERS: tuple[Folder, ...] = get_args(Folder)
_PERMANENT_ERRNOS = {errno.ENOENT, errno.EACCES, errno.EPERM, errno.EISDIR, errno.ENOTDIR, errno.EEXIST, errno.EROFS}


class Snapshot(NamedTuple):
    """What one listing saw of a file."""

    size: int
    mtime: float


def folder_path(folders: Folders, folder: Folder) -> str:
    """The configured relative (or absolute) path of a logical folder."""
    if folder not in _FOLDERS:
        raise PermanentError(f"unknown warehouse folder {folder!r}; expected one of {', '.join(_FOLDERS)}")
    return str(getattr(folders, folder))


def check_name(name: str) -> str:
    """Refuse anything but a plain file name, so no caller can reach outside its folder."""
    problem = name_problem(name)
    if problem is not None:
        raise PermanentError(f"not a plain file name: {problem}", subject=visible(name))
    return name


def matches(name: str, patterns: Sequence[str]) -> bool:
    """Patterns are fnmatch patterns compared case-insensitively: warehouses write `.CSV` as often as `.csv`."""
    lowered = name.lower()
    return any(fnmatch.fnmatchcase(lowered, pattern.lower()) for pattern in patterns)


def is_listable(name: str, patterns: Sequence[str]) -> bool:
    """A name list_new may offer: a plain name, no dotfile, temporary or partial name, and matching a pattern."""
    if name.startswith(".") or name.lower().endswith(".tmp") or _PARTIAL.search(name):
        return False
    return name_problem(name) is None and matches(name, patterns)


def is_unsafe(name: str, patterns: Sequence[str]) -> bool:
    """A name list_new would have offered but that no path may be built from: it is quarantined instead."""
    return name_problem(name) is not None and matches(name, patterns)


def stable_files(folder: Folder, first: Mapping[str, Snapshot], second: Mapping[str, Snapshot]) -> list[RemoteFile]:
    """Files seen unchanged by both looks, oldest first (name breaks ties, so the order is stable)."""
    files = [
        RemoteFile(folder=folder, name=name, size=seen.size, mtime=seen.mtime)
        for name, seen in first.items()
        if second.get(name) == seen
    ]
    return sorted(files, key=lambda f: (f.mtime, f.name))


def temp_name(name: str) -> str:
    """A unique temporary name beside the final one; list_new never offers it."""
    return f"{name}.part-{uuid.uuid4().hex}"


def is_temporary(name: str, of: str | None = None) -> bool:
    """A temporary upload name, `<final>.part-<id>`: of any final name, or only of the final name `of`."""
    if of is None:
        return fnmatch.fnmatchcase(name, "*.part-*")
    return name.startswith(f"{of}.part-")


def vanished_temp(subject: str) -> TransientError:
    """An upload's temporary file gone before its rename: a concurrent upload of the same name removed it."""
    reason = "its temporary file vanished, most likely removed by another upload of the same name at the same time"
    return TransientError(f"upload failed: {reason}", subject=subject)


def map_os_error(exc: OSError, action: str, subject: str) -> IntegrationError:
    """A missing file or a refused permission will not heal on a retry; anything else might."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.errno in _PERMANENT_ERRNOS:
        return PermanentError(f"{action} failed: {reason}", subject=subject)
    return TransientError(f"{action} failed: {reason}", subject=subject)
