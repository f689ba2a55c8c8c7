"""Dispatch throughput: simulated workers drive the real HTTP worker protocol with a no-op job.

A real `foxden serve` process runs on SQLite or PostgreSQL; W worker threads (each its own HTTP
connection) take and finish the frames of a task of F frames, in two ways, one after the other
on the same farm:

- *lean* (the protocol of issue 15, the main figure): a worker claims for all its slots at once
  (`POST /api/worker/claims`), and each report of a lease carries the claim of the next one
  (`ReportIn.claim`): one request per chunk;
- *classic*: claim one chunk (`POST /api/worker/claim`), report it, claim again: two requests.

We report frames completed per second for each. The baseline, measured between the runs with the
same threads, is the same number of HTTP round trips to `/healthz` (no database, no scheduling):
one per chunk for the lean protocol, two for the classic one, the ceiling each could reach on
this machine. `--rounds N` repeats lean, baseline, classic, baseline N times and keeps medians.
With the lean runs goes the CPU time each frame cost the server process, the PostgreSQL
backends serving its database (read from Linux's `/proc`: the database on this machine) and
this process (the simulated workers).

    python bench/dispatch.py                       # full matrix, writes bench/out/dispatch.json
    python bench/dispatch.py --db sqlite --workers 10 --chunk 10 --frames 2000
    python bench/dispatch.py --accounts 3          # fair share at work: 3 accounts, shares 1, 2, 3
    python bench/dispatch.py --slots 4             # each simulated worker holds 4 slots
    python bench/dispatch.py --client raw          # workers on a lighter HTTP client (RawClient)

With `--accounts N` the frames are split between N accounts (shares 1..N), one task each, so
every claim weighs accounts against their shares (the claim's fair-share ordering).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bigfarm

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = os.environ.get("FOXDEN_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Farm:
    """A `foxden serve` subprocess on a fresh database."""

    def __init__(self, db: str, accounts: int = 1) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.data = Path(self.tmp.name)
        self.pg_name = ""
        if db == "postgresql":
            self.pg_name = f"foxden_bench_{uuid.uuid4().hex[:10]}"
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.pg_name}"')
            url = PG_ADMIN.rsplit("/", 1)[0] + "/" + self.pg_name
        else:
            url = ""
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        base = [sys.executable, "-m", "foxden.cli"]
        opts = ["--data-dir", str(self.data)] + (["--database-url", url] if url else [])
        self.keys: list[str] = []
        for i in range(accounts):
            name = "bench" if accounts == 1 else f"bench{i + 1}"
            out = subprocess.run(
                [*base, "account", "create", name, *opts],
                capture_output=True,
                text=True,
                check=True,
            )
            self.keys.append(json.loads(out.stdout)["access_key"])
            # the bench renders with the command job type, a privilege
            subprocess.run(
                [*base, "account", "trust", name, *opts], capture_output=True, check=True
            )
            if accounts > 1:
                subprocess.run(
                    [*base, "account", "share", name, str(i + 1), *opts],
                    capture_output=True,
                    check=True,
                )
        self.key = self.keys[0]
        self.proc = subprocess.Popen(
            [*base, "serve", *opts, "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 120  # a loaded machine starts it slowly
        while True:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.1)
        self.join_key = (self.data / "join_key").read_text().strip()

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=20)
        if self.pg_name:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')
        self.tmp.cleanup()


class _Reply:
    """What the workers read of a reply (the part of httpx's `Response` they use)."""

    def __init__(self, status_code: int, content: bytes) -> None:
        self.status_code = status_code
        self.content = content

    def json(self) -> Any:
        return json.loads(self.content)

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise RuntimeError(f"HTTP {self.status_code}: {self.content[:200]!r}")


class RawClient:
    """A minimal HTTP/1.1 client on one kept-alive connection (the standard library's
    `http.client`, TCP_NODELAY, a request's head and body in one send): the simulated
    workers' `--client raw`. httpx costs this process about twice the CPU a request, which on
    a 2-CPU machine the server would otherwise have; the real worker agent uses httpx on its
    own machine."""

    def __init__(self, url: str, token: str) -> None:
        parts = urlsplit(url)
        self._conn = http.client.HTTPConnection(
            parts.hostname or "127.0.0.1", parts.port, timeout=60
        )
        self._conn.connect()
        assert self._conn.sock is not None
        self._conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def _send(self, method: str, path: str, body: bytes | None) -> _Reply:
        self._conn.request(method, path, body, self._headers)
        reply = self._conn.getresponse()
        return _Reply(reply.status, reply.read())

    def post(self, path: str, json: Any = None) -> _Reply:
        return self._send("POST", path, _dumps(json).encode())

    def get(self, path: str) -> _Reply:
        return self._send("GET", path, None)

    def close(self) -> None:
        self._conn.close()


_dumps = json.dumps


def _register(farm: Farm, n: int, client: str = "httpx") -> list[Any]:
    clients: list[Any] = []
    for i in range(n):
        r = httpx.post(
            farm.url + "/api/worker/register",
            headers={"Authorization": f"Bearer {farm.join_key}"},
            json={"name": f"sim{i}", "software": [{"name": "command", "version": "1"}]},
        )
        r.raise_for_status()
        token = r.json()["token"]
        if client == "raw":
            clients.append(RawClient(farm.url, token))
        else:
            clients.append(
                httpx.Client(
                    base_url=farm.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
                )
            )
    return clients


def _submit(farm: Farm, frames: int, chunk: int, key: str = "") -> int:
    """A task of `frames` frames in chunks of `chunk` for account `key` (the first one's by
    default): `bigfarm.submit_probe` with that account's client."""
    user = httpx.Client(
        base_url=farm.url, headers={"Authorization": f"Bearer {key or farm.key}"}, timeout=60
    )
    with user:  # its client given, submit_probe asks this farm (not its own kind) for none
        return bigfarm.submit_probe(farm, frames, project="bench", user=user, chunk=chunk)


def _run_threads(clients: list[Any], work: Any) -> tuple[float, int]:
    done = [0] * len(clients)

    def loop(i: int) -> None:
        done[i] = work(clients[i])

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(len(clients))]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start, sum(done)


