"""SqlLedger: the Ledger port on SQLite (embedded default) or PostgreSQL (shared by workers), through SQLAlchemy 2."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Connection

from adapters.ledger.engine import create_ledger_engine, parse_ledger_url
from adapters.ledger.errors import translate
from adapters.ledger.locks import account_lock
from adapters.ledger.migrate import upgrade
from adapters.ledger.schema import (
    MAX_REASON,
    acknowledgement_requests,
    inbound_files,
    order_lines,
    orders,
    transaction_subjects,
    transactions,
    utcnow,
    watermarks,
)
from tasks.core.errors import DataError, PermanentError
from tasks.core.models import (
    AmazonErrorDetail,
    AmazonOrderStatus,
    DownloadOutcome,
    FileOutcome,
    InboundFile,
    LedgerOrder,
    LedgerTransaction,
    OrderLine,
    OrderState,
    PurchaseOrder,
    RequestState,
    TransactionKind,
    TransactionState,
    TransactionStatus,
    WaitingAcknowledgement,
)
from tasks.core.states import OrderEvent, sources, target

# SQLite caps bound parameters per statement (32766 since 3.32, 999 before): key lists go in IN lists of 500.
# PostgreSQL gets one array parameter instead, whatever its length.
IN_CHUNK = 500


def _key_filters(column: sa.ColumnElement[str], values: Iterable[str], dialect: str) -> list[sa.ColumnElement[bool]]:
    """Conditions that together select these keys: one array on PostgreSQL, IN lists of IN_CHUNK on SQLite."""
    # Sorted so that concurrent writers lock rows in the same order and cannot deadlock each other.
    ordered = sorted(set(values))
    if not ordered:
        return []
    if dialect == "postgresql":
        return [column == sa.any_(sa.literal(ordered, pg_dialect.ARRAY(sa.String)))]
    return [column.in_(ordered[start : start + IN_CHUNK]) for start in range(0, len(ordered), IN_CHUNK)]


def _aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise DataError(f"{what} must be timezone-aware (got a naive datetime)")
    return value.astimezone(UTC)


def _in_input_order(wanted: Collection[str], got: Iterable[str]) -> list[str]:
    found = set(got)
    seen: set[str] = set()
    result = []
    for number in wanted:
        if number in found and number not in seen:
            seen.add(number)
            result.append(number)
    return result


class SqlLedger:
    """The Ledger on SQLAlchemy Core: one database transaction per method, conditional UPDATEs for claims."""

    def __init__(self, url: str) -> None:
        self.url = parse_ledger_url(url)
        self.engine = create_ledger_engine(self.url)

    def __repr__(self) -> str:
        return f"SqlLedger({self.url.render_as_string(hide_password=True)!r})"

    def migrate(self) -> None:
        """Bring the schema to the latest revision; harmless when already there."""
        try:
            upgrade(self.engine)
        except sa_exc.SQLAlchemyError as exc:
            raise translate(exc, self.url, "migrate") from exc

    def close(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()

    def __enter__(self) -> SqlLedger:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def account_lock(self, account: str, *, timeout: float = 600.0, poll: float = 0.2) -> AbstractContextManager[None]:
        """Hold the account's run lock; it dies with the process (PostgreSQL session lock, or a SQLite file lock)."""
        return account_lock(self.engine, self.url, account, timeout=timeout, poll=poll)

    @contextmanager
    def _transaction(self, operation: str, *, write: bool = True) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                if not write:
                    conn = conn.execution_options(ledger_sqlite_begin="DEFERRED")
                with conn.begin():
                    yield conn
        except sa_exc.SQLAlchemyError as exc:
            raise translate(exc, self.url, operation) from exc

    def _keys(self, purchase_order_numbers: Iterable[str]) -> list[sa.ColumnElement[bool]]:
        return _key_filters(orders.c.purchase_order_number, purchase_order_numbers, self.dialect)

    def _insert(self, table: sa.Table) -> Any:
        return (pg_dialect.insert if self.dialect == "postgresql" else sqlite_dialect.insert)(table)

    # orders ---------------------------------------------------------------------------------------------

    def record_downloaded(
        self, account: str, orders_page: Sequence[PurchaseOrder], *, claim_for: str | None = None
    ) -> DownloadOutcome:
        """Insert unknown orders (no PII); move known ones to cancelled if Amazon cancelled them before export.

        With claim_for, the new orders that are not cancelled are claimed at once for that acknowledgement request.
        """
        page: dict[str, PurchaseOrder] = {}
        for order in orders_page:
            page[order.purchase_order_number] = order  # a page repeating an order: the last copy wins
        if not page:
            return DownloadOutcome()
        now = utcnow()
        order_rows = []
        line_rows = []
        for number in sorted(page):
            order = page[number]
            cancelled = order.status == AmazonOrderStatus.CANCELLED
            if cancelled:
                state, batch = OrderState.CANCELLED, None
            elif claim_for is not None:
                state, batch = target(OrderEvent.CLAIM_ACKNOWLEDGEMENT), claim_for
            else:
                state, batch = OrderState.DOWNLOADED, None
            order_rows.append(
                {
                    "account": account,
                    "purchase_order_number": number,
                    "selling_party_id": order.selling_party_id,
                    "ship_from_party_id": order.ship_from_party_id,
                    "order_date": _aware(order.order_date, f"order {number} order_date"),
                    "state": state,
                    "ack_batch": batch,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        with self._transaction("record downloaded orders") as conn:
            statement = (
                self._insert(orders)
                .on_conflict_do_nothing(index_elements=["account", "purchase_order_number"])
                .returning(orders.c.purchase_order_number)
            )
            inserted = set(conn.scalars(statement, order_rows).all())
            for number in sorted(inserted):
                for position, line in enumerate(page[number].lines):
                    line_rows.append(
                        {
                            "account": account,
                            "purchase_order_number": number,
                            "position": position,
                            "seq": line.item_sequence_number,
                            "quantity": line.ordered_quantity,
                            "buyer_product_id": line.buyer_product_identifier,
                            "vendor_product_id": line.vendor_product_identifier,
                            "unit_of_measure": line.unit_of_measure,
                        }
                    )
            if line_rows:
                conn.execute(order_lines.insert(), line_rows)
            claimed = [
                n for n in sorted(inserted) if claim_for is not None and page[n].status != AmazonOrderStatus.CANCELLED
            ]
            if claim_for is not None and claimed:
                self._record_request(conn, account, claim_for, page[claimed[0]].ship_from_party_id, now)
            cancelled_known = [
                number
                for number, order in page.items()
                if number not in inserted and order.status == AmazonOrderStatus.CANCELLED
            ]
            moved: set[str] = set()
            for keys in self._keys(cancelled_known):
                moved.update(
                    conn.scalars(
                        orders.update()
                        .where(
                            orders.c.account == account,
                            keys,
                            orders.c.state.in_(sources(OrderEvent.CANCEL)),
                        )
                        .values(state=target(OrderEvent.CANCEL), updated_at=now)
                        .returning(orders.c.purchase_order_number)
                    )
                )
        numbers = list(page)
        return DownloadOutcome(
            new=tuple(n for n in numbers if n in inserted),
            cancelled=tuple(
                n for n in numbers if n in moved or (n in inserted and page[n].status == AmazonOrderStatus.CANCELLED)
            ),
            known=tuple(n for n in numbers if n not in inserted and n not in moved),
            claimed=tuple(n for n in numbers if n in set(claimed)),
        )

    def load_orders(
        self,
        account: str,
        states: Collection[OrderState],
        *,
        ship_from_party_id: str | None = None,
        purchase_order_numbers: Collection[str] | None = None,
    ) -> list[LedgerOrder]:
        """Orders of an account in the given states, oldest first."""
        if not states or (purchase_order_numbers is not None and not purchase_order_numbers):
            return []
        query = (
            sa.select(orders, order_lines)
            .outerjoin(
                order_lines,
                (order_lines.c.account == orders.c.account)
                & (order_lines.c.purchase_order_number == orders.c.purchase_order_number),
            )
            .where(orders.c.account == account, orders.c.state.in_([OrderState(s) for s in states]))
        )
        if ship_from_party_id is not None:
            query = query.where(orders.c.ship_from_party_id == ship_from_party_id)
        queries = (
            [query]
            if purchase_order_numbers is None
            else [query.where(keys) for keys in self._keys(purchase_order_numbers)]
        )
        found: dict[str, tuple[sa.Row[Any], list[OrderLine]]] = {}
        with self._transaction("load orders", write=False) as conn:
            for one in queries:
                for row in conn.execute(one.order_by(orders.c.purchase_order_number, order_lines.c.position)):
                    _, lines = found.setdefault(row.purchase_order_number, (row, []))
                    if row.position is not None:
                        lines.append(
                            OrderLine(
                                item_sequence_number=row.seq,
                                ordered_quantity=row.quantity,
                                buyer_product_identifier=row.buyer_product_id,
                                vendor_product_identifier=row.vendor_product_id,
                                unit_of_measure=row.unit_of_measure,
                            )
                        )
        result = [
            LedgerOrder(
                account=row.account,
                purchase_order_number=row.purchase_order_number,
                selling_party_id=row.selling_party_id,
                ship_from_party_id=row.ship_from_party_id,
                order_date=row.order_date,
                state=OrderState(row.state),
                lines=tuple(lines),
                ack_batch=row.ack_batch,
                ack_transaction_id=row.ack_transaction_id,
                export_file=row.export_file,
                held_reason=row.held_reason,
            )
            for row, lines in found.values()
        ]
        result.sort(key=lambda order: (order.order_date, order.purchase_order_number))
        return result

    def _claim(
        self,
        conn: Connection,
        account: str,
        purchase_order_numbers: Collection[str],
        *,
        event: OrderEvent,
        values: dict[str, Any],
        ack_batch: str | None = None,
    ) -> set[str]:
        # On PostgreSQL the row lock plus the re-check of the WHERE clause (READ COMMITTED) lets exactly one
        # of two racing UPDATEs win; on SQLite BEGIN IMMEDIATE serialises writers.
        claimed: set[str] = set()
        for keys in self._keys(purchase_order_numbers):
            statement = orders.update().where(orders.c.account == account, keys, orders.c.state.in_(sources(event)))
            if ack_batch is not None:
                statement = statement.where(orders.c.ack_batch == ack_batch)
            statement = statement.values(state=target(event), **values)
            claimed.update(conn.scalars(statement.returning(orders.c.purchase_order_number)))
        return claimed

    def mark_acknowledging(
        self, account: str, purchase_order_numbers: Collection[str], batch: str, *, from_batch: str | None = None
    ) -> list[str]:
        """Claim downloaded orders for one acknowledgement request; returns the ones this caller claimed.

        With from_batch, re-claim orders still acknowledging under that earlier batch (crash recovery).
        """
        now = utcnow()
        with self._transaction("mark orders acknowledging") as conn:
            claimed = self._claim(
                conn,
                account,
                purchase_order_numbers,
                event=OrderEvent.CLAIM_ACKNOWLEDGEMENT if from_batch is None else OrderEvent.RECLAIM_ACKNOWLEDGEMENT,
                values={"ack_batch": batch, "updated_at": now},
                ack_batch=from_batch,
            )
            if claimed:
                ship_from = conn.scalar(
                    sa.select(orders.c.ship_from_party_id).where(
                        orders.c.account == account, orders.c.purchase_order_number == min(claimed)
                    )
                )
                self._record_request(conn, account, batch, str(ship_from), now)
        return _in_input_order(purchase_order_numbers, claimed)

    def _record_request(self, conn: Connection, account: str, request_id: str, ship_from: str, now: datetime) -> None:
        conn.execute(
            self._insert(acknowledgement_requests)
            .values(
                account=account,
                request_id=request_id,
                ship_from_party_id=ship_from,
                state=RequestState.CLAIMED,
                claimed_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["account", "request_id"])
        )

    def _set_requests(
        self, conn: Connection, account: str, request_ids: Iterable[str], state: RequestState, **values: Any
    ) -> None:
        for keys in _key_filters(acknowledgement_requests.c.request_id, request_ids, self.dialect):
            conn.execute(
                acknowledgement_requests.update()
                .where(acknowledgement_requests.c.account == account, keys)
                .values(state=state, updated_at=utcnow(), **values)
            )

    def mark_acknowledgement_sending(self, account: str, request_id: str) -> list[str]:
        """Record, just before it is sent, that a claimed request is being sent; returns its orders to send."""
        now = utcnow()
        requests = acknowledgement_requests.c
        with self._transaction("mark acknowledgement sending") as conn:
            taken = conn.scalar(
                acknowledgement_requests.update()
                .where(
                    requests.account == account,
                    requests.request_id == request_id,
                    requests.state == RequestState.CLAIMED,
                )
                .values(state=RequestState.SENDING, sending_at=now, updated_at=now)
                .returning(requests.request_id)
            )
            if taken is None:
                return []
            return list(
                conn.scalars(
                    sa.select(orders.c.purchase_order_number)
                    .where(
                        orders.c.account == account,
                        orders.c.ack_batch == request_id,
                        orders.c.state == OrderState.ACKNOWLEDGING,
                    )
                    .order_by(orders.c.order_date, orders.c.purchase_order_number)
                )
            )

    def load_waiting_acknowledgements(
        self, account: str | None = None, *, ship_from_party_id: str | None = None
    ) -> list[WaitingAcknowledgement]:
        """Acknowledgement requests that still have orders in 'acknowledging', oldest first."""
        requests = acknowledgement_requests.c
        query = (
            sa.select(
                requests.account,
                requests.request_id,
                requests.ship_from_party_id,
                requests.state,
                requests.claimed_at,
                requests.sending_at,
                sa.func.count().label("orders"),
            )
            .join(orders, (orders.c.account == requests.account) & (orders.c.ack_batch == requests.request_id))
            .where(orders.c.state == OrderState.ACKNOWLEDGING)
            .group_by(
                requests.account,
                requests.request_id,
                requests.ship_from_party_id,
                requests.state,
                requests.claimed_at,
                requests.sending_at,
            )
        )
        if account is not None:
            query = query.where(requests.account == account)
        if ship_from_party_id is not None:
            query = query.where(requests.ship_from_party_id == ship_from_party_id)
        with self._transaction("load waiting acknowledgements", write=False) as conn:
            rows = conn.execute(query).all()
        waiting = [
            WaitingAcknowledgement(
                account=row.account,
                request_id=row.request_id,
                ship_from_party_id=row.ship_from_party_id,
                state=RequestState(row.state),
                orders=row.orders,
                claimed_at=row.claimed_at,
                sending_at=row.sending_at,
            )
            for row in rows
        ]
        return sorted(waiting, key=lambda w: (w.since, w.request_id))

    def release_acknowledging(self, account: str, purchase_order_numbers: Collection[str], batch: str) -> list[str]:
        """Give claimed orders back (to downloaded) when their acknowledgement request was provably not applied."""
        with self._transaction("release acknowledging orders") as conn:
            released = self._claim(
                conn,
                account,
                purchase_order_numbers,
                event=OrderEvent.RELEASE_ACKNOWLEDGEMENT,
                values={"ack_batch": None, "updated_at": utcnow()},
                ack_batch=batch,
            )
            self._set_requests(conn, account, [batch], RequestState.RELEASED)
        return _in_input_order(purchase_order_numbers, released)

    def mark_acknowledged(
        self, account: str, purchase_order_numbers: Collection[str], transaction_id: str | None
    ) -> None:
        """Record the acknowledgement's transaction (status Processing) and move the orders to acknowledged."""
        with self._transaction("mark orders acknowledged") as conn:
            if transaction_id is not None:
                self._record_transaction(
                    conn,
                    account,
                    transaction_id,
                    TransactionKind.ACKNOWLEDGEMENT,
                    list(dict.fromkeys(purchase_order_numbers)),
                )
            requests: set[str] = set()
            now = utcnow()
            for keys in self._keys(purchase_order_numbers):
                moved = conn.scalars(
                    orders.update()
                    .where(orders.c.account == account, keys, orders.c.state.in_(sources(OrderEvent.ACKNOWLEDGE)))
                    .values(state=target(OrderEvent.ACKNOWLEDGE), ack_transaction_id=transaction_id, updated_at=now)
                    .returning(orders.c.ack_batch)
                )
                requests.update(batch for batch in moved if batch is not None)
            self._set_requests(conn, account, requests, RequestState.SENT, transaction_id=transaction_id)

    def mark_exporting(self, account: str, purchase_order_numbers: Collection[str], file_name: str) -> list[str]:
        """Claim acknowledged orders for one export file; returns the ones this caller claimed."""
        with self._transaction("mark orders exporting") as conn:
            claimed = self._claim(
                conn,
                account,
                purchase_order_numbers,
                event=OrderEvent.CLAIM_EXPORT,
                values={"export_file": file_name, "updated_at": utcnow()},
            )
        return _in_input_order(purchase_order_numbers, claimed)

    def mark_exported(self, account: str, file_name: str) -> list[str]:
        """Move every order exporting under this file name to exported; returns them."""
        with self._transaction("mark orders exported") as conn:
            rows = conn.execute(
                orders.update()
                .where(
                    orders.c.account == account,
                    orders.c.export_file == file_name,
                    orders.c.state.in_(sources(OrderEvent.EXPORT)),
                )
                .values(state=target(OrderEvent.EXPORT), updated_at=utcnow())
                .returning(orders.c.purchase_order_number, orders.c.order_date)
            ).all()
        return [
            row.purchase_order_number for row in sorted(rows, key=lambda r: (r.order_date, r.purchase_order_number))
        ]

    def mark_cancelled(self, account: str, purchase_order_numbers: Collection[str]) -> list[str]:
        """Move orders Amazon reports cancelled to cancelled, if not yet exported; returns the ones moved."""
        with self._transaction("mark orders cancelled") as conn:
            moved = self._claim(
                conn, account, purchase_order_numbers, event=OrderEvent.CANCEL, values={"updated_at": utcnow()}
            )
        return _in_input_order(purchase_order_numbers, moved)

    def mark_held(self, account: str, purchase_order_number: str, reason: str) -> None:
        """Put one order aside for a person; the reason must hold no PII."""
        if len(reason) > MAX_REASON:
            raise DataError(f"hold reason is longer than {MAX_REASON} characters", subject=purchase_order_number)
        with self._transaction("mark order held") as conn:
            held = conn.scalar(
                orders.update()
                .where(
                    orders.c.account == account,
                    orders.c.purchase_order_number == purchase_order_number,
                    orders.c.state.in_(sources(OrderEvent.HOLD)),
                )
                .values(state=target(OrderEvent.HOLD), held_reason=reason, updated_at=utcnow())
                .returning(orders.c.purchase_order_number)
            )
            if held is None:
                state = conn.scalar(
                    sa.select(orders.c.state).where(
                        orders.c.account == account, orders.c.purchase_order_number == purchase_order_number
                    )
                )
        if held is None:
            if state is None:
                raise DataError(
                    f"cannot hold an order the ledger does not know (account {account})", subject=purchase_order_number
                )
            raise DataError(f"cannot hold an order that is {state}", subject=purchase_order_number)

    def count_orders(self, account: str | None = None) -> dict[OrderState, int]:
        """How many orders are in each state."""
        query = sa.select(orders.c.state, sa.func.count()).group_by(orders.c.state)
        if account is not None:
            query = query.where(orders.c.account == account)
        counts = dict.fromkeys(OrderState, 0)
        with self._transaction("count orders", write=False) as conn:
            for state, count in conn.execute(query):
                counts[OrderState(state)] = count
        return counts

    # watermarks -----------------------------------------------------------------------------------------

    def load_watermark(self, account: str, scope: str) -> datetime | None:
        """Creation time up to which every order of this account and scope (ship-from id or '*') is downloaded."""
        with self._transaction("load watermark", write=False) as conn:
            value: datetime | None = conn.scalar(
                sa.select(watermarks.c.value).where(watermarks.c.account == account, watermarks.c.scope == scope)
            )
        return value

    def record_watermark(self, account: str, scope: str, value: datetime) -> None:
        """Advance the watermark; it never moves backwards."""
        value = _aware(value, f"watermark {account}/{scope}")
        now = utcnow()
        statement = self._insert(watermarks).values(account=account, scope=scope, value=value, updated_at=now)
        statement = statement.on_conflict_do_update(
            index_elements=["account", "scope"],
            set_={"value": statement.excluded.value, "updated_at": statement.excluded.updated_at},
            where=watermarks.c.value < statement.excluded.value,
        )
        with self._transaction("record watermark") as conn:
            conn.execute(statement)

    # Amazon transactions --------------------------------------------------------------------------------

    def _record_transaction(
        self, conn: Connection, account: str, transaction_id: str, kind: TransactionKind, subjects: Sequence[str]
    ) -> None:
        now = utcnow()
        inserted = conn.scalar(
            self._insert(transactions)
            .values(
                transaction_id=transaction_id,
                account=account,
                kind=TransactionKind(kind),
                status=TransactionState.PROCESSING,
                errors=[],
                submitted_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["transaction_id"])
            .returning(transactions.c.transaction_id)
        )
        if inserted is None:
            # A retried task records the same transaction again: fine, unless it claims to be another one.
            known = conn.execute(
                sa.select(transactions.c.account, transactions.c.kind).where(
                    transactions.c.transaction_id == transaction_id
                )
            ).one()
            if (known.account, known.kind) != (account, kind):
                raise PermanentError(
                    f"transaction is already recorded for account {known.account} as {known.kind}",
                    subject=transaction_id,
                )
            return
        if subjects:
            conn.execute(
                transaction_subjects.insert(),
                [
                    {"transaction_id": transaction_id, "position": position, "subject": subject}
                    for position, subject in enumerate(subjects)
                ],
            )

    def record_transaction(
        self, account: str, transaction_id: str, kind: TransactionKind, subjects: Sequence[str]
    ) -> None:
        """Remember a submitted transaction (Processing) and what it is about."""
        with self._transaction("record transaction") as conn:
            self._record_transaction(conn, account, transaction_id, kind, subjects)

    def record_transaction_status(self, status: TransactionStatus) -> None:
        """Store the latest outcome Amazon reported for a transaction."""
        # Only codes and messages: Amazon's free-form details may echo the submitted payload.
        errors = [{"code": error.code, "message": error.message} for error in status.errors]
        statement = (
            transactions.update()
            .where(transactions.c.transaction_id == status.transaction_id)
            .values(status=TransactionState(status.status), errors=errors, updated_at=utcnow())
            .returning(transactions.c.transaction_id)
        )
        if status.status == TransactionState.PROCESSING:
            # A late or replayed Processing answer must not reopen a transaction Amazon already decided.
            statement = statement.where(transactions.c.status == TransactionState.PROCESSING)
        with self._transaction("record transaction status") as conn:
            updated = conn.scalar(statement)
            known = updated is not None or conn.scalar(
                sa.select(sa.literal(True)).where(transactions.c.transaction_id == status.transaction_id)
            )
        if not known:
            raise DataError("status for a transaction the ledger never recorded", subject=status.transaction_id)

    def load_transactions(self, account: str | None = None, *, pending_only: bool = False) -> list[LedgerTransaction]:
        """Transactions, optionally only those still Processing."""
        conditions: list[sa.ColumnElement[bool]] = []
        if account is not None:
            conditions.append(transactions.c.account == account)
        if pending_only:
            conditions.append(transactions.c.status == TransactionState.PROCESSING)
        with self._transaction("load transactions", write=False) as conn:
            rows = conn.execute(
                sa.select(transactions)
                .where(*conditions)
                .order_by(transactions.c.submitted_at, transactions.c.transaction_id)
            ).all()
            subjects: dict[str, list[str]] = {}
            for transaction_id, subject in conn.execute(
                sa.select(transaction_subjects.c.transaction_id, transaction_subjects.c.subject)
                .join(transactions)
                .where(*conditions)
                .order_by(transaction_subjects.c.transaction_id, transaction_subjects.c.position)
            ):
                subjects.setdefault(transaction_id, []).append(subject)
        return [
            LedgerTransaction(
                transaction_id=row.transaction_id,
                account=row.account,
                kind=TransactionKind(row.kind),
                subjects=tuple(subjects.get(row.transaction_id, ())),
                status=TransactionState(row.status),
                errors=tuple(AmazonErrorDetail(code=e["code"], message=e["message"]) for e in row.errors),
                submitted_at=row.submitted_at,
                updated_at=row.updated_at,
            )
            for row in rows
        ]

    # inbound files --------------------------------------------------------------------------------------

    def record_file_received(self, account: str, warehouse: str, kind: str, name: str, checksum: str) -> bool:
        """Register an inbound file; False when this name + checksum was already received."""
        now = utcnow()
        with self._transaction("record file received") as conn:
            inserted = conn.scalar(
                self._insert(inbound_files)
                .values(
                    account=account,
                    warehouse=warehouse,
                    file=name,
                    checksum=checksum,
                    kind=kind,
                    outcome=FileOutcome.RECEIVED,
                    received_at=now,
                    updated_at=now,
                )
                .on_conflict_do_nothing(index_elements=["account", "warehouse", "file", "checksum"])
                .returning(inbound_files.c.id)
            )
        return inserted is not None

    def mark_file(
        self, account: str, warehouse: str, name: str, checksum: str, outcome: FileOutcome, detail: str | None = None
    ) -> None:
        """Record where a received file ended (archived or quarantined)."""
        with self._transaction("mark file") as conn:
            updated = conn.scalar(
                inbound_files.update()
                .where(
                    inbound_files.c.account == account,
                    inbound_files.c.warehouse == warehouse,
                    inbound_files.c.file == name,
                    inbound_files.c.checksum == checksum,
                )
                .values(outcome=FileOutcome(outcome), detail=detail, updated_at=utcnow())
                .returning(inbound_files.c.id)
            )
        if updated is None:
            raise DataError(f"file was never recorded as received (warehouse {warehouse})", subject=name)

    def load_files(self, account: str | None = None, warehouse: str | None = None) -> list[InboundFile]:
        """Inbound files, newest first."""
        query = sa.select(inbound_files).order_by(inbound_files.c.received_at.desc(), inbound_files.c.id.desc())
        if account is not None:
            query = query.where(inbound_files.c.account == account)
        if warehouse is not None:
            query = query.where(inbound_files.c.warehouse == warehouse)
        with self._transaction("load files", write=False) as conn:
            rows = conn.execute(query).all()
        return [
            InboundFile(
                account=row.account,
                warehouse=row.warehouse,
                kind=row.kind,
                name=row.file,
                checksum=row.checksum,
                outcome=FileOutcome(row.outcome),
                detail=row.detail,
            )
            for row in rows
        ]
