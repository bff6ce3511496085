"""SftpWarehouseDrop against real SFTP servers on 127.0.0.1: the embedded asyncssh one and OpenSSH's sshd."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.warehouse.sftp import SftpWarehouseDrop
from flows.runtime import drop_for
from simulator.sftp_server import EmbeddedSftpServer
from tasks.core.config import SftpDrop
from tasks.core.errors import PermanentError, TransientError
from tasks.core.ports import WarehouseDrop
from tests.support.sftp_fixtures import SftpTarget, free_port, make_client_key
from tests.unit.test_warehouse_local import DropEnv, WarehouseDropContract

ServerFactory = Callable[..., tuple[SftpTarget, EmbeddedSftpServer]]
BIG = 24 * 1024 * 1024  # large enough that an upload is still running when the test cuts it


class TestSftpWarehouseDrop(WarehouseDropContract):
    @pytest.fixture
    def env(self, sftp_target: SftpTarget) -> Iterator[DropEnv]:
        def opener(**options: Any) -> WarehouseDrop:
            return sftp_target.drop(**options)

        env = DropEnv(drop=opener(), root=sftp_target.root, opener=opener)
        yield env
        env.close()


def _wait_for_part_file(folder: Path, uploader: threading.Thread) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and uploader.is_alive():
        if folder.is_dir() and any(".part-" in name and (folder / name).stat().st_size > 0
                                   for name in os.listdir(folder)):
            return
        time.sleep(0.002)
    raise AssertionError("the upload never started writing its temporary file")


def _upload_in_background(drop: SftpWarehouseDrop, data: bytes) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            drop.upload("orders", "big.csv", data)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


# -- host keys and credentials ---------------------------------------------------------------------------------


def test_a_matching_fingerprint_is_accepted(sftp_target: SftpTarget) -> None:
    drop = sftp_target.drop(known_hosts=None, host_key_fingerprint=sftp_target.fingerprint)

    drop.upload("orders", "pinned.csv", b"ok")

    assert (sftp_target.root / "outbound" / "orders" / "pinned.csv").read_bytes() == b"ok"


def test_a_different_fingerprint_is_refused_naming_both(sftp_target: SftpTarget) -> None:
    wrong = "SHA256:" + "A" * 43
    drop = sftp_target.drop(known_hosts=None, host_key_fingerprint=wrong)

    with pytest.raises(PermanentError) as caught:
        drop.list_new("shipments")

    message = str(caught.value)
    assert f"[127.0.0.1]:{sftp_target.port}" in message
    assert sftp_target.fingerprint in message
    assert wrong in message


def test_a_known_hosts_file_without_the_host_is_refused(sftp_target: SftpTarget, tmp_path: Path) -> None:
    other = tmp_path / "known_hosts_other"
    line = sftp_target.known_hosts.read_text().replace(f"[127.0.0.1]:{sftp_target.port}", "[127.0.0.1]:1")
    other.write_text(line)

    with pytest.raises(PermanentError) as caught:
        sftp_target.drop(known_hosts=other).upload("orders", "x.csv", b"x")

    assert "not in known_hosts" in str(caught.value)
    assert sftp_target.fingerprint in str(caught.value)
    assert not (sftp_target.root / "outbound").exists()


def test_a_known_hosts_entry_with_another_key_is_refused(sftp_target: SftpTarget, tmp_path: Path) -> None:
    impostor = make_client_key(tmp_path)  # any ed25519 public key that is not the server's
    algorithm, blob = impostor.public_line.split()[:2]
    known_hosts = tmp_path / "known_hosts_wrong"
    known_hosts.write_text(f"[127.0.0.1]:{sftp_target.port} {algorithm} {blob}\n")

    with pytest.raises(PermanentError) as caught:
        sftp_target.drop(known_hosts=known_hosts).list_new("shipments")

    assert "does not match" in str(caught.value)
    assert sftp_target.fingerprint in str(caught.value)
    assert impostor.pkey.fingerprint in str(caught.value)


def test_hashed_known_hosts_entries_work(sftp_target: SftpTarget, tmp_path: Path) -> None:
    import paramiko

    name = f"[127.0.0.1]:{sftp_target.port}"
    _, algorithm, blob = sftp_target.known_hosts.read_text().split()
    hashed = tmp_path / "known_hosts_hashed"
    hashed.write_text(f"{paramiko.HostKeys.hash_host(name)} {algorithm} {blob}\n")

    sftp_target.drop(known_hosts=hashed).upload("orders", "h.csv", b"h")

    assert (sftp_target.root / "outbound" / "orders" / "h.csv").exists()


def test_a_wrong_password_is_permanent(sftp_target: SftpTarget) -> None:
    drop = sftp_target.drop(pkey=None, password="not the password")

    with pytest.raises(PermanentError) as caught:
        drop.list_new("shipments")

    assert "not the password" not in str(caught.value)


def test_an_unknown_client_key_is_permanent(sftp_target: SftpTarget, tmp_path: Path) -> None:
    stranger = make_client_key(tmp_path)

    with pytest.raises(PermanentError, match="authentication failed"):
        sftp_target.drop(pkey=stranger.pkey).list_new("shipments")


def test_password_login(sftp_server: SftpTarget) -> None:
    drop = sftp_server.drop(pkey=None, password=sftp_server.password)

    drop.upload("orders", "pw.csv", b"by password")

    assert (sftp_server.root / "outbound" / "orders" / "pw.csv").read_bytes() == b"by password"


@pytest.mark.parametrize(
    ("algorithm", "passphrase"),
    [("ssh-ed25519", None), ("ecdsa-sha2-nistp256", "pass phrase"), ("ssh-rsa", "another one")],
)
def test_every_supported_key_type_logs_in(
    sftp_server_factory: ServerFactory, tmp_path: Path, algorithm: str, passphrase: str | None
) -> None:
    key = make_client_key(tmp_path, algorithm, passphrase)
    target, _ = sftp_server_factory(client_key=key, password=None)

    target.drop().upload("orders", f"{algorithm}.csv", b"k")

    assert (target.root / "outbound" / "orders" / f"{algorithm}.csv").exists()


# -- timeouts and dropped connections --------------------------------------------------------------------------


def test_a_refused_connection_is_transient(sftp_server: SftpTarget) -> None:
    drop = SftpWarehouseDrop(
        "127.0.0.1", free_port(), "warehouse", password="x", host_key_fingerprint=sftp_server.fingerprint, timeout=2
    )

    with pytest.raises(TransientError, match="connect"):
        drop.list_new("shipments")


def test_a_server_that_never_greets_is_a_transient_timeout() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # the kernel accepts the connection; nobody ever sends a banner
        drop = SftpWarehouseDrop(
            "127.0.0.1", silent.getsockname()[1], "warehouse", password="x",
            host_key_fingerprint="SHA256:" + "A" * 43, timeout=0.3,
        )
        started = time.monotonic()
        with pytest.raises(TransientError):
            drop.list_new("shipments")
        assert time.monotonic() - started < 3


def test_a_connection_dropped_between_operations_is_reopened(sftp_target: SftpTarget) -> None:
    drop = sftp_target.drop()
    drop.upload("orders", "one.csv", b"1")

    assert sftp_target.drop_connections() >= 1
    drop.upload("orders", "two.csv", b"2")

    assert drop.connections_opened == 2
    assert sorted(os.listdir(sftp_target.root / "outbound" / "orders")) == ["one.csv", "two.csv"]


def test_an_upload_cut_mid_way_is_retried_once_and_completes(sftp_target: SftpTarget) -> None:
    drop = sftp_target.drop()
    data = os.urandom(1024) * (BIG // 1024)
    folder = sftp_target.root / "outbound" / "orders"
    drop.upload("orders", "warmup.csv", b"w")

    uploader, errors = _upload_in_background(drop, data)
    _wait_for_part_file(folder, uploader)
    sftp_target.drop_connections()
    uploader.join(30)

    assert errors == []
    assert drop.connections_opened == 2
    assert sorted(os.listdir(folder)) == ["big.csv", "warmup.csv"]  # the cut attempt's temp file was removed
    assert (folder / "big.csv").read_bytes() == data


def test_an_upload_interrupted_for_good_leaves_no_final_file(sftp_target: SftpTarget) -> None:
    drop = sftp_target.drop()
    folder = sftp_target.root / "outbound" / "orders"
    drop.upload("orders", "warmup.csv", b"w")

    uploader, errors = _upload_in_background(drop, b"x" * BIG)
    _wait_for_part_file(folder, uploader)
    sftp_target.stop()
    uploader.join(30)

    assert len(errors) == 1
    assert isinstance(errors[0], TransientError)
    assert "big.csv" not in os.listdir(folder)
    assert all(name == "warmup.csv" or ".part-" in name for name in os.listdir(folder))


def test_without_posix_rename_uploads_still_replace_and_say_so(
    sftp_server_factory: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    target, _ = sftp_server_factory(posix_rename=False)
    drop = target.drop()

    with caplog.at_level(logging.WARNING, logger="adapters.warehouse.sftp"):
        drop.upload("orders", "r.csv", b"old")
        drop.upload("orders", "r.csv", b"new")

    folder = target.root / "outbound" / "orders"
    assert os.listdir(folder) == ["r.csv"]
    assert (folder / "r.csv").read_bytes() == b"new"
    assert any("posix-rename@openssh.com" in record.getMessage() for record in caplog.records)


# -- from the configuration ------------------------------------------------------------------------------------


def test_drop_for_builds_an_sftp_drop_from_configuration(
    sftp_server: SftpTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAREHOUSE_KEY", sftp_server.client_key.text)
    config = SftpDrop(
        kind="sftp",
        host=sftp_server.host,
        port=sftp_server.port,
        username=sftp_server.username,
        private_key="env:WAREHOUSE_KEY",  # type: ignore[arg-type]
        known_hosts=sftp_server.known_hosts,
        timeout_seconds=5,
    )

    drop = drop_for(config, settle_seconds=0.01)
    try:
        drop.upload("orders", "configured.csv", b"c")
        assert [f.name for f in drop.list_new("orders")] == ["configured.csv"]
    finally:
        drop.close()


# -- leftovers and existence -----------------------------------------------------------------------------------


def test_exists_on_a_server_that_went_away_is_transient(sftp_target: SftpTarget) -> None:
    drop = sftp_target.drop()
    drop.upload("orders", "here.csv", b"h")
    assert drop.exists("orders", "here.csv") is True

    sftp_target.stop()

    with pytest.raises(TransientError):
        drop.exists("orders", "here.csv")


def test_an_upload_racing_another_of_the_same_name_fails_transiently(sftp_target: SftpTarget) -> None:
    slow, fast = sftp_target.drop(), sftp_target.drop()
    folder = sftp_target.root / "outbound" / "orders"
    slow.upload("orders", "warmup.csv", b"w")
    assert fast.exists("orders", "warmup.csv")  # connected already, so it strikes while the slow one writes

    uploader, errors = _upload_in_background(slow, b"x" * BIG)
    _wait_for_part_file(folder, uploader)
    fast.upload("orders", "big.csv", b"the later copy")  # removes the slow upload's temporary file first
    uploader.join(30)

    assert len(errors) == 1
    assert isinstance(errors[0], TransientError)
    assert "another upload of the same name" in str(errors[0])
    assert sorted(os.listdir(folder)) == ["big.csv", "warmup.csv"]
    assert (folder / "big.csv").read_bytes() == b"the later copy"


def test_names_a_hostile_server_lists_never_become_paths(sftp_server_factory: ServerFactory) -> None:
    target, _ = sftp_server_factory(phantom_names=("../escape.csv", "a/../../b.csv", "ok\x00.csv"))
    (target.root / "inbound" / "shipments").mkdir(parents=True)
    (target.root / "inbound" / "shipments" / "good.csv").write_bytes(b"a\n")
    drop = target.drop()

    assert [f.name for f in drop.list_new("shipments", ["*.csv"])] == ["good.csv"]

    error = target.root / "error"
    reports = sorted(os.listdir(error))
    assert len(reports) == 3 and all(name.startswith("renamed-") and name.endswith(".errors.csv") for name in reports)
    texts = [(error / name).read_bytes().decode() for name in reports]
    assert all("left where it is" in text for text in texts)
    assert sum("path separator" in text for text in texts) == 2 and any("U+0000 (NUL)" in text for text in texts)
    assert not (target.root.parent / "escape.csv").exists() and not (target.root.parent / "b.csv").exists()
    assert os.listdir(target.root / "inbound" / "shipments") == ["good.csv"]
    assert [f.name for f in drop.list_new("shipments", ["*.csv"])] == ["good.csv"]  # no error, no new report
    assert sorted(os.listdir(error)) == reports