def _lean_worker(slots: int) -> Any:
    """The protocol of issue 15: claim for every slot at once, then each report of a lease
    carries the claim of the next one (one request per chunk)."""

    def worker(client: Any) -> int:
        n = 0
        queue: list[dict[str, Any]] = []
        while True:
            if not queue:
                r = client.post("/api/worker/claims", json={"slots": slots})
                if r.status_code == 204:
                    return n
                r.raise_for_status()
                queue = r.json()["leases"]
            lease = queue.pop(0)
            r = client.post(
                f"/api/worker/leases/{lease['lease_id']}/frames",
                json={
                    "results": [
                        {"frame": f, "status": "done", "render_time": 0} for f in lease["frames"]
                    ],
                    "claim": {"slots": 1},
                },
            )
            r.raise_for_status()
            queue.extend(r.json()["leases"])
            n += len(lease["frames"])

    return worker


def _classic_worker(client: Any) -> int:
    """The protocol before issue 15: claim one chunk, report it, claim again."""
    n = 0
    while True:
        r = client.post("/api/worker/claim", json={})
        if r.status_code == 204:
            return n
        lease = r.json()
        client.post(
            f"/api/worker/leases/{lease['lease_id']}/frames",
            json={
                "results": [
                    {"frame": f, "status": "done", "render_time": 0} for f in lease["frames"]
                ]
            },
        ).raise_for_status()
        n += len(lease["frames"])


def _dispatch(farm: Farm, clients: list[Any], frames: int, chunk: int, work: Any) -> float:
    """Seconds the workers take to finish `frames` frames (split between the farm's accounts)."""
    accounts = len(farm.keys)
    parts = [frames // accounts + (1 if i < frames % accounts else 0) for i in range(accounts)]
    task_ids = [_submit(farm, n, chunk, key) for n, key in zip(parts, farm.keys, strict=True)]
    elapsed, completed = _run_threads(clients, work)
    for key, task_id in zip(farm.keys, task_ids, strict=True):
        user = httpx.Client(base_url=farm.url, headers={"Authorization": f"Bearer {key}"})
        status = user.get(f"/api/tasks/{task_id}").json()
        assert status["status"] == "done", status
    assert completed == frames, completed
    return elapsed


def _cpu_seconds(farm: Farm) -> tuple[float, dict[int, float], float]:
    """CPU seconds used so far by the server process, by each PostgreSQL backend serving the
    farm's database (Linux `/proc`, the database on this machine; none on SQLite) and by this
    process."""
    backends: dict[int, float] = {}
    if farm.pg_name:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            pids = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", [farm.pg_name]
            ).fetchall()
        for (pid,) in pids:
            try:
                backends[int(pid)] = _proc_cpu(int(pid))
            except OSError:  # gone meanwhile
                continue
    return _proc_cpu(farm.proc.pid), backends, time.process_time()


def _cpu_spent(
    before: tuple[float, dict[int, float], float], after: tuple[float, dict[int, float], float]
) -> tuple[float, float, float]:
    """CPU seconds between two `_cpu_seconds`: server, PostgreSQL (a backend that started
    meanwhile counts whole), this process."""
    postgres = sum(cpu - before[1].get(pid, 0.0) for pid, cpu in after[1].items())
    return after[0] - before[0], postgres, after[2] - before[2]


