"""The order state machine: one table, used by the SQL ledger and the fake alike."""

from __future__ import annotations

import pytest

from tasks.core import states
from tasks.core.errors import DataError
from tasks.core.models import OrderState
from tasks.core.states import OrderEvent


def test_exported_and_cancelled_orders_are_final_for_the_order_flow() -> None:
    for event in OrderEvent:
        assert not states.allowed(event, OrderState.EXPORTED) or event not in (OrderEvent.CANCEL, OrderEvent.HOLD)
        assert not states.allowed(event, OrderState.CANCELLED)


def test_the_happy_path_walks_from_downloaded_to_exported() -> None:
    state = OrderState.DOWNLOADED
    for event in (OrderEvent.CLAIM_ACKNOWLEDGEMENT, OrderEvent.ACKNOWLEDGE, OrderEvent.CLAIM_EXPORT, OrderEvent.EXPORT):
        state = states.apply(event, state)
    assert state is OrderState.EXPORTED


def test_an_event_that_does_not_apply_names_the_order() -> None:
    with pytest.raises(DataError, match="cannot export an order that is downloaded") as caught:
        states.apply(OrderEvent.EXPORT, OrderState.DOWNLOADED, subject="PO1")
    assert caught.value.subject == "PO1"


def test_sources_are_stable_for_sql_in_lists() -> None:
    assert states.sources(OrderEvent.CANCEL) == tuple(sorted(states.sources(OrderEvent.CANCEL)))
    assert states.target(OrderEvent.HOLD) is OrderState.HELD
