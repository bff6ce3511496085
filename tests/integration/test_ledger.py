"""SqlLedger against real databases: every case on a SQLite file and on the local PostgreSQL server."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import exc as sa_exc

from adapters.ledger import SqlLedger, migrate
from adapters.ledger.engine import create_ledger_engine, parse_ledger_url
from adapters.ledger.errors import translate
from adapters.ledger.migrate import alembic_config
from adapters.ledger.schema import metadata
from tasks.core.errors import ConfigError, DataError, PermanentError, TransientError
from tasks.core.models import (
    AmazonErrorDetail,
    AmazonOrderStatus,
    DownloadOutcome,
    FileOutcome,
    OrderLine,
    OrderState,
    PurchaseOrder,
    PurgedFile,
    RequestState,
    TransactionKind,
    TransactionState,
    TransactionStatus,
)
from tasks.core.ports import Ledger

ACCOUNT = "acme-us"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def order(
    number: str,
    *,
    minutes: int = 0,
    status: AmazonOrderStatus | None = AmazonOrderStatus.NEW,
    ship_from: str = "WH-EAST",
    lines: int = 2,
) -> PurchaseOrder:
    return PurchaseOrder(
        purchase_order_number=number,
        customer_order_number=f"C-{number}",
        order_date=T0 + timedelta(minutes=minutes),
        selling_party_id="ACME",
        ship_from_party_id=ship_from,
        ship_method="UPS_GROUND",
        required_ship_date=T0 + timedelta(days=2),
        lines=tuple(
            OrderLine(
                item_sequence_number=str(seq),
                ordered_quantity=seq,
                buyer_product_identifier=f"B0{seq}",
                vendor_product_identifier=f"SKU-{seq}",
                title="Garden hose, 50 ft",
                gift_message="Happy birthday Jane",
            )
            for seq in range(1, lines + 1)
        ),
        status=status,
    )


def states(ledger: SqlLedger, *numbers: str) -> dict[str, OrderState]:
    found = ledger.load_orders(ACCOUNT, list(OrderState), purchase_order_numbers=numbers)
    return {o.purchase_order_number: o.state for o in found}


def advance(ledger: SqlLedger, numbers: list[str], to: OrderState) -> None:
    """Walk orders through the happy path up to a state."""
    path = [OrderState.ACKNOWLEDGING, OrderState.ACKNOWLEDGED, OrderState.EXPORTING, OrderState.EXPORTED]
    for step in path[: path.index(to) + 1]:
        if step == OrderState.ACKNOWLEDGING:
            ledger.mark_acknowledging(ACCOUNT, numbers, "batch-1")
        elif step == OrderState.ACKNOWLEDGED:
            ledger.mark_acknowledged(ACCOUNT, numbers, f"tx-{numbers[0]}")
        elif step == OrderState.EXPORTING:
            ledger.mark_exporting(ACCOUNT, numbers, f"orders-{numbers[0]}.csv")
        else:
            ledger.mark_exported(ACCOUNT, f"orders-{numbers[0]}.csv")
    assert set(states(ledger, *numbers).values()) == {to}


# -- configuration and errors -----------------------------------------------------------------------------


def test_plain_postgresql_url_uses_psycopg() -> None:
    assert parse_ledger_url("postgresql://u:pw@db.example:5432/vdf").drivername == "postgresql+psycopg"
    assert parse_ledger_url("postgres://u@db/vdf").drivername == "postgresql+psycopg"
    assert parse_ledger_url("sqlite:///x.db").drivername == "sqlite"


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("not a url at all", "not a database URL"),
        ("mysql://u:s3cr3t-pw@db/vdf", "only sqlite"),
        ("sqlite://", "in-memory"),
        ("sqlite:///:memory:", "in-memory"),
    ],
)
def test_bad_urls_are_config_errors_without_the_password(url: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle) as caught:
        SqlLedger(url)
    assert "s3cr3t-pw" not in str(caught.value)


def test_repr_hides_the_password() -> None:
    ledger = SqlLedger("postgresql://vdf:s3cr3t-pw@127.0.0.1:5432/vdf")
    assert "s3cr3t-pw" not in repr(ledger)
    assert "***" in repr(ledger)


def test_unreachable_postgresql_is_transient_and_hides_the_password() -> None:
    # Port 1 on loopback refuses at once: a connection problem, worth a retry.
    with SqlLedger("postgresql://vdf:s3cr3t-pw@127.0.0.1:1/vdf") as ledger, pytest.raises(TransientError) as caught:
        ledger.count_orders()
    assert "s3cr3t-pw" not in str(caught.value)
    assert "count orders" in str(caught.value)
    with pytest.raises(TransientError) as caught:
        migrate("postgresql://vdf:s3cr3t-pw@127.0.0.1:1/vdf")
    assert "s3cr3t-pw" not in str(caught.value)


@pytest.mark.postgres
def test_missing_postgresql_database_is_permanent(postgres_database: str) -> None:
    missing = postgres_database.rsplit("/", 1)[0] + "/vdf_no_such_database"
    with SqlLedger(missing) as ledger, pytest.raises(PermanentError, match="check ledger_url"):
        ledger.count_orders()


def test_missing_sqlite_folder_is_permanent(tmp_path: Path) -> None:
    with SqlLedger(f"sqlite:///{tmp_path}/absent/ledger.db") as ledger, pytest.raises(PermanentError):
        ledger.count_orders()


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (sa_exc.OperationalError("UPDATE orders", {}, sqlite3.OperationalError("database is locked")), TransientError),
        (sa_exc.OperationalError("SELECT 1", {}, OSError("server closed the connection")), TransientError),
        (sa_exc.IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE constraint failed")), PermanentError),
        (sa_exc.DataError("INSERT", {}, ValueError("value too long for type character varying(64)")), PermanentError),
    ],
)
def test_driver_errors_map_into_the_tree_without_statements(error: sa_exc.SQLAlchemyError, expected: type) -> None:
    url = parse_ledger_url("postgresql://vdf:s3cr3t-pw@db.example/vdf")
    mapped = translate(error, url, "record downloaded orders")
    assert type(mapped) is expected
    assert "record downloaded orders" in str(mapped)
    assert "s3cr3t-pw" not in str(mapped)
    assert "INSERT" not in str(mapped) and "UPDATE" not in str(mapped)


def test_unmigrated_ledger_says_to_migrate(empty_ledger_url: str) -> None:
    with SqlLedger(empty_ledger_url) as ledger, pytest.raises(PermanentError, match="vdf migrate"):
        ledger.load_orders(ACCOUNT, [OrderState.DOWNLOADED])


# -- schema and migrations --------------------------------------------------------------------------------


def _current_revision(url: str) -> str | None:
    engine = create_ledger_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def test_migrations_are_idempotent(empty_ledger_url: str) -> None:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert _current_revision(empty_ledger_url) is None
    migrate(empty_ledger_url)
    migrate(empty_ledger_url)
    with SqlLedger(empty_ledger_url) as ledger:
        ledger.migrate()
        assert ledger.count_orders() == dict.fromkeys(OrderState, 0)
    assert _current_revision(empty_ledger_url) == head


def test_migrations_match_the_code_and_downgrade_cleanly(ledger_url: str) -> None:
    engine = create_ledger_engine(ledger_url)
    try:
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []
        with engine.begin() as conn:
            config = alembic_config()
            config.attributes["connection"] = conn
            command.downgrade(config, "base")
        with engine.connect() as conn:
            assert set(sa.inspect(conn).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
    migrate(ledger_url)
    assert _current_revision(ledger_url) is not None


def test_schema_has_no_pii_columns(ledger_url: str) -> None:
    pii = re.compile(r"name|address|phone|city|postal|zip|gift|title|email|attention|county|district")
    engine = create_ledger_engine(ledger_url)
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            columns = {
                f"{table}.{column['name']}"
                for table in inspector.get_table_names()
                for column in inspector.get_columns(table)
            }
    finally:
        engine.dispose()
    assert {"orders.purchase_order_number", "order_lines.quantity", "inbound_files.file"} <= columns
    assert [column for column in columns if pii.search(column.split(".", 1)[1])] == []


def test_sqlite_runs_in_wal_with_foreign_keys(sqlite_ledger_url: str) -> None:
    engine = create_ledger_engine(sqlite_ledger_url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    finally:
        engine.dispose()


def test_sql_ledger_satisfies_the_protocol(ledger: SqlLedger) -> None:
    as_protocol: Ledger = ledger
    assert as_protocol.count_orders(ACCOUNT)[OrderState.DOWNLOADED] == 0


# -- downloads --------------------------------------------------------------------------------------------


def test_record_downloaded_inserts_without_pii_and_reports_known(ledger: SqlLedger) -> None:
    first = ledger.record_downloaded(ACCOUNT, [order("PO-2", minutes=5), order("PO-1", minutes=1, lines=3)])
    assert first == DownloadOutcome(new=("PO-2", "PO-1"))

    again = ledger.record_downloaded(ACCOUNT, [order("PO-1"), order("PO-3", minutes=9)])
    assert again == DownloadOutcome(new=("PO-3",), known=("PO-1",))

    loaded = ledger.load_orders(ACCOUNT, [OrderState.DOWNLOADED])
    assert [o.purchase_order_number for o in loaded] == ["PO-1", "PO-2", "PO-3"]  # oldest first
    po1 = loaded[0]
    assert po1.order_date == T0 + timedelta(minutes=1)
    assert po1.order_date.tzinfo is not None and po1.order_date.utcoffset() == timedelta(0)
    assert (po1.selling_party_id, po1.ship_from_party_id) == ("ACME", "WH-EAST")
    assert [(line.item_sequence_number, line.ordered_quantity) for line in po1.lines] == [("1", 1), ("2", 2), ("3", 3)]
    assert po1.lines[0].buyer_product_identifier == "B01"
    assert po1.lines[0].vendor_product_identifier == "SKU-1"
    assert all(line.title is None and line.gift_message is None for line in po1.lines)


def test_record_downloaded_keeps_the_instant_of_non_utc_dates(ledger: SqlLedger) -> None:
    paris = timezone(timedelta(hours=2))
    local = PurchaseOrder(**{**order("PO-TZ").__dict__, "order_date": datetime(2025, 3, 1, 14, 0, tzinfo=paris)})
    ledger.record_downloaded(ACCOUNT, [local])
    (loaded,) = ledger.load_orders(ACCOUNT, [OrderState.DOWNLOADED])
    assert loaded.order_date == T0
    assert loaded.order_date.tzinfo == UTC


def test_record_downloaded_refuses_naive_dates(ledger: SqlLedger) -> None:
    naive = PurchaseOrder(**{**order("PO-N").__dict__, "order_date": datetime(2025, 3, 1, 12, 0)})
    with pytest.raises(DataError, match="PO-N"):
        ledger.record_downloaded(ACCOUNT, [naive])
    assert ledger.count_orders()[OrderState.DOWNLOADED] == 0


def test_record_downloaded_edge_pages(ledger: SqlLedger) -> None:
    assert ledger.record_downloaded(ACCOUNT, []) == DownloadOutcome()
    duplicated = ledger.record_downloaded(ACCOUNT, [order("PO-D"), order("PO-D")])
    assert duplicated == DownloadOutcome(new=("PO-D",))
    assert len(ledger.load_orders(ACCOUNT, [OrderState.DOWNLOADED])[0].lines) == 2
    # The same number under another account is another order.
    assert ledger.record_downloaded("other", [order("PO-D")]) == DownloadOutcome(new=("PO-D",))


def test_order_reported_cancelled_is_inserted_cancelled(ledger: SqlLedger) -> None:
    outcome = ledger.record_downloaded(ACCOUNT, [order("PO-C", status=AmazonOrderStatus.CANCELLED), order("PO-OK")])
    assert outcome == DownloadOutcome(new=("PO-C", "PO-OK"), cancelled=("PO-C",))
    assert states(ledger, "PO-C", "PO-OK") == {"PO-C": OrderState.CANCELLED, "PO-OK": OrderState.DOWNLOADED}
    # Seeing it cancelled again changes nothing and is not news.
    assert ledger.record_downloaded(ACCOUNT, [order("PO-C", status=AmazonOrderStatus.CANCELLED)]) == DownloadOutcome(
        known=("PO-C",)
    )


@pytest.mark.parametrize("reached", [OrderState.DOWNLOADED, OrderState.ACKNOWLEDGING, OrderState.ACKNOWLEDGED])
def test_cancellation_before_export_moves_the_order(ledger: SqlLedger, reached: OrderState) -> None:
    ledger.record_downloaded(ACCOUNT, [order("PO-1")])
    if reached != OrderState.DOWNLOADED:
        advance(ledger, ["PO-1"], reached)
    outcome = ledger.record_downloaded(ACCOUNT, [order("PO-1", status=AmazonOrderStatus.CANCELLED)])
    assert outcome == DownloadOutcome(cancelled=("PO-1",))
    assert states(ledger, "PO-1") == {"PO-1": OrderState.CANCELLED}


@pytest.mark.parametrize("reached", [OrderState.EXPORTING, OrderState.EXPORTED, OrderState.HELD])
def test_cancellation_after_export_or_hold_changes_nothing(ledger: SqlLedger, reached: OrderState) -> None:
    ledger.record_downloaded(ACCOUNT, [order("PO-1")])
    if reached == OrderState.HELD:
        ledger.mark_held(ACCOUNT, "PO-1", "quantity above the daily cap")
    else:
        advance(ledger, ["PO-1"], reached)
    outcome = ledger.record_downloaded(ACCOUNT, [order("PO-1", status=AmazonOrderStatus.CANCELLED)])
    assert outcome == DownloadOutcome(known=("PO-1",))
    assert states(ledger, "PO-1") == {"PO-1": reached}


# -- loading ----------------------------------------------------------------------------------------------


def test_load_orders_filters(ledger: SqlLedger) -> None:
    ledger.record_downloaded(
        ACCOUNT,
        [order("PO-E1", minutes=3), order("PO-W1", minutes=2, ship_from="WH-WEST"), order("PO-E2", minutes=1)],
    )
    ledger.record_downloaded("other", [order("PO-X")])
    ledger.mark_acknowledging(ACCOUNT, ["PO-E2"], "b")

    def numbers(*args: object, **kwargs: object) -> list[str]:
        return [o.purchase_order_number for o in ledger.load_orders(ACCOUNT, *args, **kwargs)]  # type: ignore[arg-type]

    assert numbers([OrderState.DOWNLOADED]) == ["PO-W1", "PO-E1"]
    assert numbers([OrderState.DOWNLOADED, OrderState.ACKNOWLEDGING]) == ["PO-E2", "PO-W1", "PO-E1"]
    assert numbers(list(OrderState), ship_from_party_id="WH-EAST") == ["PO-E2", "PO-E1"]
    assert numbers(list(OrderState), purchase_order_numbers=["PO-E1", "PO-X", "nope"]) == ["PO-E1"]
    assert numbers(list(OrderState), purchase_order_numbers=[]) == []
    assert numbers([]) == []
    (claimed,) = ledger.load_orders(ACCOUNT, [OrderState.ACKNOWLEDGING])
    assert claimed.ack_batch == "b"


def test_load_orders_by_number_beyond_one_in_list(ledger: SqlLedger) -> None:
    page = [order(f"PO-{i:04d}", minutes=i, lines=1) for i in range(1234)]
    ledger.record_downloaded(ACCOUNT, page)
    wanted = [f"PO-{i:04d}" for i in range(0, 1234, 2)] + ["unknown"]
    loaded = ledger.load_orders(ACCOUNT, [OrderState.DOWNLOADED], purchase_order_numbers=wanted)
    assert [o.purchase_order_number for o in loaded] == wanted[:-1]
    assert all(len(o.lines) == 1 for o in loaded)


def test_count_orders(ledger: SqlLedger) -> None:
    ledger.record_downloaded(ACCOUNT, [order("PO-1"), order("PO-2"), order("PO-3", status=AmazonOrderStatus.CANCELLED)])
    ledger.record_downloaded("other", [order("PO-1")])
    ledger.mark_acknowledging(ACCOUNT, ["PO-1"], "b")
    counts = ledger.count_orders(ACCOUNT)
    assert counts == {
        **dict.fromkeys(OrderState, 0),
        OrderState.DOWNLOADED: 1,
        OrderState.ACKNOWLEDGING: 1,
        OrderState.CANCELLED: 1,
    }
    assert ledger.count_orders()[OrderState.DOWNLOADED] == 2


# -- transitions ------------------------------------------------------------------------------------------


def test_mark_acknowledging_claims_downloaded_orders_once(ledger: SqlLedger) -> None:
    ledger.record_downloaded(ACCOUNT, [order("PO-1"), order("PO-2"), order("PO-3")])
    assert ledger.mark_acknowledging(ACCOUNT, ["PO-3", "PO-1", "unknown"], "batch-a") == ["PO-3", "PO-1"]
    assert ledger.mark_acknowledging(ACCOUNT, ["PO-1", "PO-2"], "batch-b") == ["PO-2"]
    assert ledger.mark_acknowledging("other", ["PO-2"], "batch-c") == []
    batches = {o.purchase_order_number: o.ack_batch for o in ledger.load_orders(ACCOUNT, [OrderState.ACKNOWLEDGING])}
    assert batches == {"PO-1": "batch-a", "PO-2": "batch-b", "PO-3": "batch-a"}


def test_mark_acknowledged_moves_only_acknowledging_orders_and_records_the_transaction(ledger: SqlLedger) -> None:
    ledger.record_downloaded(ACCOUNT, [order("PO-1"), order("PO-2"), order("PO-3")])
    ledger.mark_acknowledging(ACCOUNT, ["PO-1", "PO-2"], "batch-a")

    ledger.mark_acknowledged(ACCOUNT, ["PO-1", "PO-2", "PO-3"], "tx-ack-1")
    assert states(ledger, "PO-1", "PO-2", "PO-3") == {
        "PO-1": OrderState.ACKNOWLEDGED,
        "PO-2": OrderState.ACKNOWLEDGED,
        "PO-3": OrderState.DOWNLOADED,
    }
    assert {o.ack_transaction_id for o in ledger.load_orders(ACCOUNT, [OrderState.ACKNOWLEDGED])} == {"tx-ack-1"}
    (txn,) = ledger.load_transactions(ACCOUNT)
    assert (txn.transaction_id, txn.kind, txn.status) == ("tx-ack-1", TransactionKind.ACKNOWLEDGEMENT, "Processing")
    assert txn.subjects == ("PO-1", "PO-2", "PO-3")
    assert txn.submitted_at is not None and txn.submitted_at.tzinfo == UTC

    # A retried task does it again: nothing changes, nothing duplicates.
    ledger.mark_acknowledged(ACCOUNT, ["PO-1", "PO-2", "PO-3"], "tx-ack-1")
    assert len(ledger.load_transactions(ACCOUNT)) == 1
    assert states(ledger, "PO-3") == {"PO-3": OrderState.DOWNLOADED}


def test_mark_acknowledged_without_transaction_id_after_a_lost_answer(ledger: SqlLedger) -> None:
    ledger.record_downloaded(ACCOUNT, [order("PO-1")])
    ledger.mark_acknowledging(ACCOUNT, ["PO-1"], "batch-a")
    ledger.mark_acknowledged(ACCOUNT, ["PO-1"], None)
    (acked,) = ledger.load_orders(ACCOUNT, [OrderState.ACKNOWLEDGED])
    assert acked.ack_transaction_id is None
    assert ledger.load_transactions() == []


def test_mark_acknowledged_is_atomic(ledger: SqlLedger) -> None:
    ledger.record_downloaded(ACCOUNT, [order("PO-1")])
    ledger.record_transaction(ACCOUNT, "tx-1", TransactionKind.INVENTORY_UPDATE, ["WH-EAST"])
    ledger.mark_acknowledging(ACCOUNT, ["PO-1"], "batch-a")
    with pytest.raises(PermanentError, match="tx-1"):
        ledger.mark_acknowledged(ACCOUNT, ["PO-1"], "tx-1")
    assert states(ledger, "PO-1") == {"PO-1": OrderState.ACKNOWLEDGING}


def _waiting(ledger: SqlLedger) -> list[tuple[str, RequestState, int]]:
    return [(w.request_id, w.state, w.orders) for w in ledger.load_waiting_acknowledgements(ACCOUNT)]


def test_record_downloaded_can_claim_the_new_orders_for_an_acknowledgement_request(ledger: SqlLedger) -> None:
    ledger.record_downloaded(ACCOUNT, [order("PO-1")])
    page = [order("PO-1"), order("PO-2"), order("PO-3", status=AmazonOrderStatus.CANCELLED), order("PO-4")]
    outcome = ledger.record_downloaded(ACCOUNT, page, claim_for="req-1")
    assert outcome.new == ("PO-2", "PO-3", "PO-4") and outcome.claimed == ("PO-2", "PO-4")
    assert states(ledger, "PO-1", "PO-2", "PO-3", "PO-4") == {
        "PO-1": OrderState.DOWNLOADED,
        "PO-2": OrderState.ACKNOWLEDGING,
        "PO-3": OrderState.CANCELLED,
        "PO-4": OrderState.ACKNOWLEDGING,
    }
    (request,) = ledger.load_waiting_acknowledgements(ACCOUNT, ship_from_party_id="WH-EAST")
    assert (request.request_id, request.state, request.orders, request.sending_at) == (
        "req-1",
        RequestState.CLAIMED,
        2,
        None,
    )
    assert request.claimed_at.tzinfo == UTC and request.since == request.claimed_at
    assert ledger.load_waiting_acknowledgements(ACCOUNT, ship_from_party_id="WH-WEST") == []
    cancelled_only = ledger.record_downloaded(
        ACCOUNT, [order("PO-9", status=AmazonOrderStatus.CANCELLED)], claim_for="req-2"
    )
    assert cancelled_only == DownloadOutcome(new=("PO-9",), cancelled=("PO-9",))
    assert [w.request_id for w in ledger.load_waiting_acknowledgements()] == ["req-1"]  # no request without orders


def test_a_claimed_request_is_marked_sending_once_then_sent_with_its_transaction(ledger: SqlLedger) -> None:
    ledger.record_downloaded(ACCOUNT, [order("PO-1", minutes=2), order("PO-2", minutes=1)], claim_for="req-1")
    assert ledger.mark_acknowledgement_sending(ACCOUNT, "req-1") == ["PO-2", "PO-1"]
    # a second sender (another run, a retry) finds it no longer claimed: it must not send it again
    assert ledger.mark_acknowledgement_sending(ACCOUNT, "req-1") == []
    assert ledger.mark_acknowledgement_sending(ACCOUNT, "unknown") == []
    (request,) = ledger.load_waiting_acknowledgements(ACCOUNT)
    assert request.state is RequestState.SENDING and request.sending_at is not None
    assert request.since == request.sending_at >= request.claimed_at

    ledger.mark_acknowledged(ACCOUNT, ["PO-1", "PO-2"], "tx-1")
    assert ledger.load_waiting_acknowledgements(ACCOUNT) == []
    assert states(ledger, "PO-1", "PO-2") == {"PO-1": OrderState.ACKNOWLEDGED, "PO-2": OrderState.ACKNOWLEDGED}


def test_a_released_or_reclaimed_request_no_longer_waits(ledger: SqlLedger) -> None:
    ledger.record_downloaded(ACCOUNT, [order(f"PO-{n}") for n in range(1, 5)])
    assert ledger.mark_acknowledging(ACCOUNT, ["PO-1", "PO-2"], "req-a") == ["PO-1", "PO-2"]
    assert ledger.mark_acknowledging(ACCOUNT, ["PO-3", "PO-4"], "req-b") == ["PO-3", "PO-4"]
    assert _waiting(ledger) == [("req-a", RequestState.CLAIMED, 2), ("req-b", RequestState.CLAIMED, 2)]

    assert ledger.release_acknowledging(ACCOUNT, ["PO-1", "PO-2"], "req-a") == ["PO-1", "PO-2"]
    assert ledger.mark_acknowledgement_sending(ACCOUNT, "req-b") == ["PO-3", "PO-4"]
    # the halves of a refused request: each re-claimed from it under a request id of its own
    assert ledger.mark_acknowledging(ACCOUNT, ["PO-3"], "req-c", from_batch="req-b") == ["PO-3"]
    assert ledger.mark_acknowledging(ACCOUNT, ["PO-4"], "req-d", from_batch="req-b") == ["PO-4"]
    assert ledger.mark_acknowledging(ACCOUNT, ["PO-4"], "req-e", from_batch="req-b") == []
    assert _waiting(ledger) == [("req-c", RequestState.CLAIMED, 1), ("req-d", RequestState.CLAIMED, 1)]
    assert states(ledger, "PO-1", "PO-2") == {"PO-1": OrderState.DOWNLOADED, "PO-2": OrderState.DOWNLOADED}


def test_orders_an_earlier_version_left_acknowledging_wait_as_possibly_sent(empty_ledger_url: str) -> None:
    engine = create_ledger_engine(empty_ledger_url)
    try:
        with engine.begin() as conn:
            config = alembic_config()
            config.attributes["connection"] = conn
            command.upgrade(config, "0001")
            values = "'WH-EAST', '2025-03-01 12:00:00', 'acknowledging', '2025-03-01 12:00:00', '2025-03-01 12:05:00'"
            for number, batch in (("PO-1", "old-batch"), ("PO-2", "old-batch"), ("PO-3", None)):
                conn.exec_driver_sql(
                    "INSERT INTO orders (account, purchase_order_number, selling_party_id, ship_from_party_id,"
                    f" order_date, state, created_at, updated_at, ack_batch) VALUES ('{ACCOUNT}', '{number}', 'ACME',"
                    f" {values}, {repr(batch) if batch else 'NULL'})"
                )
    finally:
        engine.dispose()
    migrate(empty_ledger_url)
    with SqlLedger(empty_ledger_url) as ledger:
        (request,) = ledger.load_waiting_acknowledgements(ACCOUNT)
    assert (request.request_id, request.state, request.orders) == ("old-batch", RequestState.SENDING, 2)
    assert request.since == datetime(2025, 3, 1, 12, 5, tzinfo=UTC)


def test_mark_exporting_claims_only_acknowledged_orders(ledger: SqlLedger) -> None:
    ledger.record_downloaded(ACCOUNT, [order("PO-1"), order("PO-2"), order("PO-3")])
    ledger.mark_acknowledging(ACCOUNT, ["PO-1", "PO-2"], "batch-a")
    ledger.mark_acknowledged(ACCOUNT, ["PO-1"], "tx-1")
    assert ledger.mark_exporting(ACCOUNT, ["PO-1", "PO-2", "PO-3"], "orders-1.csv") == ["PO-1"]
    assert ledger.mark_exporting(ACCOUNT, ["PO-1"], "orders-2.csv") == []
    (exporting,) = ledger.load_orders(ACCOUNT, [OrderState.EXPORTING])
    assert exporting.export_file == "orders-1.csv"


def test_mark_exported_moves_only_that_file(ledger: SqlLedger) -> None:
    numbers = ["PO-1", "PO-2", "PO-3"]
    ledger.record_downloaded(ACCOUNT, [order(n, minutes=-i) for i, n in enumerate(numbers)])
    ledger.mark_acknowledging(ACCOUNT, numbers, "batch-a")
    ledger.mark_acknowledged(ACCOUNT, numbers, "tx-1")
    ledger.mark_exporting(ACCOUNT, ["PO-1", "PO-2"], "orders-a.csv")
    ledger.mark_exporting(ACCOUNT, ["PO-3"], "orders-b.csv")

    assert ledger.mark_exported(ACCOUNT, "orders-a.csv") == ["PO-2", "PO-1"]  # oldest first
    assert ledger.mark_exported(ACCOUNT, "orders-a.csv") == []
    assert ledger.mark_exported("other", "orders-b.csv") == []
    assert states(ledger, *numbers) == {
        "PO-1": OrderState.EXPORTED,
        "PO-2": OrderState.EXPORTED,
        "PO-3": OrderState.EXPORTING,
    }


def test_exported_orders_are_final(ledger: SqlLedger) -> None:
    ledger.record_downloaded(ACCOUNT, [order("PO-1")])
    advance(ledger, ["PO-1"], OrderState.EXPORTED)
    assert ledger.mark_acknowledging(ACCOUNT, ["PO-1"], "again") == []
    assert ledger.mark_exporting(ACCOUNT, ["PO-1"], "again.csv") == []
    ledger.mark_acknowledged(ACCOUNT, ["PO-1"], "tx-again")
    assert ledger.record_downloaded(ACCOUNT, [order("PO-1")]) == DownloadOutcome(known=("PO-1",))
    (exported,) = ledger.load_orders(ACCOUNT, [OrderState.EXPORTED])
    assert (exported.ack_transaction_id, exported.export_file) == ("tx-PO-1", "orders-PO-1.csv")
    with pytest.raises(DataError, match="exported"):
        ledger.mark_held(ACCOUNT, "PO-1", "late problem")


def test_mark_held(ledger: SqlLedger) -> None:
    ledger.record_downloaded(ACCOUNT, [order("PO-1"), order("PO-2", status=AmazonOrderStatus.CANCELLED)])
    ledger.mark_held(ACCOUNT, "PO-1", "SKU-2 unknown to the warehouse")
    ledger.mark_held(ACCOUNT, "PO-1", "SKU-2 still unknown")  # a person may be told again
    (held,) = ledger.load_orders(ACCOUNT, [OrderState.HELD])
    assert held.held_reason == "SKU-2 still unknown"
    assert ledger.mark_acknowledging(ACCOUNT, ["PO-1"], "b") == []
    with pytest.raises(DataError, match="cancelled"):
        ledger.mark_held(ACCOUNT, "PO-2", "x")
    with pytest.raises(DataError, match="does not know") as caught:
        ledger.mark_held(ACCOUNT, "PO-404", "x")
    assert caught.value.subject == "PO-404"
    with pytest.raises(DataError, match="longer than"):
        ledger.mark_held(ACCOUNT, "PO-1", "x" * 501)


# -- watermarks -------------------------------------------------------------------------------------------


def test_watermarks_never_move_backwards(ledger: SqlLedger) -> None:
    assert ledger.load_watermark(ACCOUNT, "*") is None
    ledger.record_watermark(ACCOUNT, "*", T0)
    ledger.record_watermark(ACCOUNT, "*", T0 - timedelta(hours=1))
    assert ledger.load_watermark(ACCOUNT, "*") == T0
    later = (T0 + timedelta(minutes=30, microseconds=7)).astimezone(timezone(timedelta(hours=-5)))
    ledger.record_watermark(ACCOUNT, "*", later)
    stored = ledger.load_watermark(ACCOUNT, "*")
    assert stored == later and stored is not None and stored.tzinfo == UTC
    # Scopes and accounts are independent.
    ledger.record_watermark(ACCOUNT, "WH-EAST", T0 - timedelta(days=1))
    assert ledger.load_watermark(ACCOUNT, "WH-EAST") == T0 - timedelta(days=1)
    assert ledger.load_watermark("other", "*") is None
    with pytest.raises(DataError, match="timezone-aware"):
        ledger.record_watermark(ACCOUNT, "*", datetime(2030, 1, 1))
    assert ledger.load_watermark(ACCOUNT, "*") == later


# -- transactions -----------------------------------------------------------------------------------------


def test_transaction_lifecycle(ledger: SqlLedger) -> None:
    ledger.record_transaction(ACCOUNT, "tx-ship", TransactionKind.SHIPMENT_CONFIRMATION, ["PO-9", "PO-1"])
    ledger.record_transaction(ACCOUNT, "tx-inv", TransactionKind.INVENTORY_UPDATE, ["WH-EAST"])
    ledger.record_transaction("other", "tx-other", TransactionKind.ACKNOWLEDGEMENT, ["PO-5"])
    ledger.record_transaction(ACCOUNT, "tx-ship", TransactionKind.SHIPMENT_CONFIRMATION, ["PO-9", "PO-1"])  # retry
    assert {t.transaction_id for t in ledger.load_transactions(pending_only=True)} == {"tx-ship", "tx-inv", "tx-other"}
    assert [t.subjects for t in ledger.load_transactions(ACCOUNT)] == [("PO-9", "PO-1"), ("WH-EAST",)]

    ledger.record_transaction_status(TransactionStatus("tx-inv", TransactionState.SUCCESS))
    failure = TransactionStatus(
        "tx-ship",
        TransactionState.FAILURE,
        (AmazonErrorDetail("InvalidInput", "trackingNumber is missing", details="echo of the payload"),),
    )
    ledger.record_transaction_status(failure)
    # A late Processing answer does not reopen a decided transaction.
    ledger.record_transaction_status(TransactionStatus("tx-ship", TransactionState.PROCESSING))

    assert [t.transaction_id for t in ledger.load_transactions(ACCOUNT, pending_only=True)] == []
    by_id = {t.transaction_id: t for t in ledger.load_transactions(ACCOUNT)}
    assert by_id["tx-inv"].status == TransactionState.SUCCESS
    shipped = by_id["tx-ship"]
    assert shipped.status == TransactionState.FAILURE
    assert shipped.errors == (AmazonErrorDetail("InvalidInput", "trackingNumber is missing"),)
    assert shipped.updated_at is not None and shipped.submitted_at is not None
    assert shipped.updated_at >= shipped.submitted_at
    assert [t.transaction_id for t in ledger.load_transactions(pending_only=True)] == ["tx-other"]


def test_unknown_transaction_status_is_a_data_error(ledger: SqlLedger) -> None:
    with pytest.raises(DataError) as caught:
        ledger.record_transaction_status(TransactionStatus("tx-404", TransactionState.SUCCESS))
    assert caught.value.subject == "tx-404"


# -- inbound files ----------------------------------------------------------------------------------------


def test_inbound_files_are_deduplicated_by_name_and_checksum(ledger: SqlLedger) -> None:
    assert ledger.record_file_received(ACCOUNT, "WH-EAST", "shipments", "ship-1.csv", "aa" * 32)
    assert not ledger.record_file_received(ACCOUNT, "WH-EAST", "shipments", "ship-1.csv", "aa" * 32)
    # Same name, new content: a new file. Same file at another warehouse: another file.
    assert ledger.record_file_received(ACCOUNT, "WH-EAST", "shipments", "ship-1.csv", "bb" * 32)
    assert ledger.record_file_received(ACCOUNT, "WH-WEST", "shipments", "ship-1.csv", "aa" * 32)
    ledger.record_file_received(ACCOUNT, "WH-EAST", "stock", "stock.csv", "cc" * 32)

    ledger.mark_file(ACCOUNT, "WH-EAST", "ship-1.csv", "aa" * 32, FileOutcome.ARCHIVED)
    ledger.mark_file(ACCOUNT, "WH-EAST", "stock.csv", "cc" * 32, FileOutcome.QUARANTINED, "stock.csv.errors.csv")

    files = ledger.load_files(ACCOUNT, "WH-EAST")
    assert [(f.name, f.checksum[:2]) for f in files] == [
        ("stock.csv", "cc"),
        ("ship-1.csv", "bb"),
        ("ship-1.csv", "aa"),
    ]
    outcomes = {(f.name, f.checksum[:2]): (f.outcome, f.detail, f.kind) for f in files}
    assert outcomes[("ship-1.csv", "aa")] == (FileOutcome.ARCHIVED, None, "shipments")
    assert outcomes[("ship-1.csv", "bb")] == (FileOutcome.RECEIVED, None, "shipments")
    assert outcomes[("stock.csv", "cc")] == (FileOutcome.QUARANTINED, "stock.csv.errors.csv", "stock")
    assert len(ledger.load_files()) == 4
    assert len(ledger.load_files(warehouse="WH-WEST")) == 1
    assert ledger.load_files("other") == []
    with pytest.raises(DataError, match="never recorded"):
        ledger.mark_file(ACCOUNT, "WH-EAST", "ghost.csv", "dd" * 32, FileOutcome.ARCHIVED)


def test_placed_files_are_the_exported_order_files_and_the_archived_or_quarantined_inbound_files(
    ledger: SqlLedger,
) -> None:
    ledger.record_downloaded(ACCOUNT, [order("PO-1"), order("PO-2"), order("PO-3", ship_from="WH-WEST")])
    advance(ledger, ["PO-1"], OrderState.EXPORTED)  # exports PO-1 as orders-PO-1.csv
    ledger.mark_acknowledging(ACCOUNT, ["PO-2", "PO-3"], "b")
    ledger.mark_acknowledged(ACCOUNT, ["PO-2", "PO-3"], "tx-b")
    ledger.mark_exporting(ACCOUNT, ["PO-2"], "still-exporting.csv")  # may not be on the drop yet
    ledger.mark_exporting(ACCOUNT, ["PO-3"], "west.csv")
    ledger.mark_exported(ACCOUNT, "west.csv")
    for name, outcome in (("a.csv", FileOutcome.ARCHIVED), ("q.csv", FileOutcome.QUARANTINED), ("r.csv", None)):
        ledger.record_file_received(ACCOUNT, "main", "shipments", name, "aa" * 32)
        if outcome is not None:
            ledger.mark_file(ACCOUNT, "main", name, "aa" * 32, outcome)
    ledger.record_file_received("other", "main", "stock", "o.csv", "bb" * 32)
    ledger.mark_file("other", "main", "o.csv", "bb" * 32, FileOutcome.ARCHIVED)

    placed = sorted(ledger.load_placed_files(ACCOUNT), key=lambda p: (p.folder, p.name))

    assert [(p.kind, p.folder, p.name, p.warehouse, p.ship_from_party_id) for p in placed] == [
        ("shipments", "archive", "a.csv", "main", None),
        ("shipments", "error", "q.csv", "main", None),
        ("orders", "orders", "orders-PO-1.csv", None, "WH-EAST"),
        ("orders", "orders", "west.csv", None, "WH-WEST"),
    ]
    assert all(p.placed_at.tzinfo is not None and p.placed_at > datetime.now(UTC) - timedelta(minutes=5)
               for p in placed)


def test_purged_files_are_recorded_by_name(ledger: SqlLedger) -> None:
    when = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    ledger.record_purged(ACCOUNT, [PurgedFile("main", "orders", "orders-1.csv", when),
                                   PurgedFile("main", "error", "q.csv.errors.csv", when + timedelta(seconds=1))])
    ledger.record_purged(ACCOUNT, [])
    ledger.record_purged("other", [PurgedFile("main", "archive", "x.csv", when)])

    assert [(p.folder, p.name) for p in ledger.load_purged(ACCOUNT)] == [
        ("error", "q.csv.errors.csv"), ("orders", "orders-1.csv")
    ]
    assert [p.name for p in ledger.load_purged(since=when + timedelta(seconds=1))] == ["q.csv.errors.csv"]
    assert ledger.load_purged(ACCOUNT)[0].purged_at == when + timedelta(seconds=1)
    with pytest.raises(DataError, match="timezone-aware"):
        ledger.record_purged(ACCOUNT, [PurgedFile("main", "orders", "x.csv", datetime(2026, 1, 1))])


# -- scale ------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_record_downloaded_ten_thousand_orders(ledger: SqlLedger, ledger_backend: str) -> None:
    import time

    page = [order(f"PO-{i:05d}", minutes=i % 1440) for i in range(10_000)]
    started = time.perf_counter()
    outcome = ledger.record_downloaded(ACCOUNT, page)
    elapsed = time.perf_counter() - started
    print(f"\nrecord_downloaded of 10,000 orders x 2 lines on {ledger_backend}: {elapsed:.2f} s")
    assert len(outcome.new) == 10_000
    assert elapsed < 15, f"{elapsed:.1f} s is far above the ~1 s this takes on a laptop"
    started = time.perf_counter()
    assert ledger.record_downloaded(ACCOUNT, page).known == outcome.new
    loaded = ledger.load_orders(ACCOUNT, [OrderState.DOWNLOADED], purchase_order_numbers=outcome.new)
    print(f"again + load_orders by number on {ledger_backend}: {time.perf_counter() - started:.2f} s")
    assert sum(len(o.lines) for o in loaded) == 20_000
