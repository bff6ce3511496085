"""Alerts: events a person must act on, and the Prefect automations that turn them into one notification each.

Two automations are made from vdf.yaml's `notifications` section when serving or deploying (`vdf alerts --apply`):
- "vdf-bridge: run failed": a flow run of ours (tag vdf-bridge) ends Failed or Crashed;
- "vdf-bridge: needs a person": a run announced a held order, a held inventory feed or a stuck transaction.
Each sends one notification naming the account, the warehouse, the run and the reason, through a webhook (its URL
resolved from its secret reference into a Custom Webhook block whose secrets hold it) and/or any notification block
named in the configuration. Events carry identifiers only, never PII.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Literal, cast
from uuid import UUID

from flows.deployments import PRODUCT_TAG
from tasks.core.config import Notifications
from tasks.core.errors import ConfigError

Attention = Literal["order-held", "feed-held", "transaction-stuck"]
EVENTS: dict[Attention, str] = {
    "order-held": "vdf-bridge.order.held",
    "feed-held": "vdf-bridge.inventory-feed.held",
    "transaction-stuck": "vdf-bridge.transaction.stuck",
}
WHAT: dict[Attention, str] = {
    "order-held": "order(s) held",
    "feed-held": "inventory feed held",
    "transaction-stuck": "Amazon transaction(s) stuck in Processing",
}
WEBHOOK_BLOCK = "vdf-bridge-webhook"
FAILED_AUTOMATION = "vdf-bridge: run failed"
ATTENTION_AUTOMATION = "vdf-bridge: needs a person"

FAILED_SUBJECT = "vdf-bridge: {{ flow_run.name }} {{ flow_run.state.name }}"
FAILED_BODY = """\
vdf-bridge run {{ flow_run.name }} ({{ flow.name }}) ended {{ flow_run.state.name }}.
{% for tag in flow_run.tags %}{% if tag.startswith('account:') or tag.startswith('warehouse:') %}{{ tag }}
{% endif %}{% endfor %}reason: {{ flow_run.state.message }}
run: {{ (flow_run|ui_url) or ('flow run id ' ~ flow_run.id) }}"""
ATTENTION_SUBJECT = "vdf-bridge: {{ event.payload.what }} (account {{ event.payload.account }})"
ATTENTION_BODY = """\
vdf-bridge needs a person: {{ event.payload.count }} {{ event.payload.what }}.
account:{{ event.payload.account }}
{% if event.payload.warehouse %}warehouse:{{ event.payload.warehouse }}
{% endif %}run: {{ event.payload.run }}
reason: {{ event.payload.reason }}
{% if event.payload.subjects %}concerns: {{ event.payload.subjects | join(', ') }}{% endif %}"""


def announce(
    kind: Attention,
    *,
    account: str,
    warehouse: str | None,
    reason: str,
    subjects: Sequence[str] = (),
    count: int | None = None,
) -> None:
    """Emit one event for something a person must look at; the run it comes from is attached by Prefect."""
    from prefect.events import emit_event
    from prefect.runtime import flow_run

    scope = f"{account}.{warehouse}" if warehouse else account
    emit_event(
        event=EVENTS[kind],
        resource={"prefect.resource.id": f"vdf-bridge.account.{scope}", "prefect.resource.name": scope},
        related=[
            {"prefect.resource.id": f"prefect.tag.account:{account}", "prefect.resource.role": "tag"},
            *(
                [{"prefect.resource.id": f"prefect.tag.warehouse:{warehouse}", "prefect.resource.role": "tag"}]
                if warehouse
                else []
            ),
        ],
        payload={
            "what": WHAT[kind],
            "account": account,
            "warehouse": warehouse or "",
            "run": str(flow_run.name or "(not in a flow run)"),
            "reason": reason[:500],
            "count": count if count is not None else (len(subjects) or 1),
            "subjects": list(subjects)[:20],
        },
    )


# ------------------------------------------------------------------------------------------------ automations


def _block_ids(notifications: Notifications, resolve: Any) -> list[UUID]:
    """Save the webhook block (URL from its secret reference) and find the named block; their document ids."""
    from prefect.blocks.core import Block
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    ids: list[UUID] = []
    if notifications.webhook_url is not None:
        url = resolve(notifications.webhook_url)
        block = CustomWebhookNotificationBlock(
            name="vdf-bridge",
            url="{{webhook_url}}",  # the real URL stays in the block's secrets, not in its visible fields
            json_data={"subject": "{{subject}}", "body": "{{body}}"},
            secrets={"webhook_url": url},
        )
        ids.append(cast(UUID, block.save(WEBHOOK_BLOCK, overwrite=True)))
    if notifications.prefect_block is not None:
        try:
            loaded = cast(Block, Block.load(notifications.prefect_block))
        except (ValueError, RuntimeError) as exc:
            raise ConfigError(
                f"notifications.prefect_block: Prefect block {notifications.prefect_block!r} cannot be loaded: {exc}"
            ) from None
        block_id = loaded._block_document_id
        if block_id is None:
            raise ConfigError(f"notifications.prefect_block: {notifications.prefect_block!r} has no document id")
        ids.append(block_id)
    return ids


def automations(block_ids: Sequence[UUID]) -> list[Any]:
    """The two automations, one notification action per block."""
    from prefect.automations import Automation, EventTrigger, Posture, SendNotification

    failed = Automation(
        name=FAILED_AUTOMATION,
        description="A vdf-bridge flow run ended Failed or Crashed (generated by vdf from vdf.yaml).",
        enabled=True,
        trigger=EventTrigger(
            expect={"prefect.flow-run.Failed", "prefect.flow-run.Crashed"},
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related={"prefect.resource.role": "tag", "prefect.resource.id": f"prefect.tag.{PRODUCT_TAG}"},
            posture=Posture.Reactive,
            threshold=1,
            within=timedelta(0),
        ),
        actions=[SendNotification(block_document_id=b, subject=FAILED_SUBJECT, body=FAILED_BODY) for b in block_ids],
    )
    attention = Automation(
        name=ATTENTION_AUTOMATION,
        description="A vdf-bridge run held an order or a feed, or found a stuck transaction (generated by vdf).",
        enabled=True,
        trigger=EventTrigger(
            expect=set(EVENTS.values()),
            match={"prefect.resource.id": "vdf-bridge.account.*"},
            posture=Posture.Reactive,
            threshold=1,
            within=timedelta(0),
        ),
        actions=[
            SendNotification(block_document_id=b, subject=ATTENTION_SUBJECT, body=ATTENTION_BODY) for b in block_ids
        ],
    )
    return [failed, attention]


def apply_alerts(notifications: Notifications | None, resolve: Any) -> list[str]:
    """Create or replace our automations on the current Prefect server; returns what was done, for the user."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        for name in (FAILED_AUTOMATION, ATTENTION_AUTOMATION):
            for old in client.read_automations_by_name(name):
                client.delete_automation(old.id)
    if notifications is None:
        return ["no notifications section in the configuration: no alert automations (old ones removed)"]
    ids = _block_ids(notifications, resolve)
    done = []
    for automation in automations(ids):
        automation.create()
        done.append(f"automation {automation.name!r} sends to {len(ids)} destination(s)")
    return done


def send_test(notifications: Notifications, resolve: Any) -> int:
    """Send one test message through every configured destination now; returns how many were sent."""
    from prefect.blocks.core import Block

    _block_ids(notifications, resolve)
    names = ([f"custom-webhook/{WEBHOOK_BLOCK}"] if notifications.webhook_url else []) + (
        [notifications.prefect_block] if notifications.prefect_block else []
    )
    for name in names:
        block = cast(Any, Block.load(name))
        block.notify("vdf-bridge test notification: alerts reach this destination.", subject="vdf-bridge test")
    return len(names)
