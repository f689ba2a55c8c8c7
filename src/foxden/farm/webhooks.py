"""Webhooks: where an account wants its events POSTed, how each is signed, and their delivery.

An account registers a URL (http or https) for some events (`events.EventName`; none named:
all of them), for all its tasks, or for one task (`webhook` at submit). Each webhook has its own
secret, made here and shown once; the farm keeps it encrypted with the farm's `SecretBox` (the
key in the data dir), like the vendor SDK's secrets.

Each delivery is a POST of the event's JSON with these headers:

- `X-Foxden-Event`: the event's name; `X-Foxden-Delivery`: the delivery's id;
- `X-Foxden-Timestamp`: Unix seconds when this attempt was signed;
- `X-Foxden-Signature`: `sha256=` + hex HMAC-SHA256 of `<timestamp>.<raw body>` keyed by the
  secret. A receiver recomputes it, compares in constant time and refuses a timestamp too far
  from its clock: a captured request cannot be replayed later.

`Dispatcher.step` sends what is due, outside any database transaction, with a short timeout and
no redirects; a 2xx answer delivers, anything else is retried with exponential backoff until
`MAX_ATTEMPTS`, then the delivery is failed. Its rows are the delivery log the account reads.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Connection, delete, insert, select, update

from foxden.db.engine import Database
from foxden.db.schema import tasks, webhook_deliveries, webhooks
from foxden.errors import BadRequest, FoxdenError, NotFound, cut
from foxden.farm.events import DeliveryState, EventName
from foxden.farm.sdk_keys import SecretBox
from foxden.farm.secrets import new_secret

log = logging.getLogger("foxden.webhooks")

MAX_URL = 2048
MAX_HOOKS = 20  # per account (task webhooks included)
MAX_ATTEMPTS = 8
FIRST_BACKOFF = 10.0  # seconds before the second attempt; doubled each time
MAX_BACKOFF = 3600.0
SEND_TIMEOUT = 5.0  # seconds for one attempt (connect, send, answer)
BATCH = 20  # deliveries one step sends at most
#: a delivery being sent is not due again for this long (another server will not send it too)
IN_FLIGHT = 4 * SEND_TIMEOUT
KEEP_LOG = 30 * 86400.0  # seconds a delivered or failed delivery stays in the log
SIGNATURE_HEADER = "X-Foxden-Signature"
TIMESTAMP_HEADER = "X-Foxden-Timestamp"


def check_url(url: str) -> str:
    """`url` when it is an http(s) URL with a host (400 otherwise)."""
    url = url.strip()
    if len(url) > MAX_URL:
        raise BadRequest(f"a webhook URL has at most {MAX_URL} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadRequest(
            f"webhook URL {cut(url, 100)!r} is not an http(s) URL: give one like "
            "https://example.com/hooks/foxden"
        )
    if parts.username or parts.password:
        raise BadRequest("a webhook URL may not carry a user name or password")
    return url


def private_address(address: str) -> bool:
    """Whether `address` (an IP) is not on the public internet: loopback, private, link-local,
    shared, reserved or multicast."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return True  # not an address we understand: not sent to
    return not ip.is_global or ip.is_multicast


def check_reachable(url: str, allow_private: bool) -> None:
    """Refuse (400) a URL whose host is a private IP address, unless the farm allows those."""
    host = urlsplit(url.strip()).hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return  # a name: checked when it is resolved, at each delivery
    if not allow_private and private_address(host):
        raise BadRequest(f"webhook URL points to {host}, {_PRIVATE_TEXT}")


_PRIVATE_TEXT = (
    "a private or local address: the farm sends webhooks to public addresses only "
    "(its administrator may allow others with the setting webhook_private_addresses)"
)


def destination_problem(url: str, allow_private: bool) -> str:
    """Why a delivery may not go to `url` now ('' when it may): its host resolves to a private
    address and the farm does not allow those, or it does not resolve."""
    if allow_private:
        return ""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        found = socket.getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        return cut(f"cannot resolve {host}: {exc}", 500)
    for _family, _type, _proto, _name, address in found:
        if private_address(str(address[0])):
            return f"refused: {host} is {address[0]}, {_PRIVATE_TEXT}"
    return ""


