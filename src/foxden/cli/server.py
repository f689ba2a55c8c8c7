"""Server-side commands: `serve`; `account create|list|disable|enable|rotate-key|sdk-key|trust|untrust`;
`project allow`; `join-key`; `workers list|revoke|approve|drain|disable|enable`; `gc`; `fsck`;
`migrate`; `account share`. `limit` is in cli/policy.py."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from foxden.server.config import Settings, apply_log_level, load_settings


def add_server_options(p: argparse.ArgumentParser) -> None:
    """Options shared by commands that open the farm's data directory."""
    p.add_argument(
        "--data-dir", type=Path, help="farm data directory (default .foxden; env FOXDEN_DATA_DIR)"
    )
    p.add_argument(
        "--database-url",
        help="SQLAlchemy URL (default: SQLite in the data dir; env FOXDEN_DATABASE_URL)",
    )
    p.add_argument("--config", type=Path, help="TOML config file (default <data-dir>/foxden.toml)")


def add_tls_options(p: argparse.ArgumentParser) -> None:
    """--tls-cert and --tls-key: serve HTTPS."""
    p.add_argument(
        "--tls-cert",
        type=Path,
        metavar="FILE",
        help="serve HTTPS with this PEM certificate (env FOXDEN_TLS_CERT)",
    )
    p.add_argument(
        "--tls-key",
        type=Path,
        metavar="FILE",
        help="the certificate's private key (env FOXDEN_TLS_KEY)",
    )


def uvicorn_tls(settings: Settings) -> dict[str, Any]:
    """uvicorn's certificate options for `settings` (none for plain HTTP)."""
    if settings.tls_cert is None or settings.tls_key is None:
        return {}
    return {"ssl_certfile": str(settings.tls_cert), "ssl_keyfile": str(settings.tls_key)}


def settings_from(args: argparse.Namespace, **extra: Any) -> Settings:
    """Settings from the command line, the environment and the config file."""
    cli = {"data_dir": args.data_dir, "database_url": args.database_url, **extra}
    return load_settings(cli, config_file=args.config)