def _proc_cpu(pid: int) -> float:
    """User and system CPU seconds of process `pid` (Linux `/proc/PID/stat`)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _healthz(clients: list[Any], requests: int) -> float:
    """Seconds the same threads take for `requests` round trips to /healthz in all."""
    workers = len(clients)
    mine = [requests // workers + (1 if i < requests % workers else 0) for i in range(workers)]
    counter = iter(range(10**9))

    def baseline(client: Any) -> int:
        n = mine[next(counter) % workers]
        for _ in range(n):
            client.get("/healthz")
        return n

    elapsed, _ = _run_threads(clients, baseline)
    return elapsed


def measure(
    db: str,
    workers: int,
    chunk: int,
    frames: int,
    accounts: int = 1,
    slots: int = 1,
    rounds: int = 1,
    client: str = "httpx",
) -> dict[str, Any]:
    """Frames per second for one configuration with the lean protocol and the classic one,
    runs alternating with the /healthz baseline (medians of `rounds`)."""
    farm = Farm(db, accounts)
    try:
        clients = _register(farm, workers, client)
        chunks = -(-frames // chunk)
        lean, classic, base = [], [], []
        cpu: list[tuple[float, float, float]] = []  # server, PostgreSQL, client per lean frame
        for _ in range(rounds):
            before = _cpu_seconds(farm)
            lean.append(_dispatch(farm, clients, frames, chunk, _lean_worker(slots)))
            after = _cpu_seconds(farm)
            server, postgres, workers_cpu = _cpu_spent(before, after)
            cpu.append((server / frames, postgres / frames, workers_cpu / frames))
            base.append(_healthz(clients, chunks) / chunks)  # seconds per round trip
            classic.append(_dispatch(farm, clients, frames, chunk, _classic_worker))
            base.append(_healthz(clients, chunks) / chunks)
        trip = statistics.median(base)
        lean_s, classic_s = statistics.median(lean), statistics.median(classic)
        return {
            "db": db,
            "accounts": accounts,
            "workers": workers,
            "slots": slots,
            "chunk": chunk,
            "frames": frames,
            "rounds": rounds,
            "client": client,
            "frames_per_second": round(frames / lean_s, 1),
            "classic_frames_per_second": round(frames / classic_s, 1),
            # the most one (lean) or two (classic) no-op round trips per chunk could reach
            "baseline_frames_per_second": round(frames / (trip * chunks), 1),
            "classic_baseline_frames_per_second": round(frames / (2 * trip * chunks), 1),
            "ratio_to_baseline": round(trip * chunks / lean_s, 3),
            "classic_ratio_to_baseline": round(2 * trip * chunks / classic_s, 3),
            # CPU milliseconds per frame of the lean runs (medians): the server process, the
            # PostgreSQL backends of its database (0 on SQLite), this process (the workers)
            "lean_cpu_ms_per_frame": [
                round(1000 * statistics.median(c[i] for c in cpu), 2) for i in range(3)
            ],
        }
    finally:
        farm.close()


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--db", choices=["sqlite", "postgresql"], action="append")
    p.add_argument("--workers", type=int, action="append")
    p.add_argument("--chunk", type=int, action="append")
    p.add_argument(
        "--frames",
        type=int,
        default=0,
        help="frames per run (default: 1000 x chunk, at most 20000)",
    )
    p.add_argument(
        "--accounts",
        type=int,
        default=1,
        help="split the frames between this many accounts with shares 1..N (default 1)",
    )
    p.add_argument("--slots", type=int, default=1, help="slots per simulated worker (default 1)")
    p.add_argument("--rounds", type=int, default=1, help="runs of each mode; medians (default 1)")
    p.add_argument(
        "--client",
        choices=["httpx", "raw"],
        default="httpx",
        help="the simulated workers' HTTP client (default httpx; raw: see RawClient)",
    )
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "dispatch.json")
    args = p.parse_args()
    results = []
    for db in args.db or ["sqlite", "postgresql"]:
        for chunk in args.chunk or [1, 10, 50]:
            for workers in args.workers or [1, 10, 50]:
                frames = args.frames or min(1000 * chunk, 20000)
                row = measure(
                    db, workers, chunk, frames, args.accounts, args.slots, args.rounds, args.client
                )
                results.append(row)
                print(
                    f"{db:10s} client={args.client} accounts={args.accounts} workers={workers:3d} "
                    f"slots={args.slots} chunk={chunk:3d} frames={frames:6d} "
                    f"lean {row['frames_per_second']:8.1f} frames/s "
                    f"({row['ratio_to_baseline']:.2f} of {row['baseline_frames_per_second']:.0f}), "
                    f"classic {row['classic_frames_per_second']:8.1f} "
                    f"({row['classic_ratio_to_baseline']:.2f} of "
                    f"{row['classic_baseline_frames_per_second']:.0f}); lean CPU ms per frame: "
                    "server {:.2f}, postgres {:.2f}, workers {:.2f}".format(
                        *row["lean_cpu_ms_per_frame"]
                    ),
                    flush=True,
                )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"machine": f"{os.cpu_count()} cores", "results": results}, indent=2)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