def check_events(names: Iterable[str] | None) -> list[str]:
    """The event names, checked (400 naming the known ones); empty: every event."""
    known = [e.value for e in EventName]
    chosen: list[str] = []
    for name in names or ():
        if name not in known:
            raise BadRequest(f"unknown event {cut(name, 40)!r}: choose from {', '.join(known)}")
        if name not in chosen:
            chosen.append(name)
    return chosen


@dataclass(frozen=True)
class Webhook:
    """A registered webhook (its secret is never read back)."""

    id: int
    url: str
    events: list[str]
    task_id: int | None
    created_at: float


@dataclass(frozen=True)
class NewWebhook:
    """A webhook just registered, with its signing secret (shown this once)."""

    hook: Webhook
    secret: str


def add(
    db: Database,
    box: SecretBox,
    account_id: int,
    url: str,
    events: Iterable[str] | None = None,
    task_id: int | None = None,
) -> NewWebhook:
    """Register a webhook for the account (for one of its tasks when `task_id` is given)."""
    with db.write() as conn:
        return add_in(conn, box, account_id, url, events, task_id)


def add_in(
    conn: Connection,
    box: SecretBox,
    account_id: int,
    url: str,
    events: Iterable[str] | None = None,
    task_id: int | None = None,
) -> NewWebhook:
    """`add` inside the caller's transaction (submit makes a task's webhook with the task)."""
    url = check_url(url)
    chosen = check_events(events)
    if task_id is not None:
        owner = conn.execute(select(tasks.c.account_id).where(tasks.c.id == task_id)).scalar()
        if owner != account_id:
            raise NotFound(f"no task {task_id} in your account")
    count = len(
        conn.execute(select(webhooks.c.id).where(webhooks.c.account_id == account_id)).all()
    )
    if count >= MAX_HOOKS:
        raise BadRequest(
            f"an account has at most {MAX_HOOKS} webhooks: remove one first (`foxden webhooks list`)"
        )
    secret = new_secret("fdw")
    now = time.time()
    hook_id = conn.execute(
        insert(webhooks)
        .values(
            account_id=account_id,
            task_id=task_id,
            url=url,
            events=chosen,
            secret_box=box.seal(secret),
            created_at=now,
        )
        .returning(webhooks.c.id)
    ).scalar_one()
    hook = Webhook(id=int(hook_id), url=url, events=chosen, task_id=task_id, created_at=now)
    return NewWebhook(hook=hook, secret=secret)


def url_at_submit(value: Any, box: SecretBox | None) -> str | None:
    """The `webhook` a submission gives, checked before anything is written (None: none)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadRequest("webhook must be a URL (a string), such as https://example.com/hooks")
    if box is None:
        raise BadRequest(
            "this way of submitting takes no webhook: register one for your account "
            "(`foxden webhooks add URL`) or submit with foxden's API"
        )
    return check_url(value)


def add_for_task(
    conn: Connection, box: SecretBox | None, account_id: int, url: str | None, task_id: int
) -> NewWebhook | None:
    """The task's own webhook (every event) when its submission gave one, in its transaction."""
    if url is None or box is None:
        return None
    return add_in(conn, box, account_id, url, None, task_id)


def list_hooks(db: Database, account_id: int) -> list[Webhook]:
    """The account's webhooks, oldest first."""
    with db.read() as conn:
        rows = conn.execute(
            select(webhooks.c.id, webhooks.c.url, webhooks.c.events, webhooks.c.task_id)
            .add_columns(webhooks.c.created_at)
            .where(webhooks.c.account_id == account_id)
            .order_by(webhooks.c.id)
        ).all()
    return [
        Webhook(
            id=r.id,
            url=r.url,
            events=list(r.events or []),
            task_id=r.task_id,
            created_at=r.created_at,
        )
        for r in rows
    ]


