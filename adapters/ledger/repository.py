"""SqlLedger: the Ledger port on SQLite (embedded default) or PostgreSQL (shared by workers), through SQLAlchemy 2."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
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
    UtcDateTime,
    acknowledgement_requests,
    cancellation_notices,
    inbound_files,
    inventory_chunks,
    inventory_feeds,
    inventory_items,
    order_lines,
    orders,
    packing_slips,
    purged_files,
    shipment_lines,
    shipping_labels,
    transaction_subjects,
    transactions,
    utcnow,
    watermarks,
)
from tasks.core.errors import DataError, PermanentError
from tasks.core.models import (
    EMPTY_FEED_ITEMS,
    AmazonErrorDetail,
    AmazonOrderStatus,
    CancellationNotice,
    ChunkState,
    DownloadOutcome,
    FeedItems,
    FeedMode,
    FeedPlan,
    FeedState,
    FileOutcome,
    InboundFile,
    InventoryBaseline,
    InventoryFeed,
    LabelFormat,
    LabelPackage,
    LabelRecord,
    LabelState,
    LedgerOrder,
    LedgerTransaction,
    OrderLine,
    OrderState,
    PackingSlipRecord,
    PackingSlipState,
    PlacedFile,
    PurchaseOrder,
    PurgedFile,
    RequestState,
    ShipmentLine,
    ShippingLabel,
    TransactionKind,
    TransactionState,
    TransactionStatus,
    WaitingAcknowledgement,
)
from tasks.core.states import OrderEvent, settle_confirmation, sources, target

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


def _required_ship_date(order: PurchaseOrder) -> datetime | None:
    # The Amazon adapter writes datetime.min (naive) when an order came without one.
    if order.required_ship_date.tzinfo is None or order.required_ship_date.year < 1970:
        return None
    return order.required_ship_date.astimezone(UTC)


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
                    "required_ship_date": _required_ship_date(order),
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
        # Only what LedgerOrder holds: every datetime column read costs a conversion per row.
        order_columns = [c for c in orders.c if c.name not in ("id", "created_at", "updated_at")]
        line_columns = [order_lines.c[name] for name in
                        ("position", "seq", "quantity", "buyer_product_id", "vendor_product_id", "unit_of_measure")]
        query = (
            sa.select(*order_columns, *line_columns)
            .select_from(orders)
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
                required_ship_date=row.required_ship_date,
                ship_batch=row.ship_batch,
                ship_transaction_id=row.ship_transaction_id,
                ship_errors=row.ship_errors,
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
        ship_batch: str | None = None,
    ) -> set[str]:
        # On PostgreSQL the row lock plus the re-check of the WHERE clause (READ COMMITTED) lets exactly one
        # of two racing UPDATEs win; on SQLite BEGIN IMMEDIATE serialises writers.
        claimed: set[str] = set()
        for keys in self._keys(purchase_order_numbers):
            statement = orders.update().where(orders.c.account == account, keys, orders.c.state.in_(sources(event)))
            if ack_batch is not None:
                statement = statement.where(orders.c.ack_batch == ack_batch)
            if ship_batch is not None:
                statement = statement.where(orders.c.ship_batch == ship_batch)
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
            if updated is not None and status.status != TransactionState.PROCESSING:
                # What an outcome means for the thing it is about is decided here, by kind, in the same
                # transaction: poll-transactions need not know the kinds.
                self._settle_inventory_transaction(conn, status)
                self._settle_confirmations(conn, status)
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

    # ops ------------------------------------------------------------------------------------------------

    def mark_transactions_stuck(self, transaction_ids: Collection[str]) -> list[str]:
        """Note that these Processing transactions were reported stuck; returns the ones not reported before."""
        marked: set[str] = set()
        now = utcnow()
        with self._transaction("mark transactions stuck") as conn:
            for keys in _key_filters(transactions.c.transaction_id, transaction_ids, self.dialect):
                marked.update(
                    conn.scalars(
                        transactions.update()
                        .where(
                            keys,
                            transactions.c.status == TransactionState.PROCESSING,
                            transactions.c.stuck_reported_at.is_(None),
                        )
                        .values(stuck_reported_at=now)
                        .returning(transactions.c.transaction_id)
                    )
                )
        return _in_input_order(list(transaction_ids), marked)

    def count_orders_by_warehouse(self, account: str) -> dict[str, dict[OrderState, int]]:
        """How many orders of an account are in each state, per ship-from party id."""
        query = (
            sa.select(orders.c.ship_from_party_id, orders.c.state, sa.func.count())
            .where(orders.c.account == account)
            .group_by(orders.c.ship_from_party_id, orders.c.state)
        )
        counts: dict[str, dict[OrderState, int]] = {}
        with self._transaction("count orders by warehouse", write=False) as conn:
            for ship_from, state, count in conn.execute(query):
                counts.setdefault(ship_from, dict.fromkeys(OrderState, 0))[OrderState(state)] = count
        return counts

    def _settle_confirmations(self, conn: Connection, status: TransactionStatus) -> None:
        """A shipment confirmation's verdict moves the orders it carried (those still confirming under it)."""
        found = conn.execute(
            sa.select(transactions.c.account, transactions.c.kind).where(
                transactions.c.transaction_id == status.transaction_id
            )
        ).one()
        if found.kind != TransactionKind.SHIPMENT_CONFIRMATION:
            return
        subjects = list(
            conn.scalars(
                sa.select(transaction_subjects.c.subject).where(
                    transaction_subjects.c.transaction_id == status.transaction_id
                )
            )
        )
        failed, succeeded = settle_confirmation(status, subjects)
        now = utcnow()
        carried = orders.c.ship_transaction_id == status.transaction_id
        for keys in self._keys(succeeded):
            conn.execute(
                orders.update()
                .where(
                    orders.c.account == found.account, keys, carried, orders.c.state.in_(sources(OrderEvent.CONFIRM))
                )
                .values(state=target(OrderEvent.CONFIRM), ship_errors=None, updated_at=now)
            )
        for number, codes in sorted(failed.items()):
            moved = conn.scalar(
                orders.update()
                .where(
                    orders.c.account == found.account,
                    orders.c.purchase_order_number == number,
                    carried,
                    orders.c.state.in_(sources(OrderEvent.FAIL_CONFIRMATION)),
                )
                .values(state=target(OrderEvent.FAIL_CONFIRMATION), ship_errors=codes[:MAX_REASON], updated_at=now)
                .returning(orders.c.purchase_order_number)
            )
            if moved is not None:
                # a corrected shipment file starts the order afresh: the lines Amazon refused are not summed again
                conn.execute(
                    shipment_lines.delete().where(
                        shipment_lines.c.account == found.account, shipment_lines.c.purchase_order_number == number
                    )
                )

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

    # retention ------------------------------------------------------------------------------------------

    def load_placed_files(self, account: str) -> list[PlacedFile]:
        """Order files exported (placed when their orders last moved) and inbound files archived or quarantined."""
        exporting = sa.case((orders.c.state == OrderState.EXPORTING.value, 1), else_=0)
        exported = (
            sa.select(
                orders.c.export_file, orders.c.ship_from_party_id,
                sa.type_coerce(sa.func.max(orders.c.updated_at), UtcDateTime),
            )
            .where(orders.c.account == account, orders.c.export_file.is_not(None))
            .group_by(orders.c.export_file, orders.c.ship_from_party_id)
            .having(sa.func.sum(exporting) == 0)  # a file still being exported may not be on the drop yet
        )
        inbound = sa.select(inbound_files.c.warehouse, inbound_files.c.kind, inbound_files.c.file,
                            inbound_files.c.outcome, inbound_files.c.updated_at).where(
            inbound_files.c.account == account,
            inbound_files.c.outcome.in_([FileOutcome.ARCHIVED.value, FileOutcome.QUARANTINED.value]),
        )
        with self._transaction("load placed files", write=False) as conn:
            files = [
                PlacedFile("orders", "orders", name, at, ship_from_party_id=ship_from)
                for name, ship_from, at in conn.execute(exported).all()
            ]
            files.extend(
                PlacedFile(kind, "archive" if outcome == FileOutcome.ARCHIVED.value else "error", name, at,
                           warehouse=warehouse)
                for warehouse, kind, name, outcome, at in conn.execute(inbound).all()
            )
        return files

    def record_purged(self, account: str, purged: Sequence[PurgedFile]) -> None:
        """Remember files the purge removed (names only)."""
        if not purged:
            return
        with self._transaction("record purged files") as conn:
            conn.execute(
                purged_files.insert(),
                [
                    {"account": account, "warehouse": p.warehouse, "folder": p.folder, "file": p.name,
                     "purged_at": _aware(p.purged_at, "purged_at")}
                    for p in purged
                ],
            )

    def load_purged(self, account: str | None = None, since: datetime | None = None) -> list[PurgedFile]:
        """Files the purge removed, newest first."""
        query = sa.select(purged_files).order_by(purged_files.c.purged_at.desc(), purged_files.c.id.desc())
        if account is not None:
            query = query.where(purged_files.c.account == account)
        if since is not None:
            query = query.where(purged_files.c.purged_at >= _aware(since, "since"))
        with self._transaction("load purged files", write=False) as conn:
            rows = conn.execute(query).all()
        return [PurgedFile(row.warehouse, row.folder, row.file, row.purged_at) for row in rows]

    # inventory ------------------------------------------------------------------------------------------

    def _load_feeds(self, conn: Connection, *conditions: sa.ColumnElement[bool]) -> list[InventoryFeed]:
        rows = conn.execute(sa.select(inventory_feeds).where(*conditions).order_by(inventory_feeds.c.id.desc())).all()
        if not rows:
            return []
        chunks: dict[int, list[sa.Row[Any]]] = {}
        ids = [row.id for row in rows]
        for start in range(0, len(ids), IN_CHUNK):
            for chunk in conn.execute(
                sa.select(inventory_chunks)
                .where(inventory_chunks.c.feed_id.in_(ids[start : start + IN_CHUNK]))
                .order_by(inventory_chunks.c.feed_id, inventory_chunks.c.chunk)
            ):
                chunks.setdefault(chunk.feed_id, []).append(chunk)
        return [
            InventoryFeed(
                feed_id=row.id,
                account=row.account,
                warehouse=row.warehouse,
                warehouse_id=row.warehouse_id,
                file=row.file,
                checksum=row.checksum,
                mode=FeedMode(row.mode),
                state=FeedState(row.state),
                forced=bool(row.forced),
                items=row.items,
                total_quantity=row.total_quantity,
                sent_items=row.sent_items,
                zeros=row.zeros,
                chunk_states=tuple(ChunkState(c.state) for c in chunks.get(row.id, [])),
                transaction_ids=tuple(c.transaction_id for c in chunks.get(row.id, []) if c.transaction_id),
                detail=row.detail,
                created_at=row.created_at,
                updated_at=row.updated_at,
            )
            for row in rows
        ]

    def _feed_by_id(self, conn: Connection, feed_id: int) -> InventoryFeed:
        found = self._load_feeds(conn, inventory_feeds.c.id == feed_id)
        if not found:
            raise DataError("the ledger has no inventory feed with this id", subject=str(feed_id))
        return found[0]

    @staticmethod
    def _items(conn: Connection, *conditions: sa.ColumnElement[bool]) -> FeedItems:
        rows = conn.execute(
            sa.select(
                inventory_items.c.item,
                inventory_items.c.vendor_sku,
                inventory_items.c.asin,
                inventory_items.c.quantity,
                inventory_items.c.chunk,
            )
            .where(*conditions)
            .order_by(inventory_items.c.feed_id, inventory_items.c.item)
        ).all()
        if not rows:
            return EMPTY_FEED_ITEMS
        keys, vendor_skus, asins, quantities, chunks = zip(*rows, strict=True)
        return FeedItems(keys, vendor_skus, asins, quantities, chunks)

    def load_inventory_feed(self, account: str, warehouse: str, file: str, checksum: str) -> InventoryFeed | None:
        """The feed recorded for one stock file (name + checksum) of a warehouse, if any."""
        with self._transaction("load inventory feed", write=False) as conn:
            found = self._load_feeds(
                conn,
                inventory_feeds.c.account == account,
                inventory_feeds.c.warehouse == warehouse,
                inventory_feeds.c.file == file,
                inventory_feeds.c.checksum == checksum,
            )
        return found[0] if found else None

    def load_inventory_feeds(
        self, account: str | None = None, warehouse: str | None = None, *, states: Collection[FeedState] | None = None
    ) -> list[InventoryFeed]:
        """Inventory feeds, newest first, optionally only those in the given states."""
        conditions: list[sa.ColumnElement[bool]] = []
        if account is not None:
            conditions.append(inventory_feeds.c.account == account)
        if warehouse is not None:
            conditions.append(inventory_feeds.c.warehouse == warehouse)
        if states is not None:
            conditions.append(inventory_feeds.c.state.in_([FeedState(s) for s in states]))
        with self._transaction("load inventory feeds", write=False) as conn:
            return self._load_feeds(conn, *conditions)

    def load_inventory_baseline(self, account: str, warehouse: str) -> InventoryBaseline:
        """The last accepted feed with the stock it carried, and the items newer unsettled feeds sent."""
        scope = (inventory_feeds.c.account == account, inventory_feeds.c.warehouse == warehouse)
        with self._transaction("load inventory baseline", write=False) as conn:
            last_id = conn.scalar(
                sa.select(sa.func.max(inventory_feeds.c.id)).where(
                    *scope, inventory_feeds.c.state == FeedState.ACCEPTED
                )
            )
            accepted = self._feed_by_id(conn, last_id) if last_id is not None else None
            levels = (
                self._items(conn, inventory_items.c.feed_id == last_id) if last_id is not None else EMPTY_FEED_ITEMS
            )
            newer = sa.select(inventory_feeds.c.id).where(
                *scope,
                inventory_feeds.c.id > (last_id or 0),
                inventory_feeds.c.state.not_in([FeedState.HELD, FeedState.ACCEPTED]),
            )
            pending = self._items(conn, inventory_items.c.feed_id.in_(newer), inventory_items.c.chunk.is_not(None))
        return InventoryBaseline(accepted=accepted, levels=levels, pending=pending)

    def record_inventory_feed(
        self, account: str, warehouse: str, file: str, checksum: str, plan: FeedPlan, items: FeedItems
    ) -> InventoryFeed:
        """Record a stock file's feed before anything is sent, in one transaction (see the Ledger port)."""
        now = utcnow()
        state = FeedState.HELD if plan.held else FeedState.ACCEPTED if plan.chunks == 0 else FeedState.SENDING
        values = {
            "warehouse_id": plan.warehouse_id,
            "mode": FeedMode(plan.mode),
            "state": state,
            "forced": plan.forced,
            "items": plan.items,
            "total_quantity": plan.total_quantity,
            "sent_items": plan.sent_items,
            "zeros": plan.zeros,
            "detail": (plan.detail or None) and plan.detail[:1000],
            "updated_at": now,
        }
        identity = (
            inventory_feeds.c.account == account,
            inventory_feeds.c.warehouse == warehouse,
            inventory_feeds.c.file == file,
            inventory_feeds.c.checksum == checksum,
        )
        with self._transaction("record inventory feed") as conn:
            feed_id = conn.scalar(
                self._insert(inventory_feeds)
                .values(account=account, warehouse=warehouse, file=file, checksum=checksum, created_at=now, **values)
                .on_conflict_do_nothing(index_elements=["account", "warehouse", "file", "checksum"])
                .returning(inventory_feeds.c.id)
            )
            if feed_id is None:
                # Known file: only a held feed is decided again (sent later with force, or held again).
                feed_id = conn.scalar(
                    inventory_feeds.update()
                    .where(*identity, inventory_feeds.c.state == FeedState.HELD)
                    .values(**values)
                    .returning(inventory_feeds.c.id)
                )
                if feed_id is None:
                    return self._load_feeds(conn, *identity)[0]
            if state is not FeedState.HELD:
                self._store_feed_items(conn, feed_id, items)
                if state is FeedState.ACCEPTED:
                    self._after_accept(conn, account, warehouse)
            return self._feed_by_id(conn, feed_id)

    def _store_feed_items(self, conn: Connection, feed_id: int, items: FeedItems) -> None:
        if len(items):
            rows = zip(
                [feed_id] * len(items), items.keys, items.vendor_skus, items.asins, items.quantities, items.chunks,
                strict=True,
            )
            self._bulk_insert(conn, inventory_items, list(rows))
        sizes = Counter(chunk for chunk in items.chunks if chunk is not None)
        if sizes:
            now = utcnow()
            conn.execute(
                inventory_chunks.insert(),
                [
                    {"feed_id": feed_id, "chunk": chunk, "state": ChunkState.PENDING, "items": size, "updated_at": now}
                    for chunk, size in sorted(sizes.items())
                ],
            )

    def _bulk_insert(self, conn: Connection, table: sa.Table, rows: list[tuple[Any, ...]]) -> None:
        """Insert many rows in the driver's fastest way, inside this transaction.

        A 200,000-SKU feed is 200,000 rows: through SQLAlchemy's executemany that takes 3x (SQLite) to 5x
        (PostgreSQL, row by row) longer than the driver's own bulk path, COPY or executemany on plain tuples.
        """
        names = ", ".join(column.name for column in table.columns)
        driver = conn.connection.driver_connection
        dbapi_error = self.engine.dialect.loaded_dbapi.Error
        statement = f"COPY {table.name} ({names}) FROM STDIN"
        try:
            if self.dialect == "postgresql":
                with driver.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join("?" * len(table.columns))
                statement = f"INSERT INTO {table.name} ({names}) VALUES ({marks})"  # noqa: S608 - our own names
                cursor = driver.cursor()  # type: ignore[union-attr]
                try:
                    cursor.executemany(statement, rows)
                finally:
                    cursor.close()
        except dbapi_error as exc:
            # Into SQLAlchemy's own exception, so the ledger's translation into our error tree applies.
            raise sa_exc.DBAPIError.instance(statement, None, exc, dbapi_error) from exc

    def claim_inventory_chunk(self, feed_id: int, chunk: int) -> bool:
        """Claim a pending chunk of a sending feed for its request; False when someone else has it or it is over."""
        sending = sa.select(inventory_feeds.c.id).where(
            inventory_feeds.c.id == feed_id, inventory_feeds.c.state == FeedState.SENDING
        )
        with self._transaction("claim inventory chunk") as conn:
            claimed = conn.scalar(
                inventory_chunks.update()
                .where(
                    inventory_chunks.c.feed_id == feed_id,
                    inventory_chunks.c.chunk == chunk,
                    inventory_chunks.c.state == ChunkState.PENDING,
                    sa.exists(sending),
                )
                .values(state=ChunkState.SENDING, updated_at=utcnow())
                .returning(inventory_chunks.c.chunk)
            )
        return claimed is not None

    def load_inventory_chunk(self, feed_id: int, chunk: int) -> FeedItems:
        """The items one request of a feed carries."""
        with self._transaction("load inventory chunk", write=False) as conn:
            return self._items(conn, inventory_items.c.feed_id == feed_id, inventory_items.c.chunk == chunk)

    def mark_inventory_chunk(
        self,
        feed_id: int,
        chunk: int,
        state: ChunkState,
        *,
        transaction_id: str | None = None,
        detail: str | None = None,
    ) -> InventoryFeed:
        """Record how a claimed chunk's request ended (see the Ledger port)."""
        state = ChunkState(state)
        if state not in _CHUNK_OUTCOMES:
            raise DataError(f"a claimed chunk cannot become {state}", subject=f"feed {feed_id} chunk {chunk}")
        if (state is ChunkState.SENT) != (transaction_id is not None):
            raise DataError("a chunk is sent exactly when it has a transaction id", subject=f"feed {feed_id}")
        with self._transaction("mark inventory chunk") as conn:
            feed = self._feed_by_id(conn, feed_id)
            if transaction_id is not None:
                self._record_transaction(
                    conn, feed.account, transaction_id, TransactionKind.INVENTORY_UPDATE, [feed.warehouse_id]
                )
            moved = conn.scalar(
                inventory_chunks.update()
                .where(
                    inventory_chunks.c.feed_id == feed_id,
                    inventory_chunks.c.chunk == chunk,
                    inventory_chunks.c.state == ChunkState.SENDING,
                )
                .values(
                    state=state,
                    transaction_id=transaction_id,
                    detail=(detail or None) and detail[:1000],
                    updated_at=utcnow(),
                )
                .returning(inventory_chunks.c.chunk)
            )
            if moved is None:
                current = conn.execute(
                    sa.select(inventory_chunks.c.state, inventory_chunks.c.transaction_id).where(
                        inventory_chunks.c.feed_id == feed_id, inventory_chunks.c.chunk == chunk
                    )
                ).one_or_none()
                # A retried task records the same outcome again: fine; anything else is a bug to surface.
                if current is None or (current.state, current.transaction_id) != (state, transaction_id):
                    raise DataError(
                        f"chunk {chunk} is {current.state if current else 'unknown'}, not in flight",
                        subject=f"inventory feed {feed_id}",
                    )
            self._settle_feed(conn, feed_id)
            return self._feed_by_id(conn, feed_id)

    def supersede_inventory_feed(self, feed_id: int) -> InventoryFeed:
        """Stop a held or half-sent feed for a newer file (see the Ledger port)."""
        now = utcnow()
        with self._transaction("supersede inventory feed") as conn:
            updated = conn.scalar(
                inventory_feeds.update()
                .where(
                    inventory_feeds.c.id == feed_id,
                    inventory_feeds.c.state.in_([FeedState.SENDING, FeedState.HELD]),
                )
                .values(state=FeedState.SUPERSEDED, updated_at=now)
                .returning(inventory_feeds.c.id)
            )
            if updated is not None:
                for before, after in _SUPERSEDED_CHUNKS:
                    conn.execute(
                        inventory_chunks.update()
                        .where(inventory_chunks.c.feed_id == feed_id, inventory_chunks.c.state == before)
                        .values(state=after, updated_at=now)
                    )
            return self._feed_by_id(conn, feed_id)

    def _settle_feed(self, conn: Connection, feed_id: int) -> None:
        """Move a sending feed on once none of its chunks is pending or in flight."""
        feed = self._feed_by_id(conn, feed_id)
        if feed.state is not FeedState.SENDING:
            return
        chunk_states = set(feed.chunk_states)
        if chunk_states & {ChunkState.PENDING, ChunkState.SENDING}:
            return
        if ChunkState.REFUSED in chunk_states:
            state = FeedState.FAILED
        elif chunk_states & {ChunkState.UNKNOWN, ChunkState.CANCELLED}:
            state = FeedState.UNKNOWN
        else:
            state = FeedState.SENT
        conn.execute(
            inventory_feeds.update().where(inventory_feeds.c.id == feed_id).values(state=state, updated_at=utcnow())
        )
        if state is FeedState.SENT:
            self._accept_if_settled(conn, feed)

    def _accept_if_settled(self, conn: Connection, feed: InventoryFeed) -> None:
        outcomes = conn.execute(
            sa.select(transactions.c.status)
            .select_from(
                inventory_chunks.join(transactions, inventory_chunks.c.transaction_id == transactions.c.transaction_id)
            )
            .where(inventory_chunks.c.feed_id == feed.feed_id)
        ).scalars().all()
        if TransactionState.FAILURE in outcomes:
            self._fail_feed(conn, feed.feed_id, "Amazon reported a Failure for one of its transactions")
        elif len(outcomes) == len(feed.chunk_states) and set(outcomes) <= {TransactionState.SUCCESS}:
            accepted = conn.scalar(
                inventory_feeds.update()
                .where(inventory_feeds.c.id == feed.feed_id, inventory_feeds.c.state == FeedState.SENT)
                .values(state=FeedState.ACCEPTED, updated_at=utcnow())
                .returning(inventory_feeds.c.id)
            )
            if accepted is not None:
                self._after_accept(conn, feed.account, feed.warehouse)

    def _fail_feed(self, conn: Connection, feed_id: int, detail: str) -> None:
        conn.execute(
            inventory_feeds.update()
            .where(inventory_feeds.c.id == feed_id, inventory_feeds.c.state.not_in([FeedState.HELD, FeedState.FAILED]))
            .values(state=FeedState.FAILED, detail=detail[:1000], updated_at=utcnow())
        )

    def _after_accept(self, conn: Connection, account: str, warehouse: str) -> None:
        """Only the last accepted feed's stock and newer feeds' items are needed again: drop older feeds' items."""
        last_id = conn.scalar(
            sa.select(sa.func.max(inventory_feeds.c.id)).where(
                inventory_feeds.c.account == account,
                inventory_feeds.c.warehouse == warehouse,
                inventory_feeds.c.state == FeedState.ACCEPTED,
            )
        )
        older = sa.select(inventory_feeds.c.id).where(
            inventory_feeds.c.account == account,
            inventory_feeds.c.warehouse == warehouse,
            inventory_feeds.c.id < last_id,
        )
        conn.execute(inventory_items.delete().where(inventory_items.c.feed_id.in_(older)))

    def _settle_inventory_transaction(self, conn: Connection, status: TransactionStatus) -> None:
        """An inventory transaction's outcome: Failure fails its feed; the last Success of a sent feed accepts it."""
        feed_id = conn.scalar(
            sa.select(inventory_chunks.c.feed_id).where(inventory_chunks.c.transaction_id == status.transaction_id)
        )
        if feed_id is None:
            return
        if status.status == TransactionState.FAILURE:
            codes = ", ".join(error.code for error in status.errors) or "no error code"
            self._fail_feed(conn, feed_id, f"Amazon reported Failure for transaction {status.transaction_id} ({codes})")
            return
        feed = self._feed_by_id(conn, feed_id)
        if feed.state is FeedState.SENT:
            self._accept_if_settled(conn, feed)


    # labels, packing slips, cancellations ---------------------------------------------------------------

    # An order may get a label while it waits for export (labels before the orders file) or after it
    # (labels from the warehouse's packages file), never once Amazon cancelled it.
    LABEL_ORDER_STATES = (OrderState.ACKNOWLEDGED, OrderState.EXPORTED)

    def _filters(
        self, table: sa.Table, account: str, purchase_order_numbers: Collection[str] | None
    ) -> list[list[sa.ColumnElement[bool]]]:
        """WHERE clauses for one account, optionally for these orders only (one list per key chunk)."""
        base: list[sa.ColumnElement[bool]] = [table.c.account == account]
        if purchase_order_numbers is None:
            return [base]
        return [[*base, keys] for keys in _key_filters(table.c.purchase_order_number, purchase_order_numbers,
                                                       self.dialect)]

    def claim_labels(self, account: str, purchase_order_numbers: Collection[str]) -> list[str]:
        """Record the intent to ask Amazon for a label, once per order; returns the orders this caller claimed."""
        now = utcnow()
        cancelled_after_export = sa.exists().where(
            cancellation_notices.c.account == orders.c.account,
            cancellation_notices.c.purchase_order_number == orders.c.purchase_order_number,
        )
        claimed: set[str] = set()
        with self._transaction("claim labels") as conn:
            for keys in self._keys(purchase_order_numbers):
                eligible = conn.execute(
                    sa.select(orders.c.purchase_order_number, orders.c.ship_from_party_id)
                    .where(
                        orders.c.account == account,
                        keys,
                        orders.c.state.in_(self.LABEL_ORDER_STATES),
                        ~cancelled_after_export,
                    )
                    .order_by(orders.c.purchase_order_number)
                    .with_for_update(of=orders)  # a concurrent cancel or hold waits for this claim (PostgreSQL)
                ).all()
                if not eligible:
                    continue
                rows = [
                    {
                        "account": account,
                        "purchase_order_number": row.purchase_order_number,
                        "ship_from_party_id": row.ship_from_party_id,
                        "state": LabelState.REQUESTING,
                        "packages": [],
                        "requested_at": now,
                        "updated_at": now,
                    }
                    for row in eligible
                ]
                statement = (
                    self._insert(shipping_labels)
                    .on_conflict_do_nothing(index_elements=["account", "purchase_order_number"])
                    .returning(shipping_labels.c.purchase_order_number)
                )
                claimed.update(conn.scalars(statement, rows).all())
        return _in_input_order(purchase_order_numbers, claimed)

    def release_labels(self, account: str, purchase_order_numbers: Collection[str]) -> list[str]:
        """Forget claims whose createShippingLabels provably made no label (refused, or never sent)."""
        released: set[str] = set()
        with self._transaction("release labels") as conn:
            for where in self._filters(shipping_labels, account, purchase_order_numbers):
                released.update(
                    conn.scalars(
                        shipping_labels.delete()
                        .where(*where, shipping_labels.c.state == LabelState.REQUESTING)
                        .returning(shipping_labels.c.purchase_order_number)
                    )
                )
        return _in_input_order(purchase_order_numbers, released)

    def record_labels(self, account: str, labels: Sequence[ShippingLabel]) -> list[str]:
        """Store package ids, tracking numbers and ship methods (never the label itself); requesting -> created."""
        now = utcnow()
        recorded: set[str] = set()
        with self._transaction("record labels") as conn:
            for label in sorted(labels, key=lambda one: one.purchase_order_number):
                packages = [
                    {
                        "package": package.package_identifier,
                        "tracking": package.tracking_number,
                        "ship_method": package.ship_method,
                        "ship_method_title": package.ship_method_name,
                    }
                    for package in label.packages
                ]
                number = conn.scalar(
                    shipping_labels.update()
                    .where(
                        shipping_labels.c.account == account,
                        shipping_labels.c.purchase_order_number == label.purchase_order_number,
                        shipping_labels.c.state == LabelState.REQUESTING,
                    )
                    .values(
                        state=LabelState.CREATED,
                        label_format=LabelFormat(label.label_format),
                        packages=packages,
                        created_at=now,
                        updated_at=now,
                    )
                    .returning(shipping_labels.c.purchase_order_number)
                )
                if number is not None:
                    recorded.add(number)
        return _in_input_order([label.purchase_order_number for label in labels], recorded)

    def mark_labels_dropped(self, account: str, purchase_order_numbers: Collection[str]) -> list[str]:
        """Record that the orders' label files are on the warehouse drop (created -> dropped)."""
        now = utcnow()
        values = {"state": LabelState.DROPPED, "dropped_at": now, "updated_at": now}
        return self._move_rows(
            "mark labels dropped", shipping_labels, account, purchase_order_numbers, LabelState.CREATED, values
        )

    def load_labels(
        self,
        account: str,
        *,
        purchase_order_numbers: Collection[str] | None = None,
        states: Collection[LabelState] | None = None,
        ship_from_party_id: str | None = None,
    ) -> list[LabelRecord]:
        """Label records of an account, by order number."""
        wanted = None if states is None else [LabelState(state) for state in states]
        found = self._load_rows(
            "load labels", shipping_labels, account, purchase_order_numbers, wanted, ship_from_party_id
        )
        records = [
            LabelRecord(
                account=row.account,
                purchase_order_number=row.purchase_order_number,
                ship_from_party_id=row.ship_from_party_id,
                state=LabelState(row.state),
                label_format=LabelFormat(row.label_format) if row.label_format else None,
                packages=tuple(
                    LabelPackage(
                        package_identifier=package["package"],
                        tracking_number=package["tracking"],
                        ship_method=package.get("ship_method"),
                        ship_method_name=package.get("ship_method_title"),
                    )
                    for package in row.packages
                ),
                requested_at=row.requested_at,
                created_at=row.created_at,
                dropped_at=row.dropped_at,
            )
            for row in found
        ]
        return sorted(records, key=lambda record: record.purchase_order_number)

    def record_packing_slips_waiting(
        self, account: str, ship_from_party_id: str, purchase_order_numbers: Collection[str], when: datetime
    ) -> list[str]:
        """Remember that these orders need Amazon's packing slip (first asked at `when`); returns the new ones."""
        when = _aware(when, "packing slip first try")
        now = utcnow()
        rows = [
            {
                "account": account,
                "purchase_order_number": number,
                "ship_from_party_id": ship_from_party_id,
                "state": PackingSlipState.WAITING,
                "first_try_at": when,
                "updated_at": now,
            }
            for number in sorted(set(purchase_order_numbers))
        ]
        if not rows:
            return []
        statement = (
            self._insert(packing_slips)
            .on_conflict_do_nothing(index_elements=["account", "purchase_order_number"])
            .returning(packing_slips.c.purchase_order_number)
        )
        with self._transaction("record packing slips waiting") as conn:
            inserted = conn.scalars(statement, rows).all()
        return _in_input_order(purchase_order_numbers, inserted)

    def mark_packing_slips(
        self, account: str, purchase_order_numbers: Collection[str], state: PackingSlipState
    ) -> list[str]:
        """Move waiting slips to dropped, or to missing (deadline passed); returns the ones moved."""
        state = PackingSlipState(state)
        if state is PackingSlipState.WAITING:
            raise DataError("a packing slip cannot go back to waiting")
        now = utcnow()
        values: dict[str, Any] = {"state": state, "updated_at": now}
        if state is PackingSlipState.DROPPED:
            values["dropped_at"] = now
        return self._move_rows(
            "mark packing slips", packing_slips, account, purchase_order_numbers, PackingSlipState.WAITING, values
        )

    def _move_rows(
        self,
        operation: str,
        table: sa.Table,
        account: str,
        purchase_order_numbers: Collection[str],
        source: str,
        values: dict[str, Any],
    ) -> list[str]:
        """One conditional UPDATE per key chunk of a per-order document table; returns the orders moved."""
        moved: set[str] = set()
        with self._transaction(operation) as conn:
            for where in self._filters(table, account, purchase_order_numbers):
                moved.update(
                    conn.scalars(
                        table.update()
                        .where(*where, table.c.state == source)
                        .values(**values)
                        .returning(table.c.purchase_order_number)
                    )
                )
        return _in_input_order(purchase_order_numbers, moved)

    def _load_rows(
        self,
        operation: str,
        table: sa.Table,
        account: str,
        purchase_order_numbers: Collection[str] | None,
        states: Collection[str] | None,
        ship_from_party_id: str | None,
    ) -> list[sa.Row[Any]]:
        """Rows of a per-order document table, filtered by orders, states and warehouse."""
        if (states is not None and not states) or (purchase_order_numbers is not None and not purchase_order_numbers):
            return []
        found: list[sa.Row[Any]] = []
        with self._transaction(operation, write=False) as conn:
            for where in self._filters(table, account, purchase_order_numbers):
                query = sa.select(table).where(*where)
                if states is not None:
                    query = query.where(table.c.state.in_(list(states)))
                if ship_from_party_id is not None:
                    query = query.where(table.c.ship_from_party_id == ship_from_party_id)
                found.extend(conn.execute(query).all())
        return found

    def load_packing_slips(
        self,
        account: str,
        *,
        purchase_order_numbers: Collection[str] | None = None,
        states: Collection[PackingSlipState] | None = None,
        ship_from_party_id: str | None = None,
    ) -> list[PackingSlipRecord]:
        """Packing slip records of an account, by order number."""
        wanted = None if states is None else [PackingSlipState(state) for state in states]
        found = self._load_rows(
            "load packing slips", packing_slips, account, purchase_order_numbers, wanted, ship_from_party_id
        )
        records = [
            PackingSlipRecord(
                account=row.account,
                purchase_order_number=row.purchase_order_number,
                ship_from_party_id=row.ship_from_party_id,
                state=PackingSlipState(row.state),
                first_try_at=row.first_try_at,
                dropped_at=row.dropped_at,
            )
            for row in found
        ]
        return sorted(records, key=lambda record: record.purchase_order_number)

    def record_cancelled_after_export(self, account: str, purchase_order_numbers: Collection[str]) -> list[str]:
        """Remember exported orders Amazon reports cancelled, once each; returns the ones new to the ledger."""
        now = utcnow()
        recorded: set[str] = set()
        with self._transaction("record cancelled after export") as conn:
            for keys in self._keys(purchase_order_numbers):
                exported = conn.execute(
                    sa.select(
                        orders.c.purchase_order_number,
                        orders.c.ship_from_party_id,
                        orders.c.order_date,
                        orders.c.export_file,
                    ).where(orders.c.account == account, keys, orders.c.state == OrderState.EXPORTED)
                ).all()
                if not exported:
                    continue
                rows = [
                    {
                        "account": account,
                        "purchase_order_number": row.purchase_order_number,
                        "ship_from_party_id": row.ship_from_party_id,
                        "order_date": row.order_date,
                        "export_file": row.export_file,
                        "detected_at": now,
                    }
                    for row in exported
                ]
                statement = (
                    self._insert(cancellation_notices)
                    .on_conflict_do_nothing(index_elements=["account", "purchase_order_number"])
                    .returning(cancellation_notices.c.purchase_order_number)
                )
                recorded.update(conn.scalars(statement, rows).all())
        return _in_input_order(purchase_order_numbers, recorded)

    def claim_cancellation_notices(
        self, account: str, ship_from_party_id: str, file_name: str
    ) -> list[CancellationNotice]:
        """Claim every cancellation of a warehouse not yet in a cancellations file for this file name."""
        with self._transaction("claim cancellation notices") as conn:
            conn.execute(
                cancellation_notices.update()
                .where(
                    cancellation_notices.c.account == account,
                    cancellation_notices.c.ship_from_party_id == ship_from_party_id,
                    cancellation_notices.c.notice_file.is_(None),
                )
                .values(notice_file=file_name)
            )
            rows = conn.execute(
                sa.select(cancellation_notices).where(
                    cancellation_notices.c.account == account, cancellation_notices.c.notice_file == file_name
                )
            ).all()
        return _notices(rows)

    def mark_cancellations_notified(self, account: str, file_name: str) -> list[str]:
        """Record that the cancellations file is on the warehouse drop; returns its orders."""
        now = utcnow()
        with self._transaction("mark cancellations notified") as conn:
            moved = conn.scalars(
                cancellation_notices.update()
                .where(
                    cancellation_notices.c.account == account,
                    cancellation_notices.c.notice_file == file_name,
                    cancellation_notices.c.notified_at.is_(None),
                )
                .values(notified_at=now)
                .returning(cancellation_notices.c.purchase_order_number)
            ).all()
        return sorted(moved)

    def load_cancellation_notices(
        self,
        account: str,
        *,
        ship_from_party_id: str | None = None,
        purchase_order_numbers: Collection[str] | None = None,
        pending_only: bool = False,
    ) -> list[CancellationNotice]:
        """Orders cancelled after export (pending_only: the warehouse has not been told yet), oldest first."""
        if purchase_order_numbers is not None and not purchase_order_numbers:
            return []
        found: list[sa.Row[Any]] = []
        with self._transaction("load cancellation notices", write=False) as conn:
            for where in self._filters(cancellation_notices, account, purchase_order_numbers):
                query = sa.select(cancellation_notices).where(*where)
                if ship_from_party_id is not None:
                    query = query.where(cancellation_notices.c.ship_from_party_id == ship_from_party_id)
                if pending_only:
                    query = query.where(cancellation_notices.c.notified_at.is_(None))
                found.extend(conn.execute(query).all())
        return _notices(found)



    # shipments ------------------------------------------------------------------------------------------

    def record_shipment_lines(self, account: str, warehouse: str, lines: Sequence[ShipmentLine]) -> int:
        """Keep shipment-file lines until their orders are confirmed; returns how many were new."""
        if not lines:
            return 0
        now = utcnow()
        rows = [
            {
                "account": account,
                "warehouse": warehouse,
                "file": line.file,
                "checksum": line.checksum,
                "row": line.row,
                "purchase_order_number": line.purchase_order_number,
                "seq": line.item_sequence_number,
                "quantity": line.quantity,
                "shipped": line.shipped,
                "ship_date": None if line.ship_date is None else _aware(line.ship_date, "ship date"),
                "tracking_number": line.tracking_number,
                "package_id": line.package_id,
                "carrier": line.carrier,
                "ship_method": line.ship_method,
                "scac": line.scac,
                "weight": line.weight,
                "weight_unit": line.weight_unit,
                "length": line.length,
                "width": line.width,
                "height": line.height,
                "dimension_unit": line.dimension_unit,
                "recorded_at": now,
            }
            for line in lines
        ]
        statement = self._insert(shipment_lines).on_conflict_do_nothing(
            index_elements=["account", "warehouse", "file", "checksum", "row"]
        )
        files = sorted({(line.file, line.checksum) for line in lines})
        with self._transaction("record shipment lines") as conn:
            # a plain executemany (no RETURNING) is several times faster; the counts say what was new
            before = self._count_lines(conn, account, warehouse, files)
            conn.execute(statement, rows)
            return self._count_lines(conn, account, warehouse, files) - before

    @staticmethod
    def _count_lines(conn: Connection, account: str, warehouse: str, files: list[tuple[str, str]]) -> int:
        total = 0
        for file, checksum in files:
            total += int(
                conn.scalar(
                    sa.select(sa.func.count()).where(
                        shipment_lines.c.account == account,
                        shipment_lines.c.warehouse == warehouse,
                        shipment_lines.c.file == file,
                        shipment_lines.c.checksum == checksum,
                    )
                )
                or 0
            )
        return total

    def load_shipment_lines(
        self,
        account: str,
        *,
        ship_from_party_id: str | None = None,
        states: Collection[OrderState] | None = None,
        purchase_order_numbers: Collection[str] | None = None,
    ) -> list[ShipmentLine]:
        """Kept shipment lines of an account's orders, by order, file and row."""
        if (states is not None and not states) or (purchase_order_numbers is not None and not purchase_order_numbers):
            return []
        c = shipment_lines.c
        # in ShipmentLine's field order, so each row builds its line positionally
        query = (
            sa.select(
                c.purchase_order_number, c.seq, c.quantity, c.file, c.checksum, c.row, c.ship_date, c.shipped,
                c.tracking_number, c.package_id, c.carrier, c.ship_method, c.scac, c.weight, c.weight_unit,
                c.length, c.width, c.height, c.dimension_unit,
            )
            .join(
                orders,
                (orders.c.account == c.account) & (orders.c.purchase_order_number == c.purchase_order_number),
            )
            .where(c.account == account)
        )
        if ship_from_party_id is not None:
            query = query.where(orders.c.ship_from_party_id == ship_from_party_id)
        if states is not None:
            query = query.where(orders.c.state.in_([OrderState(s) for s in states]))
        queries = (
            [query]
            if purchase_order_numbers is None
            else [query.where(keys) for keys in self._keys(purchase_order_numbers)]
        )
        found: list[ShipmentLine] = []
        with self._transaction("load shipment lines", write=False) as conn:
            for one in queries:
                found.extend(ShipmentLine(*row) for row in conn.execute(one).all())
        found.sort(key=lambda line: (line.purchase_order_number, line.file, line.row))
        return found

    def mark_confirming(
        self, account: str, purchase_order_numbers: Collection[str], batch: str, *, from_batch: str | None = None
    ) -> list[str]:
        """Claim exported (or failed) orders for one confirmation request; returns the ones this caller claimed."""
        with self._transaction("mark orders confirming") as conn:
            claimed = self._claim(
                conn,
                account,
                purchase_order_numbers,
                event=OrderEvent.CLAIM_CONFIRMATION if from_batch is None else OrderEvent.RECLAIM_CONFIRMATION,
                values={"ship_batch": batch, "ship_transaction_id": None, "updated_at": utcnow()},
                ship_batch=from_batch,
            )
        return _in_input_order(purchase_order_numbers, claimed)

    def release_confirming(self, account: str, purchase_order_numbers: Collection[str], batch: str) -> list[str]:
        """Give claimed orders back (to exported) when their confirmation was provably not applied."""
        with self._transaction("release confirming orders") as conn:
            released = self._claim(
                conn,
                account,
                purchase_order_numbers,
                event=OrderEvent.RELEASE_CONFIRMATION,
                values={"ship_batch": None, "updated_at": utcnow()},
                ship_batch=batch,
            )
        return _in_input_order(purchase_order_numbers, released)

    def mark_confirmation_sent(
        self, account: str, purchase_order_numbers: Collection[str], batch: str, transaction_id: str
    ) -> None:
        """Record the confirmation's transaction (Processing) on the orders of that batch, still confirming."""
        with self._transaction("mark confirmation sent") as conn:
            self._record_transaction(
                conn,
                account,
                transaction_id,
                TransactionKind.SHIPMENT_CONFIRMATION,
                list(dict.fromkeys(purchase_order_numbers)),
            )
            self._claim(
                conn,
                account,
                purchase_order_numbers,
                event=OrderEvent.RECLAIM_CONFIRMATION,
                values={"ship_transaction_id": transaction_id, "updated_at": utcnow()},
                ship_batch=batch,
            )

    def mark_confirmed(self, account: str, purchase_order_numbers: Collection[str]) -> list[str]:
        """Move confirming orders to confirmed when Amazon shows them shipped but the transaction id was lost."""
        with self._transaction("mark orders confirmed") as conn:
            moved = self._claim(
                conn, account, purchase_order_numbers, event=OrderEvent.CONFIRM, values={"updated_at": utcnow()}
            )
        return _in_input_order(purchase_order_numbers, moved)

    def mark_shipment_held(self, account: str, reasons: Mapping[str, str]) -> list[str]:
        """Hold exported or confirming orders for a person, each with its reason (no PII); returns those held."""
        held: set[str] = set()
        now = utcnow()
        with self._transaction("hold orders") as conn:
            for number in sorted(reasons):
                moved = conn.scalar(
                    orders.update()
                    .where(
                        orders.c.account == account,
                        orders.c.purchase_order_number == number,
                        orders.c.state.in_(sources(OrderEvent.HOLD_SHIPMENT)),
                    )
                    .values(state=target(OrderEvent.HOLD_SHIPMENT), held_reason=reasons[number][:MAX_REASON],
                            updated_at=now)
                    .returning(orders.c.purchase_order_number)
                )
                if moved is not None:
                    held.add(moved)
        return _in_input_order(list(reasons), held)

def _notices(rows: Iterable[sa.Row[Any]]) -> list[CancellationNotice]:
    notices = [
        CancellationNotice(
            account=row.account,
            purchase_order_number=row.purchase_order_number,
            ship_from_party_id=row.ship_from_party_id,
            order_date=row.order_date,
            export_file=row.export_file,
            detected_at=row.detected_at,
            notice_file=row.notice_file,
            notified_at=row.notified_at,
        )
        for row in rows
    ]
    return sorted(notices, key=lambda notice: (notice.detected_at, notice.order_date, notice.purchase_order_number))


# A claimed chunk ends sent, unknown or refused, or goes back to pending when provably not applied.
_SUPERSEDED_CHUNKS = ((ChunkState.PENDING, ChunkState.CANCELLED), (ChunkState.SENDING, ChunkState.UNKNOWN))
_CHUNK_OUTCOMES = frozenset({ChunkState.SENT, ChunkState.UNKNOWN, ChunkState.REFUSED, ChunkState.PENDING})

