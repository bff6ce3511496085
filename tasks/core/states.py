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
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from tasks.core.errors import DataError
from tasks.core.models import OrderState


class OrderEvent(enum.StrEnum):
    CLAIM_ACKNOWLEDGEMENT = "claim acknowledgement"
    RECLAIM_ACKNOWLEDGEMENT = "reclaim acknowledgement"
    RELEASE_ACKNOWLEDGEMENT = "release acknowledgement"
    ACKNOWLEDGE = "acknowledge"
    CLAIM_EXPORT = "claim export"
    EXPORT = "export"
    CANCEL = "cancel"
    HOLD = "hold"


@dataclass(frozen=True)
class Transition:
    sources: frozenset[OrderState]
    target: OrderState


_S = OrderState

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
