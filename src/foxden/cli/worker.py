"""Render node commands: `worker` (join a farm and render) and `up` (a whole farm on this machine)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import Any

from foxden.cli.server import add_tls_options
from foxden.errors import BadRequest


def register(sub: Any) -> None:
    """Add the `worker` and `up` commands."""
    w = sub.add_parser("worker", help="join a farm as a render node and render its work")
    w.add_argument(
        "--server",
        default=os.environ.get("FOXDEN_SERVER"),
        help="the farm's URL (env FOXDEN_SERVER)",
    )
    w.add_argument(
        "--join-key",
        help="the farm's join key (env FOXDEN_JOIN_KEY; `foxden join-key` prints it on the server)",
    )
    w.add_argument("--slots", type=int, default=1, help="leases rendered at once (default 1)")
    w.add_argument(
        "--cache",
        type=Path,
        help="cache and workspace folder (default ~/.cache/foxden/worker; one per worker process)",
    )
    w.add_argument(
        "--cache-size",
        default="20G",
        help="input cache bound in bytes, or with K/M/G/T (default 20G)",
    )
    w.add_argument("--tags", default="", help="comma-separated tags tasks may require")
    w.add_argument("--name", help="worker name (default: host name)")
    w.add_argument("--blender", type=Path, help="the Blender executable (default: on PATH)")
    w.add_argument(
        "--maya",
        type=Path,
        help="Maya's Render program or its install folder (default: a Maya 'Render' on PATH)",
    )
    w.add_argument(
        "--poll",
        type=float,
        default=2.0,
        help="seconds between claims when there is no work and the server does not hold "
        "claims open (default 2)",
    )
    w.add_argument(
        "--claim-wait",
        type=float,
        default=20.0,
        metavar="SECONDS",
        help="seconds the server may hold an idle claim open and answer the moment work "
        "appears (long poll; default 20, at most 60; 0: poll every --poll seconds)",
    )
    w.add_argument(
        "--ca-cert",
        type=Path,
        default=os.environ.get("FOXDEN_CA_CERT") or None,
        help="trust this CA bundle or farm certificate for HTTPS (env FOXDEN_CA_CERT)",
    )
    w.add_argument("--exit-with-parent", action="store_true", help=argparse.SUPPRESS)
    box = w.add_argument_group(
        "sandbox", "every renderer runs in a bubblewrap sandbox with these limits per process"
    )
    box.add_argument(
        "--no-sandbox",
        action="store_true",
        help="run renderers without the sandbox: trusted, single-user farms only",
    )
    box.add_argument("--bwrap", default="bwrap", help="the bubblewrap program (default: on PATH)")
    box.add_argument(
        "--sandbox-uid",
        type=int,
        default=65534,
        help="host user id renderers run as when the worker runs as root (default 65534)",
    )
    box.add_argument(
        "--max-memory",
        help="memory one renderer process may allocate, e.g. 32G (default: the machine's; 0: none)",
    )
    box.add_argument(
        "--max-cpu-seconds",
        type=int,
        help="CPU seconds of one renderer process, all threads (default: a day per core; 0: none)",
    )
    box.add_argument(
        "--max-file-size", default="64G", help="largest file a renderer may write (default 64G)"
    )
    box.add_argument(
        "--max-processes",
        type=int,
        default=4096,
        help="processes and threads in one sandbox (default 4096; 0: none)",
    )
    box.add_argument("--max-tmp", default="4G", help="size of the sandbox's /tmp (default 4G)")
    w.set_defaults(func=_worker)

    u = sub.add_parser("up", help="run a farm on this machine: server and local workers")
    u.add_argument("--data-dir", type=Path, required=True, help="the farm's data directory")
    u.add_argument("--port", type=int, help="port (default 8642)")
    u.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    u.add_argument("--workers", type=int, default=1, help="local workers (default 1)")
    u.add_argument("--blender", type=Path, help="the Blender executable for the local workers")
    u.add_argument(
        "--no-sandbox",
        action="store_true",
        help="local workers run renderers without the sandbox: trusted, single-user farms only",
    )
    u.add_argument(
        "--tls",
        action="store_true",
        help="serve HTTPS with a self-signed certificate made once in <data-dir>/tls "
        "(its fingerprint and path are printed: clients trust it with --ca-cert)",
    )
    add_tls_options(u)
    u.set_defaults(func=_up)


def _worker(args: argparse.Namespace) -> int:
    import logging

    from pydantic import ValidationError

    from foxden.worker.agent import Agent, default_cache_dir
    from foxden.worker.settings import WorkerSettings, parse_size

    join_key = args.join_key or os.environ.get("FOXDEN_JOIN_KEY")
    if not args.server:
        raise BadRequest("give the farm's URL with --server (or FOXDEN_SERVER)")
    if not join_key:
        raise BadRequest("give the farm's join key with --join-key (or FOXDEN_JOIN_KEY)")
    values: dict[str, Any] = {
        "server": args.server,
        "join_key": join_key,
        "slots": args.slots,
        "cache_dir": args.cache or default_cache_dir(),
        "tags": [t.strip() for t in args.tags.split(",") if t.strip()],
        "blender": args.blender,
        "maya": args.maya,
        "poll_seconds": args.poll,
        "claim_wait": args.claim_wait,
        "exit_with_parent": args.exit_with_parent,
        "sandbox": not args.no_sandbox,
        "bwrap": args.bwrap,
        "sandbox_uid": args.sandbox_uid,
        "max_processes": args.max_processes,
        "ca_cert": args.ca_cert,
    }
    if args.name:
        values["name"] = args.name
    if args.max_cpu_seconds is not None:
        values["max_cpu_seconds"] = args.max_cpu_seconds
    try:
        values["cache_size"] = parse_size(args.cache_size)
        values["max_file_size"] = parse_size(args.max_file_size)
        values["max_tmp"] = parse_size(args.max_tmp)
        if args.max_memory is not None:
            values["max_memory"] = parse_size(args.max_memory)
        settings = WorkerSettings(**values)
    except (ValueError, ValidationError) as exc:
        raise BadRequest(f"bad worker setting: {exc}") from None
    logging.getLogger("httpx").setLevel(logging.WARNING)
    agent = Agent(settings)
    _on_stop_signals(agent.request_stop)
    return agent.run()


def _up(args: argparse.Namespace) -> int:
    import logging

    from foxden.cli.embedded import run_farm
    from foxden.server.config import load_settings

    for noisy in ("httpx", "blender_asset_tracer"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    if args.workers < 0:
        raise BadRequest("--workers must be 0 or more")
    cli: dict[str, Any] = {"data_dir": args.data_dir, "port": args.port, "host": args.host}
    cli.update(tls_cert=args.tls_cert, tls_key=args.tls_key)
    if args.tls:
        if args.tls_cert or args.tls_key:
            raise BadRequest(
                "give either --tls (a self-signed certificate) or --tls-cert/--tls-key"
            )
        from foxden.server.tls import ensure_self_signed

        host = args.host or load_settings(cli).host
        own = ensure_self_signed(load_settings(cli).data_dir, [host])
        print(
            f"{'created' if own.created else 'using'} the farm's self-signed certificate "
            f"{own.cert}\n  SHA-256 fingerprint {own.fingerprint}\n"
            f"  clients trust it with: --ca-cert {own.cert} (or FOXDEN_CA_CERT, verify=)",
            flush=True,
        )
        cli.update(tls_cert=own.cert, tls_key=own.key)
    settings = load_settings(cli)
    return run_farm(
        settings,
        args.workers,
        blender=args.blender,
        sandbox=not args.no_sandbox,
        install_signals=_on_stop_signals,
    )


def _on_stop_signals(stop: Any) -> None:
    """Call `stop()` on SIGINT and SIGTERM (a second signal does the same, harmlessly)."""

    def handler(signum: int, _frame: object) -> None:
        print(f"foxden: {signal.Signals(signum).name}: stopping", file=sys.stderr, flush=True)
        stop()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
