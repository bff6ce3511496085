"""The WarehouseDrop contract, run here against a local folder and in integration against SFTP servers."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from adapters.warehouse.local import LocalWarehouseDrop
from tasks.core.errors import IntegrationError, PermanentError, TransientError
from tasks.core.names import name_problem
from tasks.core.ports import WarehouseDrop
from tasks.core.text import is_suspect


@dataclass
class DropEnv:
    """A drop under test, the folder on disk its files land in, and a way to open a second drop on it."""

    drop: WarehouseDrop
    root: Path
    opener: Callable[..., WarehouseDrop]
    _opened: list[WarehouseDrop] = field(default_factory=list)

    def another(self, **options: Any) -> WarehouseDrop:
        drop = self.opener(**options)
        self._opened.append(drop)
        return drop

    def close(self) -> None:
        for drop in [self.drop, *self._opened]:
            drop.close()

    def inbound(self, name: str, data: bytes, mtime: float | None = None, folder: str = "inbound/shipments") -> Path:
        path = self.root / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if mtime is not None:
            os.utime(path, (mtime, mtime))
        return path


TIMESTAMPED = re.compile(r"^s-\d{8}T\d{6}Z(-\d+)?\.csv$")


class WarehouseDropContract:
    """Behaviour every WarehouseDrop keeps; subclasses provide an `env` fixture."""

    def test_upload_creates_folders_and_leaves_only_the_final_file(self, env: DropEnv) -> None:
        env.drop.upload("orders", "orders-1.csv", b"a,b\n1,2\n")

        folder = env.root / "outbound" / "orders"
        assert os.listdir(folder) == ["orders-1.csv"]
        assert (folder / "orders-1.csv").read_bytes() == b"a,b\n1,2\n"

    def test_a_retried_upload_replaces_the_file(self, env: DropEnv) -> None:
        env.drop.upload("orders", "batch-7.csv", b"first try")
        env.drop.upload("orders", "batch-7.csv", b"second try, longer")

        folder = env.root / "outbound" / "orders"
        assert os.listdir(folder) == ["batch-7.csv"]
        assert (folder / "batch-7.csv").read_bytes() == b"second try, longer"

    def test_readers_never_see_a_partial_file(self, env: DropEnv) -> None:
        versions = [bytes([ord("A") + i]) * 400_000 for i in range(4)]
        final = env.root / "outbound" / "orders" / "batch.csv"
        lister = env.another()
        read: list[bytes] = []
        listed: set[str] = set()
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                try:
                    read.append(final.read_bytes())
                except FileNotFoundError:
                    pass
                listed.update(f.name for f in lister.list_new("orders"))

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            for data in versions:
                env.drop.upload("orders", "batch.csv", data)
                time.sleep(0.05)
        finally:
            done.set()
            watcher.join()

        assert read, "the watcher never saw the file"
        assert all(data in versions for data in read)
        assert listed <= {"batch.csv"}
        assert final.read_bytes() == versions[-1]

    def test_a_failed_upload_removes_its_temporary_file(self, env: DropEnv) -> None:
        blocked = env.root / "outbound" / "orders" / "taken.csv"
        blocked.mkdir(parents=True)  # a directory where the file should go: the final rename must fail

        with pytest.raises(IntegrationError) as caught:
            env.drop.upload("orders", "taken.csv", b"payload")

        assert caught.value.subject == "orders/taken.csv"
        assert os.listdir(blocked.parent) == ["taken.csv"]
        assert blocked.is_dir()

    def test_list_new_offers_complete_matching_files_oldest_first(self, env: DropEnv) -> None:
        env.inbound("b.csv", b"bb", mtime=1_700_000_000)
        env.inbound("a.csv", b"a", mtime=1_700_000_200)
        env.inbound("C.CSV", b"ccc", mtime=1_700_000_100)
        for skipped in ("notes.txt", ".hidden.csv", "x.csv.tmp", "y.csv.part-abc", "z.csv.part", "w.csv.partial"):
            env.inbound(skipped, b"skip me")
        (env.root / "inbound" / "shipments" / "folder.csv").mkdir()

        files = env.drop.list_new("shipments", ["*.csv"])

        assert [(f.name, f.size, f.folder) for f in files] == [
            ("b.csv", 2, "shipments"),
            ("C.CSV", 3, "shipments"),
            ("a.csv", 1, "shipments"),
        ]
        assert [f.mtime for f in files] == [1_700_000_000, 1_700_000_100, 1_700_000_200]

    def test_list_new_of_a_missing_folder_is_empty(self, env: DropEnv) -> None:
        assert env.drop.list_new("inventory", ["*.csv"]) == []

    def test_list_new_leaves_a_file_that_is_still_growing(self, env: DropEnv) -> None:
        env.inbound("done.csv", b"complete\n")
        growing = env.inbound("growing.csv", b"header\n")
        patient = env.another(settle_seconds=0.2)
        stop = threading.Event()

        def append() -> None:
            with growing.open("ab") as handle:
                while not stop.is_set():
                    handle.write(b"row\n")
                    handle.flush()
                    time.sleep(0.005)

        writer = threading.Thread(target=append)
        writer.start()
        try:
            while_writing = [f.name for f in patient.list_new("shipments", ["*.csv"])]
        finally:
            stop.set()
            writer.join()

        assert while_writing == ["done.csv"]
        assert sorted(f.name for f in env.drop.list_new("shipments", ["*.csv"])) == ["done.csv", "growing.csv"]

    def test_download_returns_the_bytes(self, env: DropEnv) -> None:
        payload = bytes(range(256)) * 1000
        env.inbound("stock.csv", payload, folder="inbound/inventory")

        assert env.drop.download("inventory", "stock.csv") == payload

    def test_download_of_a_missing_file_is_permanent(self, env: DropEnv) -> None:
        (env.root / "inbound" / "shipments").mkdir(parents=True)

        with pytest.raises(PermanentError) as caught:
            env.drop.download("shipments", "gone.csv")
        assert caught.value.subject == "shipments/gone.csv"

    def test_archive_moves_the_file_and_never_overwrites(self, env: DropEnv) -> None:
        names = []
        for content in (b"one", b"two", b"three"):
            env.inbound("s.csv", content)
            names.append(env.drop.archive("shipments", "s.csv"))

        archive = env.root / "archive"
        assert names[0] == "s.csv"
        assert all(TIMESTAMPED.match(name) for name in names[1:])
        assert len(set(names)) == 3
        assert sorted(os.listdir(archive)) == sorted(names)
        assert [(archive / name).read_bytes() for name in names] == [b"one", b"two", b"three"]
        assert os.listdir(env.root / "inbound" / "shipments") == []

    def test_archive_of_a_missing_file_is_permanent(self, env: DropEnv) -> None:
        (env.root / "inbound" / "shipments").mkdir(parents=True)

        with pytest.raises(PermanentError):
            env.drop.archive("shipments", "never-there.csv")

    def test_quarantine_moves_the_file_and_writes_the_report_beside_it(self, env: DropEnv) -> None:
        env.inbound("s.csv", b"bad,file\n")
        first = env.drop.quarantine("shipments", "s.csv", "s.csv.errors.txt", b"row 2: carrier is missing\n")
        env.inbound("s.csv", b"bad again\n")
        second = env.drop.quarantine("shipments", "s.csv", "s.csv.errors.txt", b"row 1: no header\n")

        error = env.root / "error"
        assert first == "s.csv"
        assert TIMESTAMPED.match(second)
        assert (error / first).read_bytes() == b"bad,file\n"
        assert (error / second).read_bytes() == b"bad again\n"
        assert (error / "s.csv.errors.txt").read_bytes() == b"row 2: carrier is missing\n"
        (later_report,) = [n for n in os.listdir(error) if n.startswith("s.csv.errors-")]
        assert (error / later_report).read_bytes() == b"row 1: no header\n"
        assert not any(".part" in name for name in os.listdir(error))
        assert os.listdir(env.root / "inbound" / "shipments") == []

    def test_exists_tells_a_complete_file_from_anything_else(self, env: DropEnv) -> None:
        assert env.drop.exists("orders", "o.csv") is False  # not even the folder yet
        env.drop.upload("orders", "o.csv", b"o")
        (env.root / "outbound" / "orders" / "dir.csv").mkdir()
        (env.root / "outbound" / "orders" / "p.csv.part-0123abcd").write_bytes(b"half")

        assert env.drop.exists("orders", "o.csv") is True
        assert env.drop.exists("orders", "O.CSV") is False
        assert env.drop.exists("orders", "p.csv") is False
        assert env.drop.exists("orders", "dir.csv") is False
        assert env.drop.exists("shipments", "o.csv") is False

    def test_upload_removes_what_a_killed_upload_of_the_same_name_left(self, env: DropEnv) -> None:
        folder = env.root / "outbound" / "orders"
        killed = ["orders-7.csv.part-" + "a" * 32, "orders-7.csv.part-b"]
        others = ["orders-7.csv.bak.part-c", "orders-70.csv.part-d", "other.csv.part-e", "orders-7.csv.partial"]
        for name in killed + others:
            env.inbound(name, b"Jane Doe, 1 Main St", folder="outbound/orders")

        env.drop.upload("orders", "orders-7.csv", b"fresh")

        assert sorted(os.listdir(folder)) == sorted(["orders-7.csv", *others])
        assert (folder / "orders-7.csv").read_bytes() == b"fresh"

    def test_remove_stale_parts_deletes_only_old_temporary_files(self, env: DropEnv) -> None:
        folder = env.root / "outbound" / "orders"
        old = time.time() - 7200
        for name in ("a.csv.part-1", "b.csv.part-" + "f" * 32):
            env.inbound(name, b"Jane Doe, 1 Main St", mtime=old, folder="outbound/orders")
        env.inbound("old.csv", b"kept", mtime=old, folder="outbound/orders")
        env.inbound("old.csv.partial", b"not ours", mtime=old, folder="outbound/orders")
        env.inbound("c.csv.part-2", b"still being written", folder="outbound/orders")
        (folder / "d.csv.part-3").mkdir()
        os.utime(folder / "d.csv.part-3", (old, old))

        removed = env.drop.remove_stale_parts("orders")

        assert removed == ["a.csv.part-1", "b.csv.part-" + "f" * 32]
        assert sorted(os.listdir(folder)) == ["c.csv.part-2", "d.csv.part-3", "old.csv", "old.csv.partial"]
        assert env.drop.remove_stale_parts("orders", older_than_seconds=3600) == []
        assert env.drop.remove_stale_parts("orders", older_than_seconds=-60) == ["c.csv.part-2"]

    def test_remove_stale_parts_of_a_missing_folder_is_empty(self, env: DropEnv) -> None:
        assert env.drop.remove_stale_parts("orders") == []

    def test_list_files_lists_every_file_with_its_age_and_delete_removes_one(self, env: DropEnv) -> None:
        kept = env.inbound("a.csv", b"aa", mtime=1_700_000_000, folder="archive")
        env.inbound(".hidden", b"h", mtime=1_700_000_100, folder="archive")
        env.inbound("b.csv.part-1234", b"bbb", mtime=1_700_000_200, folder="archive")
        env.inbound("odd\x1bname.csv", b"x", mtime=1_700_000_300, folder="archive")
        (env.root / "archive" / "sub").mkdir()

        files = env.drop.list_files("archive")

        assert [(f.folder, f.name, f.size, f.mtime) for f in files] == [
            ("archive", "a.csv", 2, 1_700_000_000),
            ("archive", ".hidden", 1, 1_700_000_100),
            ("archive", "b.csv.part-1234", 3, 1_700_000_200),
        ]  # every regular file, but never one whose name no path may be built from
        assert env.drop.delete("archive", "a.csv") is True
        assert not kept.exists()
        assert env.drop.delete("archive", "a.csv") is False  # already gone
        with pytest.raises(PermanentError):
            env.drop.delete("archive", "sub")  # a folder is never deleted
        assert (env.root / "archive" / "sub").is_dir()
        with pytest.raises(PermanentError):
            env.drop.delete("archive", "../escape.csv")
        assert env.drop.list_files("orders") == []

    @pytest.mark.parametrize("name", ["../escape.csv", "a/b.csv", "", ".."])
    def test_names_that_leave_the_folder_are_refused(self, env: DropEnv, name: str) -> None:
        with pytest.raises(PermanentError):
            env.drop.upload("orders", name, b"x")
        with pytest.raises(PermanentError):
            env.drop.download("shipments", name)
        with pytest.raises(PermanentError):
            env.drop.exists("orders", name)
        assert not (env.root.parent / "escape.csv").exists()


    @pytest.mark.parametrize(
        "name",
        ["ship\x1b[31m.csv", "tab\there.csv", "rlo\u202ecsv.exe.csv", "bell\x07.csv", "new\nline.csv",
         "..hidden\x7f.csv"],
    )
    def test_a_listed_name_no_path_may_be_built_from_is_quarantined_with_a_report(
        self, env: DropEnv, name: str
    ) -> None:
        env.inbound("good.csv", b"a,b\n")
        env.inbound(name, b"payload")
        outside_before = sorted(str(p) for p in env.root.parent.rglob("*") if env.root not in p.parents)

        files = env.drop.list_new("shipments", ["*.csv"])

        assert [f.name for f in files] == ["good.csv"]
        assert sorted(os.listdir(env.root / "inbound" / "shipments")) == ["good.csv"]
        error = env.root / "error"
        moved = [n for n in os.listdir(error) if not n.endswith(".errors.csv")]
        assert len(moved) == 1 and moved[0].startswith("renamed-") and name_problem(moved[0]) is None
        assert (error / moved[0]).read_bytes() == b"payload"
        report = (error / (moved[0] + ".errors.csv")).read_bytes().decode("utf-8")
        assert "file name" in report and f"moved to the error folder as {moved[0]}" in report
        assert not any(is_suspect(char) for char in report.replace("\r\n", ""))
        assert sorted(str(p) for p in env.root.parent.rglob("*") if env.root not in p.parents) == outside_before
        assert env.drop.list_new("shipments", ["*.csv"])[0].name == "good.csv"  # and it is not looked at again

    @pytest.mark.parametrize("name", ["..\\..\\escape.csv", "c:\\temp\\x.csv"])
    def test_a_name_with_a_backslash_is_never_a_path_only_reported_once(self, env: DropEnv, name: str) -> None:
        # a backslash is a plain character here but a separator on Windows servers: no path is built from it
        env.inbound(name, b"payload")

        assert env.drop.list_new("shipments", ["*.csv"]) == []
        assert os.listdir(env.root / "inbound" / "shipments") == [name]
        (report,) = os.listdir(env.root / "error")
        text = (env.root / "error" / report).read_bytes().decode("utf-8")
        assert "path separator" in text and "left where it is" in text
        (env.root / "error" / report).write_bytes(b"seen")
        assert env.drop.list_new("shipments", ["*.csv"]) == []
        assert (env.root / "error" / report).read_bytes() == b"seen"  # reported once, not every run
        assert not (env.root.parent / "escape.csv").exists() and not (env.root / "escape.csv").exists()

    def test_an_unsafe_name_that_matches_no_pattern_is_left_alone(self, env: DropEnv) -> None:
        env.inbound("notes\x1b.txt", b"not ours")

        assert env.drop.list_new("shipments", ["*.csv"]) == []
        assert os.listdir(env.root / "inbound" / "shipments") == ["notes\x1b.txt"]
        assert not (env.root / "error").exists()


class TestLocalWarehouseDrop(WarehouseDropContract):
    @pytest.fixture
    def env(self, tmp_path: Path) -> Iterator[DropEnv]:
        root = tmp_path / "drop"

        def opener(**options: Any) -> WarehouseDrop:
            return LocalWarehouseDrop(root, settle_seconds=options.get("settle_seconds", 0.05))

        env = DropEnv(drop=opener(), root=root, opener=opener)
        yield env
        env.close()

    def test_a_crashed_writer_temp_file_is_never_offered(self, env: DropEnv) -> None:
        env.inbound("orders.csv.part-0123abcd", b"half a fi")

        assert env.drop.list_new("shipments") == []

    def test_exists_maps_a_failed_look_to_our_errors(self, env: DropEnv) -> None:
        env.root.mkdir(parents=True)
        (env.root / "outbound").write_bytes(b"a file where the folder should be")

        with pytest.raises(PermanentError) as caught:
            env.drop.exists("orders", "o.csv")
        assert caught.value.subject == "orders/o.csv"

    def test_an_upload_whose_temporary_file_another_upload_removed_is_transient(
        self, env: DropEnv, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        real_replace = os.replace

        def replace_after_a_rival_cleaned_up(source: Path, target: Path) -> None:
            rival = env.another()
            monkeypatch.setattr(os, "replace", real_replace)
            rival.upload("orders", "same.csv", b"the rival's copy")  # removes our temporary file first
            real_replace(source, target)

        monkeypatch.setattr(os, "replace", replace_after_a_rival_cleaned_up)
        with pytest.raises(TransientError, match="another upload of the same name") as caught:
            env.drop.upload("orders", "same.csv", b"ours")

        folder = env.root / "outbound" / "orders"
        assert caught.value.subject == "orders/same.csv"
        assert os.listdir(folder) == ["same.csv"]
        assert (folder / "same.csv").read_bytes() == b"the rival's copy"
