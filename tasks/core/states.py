"""The order state machine (DESIGN §3) as a transition table: which event moves an order from which states to which.

The SQL ledger turns each row into a conditional UPDATE (`WHERE state IN sources`), the in-memory fake applies it
directly, so both enforce the same rules.

    downloaded ──claim──▶ acknowledging ──acknowledge──▶ acknowledged ──claim export──▶ exporting ──export──▶ exported
        ▲                     │  ▲
        └─────release─────────┘  └─ reclaim (crash recovery, a new batch)
    A new order may be recorded already claimed (downloaded and claimed in one transaction: record_downloaded with
    claim_for), which is the claim event applied at insertion.
    cancel: downloaded | acknowledging | acknowledged ──▶ cancelled   (exported is final: DESIGN §1)
    hold:   anything not yet exported or cancelled    ──▶ held        (a person looks)

Shipments (the warehouse's shipment files hold every line of an exported order):

    exported | confirm_failed ──claim──▶ confirming ──Success──▶ confirmed
                  ▲      ▲                 │  │  ▲
                  │      └────Failure──────┘  │  └─ reclaim (crash recovery: resend the same confirmation)
                  └──────release (not sent)───┘
    hold shipment: exported | confirming ──▶ held   (past its deadline partly shipped, or refused by Amazon)
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass

from tasks.core.errors import DataError
from tasks.core.models import OrderState, TransactionState, TransactionStatus


class OrderEvent(enum.StrEnum):
    CLAIM_ACKNOWLEDGEMENT = "claim acknowledgement"
    RECLAIM_ACKNOWLEDGEMENT = "reclaim acknowledgement"
    RELEASE_ACKNOWLEDGEMENT = "release acknowledgement"
    ACKNOWLEDGE = "acknowledge"
    CLAIM_EXPORT = "claim export"
    EXPORT = "export"
    CANCEL = "cancel"
    HOLD = "hold"
    CLAIM_CONFIRMATION = "claim confirmation"
    RECLAIM_CONFIRMATION = "reclaim confirmation"
    RELEASE_CONFIRMATION = "release confirmation"
    CONFIRM = "confirm"
    FAIL_CONFIRMATION = "fail confirmation"
    HOLD_SHIPMENT = "hold shipment"


@dataclass(frozen=True)
class Transition:
    sources: frozenset[OrderState]
    target: OrderState


_S = OrderState
_WORD = re.compile(r"[A-Za-z0-9]+")

TRANSITIONS: dict[OrderEvent, Transition] = {
    OrderEvent.CLAIM_ACKNOWLEDGEMENT: Transition(frozenset({_S.DOWNLOADED}), _S.ACKNOWLEDGING),
    OrderEvent.RECLAIM_ACKNOWLEDGEMENT: Transition(frozenset({_S.ACKNOWLEDGING}), _S.ACKNOWLEDGING),
    OrderEvent.RELEASE_ACKNOWLEDGEMENT: Transition(frozenset({_S.ACKNOWLEDGING}), _S.DOWNLOADED),
    OrderEvent.ACKNOWLEDGE: Transition(frozenset({_S.ACKNOWLEDGING}), _S.ACKNOWLEDGED),
    OrderEvent.CLAIM_EXPORT: Transition(frozenset({_S.ACKNOWLEDGED}), _S.EXPORTING),
    OrderEvent.EXPORT: Transition(frozenset({_S.EXPORTING}), _S.EXPORTED),
    # Cancellation is honoured until the order file leaves for the warehouse.
    OrderEvent.CANCEL: Transition(frozenset({_S.DOWNLOADED, _S.ACKNOWLEDGING, _S.ACKNOWLEDGED}), _S.CANCELLED),
    OrderEvent.HOLD: Transition(
        frozenset({_S.DOWNLOADED, _S.ACKNOWLEDGING, _S.ACKNOWLEDGED, _S.EXPORTING, _S.HELD}), _S.HELD
    ),
    # A confirmation Amazon failed may be sent again from a corrected shipment file.
    OrderEvent.CLAIM_CONFIRMATION: Transition(frozenset({_S.EXPORTED, _S.CONFIRM_FAILED}), _S.CONFIRMING),
    OrderEvent.RECLAIM_CONFIRMATION: Transition(frozenset({_S.CONFIRMING}), _S.CONFIRMING),
    OrderEvent.RELEASE_CONFIRMATION: Transition(frozenset({_S.CONFIRMING}), _S.EXPORTED),
    OrderEvent.CONFIRM: Transition(frozenset({_S.CONFIRMING}), _S.CONFIRMED),
    OrderEvent.FAIL_CONFIRMATION: Transition(frozenset({_S.CONFIRMING}), _S.CONFIRM_FAILED),
    OrderEvent.HOLD_SHIPMENT: Transition(frozenset({_S.EXPORTED, _S.CONFIRMING}), _S.HELD),
}


def sources(event: OrderEvent) -> tuple[OrderState, ...]:
    """The states an order may be in for this event to apply, in a stable order (SQL `IN` lists)."""
    return tuple(sorted(TRANSITIONS[event].sources))


def target(event: OrderEvent) -> OrderState:
    """The state this event moves an order to."""
    return TRANSITIONS[event].target


def allowed(event: OrderEvent, state: OrderState) -> bool:
    """Tell whether the event applies to an order in this state."""
    return state in TRANSITIONS[event].sources


def apply(event: OrderEvent, state: OrderState, *, subject: str | None = None) -> OrderState:
    """The state after the event; a DataError naming the order when the event does not apply."""
    if not allowed(event, state):
        raise DataError(f"cannot {event} an order that is {state}", subject=subject)
    return TRANSITIONS[event].target


def settle_confirmation(status: TransactionStatus, subjects: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """What a shipment confirmation's verdict does to the orders it carried: (failed with Amazon's codes, confirmed).

    Amazon judges each confirmation of a request on its own and names the order in each error; the orders no
    error names went through. An error that names no order could concern any of them: then all count as
    failed, so a person looks rather than an order silently passing for confirmed.
    """
    if status.status is TransactionState.SUCCESS:
        return {}, list(subjects)
    if status.status is not TransactionState.FAILURE:
        return {}, []
    named: dict[str, list[str]] = {}
    anonymous: list[str] = []
    for error in status.errors:
        text = f"{error.message} {error.details or ''}"
        tokens = set(_WORD.findall(text))
        found = [number for number in subjects if number in tokens]
        code = f"{error.code}: {error.message}"
        if not found:
            anonymous.append(code)
        for number in found:
            named.setdefault(number, []).append(code)
    if anonymous or not named:
        failed = {number: "; ".join(named.get(number, []) + anonymous) or "Failure" for number in subjects}
        return failed, []
    return {number: "; ".join(codes) for number, codes in named.items()}, [n for n in subjects if n not in named]
