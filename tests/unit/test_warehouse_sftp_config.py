"""Building warehouse drops from configuration: private keys, host key settings, secrets (no sockets here)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import asyncssh
import paramiko
import pytest
from pydantic import ValidationError

from adapters.warehouse.common import free_names, is_listable
from adapters.warehouse.local import LocalWarehouseDrop
from adapters.warehouse.sftp import SftpWarehouseDrop, load_private_key
from flows.runtime import drop_for
from tasks.core.config import Folders, LocalDrop, SftpDrop
from tasks.core.errors import ConfigError, PermanentError

FINGERPRINT = "SHA256:" + "A" * 43


@pytest.mark.parametrize(
    ("algorithm", "key_class"),
    [("ssh-ed25519", paramiko.Ed25519Key), ("ecdsa-sha2-nistp384", paramiko.ECDSAKey), ("ssh-rsa", paramiko.RSAKey)],
)
def test_private_keys_of_every_type_load_from_text_and_file(
    tmp_path: Path, algorithm: str, key_class: type[paramiko.PKey]
) -> None:
    key = asyncssh.generate_private_key(algorithm)
    text = key.export_private_key("openssh", "secret", rounds=4, ignore_few_rounds=True).decode()
    path = tmp_path / "id"
    path.write_text(text)

    from_text = load_private_key(text, passphrase="secret")
    from_path = load_private_key(path=path, passphrase="secret")

    assert isinstance(from_text, key_class)
    assert from_text.fingerprint == from_path.fingerprint == key.get_fingerprint("sha256")


def test_a_traditional_pem_rsa_key_loads(tmp_path: Path) -> None:
    key = asyncssh.generate_private_key("ssh-rsa")
    path = tmp_path / "id_rsa"
    path.write_bytes(key.export_private_key("pkcs1-pem"))

    assert isinstance(load_private_key(path=path), paramiko.RSAKey)


def test_an_encrypted_key_without_passphrase_says_so() -> None:
    text = asyncssh.generate_private_key("ssh-ed25519").export_private_key(
        "openssh", "secret", rounds=4, ignore_few_rounds=True
    ).decode()

    with pytest.raises(ConfigError, match="private_key_passphrase"):
        load_private_key(text)


@pytest.mark.parametrize("text", ["not a key at all", "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n"])
def test_unreadable_key_text_is_a_config_error_without_echoing_it(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_private_key(text)

    assert text not in str(caught.value)


def test_a_wrong_passphrase_is_a_config_error() -> None:
    text = asyncssh.generate_private_key("ssh-ed25519").export_private_key(
        "openssh", "secret", rounds=4, ignore_few_rounds=True
    ).decode()

    with pytest.raises(ConfigError, match="passphrase"):
        load_private_key(text, passphrase="wrong")


def test_a_missing_key_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_private_key(path=tmp_path / "nope")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"password": "pw"}, "exactly one of known_hosts or host_key_fingerprint"),
        ({"password": "pw", "known_hosts": Path("k"), "host_key_fingerprint": FINGERPRINT}, "exactly one"),
        ({"host_key_fingerprint": FINGERPRINT}, "password or a private key"),
        ({"password": "pw", "host_key_fingerprint": "MD5:aa:bb"}, "SHA256:"),
    ],
)
def test_an_sftp_drop_needs_credentials_and_a_pinned_host_key(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SftpWarehouseDrop("sftp.example.com", 22, "wh", **options)  # type: ignore[arg-type]


def test_an_unreadable_known_hosts_file_fails_before_connecting(tmp_path: Path) -> None:
    drop = SftpWarehouseDrop("sftp.invalid", 22, "wh", password="pw", known_hosts=tmp_path / "known_hosts")

    with pytest.raises(ConfigError, match="known_hosts"):
        drop.list_new("shipments")
    assert drop.connections_opened == 0


def test_the_repr_shows_no_secret() -> None:
    drop = SftpWarehouseDrop("sftp.example.com", 2222, "wh", password="hunter2", host_key_fingerprint=FINGERPRINT)

    assert "hunter2" not in repr(drop)
    assert "wh@sftp.example.com:2222" in repr(drop)


def test_drop_for_a_local_folder(tmp_path: Path) -> None:
    folders = Folders(orders="out", shipments="in")
    drop = drop_for(LocalDrop(kind="local", path=tmp_path, folders=folders), settle_seconds=0)

    assert isinstance(drop, LocalWarehouseDrop)
    drop.upload("orders", "o.csv", b"o")
    assert (tmp_path / "out" / "o.csv").read_bytes() == b"o"


def test_drop_for_sftp_resolves_secrets_when_called(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    monkeypatch.setenv("WH_KEY", key.export_private_key("openssh", "pp", rounds=4, ignore_few_rounds=True).decode())
    monkeypatch.setenv("WH_KEY_PASS", "pp")
    config = SftpDrop.model_validate(
        {
            "kind": "sftp",
            "host": "sftp.example.com",
            "port": 2222,
            "username": "wh",
            "private_key": "env:WH_KEY",
            "private_key_passphrase": "env:WH_KEY_PASS",
            "host_key_fingerprint": FINGERPRINT,
            "timeout_seconds": 7,
            "folders": {"shipments": "/srv/wh/in"},
        }
    )

    drop = drop_for(config)

    assert isinstance(drop, SftpWarehouseDrop)
    assert (drop.host, drop.port, drop.username, drop.timeout) == ("sftp.example.com", 2222, "wh", 7)
    assert drop.folders.shipments == "/srv/wh/in"
    assert drop.connections_opened == 0  # building a drop opens nothing


def test_drop_for_sftp_with_a_missing_secret_names_the_variable() -> None:
    config = SftpDrop.model_validate(
        {
            "kind": "sftp", "host": "h", "username": "u", "password": "env:WH_PASSWORD",
            "host_key_fingerprint": FINGERPRINT,
        }
    )

    with pytest.raises(ConfigError, match="WH_PASSWORD"):
        drop_for(config)


def test_the_configuration_refuses_two_private_keys(tmp_path: Path) -> None:
    """check-config and the run agree: the rule lives in the configuration model only."""
    with pytest.raises(ValidationError, match="not both"):
        SftpDrop.model_validate(
            {
                "kind": "sftp", "host": "h", "username": "u", "private_key": "env:WH_KEY",
                "private_key_path": str(tmp_path / "id"), "host_key_fingerprint": FINGERPRINT,
            }
        )


def test_free_names_keep_the_extension_and_count_up() -> None:
    names = free_names("ship.2024.csv", datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC))

    assert [next(names) for _ in range(3)] == [
        "ship.2024.csv",
        "ship.2024-20250304T050607Z.csv",
        "ship.2024-20250304T050607Z-2.csv",
    ]
    assert next(free_names("README", datetime(2025, 1, 1, tzinfo=UTC)), "") == "README"
    assert list(free_names("README", datetime(2025, 1, 1, tzinfo=UTC)))[1] == "README-20250101T000000Z"


@pytest.mark.parametrize(
    ("name", "listable"),
    [
        ("a.csv", True),
        ("A.CSV", True),
        ("a.csv.tmp", False),
        ("a.csv.part", False),
        ("a.csv.part-0f3c", False),
        ("a.csv.partial", False),
        (".a.csv", False),
        ("partners.csv", True),
        ("a.txt", False),
    ],
)
def test_which_names_list_new_may_offer(name: str, listable: bool) -> None:
    assert is_listable(name, ["*.csv"]) is listable


def test_an_unknown_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PermanentError, match="unknown warehouse folder"):
        LocalWarehouseDrop(tmp_path).upload("outbox", "a.csv", b"")  # type: ignore[arg-type]
