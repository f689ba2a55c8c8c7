"""The account's webhooks and their delivery log (farm/webhooks.py)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from foxden.farm import webhooks
from foxden.server.api.deps import AccountDep, FarmDep
from foxden.wire.events import DeliveryOut, NewWebhookOut, WebhookOut, WebhookRemovedOut
from foxden.wire.fields import MAX_INT32

router = APIRouter(prefix="/api/webhooks", tags=["webhooks"])
HookId = Annotated[int, Path(ge=1, le=MAX_INT32, description="the webhook's id")]


class WebhookIn(BaseModel):
    """A webhook to register: an http(s) URL and the events it wants (none named: all)."""

    url: str = Field(max_length=webhooks.MAX_URL, examples=["https://example.com/hooks/foxden"])
    events: list[str] = Field(default=[], max_length=10, examples=[["task_done", "task_failed"]])
    task_id: int | None = Field(default=None, ge=1, le=MAX_INT32)


def _out(hook: webhooks.Webhook) -> WebhookOut:
    return WebhookOut(**asdict(hook))


@router.post("", status_code=201)
def add(body: WebhookIn, farm: FarmDep, account: AccountDep) -> NewWebhookOut:
    """Register a webhook; the reply shows its signing secret, this once."""
    webhooks.check_reachable(body.url, farm.settings.webhook_private_addresses)
    new = webhooks.add(farm.db, farm.sdk_box, account.id, body.url, body.events, body.task_id)
    return NewWebhookOut(webhook=_out(new.hook), secret=new.secret)


@router.get("")
def list_hooks(farm: FarmDep, account: AccountDep) -> list[WebhookOut]:
    """Your webhooks."""
    return [_out(h) for h in webhooks.list_hooks(farm.db, account.id)]


@router.delete("/{hook_id}")
def remove(hook_id: HookId, farm: FarmDep, account: AccountDep) -> WebhookRemovedOut:
    """Remove one of your webhooks, with its delivery log."""
    webhooks.remove(farm.db, account.id, hook_id)
    return WebhookRemovedOut(id=hook_id, removed=True)


@router.get("/deliveries")
def deliveries(farm: FarmDep, account: AccountDep) -> list[DeliveryOut]:
    """Your webhooks' latest deliveries (newest first): state, attempts, last answer or error."""
    return [DeliveryOut(**asdict(d)) for d in webhooks.deliveries(farm.db, account.id)]