def remove(db: Database, account_id: int, hook_id: int) -> None:
    """Remove one of the account's webhooks and its delivery log (404: not the account's)."""
    with db.write() as conn:
        gone = conn.execute(
            delete(webhooks).where(
                (webhooks.c.id == hook_id) & (webhooks.c.account_id == account_id)
            )
        ).rowcount
    if not gone:
        raise NotFound(f"no webhook {hook_id} in your account: `foxden webhooks list` shows them")


@dataclass(frozen=True)
class Delivery:
    """One event on its way to one webhook: the delivery log's line."""

    id: int
    webhook_id: int
    url: str
    event: str
    task_id: int | None
    state: str
    attempts: int
    response_status: int | None
    last_error: str
    created_at: float
    next_at: float | None  # None once delivered or failed
    delivered_at: float | None


def deliveries(db: Database, account_id: int, limit: int = 100) -> list[Delivery]:
    """The account's most recent deliveries, newest first."""
    with db.read() as conn:
        rows = conn.execute(
            select(webhook_deliveries, webhooks.c.url)
            .join(webhooks, webhooks.c.id == webhook_deliveries.c.webhook_id)
            .where(webhooks.c.account_id == account_id)
            .order_by(webhook_deliveries.c.id.desc())
            .limit(limit)
        ).all()
    out = []
    for r in rows:
        try:
            task_id = json.loads(r.payload).get("task_id")
        except ValueError:
            task_id = None
        out.append(
            Delivery(
                id=r.id,
                webhook_id=r.webhook_id,
                url=r.url,
                event=r.event,
                task_id=task_id if isinstance(task_id, int) else None,
                state=r.state,
                attempts=r.attempts,
                response_status=r.response_status,
                last_error=r.last_error,
                created_at=r.created_at,
                next_at=r.next_at if r.state == DeliveryState.PENDING else None,
                delivered_at=r.delivered_at,
            )
        )
    return out


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    now: float | None = None,
    window: float = 300.0,
) -> bool:
    """What a receiver does: True when `signature` is the sender's for `body` at `timestamp`,
    and the timestamp is within `window` seconds of `now`."""
    try:
        stamp = int(timestamp)
    except ValueError:
        return False
    now = time.time() if now is None else now
    if abs(now - stamp) > window:
        return False
    return hmac.compare_digest(sign(secret, stamp, body), signature)


def backoff(attempts: int) -> float:
    """Seconds to wait after `attempts` failed attempts before the next one."""
    return float(min(FIRST_BACKOFF * 2 ** max(attempts - 1, 0), MAX_BACKOFF))


@dataclass(frozen=True)
class Outcome:
    """What one attempt got: the receiver's status, or why there was none."""

    status: int | None
    error: str

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


Sender = Callable[[str, bytes, dict[str, str]], Outcome]


def http_send(url: str, body: bytes, headers: dict[str, str]) -> Outcome:
    """POST `body` to `url` once: no redirects, SEND_TIMEOUT at most, the answer's body unread."""
    try:
        with (
            httpx.Client(timeout=SEND_TIMEOUT, follow_redirects=False) as client,
            client.stream("POST", url, content=body, headers=headers) as response,
        ):
            status = response.status_code
    except httpx.HTTPError as exc:
        return Outcome(None, cut(f"{type(exc).__name__}: {exc}", 500))
    if 200 <= status < 300:
        return Outcome(status, "")
    return Outcome(status, f"the receiver answered {status}")


