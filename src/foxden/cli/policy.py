"""Administrators' named limits, on the farm's database: `foxden limit set NAME MAX | list |
remove NAME` (`foxden account share NAME WEIGHT` is with the other account commands)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from foxden.cli.server import add_server_options, settings_from


def register(sub: Any) -> None:
    """Add `foxden limit`."""
    lim = sub.add_parser(
        "limit", help="named limits of frames running at once (a licensed plugin, say)"
    )
    lim_sub = lim.add_subparsers(dest="limit_command", metavar="ACTION", required=True)
    s = lim_sub.add_parser(
        "set",
        help="create or change a limit: at most MAX frames of the tasks that take it run at once",
    )
    s.add_argument("name", help="the limit's name, as tasks name it at submit (--limit NAME)")
    s.add_argument("max_running", type=int, metavar="MAX", help="frames at once (0 holds them)")
    add_server_options(s)
    s.set_defaults(func=_limit_set)
    ls = lim_sub.add_parser("list", help="list limits, their maximum and what runs under them")
    ls.add_argument("--json", action="store_true", help="print JSON (for scripts)")
    add_server_options(ls)
    ls.set_defaults(func=_limit_list)
    rm = lim_sub.add_parser("remove", help="remove a limit (its tasks no longer take it)")
    rm.add_argument("name", help="the limit's name")
    add_server_options(rm)
    rm.set_defaults(func=_limit_remove)


def _open(args: argparse.Namespace) -> Any:
    from foxden.server.context import Farm

    return Farm.open(settings_from(args))


def _limit_set(args: argparse.Namespace) -> int:
    from foxden.farm import limits

    farm = _open(args)
    try:
        print(json.dumps(limits.set_limit(farm.db, args.name, args.max_running).model_dump()))
    finally:
        farm.close()
    return 0


def _limit_list(args: argparse.Namespace) -> int:
    from foxden.farm import limits

    farm = _open(args)
    try:
        items = limits.list_limits(farm.db)
    finally:
        farm.close()
    if args.json:
        print(json.dumps([item.model_dump() for item in items], indent=2))
        return 0
    if not items:
        print("no limits (foxden limit set NAME MAX makes one)")
        return 0
    rows = [("NAME", "MAX", "RUNNING", "TASKS")]
    rows += [(i.name, str(i.max_running), str(i.running), str(i.tasks)) for i in items]
    widths = [max(len(r[c]) for r in rows) for c in range(4)]
    for row in rows:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    return 0


def _limit_remove(args: argparse.Namespace) -> int:
    from foxden.farm import limits

    farm = _open(args)
    try:
        print(json.dumps(limits.remove_limit(farm.db, args.name).model_dump()))
    finally:
        farm.close()
    return 0
