"""The replies of the webhook and usage routes (`/api/webhooks`, `/api/usage`)."""

from __future__ import annotations

from foxden.wire.fields import Record


class WebhookOut(Record):
    """A registered webhook (its secret is never shown again)."""

    id: int
    url: str
    events: list[str]  # [] = every event
    task_id: int | None  # None: every task of the account
    created_at: float


class NewWebhookOut(Record):
    """A webhook just registered, with its signing secret: shown in this reply only."""

    webhook: WebhookOut
    secret: str


class WebhookRemovedOut(Record):
    """A removed webhook."""

    id: int
    removed: bool


class DeliveryOut(Record):
    """One event on its way to one webhook (the delivery log's line)."""

    id: int
    webhook_id: int
    url: str
    event: str
    task_id: int | None
    state: str  # pending, delivered, failed
    attempts: int
    response_status: int | None  # the receiver's last answer (None: none came)
    last_error: str
    created_at: float
    next_at: float | None  # when a pending one is tried next
    delivered_at: float | None


class UsageLineOut(Record):
    """What one account, project or task used."""

    account: str
    project_name: str  # '' when grouped by account
    task_id: int | None  # None unless grouped by task
    frames: int  # frame attempts counted
    core_seconds: float
    gpu_seconds: float
    fee: float  # core-hours x the farm's rate (`fee_per_core_hour`)


class UsageOut(Record):
    """A usage report."""

    since: float | None
    by: str  # account, project or task
    rate_per_core_hour: float
    lines: list[UsageLineOut]
    core_seconds: float  # the lines' sums
    gpu_seconds: float
    fee: float