class Dispatcher:
    """Sends due deliveries; `step` is one round (the server's thread calls it in a loop)."""

    def __init__(
        self,
        db: Database,
        box: SecretBox,
        send: Sender = http_send,
        clock: Callable[[], float] = time.time,
        stopping: Callable[[], bool] = lambda: False,
        allow_private: bool = False,
    ) -> None:
        self.db = db
        self.box = box
        self.send = send
        self.clock = clock
        self.stopping = stopping
        self.allow_private = allow_private

    def step(self) -> int:
        """Send the deliveries due now (at most BATCH); returns how many were attempted.

        When the server stops meanwhile, the rest are left: they are due again after IN_FLIGHT.
        """
        sent = 0
        for item in self._take():
            if self.stopping():
                break
            self._settle(item, self._attempt(item))
            sent += 1
        return sent

    def _take(self) -> list[Any]:
        """The due deliveries, marked in flight (not due again for IN_FLIGHT seconds).

        A read looks first: with nothing due (most of the time) no write transaction is taken,
        so an idle dispatcher never competes with claims and reports for SQLite's write lock.
        """
        now = self.clock()
        due = (webhook_deliveries.c.state == DeliveryState.PENDING.value) & (
            webhook_deliveries.c.next_at <= now
        )
        with self.db.read() as conn:
            if conn.execute(select(webhook_deliveries.c.id).where(due).limit(1)).first() is None:
                return []
        query = (
            select(
                webhook_deliveries.c.id,
                webhook_deliveries.c.event,
                webhook_deliveries.c.payload,
                webhook_deliveries.c.attempts,
                webhooks.c.url,
                webhooks.c.secret_box,
            )
            .join(webhooks, webhooks.c.id == webhook_deliveries.c.webhook_id)
            .where(due)
            .order_by(webhook_deliveries.c.next_at, webhook_deliveries.c.id)
            .limit(BATCH)
        )
        with self.db.write() as conn:
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(of=webhook_deliveries, skip_locked=True)
            rows = conn.execute(query).all()
            conn.execute(
                delete(webhook_deliveries).where(
                    webhook_deliveries.c.state.in_(
                        [DeliveryState.DELIVERED.value, DeliveryState.FAILED.value]
                    )
                    & (webhook_deliveries.c.next_at < now - KEEP_LOG)
                )
            )
            if rows:
                conn.execute(
                    update(webhook_deliveries)
                    .where(webhook_deliveries.c.id.in_([r.id for r in rows]))
                    .values(next_at=now + IN_FLIGHT)
                )
        return list(rows)

    def _attempt(self, item: Any) -> Outcome:
        try:
            secret = self.box.open(item.secret_box)
        except FoxdenError:  # the farm's key was replaced: this hook cannot be signed
            return Outcome(None, "cannot sign: the farm's secret key changed; add the hook again")
        problem = destination_problem(item.url, self.allow_private)
        if problem:
            return Outcome(None, problem)
        body = item.payload.encode()
        stamp = int(self.clock())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "foxden-webhooks",
            "X-Foxden-Event": item.event,
            "X-Foxden-Delivery": str(item.id),
            TIMESTAMP_HEADER: str(stamp),
            SIGNATURE_HEADER: sign(secret, stamp, body),
        }
        try:
            return self.send(item.url, body, headers)
        except Exception as exc:  # a sender's bug must not stop the loop
            return Outcome(None, cut(f"{type(exc).__name__}: {exc}", 500))

    def _settle(self, item: Any, outcome: Outcome) -> None:
        now = self.clock()
        attempts = item.attempts + 1
        values: dict[str, Any] = {
            "attempts": attempts,
            "response_status": outcome.status,
            "last_error": cut(outcome.error, 500),
        }
        if outcome.delivered:
            values.update(state=DeliveryState.DELIVERED.value, delivered_at=now, next_at=now)
        elif attempts >= MAX_ATTEMPTS:
            values.update(state=DeliveryState.FAILED.value, next_at=now)
        else:
            values.update(next_at=now + backoff(attempts))
        with self.db.write() as conn:
            conn.execute(
                update(webhook_deliveries)
                .where(webhook_deliveries.c.id == item.id)
                .values(**values)
            )
        if not outcome.delivered:
            log.info(
                "webhook delivery %d (attempt %d) failed: %s",
                item.id,
                attempts,
                outcome.error,
                extra={"event": "webhook_failed"},
            )