def register(sub: Any) -> None:
    """Add the server commands."""
    p = sub.add_parser("serve", help="run the farm server")
    add_server_options(p)
    p.add_argument(
        "--host",
        help="the address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 for "
        "every network; env FOXDEN_HOST)",
    )
    p.add_argument("--port", type=int, help="the port to listen on (default 8642; env FOXDEN_PORT)")
    p.add_argument(
        "--lease-seconds",
        type=float,
        help="how long a worker's claim on frames lasts without a heartbeat before they are "
        "requeued (default 60; env FOXDEN_LEASE_SECONDS)",
    )
    p.add_argument(
        "--approve-workers",
        action="store_true",
        default=None,
        help="a newly registered worker gets no work until an admin approves it "
        "(env FOXDEN_APPROVE_WORKERS)",
    )
    add_tls_options(p)
    p.set_defaults(func=_serve)

    acc = sub.add_parser("account", help="manage accounts")
    acc_sub = acc.add_subparsers(dest="account_command", metavar="ACTION", required=True)
    c = acc_sub.add_parser("create", help="create an account and print its access key as JSON")
    c.add_argument("name", help="the account's name: what its owner logs in with")
    c.add_argument("--admin", action="store_true", help="an administrator account")
    c.add_argument(
        "--email", default="", help="the owner's e-mail address (shown in 'foxden account list')"
    )
    add_server_options(c)
    c.set_defaults(func=_account_create)
    ls = acc_sub.add_parser("list", help="list accounts (a table; --json for scripts)")
    ls.add_argument("--json", action="store_true", help="print JSON (for scripts)")
    add_server_options(ls)
    ls.set_defaults(func=_account_list)
    for name, flag in (("disable", True), ("enable", False)):
        d = acc_sub.add_parser(name, help=f"{name} an account")
        d.add_argument("name", help="the account's name")
        add_server_options(d)
        d.set_defaults(func=_account_disable, disabled=flag)

    rk = acc_sub.add_parser("rotate-key", help="give an account a new access key (printed as JSON)")
    rk.add_argument("name", help="the account's name")
    add_server_options(rk)
    rk.set_defaults(func=_account_rotate)

    sk = acc_sub.add_parser(
        "sdk-key",
        help="give an account a new access id and key for the vendor's SDK, rayvision_api "
        "(printed as JSON, once; the old pair stops working)",
    )
    sk.add_argument("name", help="the account's name")
    add_server_options(sk)
    sk.set_defaults(func=_account_sdk_key)

    for name, flag in (("trust", True), ("untrust", False)):
        t = acc_sub.add_parser(
            name,
            help=(
                "let an account use the command job type (it runs any program on the render nodes)"
                if flag
                else "take the command job type back (its queued command tasks stop)"
            ),
        )
        t.add_argument("name", help="the account's name")
        add_server_options(t)
        t.set_defaults(func=_account_trust, trusted=flag)
    sh = acc_sub.add_parser(
        "share",
        help="set an account's share of the farm: its weight among accounts competing for "
        "render slots (default 1; 2 gets twice the slots of an account at 1)",
    )
    sh.add_argument("name", help="the account's name")
    sh.add_argument("share", type=float, metavar="WEIGHT", help="a number above 0")
    add_server_options(sh)
    sh.set_defaults(func=_account_share)

    proj = sub.add_parser("project", help="administer accounts' projects")
    proj_sub = proj.add_subparsers(dest="project_command", metavar="ACTION", required=True)
    pa = proj_sub.add_parser(
        "allow", help="set a project's sandbox rights (network, the scene's scripts)"
    )
    pa.add_argument("--account", required=True, help="the account owning the project")
    pa.add_argument("--project", required=True, help="the project's name")
    pa.add_argument(
        "--network",
        action=argparse.BooleanOptionalAction,
        help="renders of the project may reach the network (default: unchanged)",
    )
    pa.add_argument(
        "--scripts",
        action=argparse.BooleanOptionalAction,
        help="Blender may run the scene's own scripts (default: unchanged)",
    )
    add_server_options(pa)
    pa.set_defaults(func=_project_allow)

    j = sub.add_parser("join-key", help="print the key workers join the farm with")
    add_server_options(j)
    j.add_argument(
        "--rotate",
        action="store_true",
        help="replace it with a new key (printed once); running servers take it at once, "
        "registered workers keep their tokens",
    )
    j.set_defaults(func=_join_key)

    wk = sub.add_parser(
        "workers", help="list, revoke, approve, drain, disable and enable the farm's render nodes"
    )
    wk_sub = wk.add_subparsers(dest="workers_command", metavar="ACTION", required=True)
    wl = wk_sub.add_parser("list", help="list workers as JSON")
    add_server_options(wl)
    wl.set_defaults(func=_workers_list)
    for name, helptext in (
        ("revoke", "take a worker's token away (401 at once) and requeue its frames"),
        ("approve", "let a worker waiting for approval take work"),
        ("drain", "let a worker finish the frames it renders, then give it no new work"),
        ("disable", "give a worker no work; its running frames go back to the queue"),
        ("enable", "let a drained or disabled worker take work again"),
    ):
        wa = wk_sub.add_parser(name, help=helptext)
        wa.add_argument(
            "worker_id", type=int, metavar="ID", help="the worker's id ('foxden workers list')"
        )
        add_server_options(wa)
        wa.set_defaults(func=_workers_action, action_name=name)

    g = sub.add_parser("gc", help="remove stored blobs that nothing uses any more")
    add_server_options(g)
    g.add_argument(
        "--older-than",
        type=float,
        default=24.0,
        metavar="HOURS",
        help="only blobs stored longer ago than this (default 24: uploads in flight)",
    )
    g.add_argument("--dry-run", action="store_true", help="say what would go, remove nothing")
    g.set_defaults(func=_gc)

    fs = sub.add_parser(
        "fsck", help="re-hash every stored blob; put damaged ones in quarantine (exit 1 if any)"
    )
    add_server_options(fs)
    fs.add_argument("--report-only", action="store_true", help="name damaged blobs, move nothing")
    fs.set_defaults(func=_fsck)

    m = sub.add_parser("migrate", help="create or upgrade the database schema")
    add_server_options(m)
    m.set_defaults(func=_migrate)


