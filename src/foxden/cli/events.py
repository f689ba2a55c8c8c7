"""`foxden webhooks` (where the farm POSTs your events, and how each delivery went) and
`foxden usage` (core- and GPU-seconds per account, project or task, with the farm's fee)."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from typing import Any

from foxden.cli.client import client_for, farm_options

EVENTS = ("task_done", "task_failed", "frame_failed")


def register(sub: Any) -> None:
    """Add the webhooks and usage commands."""
    farm = farm_options()
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="print JSON (for scripts)")

    hooks = sub.add_parser(
        "webhooks",
        help="where the farm POSTs your events (task done, task failed, frame failed)",
        description="Webhooks: the farm POSTs each event as JSON, signed with HMAC-SHA256 "
        "(X-Foxden-Signature: sha256=<hex> of '<X-Foxden-Timestamp>.<body>').",
    )
    what = hooks.add_subparsers(dest="webhooks_command", metavar="ACTION", required=True)
    p = what.add_parser(
        "add", parents=[farm, as_json], help="register a URL; prints its secret, this once"
    )
    p.add_argument("url", metavar="URL", help="an http(s) URL")
    p.add_argument(
        "--event",
        action="append",
        choices=EVENTS,
        help="an event it wants (repeat for several; default: every event)",
    )
    p.add_argument("--task", type=int, metavar="TASK", help="only this task's events")
    p.set_defaults(func=_add)
    p = what.add_parser("list", parents=[farm, as_json], help="your webhooks")
    p.set_defaults(func=_list)
    p = what.add_parser("remove", parents=[farm], help="remove a webhook and its delivery log")
    p.add_argument("hook_id", type=int, metavar="ID", help="the webhook's id (see list)")
    p.set_defaults(func=_remove)
    p = what.add_parser(
        "deliveries", parents=[farm, as_json], help="the latest deliveries and how they went"
    )
    p.set_defaults(func=_deliveries)

    p = sub.add_parser(
        "usage",
        parents=[farm, as_json],
        help="core- and GPU-seconds used, per project, task or account, with the fee",
    )
    p.add_argument("--account", metavar="NAME", help="another account's usage (admins)")
    p.add_argument("--all", action="store_true", help="every account's usage (admins)")
    p.add_argument(
        "--since", metavar="DATE", help="from this date (2026-11-01), time or age (7d, 12h) on"
    )
    p.add_argument(
        "--by",
        choices=("project", "task", "account"),
        default=None,
        help="one line per project (default), task or account (default with --all)",
    )
    p.set_defaults(func=_usage)


def _add(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"url": args.url, "events": args.event or []}
    if args.task is not None:
        body["task_id"] = args.task
    with client_for(args) as client:
        reply = client.request("POST", "/api/webhooks", json=body, idempotent=False)
    if args.json:
        print(json.dumps(reply, indent=2))
        return 0
    hook = reply["webhook"]
    print(f"webhook {hook['id']}: {hook['url']} ({_events(hook['events'])})")
    print(f"secret (shown this once, keep it to check signatures): {reply['secret']}")
    return 0


def _list(args: argparse.Namespace) -> int:
    with client_for(args) as client:
        hooks = client.request("GET", "/api/webhooks")
    if args.json:
        print(json.dumps(hooks, indent=2))
        return 0
    if not hooks:
        print("no webhooks: `foxden webhooks add URL` registers one")
        return 0
    rows = [
        (
            str(h["id"]),
            h["url"],
            _events(h["events"]),
            "all" if h["task_id"] is None else str(h["task_id"]),
            _when(h["created_at"]),
        )
        for h in hooks
    ]
    _table(("ID", "URL", "EVENTS", "TASKS", "ADDED"), rows)
    return 0


def _remove(args: argparse.Namespace) -> int:
    with client_for(args) as client:
        client.request("DELETE", f"/api/webhooks/{args.hook_id}")
    print(f"webhook {args.hook_id} removed")
    return 0


def _deliveries(args: argparse.Namespace) -> int:
    with client_for(args) as client:
        items = client.request("GET", "/api/webhooks/deliveries")
    if args.json:
        print(json.dumps(items, indent=2))
        return 0
    if not items:
        print("no deliveries yet")
        return 0
    rows = [
        (
            str(d["id"]),
            str(d["webhook_id"]),
            d["event"],
            "-" if d["task_id"] is None else str(d["task_id"]),
            d["state"],
            str(d["attempts"]),
            "-" if d["response_status"] is None else str(d["response_status"]),
            _when(d["next_at"]) if d["next_at"] is not None else "-",
            d["last_error"] or "-",
        )
        for d in items
    ]
    _table(("ID", "HOOK", "EVENT", "TASK", "STATE", "TRIES", "ANSWER", "NEXT", "ERROR"), rows)
    return 0


def _usage(args: argparse.Namespace) -> int:
    by = args.by or ("account" if args.all else "project")
    params: dict[str, Any] = {"by": by}
    if args.since:
        params["since"] = args.since
    if args.account:
        params["account_name"] = args.account
    if args.all:
        params["all_accounts"] = True
    with client_for(args) as client:
        report = client.request("GET", "/api/usage", params=params)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    rows = [
        (
            line["account"],
            line["project_name"] or "-",
            "-" if line["task_id"] is None else str(line["task_id"]),
            str(line["frames"]),
            _hours(line["core_seconds"]),
            _hours(line["gpu_seconds"]),
            f"{line['fee']:.2f}",
        )
        for line in report["lines"]
    ]
    rows.append(
        (
            "total",
            "",
            "",
            str(sum(line["frames"] for line in report["lines"])),
            _hours(report["core_seconds"]),
            _hours(report["gpu_seconds"]),
            f"{report['fee']:.2f}",
        )
    )
    _table(("ACCOUNT", "PROJECT", "TASK", "ATTEMPTS", "CORE-H", "GPU-H", "FEE"), rows)
    since = report["since"]
    rate = report["rate_per_core_hour"]
    print(
        f"since {_when(since) if since is not None else 'the start'}; fee at {rate:g} per core-hour"
    )
    return 0


def _events(names: Sequence[str]) -> str:
    return ", ".join(names) if names else "every event"


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.3f}"


def _when(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp))


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