def _open(args: argparse.Namespace) -> Any:
    from foxden.server.context import Farm

    return Farm.open(settings_from(args))


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from foxden.server.app import create_app, freeze_startup_objects
    from foxden.server.context import Farm

    settings = settings_from(
        args,
        host=args.host,
        port=args.port,
        lease_seconds=args.lease_seconds,
        approve_workers=args.approve_workers,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
    )
    farm = Farm.open(settings)
    print(f"foxden server on {settings.url} (data in {settings.data_dir})", flush=True)
    print(
        f"render nodes join with: foxden worker --server {settings.url} "
        f'--join-key "$(cat {settings.data_dir / "join_key"})"',
        flush=True,
    )
    app = create_app(farm)
    freeze_startup_objects()
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=apply_log_level(settings),
        **uvicorn_tls(settings),
    )
    return 0


def _account_create(args: argparse.Namespace) -> int:
    from foxden.farm.accounts import create_account

    farm = _open(args)
    try:
        record, key = create_account(farm.db, args.name, admin=args.admin, email=args.email)
    finally:
        farm.close()
    print(json.dumps({"account": record.name, "access_key": key, "admin": record.is_admin}))
    return 0


def _account_list(args: argparse.Namespace) -> int:
    from foxden.farm.accounts import list_accounts
    from foxden.vendor_records import vendor_time

    farm = _open(args)
    try:
        found = list_accounts(farm.db)
    finally:
        farm.close()
    if args.json:
        print(json.dumps([a.model_dump(mode="json") for a in found], indent=2))
        return 0
    rows = [
        (
            a.name,
            "admin" if a.is_admin else "user",
            "disabled" if a.disabled else "active",
            "yes" if a.trusted else "no",
            a.email or "-",
            vendor_time(a.created_at) or "-",
            vendor_time(a.login_at) or "never",
        )
        for a in found
    ]
    header = ("ACCOUNT", "ROLE", "STATE", "TRUSTED", "EMAIL", "CREATED", "LAST LOGIN")
    lines = [header, *rows]
    widths = [max(len(r[i]) for r in lines) for i in range(len(header))]
    for row in lines:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    return 0


def _account_disable(args: argparse.Namespace) -> int:
    from foxden.farm.accounts import set_disabled

    farm = _open(args)
    try:
        print(json.dumps(set_disabled(farm.db, args.name, args.disabled).model_dump(mode="json")))
    finally:
        farm.close()
    return 0


def _account_rotate(args: argparse.Namespace) -> int:
    from foxden.farm.accounts import rotate_key

    farm = _open(args)
    try:
        key = rotate_key(farm.db, args.name)
    finally:
        farm.close()
    print(json.dumps({"account": args.name, "access_key": key}))
    return 0


def _account_sdk_key(args: argparse.Namespace) -> int:
    from foxden.farm.accounts import get_account_by_name
    from foxden.farm.sdk_keys import issue

    farm = _open(args)
    try:
        record = get_account_by_name(farm.db, args.name)
        key = issue(farm.db, farm.sdk_box, record.id)
    finally:
        farm.close()
    print(
        json.dumps(
            {"account": record.name, "access_id": key.access_id, "access_key": key.access_key}
        )
    )
    return 0


def _account_share(args: argparse.Namespace) -> int:
    from foxden.farm.shares import set_share

    farm = _open(args)
    try:
        print(json.dumps(set_share(farm.db, args.name, args.share).model_dump()))
    finally:
        farm.close()
    return 0


def _account_trust(args: argparse.Namespace) -> int:
    from foxden.farm.rights import set_trusted

    farm = _open(args)
    try:
        print(json.dumps(set_trusted(farm.db, args.name, args.trusted).model_dump(mode="json")))
    finally:
        farm.close()
    return 0


def _project_allow(args: argparse.Namespace) -> int:
    from foxden.farm.rights import set_project_rights

    farm = _open(args)
    try:
        rights = set_project_rights(
            farm.db,
            args.account,
            args.project,
            allow_network=args.network,
            allow_scripts=args.scripts,
        )
    finally:
        farm.close()
    print(json.dumps(rights.model_dump(mode="json")))
    return 0


def _join_key(args: argparse.Namespace) -> int:
    if args.rotate:
        from foxden.farm.workers import rotate_join_key

        settings = settings_from(args)
        key = rotate_join_key(settings.data_dir)
        print(key)
        print(
            f"the new join key is in {settings.data_dir / 'join_key'}: new workers need it; "
            "revoke workers you no longer trust (foxden workers list / revoke ID)",
            file=sys.stderr,
        )
        return 0
    farm = _open(args)
    print(farm.join_key)
    farm.close()
    return 0


def _workers_list(args: argparse.Namespace) -> int:
    from foxden.farm.workers import list_workers

    farm = _open(args)
    try:
        print(json.dumps([w.model_dump(mode="json") for w in list_workers(farm.db)], indent=2))
    finally:
        farm.close()
    return 0


def _workers_action(args: argparse.Namespace) -> int:
    from foxden.core.states import WorkerMode
    from foxden.farm import workers

    modes = {
        "drain": WorkerMode.DRAINING,
        "disable": WorkerMode.DISABLED,
        "enable": WorkerMode.ACTIVE,
    }
    farm = _open(args)
    try:
        if args.action_name in modes:
            out = workers.set_admin_state(farm.db, args.worker_id, modes[args.action_name])
            print(json.dumps(out.model_dump(mode="json")))
        else:
            act = workers.revoke if args.action_name == "revoke" else workers.approve
            print(json.dumps(act(farm.db, args.worker_id).model_dump(mode="json")))
    finally:
        farm.close()
    return 0


def _gc(args: argparse.Namespace) -> int:
    from foxden.farm.gc import collect

    farm = _open(args)
    try:
        done = collect(farm.db, farm.store, grace=args.older_than * 3600, dry_run=args.dry_run)
    finally:
        farm.close()
    verb = "would remove" if args.dry_run else "removed"
    print(
        json.dumps(
            {
                "dry_run": args.dry_run,
                "blobs": done.blobs,
                "bytes": done.bytes,
                "partial_uploads": done.partial_uploads,
            }
        )
    )
    print(
        f"{verb} {done.blobs} blob(s), {done.bytes} bytes, {done.partial_uploads} partial upload(s)",
        file=sys.stderr,
    )
    return 0


def _migrate(args: argparse.Namespace) -> int:
    farm = _open(args)
    farm.close()
    print("database is up to date")
    return 0


def _fsck(args: argparse.Namespace) -> int:
    import logging

    from foxden.store.blobs import BlobStore
    from foxden.store.fsck import fsck

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    store = BlobStore(settings_from(args).blob_dir)

    def progress(done: int, total: int, done_bytes: int, total_bytes: int) -> None:
        print(
            f"checked {done}/{total} blobs ({done_bytes / 1e9:.2f} of {total_bytes / 1e9:.2f} GB)",
            file=sys.stderr,
            flush=True,
        )

    report = fsck(store, quarantine=not args.report_only, progress=progress)
    print(
        json.dumps(
            {
                "checked": report.checked,
                "bytes": report.bytes,
                "damaged": report.damaged,
                "quarantine": str(store.quarantine_dir) if report.damaged else None,
                "stray": report.stray,
            },
            indent=2,
        )
    )
    return 0 if report.clean else 1
