"""Idle workers: what N simulated idle workers cost a big farm, polling and long-polling.

A real `foxden serve` process holds the big farm of bench/bigfarm.py (10,000 tasks of one
account plus 500 of two others, 1,000,000 frames; every waiting frame needs `blender 3.6`).
N simulated workers (asyncio in this one process, one kept-alive HTTP connection each: a
minimal HTTP/1.1 client on asyncio streams, or httpx's AsyncClient with `--client httpx`, which
costs this process about 20 times the CPU a request and would take a good part of the 2 CPUs
at 1,000 workers; registered with the join key, software `command 1`) ask for work, each
starting at a random moment of its first interval, then:

- `poll` (today's worker): POST /api/worker/claim with `{}`, then sleep the poll interval
  (2 s ±20 %, the worker's default) whatever the answer;
- `long-poll`: POST /api/worker/claim with `{"wait": 20}`; the server may hold the claim open
  and answer the moment work appears (up to its `claim_wait_seconds`), so the worker asks again
  at once. A 204 that comes back much sooner than asked (under half the wait: a server that
  does not hold claims) is followed by the poll interval's sleep, as in `poll` mode.

Nothing they may take is waiting, so their claims find nothing, until the benchmark submits a
one-frame `command` task through the API every `--probe-every` seconds of the window; the
worker that gets it reports the frame done. Over a fixed window (`--window` seconds, after
`--warmup`), per N and mode, measured:

- server CPU: the `foxden serve` process's user + system time (/proc/<pid>/stat) over the
  window, in % of one core (the machine has `os.cpu_count()` of them); on PostgreSQL also
  the CPU of the database's server processes serving this farm (`pg_stat_activity`, those
  connected for the whole window);
- simulator CPU: this process's CPU over the window, same unit (it shares the machine);
- claims sent per second in the window, and their latency p50/p99 (a claim sent during the
  warm-up, when every worker starts at once, is not counted, even when answered in the
  window). In `poll` mode every claim; in `long-poll` mode the claims the server answered
  at once (a 204 in under half the wait, a 200 within 1 s), while claims it held open (a 204
  after half the wait or more, a 200 after 1 s: it came when work appeared) are counted
  (`held`) and not put in the latency, since their time is the wait itself;
- submit -> claimed: from sending the submit request to the reply of the claim (200) that got
  the task (the submit's own time included), p50 and max over the window's probes.
- in the JSON only: the probes' times and the claims' latencies by the half second they were
  sent in (`latency_by_half_second`: count, p50, max), which tell a steady tail from stalls
  after each submit.

    python bench/idle.py                                  # SQLite and PostgreSQL, 200 and 1,000 workers
    python bench/idle.py --db sqlite --workers 1000 --window 30
    python bench/idle.py --tasks 200 --frames 20000 --big-task 1000 --workers 20 --window 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import ssl
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bigfarm

ROOT = Path(__file__).resolve().parent.parent
POLL_SECONDS = 2.0  # the worker's default poll interval
JITTER = 0.2  # ±20 %
LONG_WAIT = 20.0
HELD = 1.0  # a claim that got work after this long waited for it (long-poll mode)
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def percentile(values: list[float], q: float) -> float:
    ranked = sorted(values)
    return ranked[min(len(ranked) - 1, max(0, round(q * len(ranked) + 0.5) - 1))]


@dataclass
class Window:
    """What happened between `start` and `end` (monotonic clock)."""

    start: float = float("inf")  # nothing is inside before the window opens (the warm-up)
    end: float = float("inf")
    latencies: list[float] = field(default_factory=list)  # answered without being held
    sent_at: list[float] = field(default_factory=list)  # when each of `latencies` was sent
    held: int = 0
    claims: int = 0
    got_work: int = 0
    errors: int = 0
    claimed_at: dict[int, float] = field(default_factory=dict)  # task id -> claim reply

    def inside(self, t: float) -> bool:
        return self.start <= t < self.end


class Simulator:
    """N idle workers in one event loop."""

    def __init__(self, farm: bigfarm.Farm, tokens: list[str], mode: str, client: str) -> None:
        self.farm = farm
        self.client = client
        self.tokens = tokens
        self.mode = mode
        self.window = Window()
        self.stop = asyncio.Event()
        self.rng = random.Random(len(tokens))
        self.ctx = ssl.create_default_context()  # one for all (plain HTTP: unused)

    def _interval(self) -> float:
        return POLL_SECONDS * self.rng.uniform(1 - JITTER, 1 + JITTER)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), timeout=seconds)

    def _connect(self, token: str) -> Connection:
        if self.client == "httpx":
            return HttpxConnection(self.farm.url, token, self.ctx)
        return RawConnection(self.farm.url, token)

    async def worker(self, token: str) -> None:
        body: dict[str, Any] = {"wait": LONG_WAIT} if self.mode == "long-poll" else {}
        conn = self._connect(token)
        try:
            await self._sleep(self.rng.uniform(0, POLL_SECONDS))
            for _ in range(100_000):  # bounded; the window ends it long before
                if self.stop.is_set():
                    return
                sent = time.monotonic()
                try:
                    status, payload = await conn.post("/api/worker/claim", body)
                except (OSError, asyncio.IncompleteReadError, httpx.HTTPError, ValueError):
                    if self.stop.is_set():
                        return
                    self.window.errors += 1
                    await self._sleep(self._interval())
                    continue
                got = time.monotonic()
                took = got - sent
                w = self.window
                # sent in the window (answered whenever: the run goes on a while after it); a
                # claim sent in the warm-up, when every worker starts at once, is not counted
                counted = w.inside(sent)
                if counted:
                    w.claims += 1
                    if self.mode == "long-poll" and _held(status, took):
                        w.held += 1
                    else:
                        w.latencies.append(took)
                        w.sent_at.append(sent)
                if status == 200:
                    lease = json.loads(payload)
                    w.claimed_at.setdefault(int(lease["task"]["id"]), got)
                    if counted:
                        w.got_work += 1
                    await conn.post(
                        f"/api/worker/leases/{lease['lease_id']}/frames",
                        {
                            "results": [
                                {"frame": f, "status": "done", "render_time": 0}
                                for f in lease["frames"]
                            ]
                        },
                    )
                    continue  # a worker that rendered asks again at once
                if status != 204 and counted:
                    w.errors += 1
                if self.mode == "poll" or took < LONG_WAIT / 2:
                    await self._sleep(self._interval())
        finally:
            await conn.close()


def _held(status: int, took: float) -> bool:
    """Whether a long-poll claim was held open by the server rather than answered at once:
    a 204 after half the wait or more, a 200 after `HELD` (it waited for work to appear)."""
    return took >= (LONG_WAIT / 2 if status == 204 else HELD)


class Connection:
    """One worker's HTTP connection (kept alive): POST a JSON body, get status and body."""

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class HttpxConnection(Connection):
    """httpx's AsyncClient with one connection (about 0.85 ms of CPU a request here)."""

    def __init__(self, url: str, token: str, ctx: ssl.SSLContext) -> None:
        self.client = httpx.AsyncClient(
            base_url=url,
            headers={"Authorization": f"Bearer {token}"},
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            timeout=LONG_WAIT + 30,
            verify=ctx,
        )

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
        r = await self.client.post(path, json=body)
        return r.status_code, r.content

    async def close(self) -> None:
        await self.client.aclose()


class RawConnection(Connection):
    """HTTP/1.1 keep-alive on asyncio streams: the few lines a claim needs (about 0.05 ms of
    CPU a request here), so that 1,000 simulated workers leave the CPUs to the server.
    Replies must carry Content-Length (foxden's JSON and empty replies do)."""

    def __init__(self, url: str, token: str) -> None:
        hostport = url.split("//", 1)[1]
        self.host, port = hostport.rsplit(":", 1)
        self.port = int(port)
        self.head = (
            f"Host: {hostport}\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/json\r\n"
        )
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        data = json.dumps(body).encode()
        self.writer.write(
            f"POST {path} HTTP/1.1\r\n{self.head}Content-Length: {len(data)}\r\n\r\n".encode()
            + data
        )
        try:
            await self.writer.drain()
            head = await asyncio.wait_for(
                self.reader.readuntil(b"\r\n\r\n"), timeout=LONG_WAIT + 30
            )
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            fields = {
                k.strip().lower(): v.strip()
                for k, _, v in (line.partition(":") for line in lines[1:] if line)
            }
            if "chunked" in fields.get("transfer-encoding", ""):
                raise ValueError("a chunked reply: RawConnection reads Content-Length only")
            payload = await self.reader.readexactly(int(fields.get("content-length", "0")))
        except BaseException:
            await self.close()
            raise
        if fields.get("connection", "").lower() == "close":
            await self.close()
        return status, payload

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError, RuntimeError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


async def _submit(farm: bigfarm.Farm, user: httpx.Client) -> tuple[int, float]:
    """A one-frame probe through the API (in a thread: the client is synchronous); returns its
    id and when its submit request was sent."""
    sent = time.monotonic()
    task_id = await asyncio.to_thread(bigfarm.submit_probe, farm, 1, ensure=False, user=user)
    return task_id, sent


def _pg_backends(farm: bigfarm.Farm) -> dict[int, float]:
    """CPU seconds of the PostgreSQL server processes connected to this farm's database."""
    if not farm.pg_name:
        return {}
    with psycopg.connect(bigfarm.PG_ADMIN, autocommit=True) as conn:
        pids = [
            int(r[0])
            for r in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", (farm.pg_name,)
            ).fetchall()
        ]
    return {pid: cpu_seconds(pid) for pid in pids}


async def run_mode(
    farm: bigfarm.Farm,
    tokens: list[str],
    mode: str,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """One window of `len(tokens)` workers in `mode`."""
    warmup, window, probe_every = args.warmup, args.window, args.probe_every
    sim = Simulator(farm, tokens, mode, args.client)
    user = farm.user()
    workers = [asyncio.create_task(sim.worker(t)) for t in tokens]
    try:
        await asyncio.sleep(warmup)
        pg_before = await asyncio.to_thread(_pg_backends, farm)
        server_before, sim_before = cpu_seconds(farm.pid), time.process_time()
        sim.window.start = t0 = time.monotonic()
        submitted: dict[int, float] = {}
        failed_submits = 0
        next_probe = t0 + probe_every / 2
        while time.monotonic() < t0 + window:
            if time.monotonic() >= next_probe:
                try:
                    task_id, at = await _submit(farm, user)
                    submitted[task_id] = at
                except httpx.HTTPError:  # a starved machine: counted, not fatal
                    failed_submits += 1
                next_probe += probe_every
            await asyncio.sleep(0.05)
        sim.window.end = t1 = time.monotonic()
        server_cpu = cpu_seconds(farm.pid) - server_before
        sim_cpu = time.process_time() - sim_before
        pg_after = await asyncio.to_thread(_pg_backends, farm)
        await asyncio.sleep(min(5.0, probe_every))  # the last probe's claim may still come
    finally:
        sim.stop.set()
        _done, pending = await asyncio.wait(workers, timeout=10)
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        user.close()
    elapsed = t1 - t0
    waits = [
        sim.window.claimed_at[t] - at for t, at in submitted.items() if t in sim.window.claimed_at
    ]
    pg_cpu = sum(pg_after[p] - pg_before[p] for p in pg_after if p in pg_before)
    lat = sim.window.latencies
    return {
        "mode": mode,
        "workers": len(tokens),
        "window_s": round(elapsed, 1),
        "server_cpu_pct": round(100 * server_cpu / elapsed, 1),
        "db_cpu_pct": round(100 * pg_cpu / elapsed, 1) if farm.pg_name else None,
        "simulator_cpu_pct": round(100 * sim_cpu / elapsed, 1),
        "claims_per_s": round(sim.window.claims / elapsed, 1),
        "answered": len(lat),
        "held": sim.window.held,
        "errors": sim.window.errors,
        "claim_p50_ms": round(1000 * percentile(lat, 0.5), 1) if lat else None,
        "claim_p99_ms": round(1000 * percentile(lat, 0.99), 1) if lat else None,
        "probes": len(submitted),
        "failed_submits": failed_submits,
        "probes_claimed": len(waits),
        "submit_to_claim_p50_ms": round(1000 * statistics.median(waits), 1) if waits else None,
        "submit_to_claim_max_ms": round(1000 * max(waits), 1) if waits else None,
        "load": [round(x, 2) for x in os.getloadavg()],
        "probes_at_s": sorted(round(at - t0, 2) for at in submitted.values()),
        "latency_by_half_second": _by_half_second(sim.window, t0),
    }


def _by_half_second(w: Window, t0: float) -> list[dict[str, float]]:
    """The claims' latencies by the half second of the window they were sent in (count, p50,
    max): a tail that is a stall after each probe shows as a run of slow buckets after it."""
    buckets: dict[int, list[float]] = {}
    for sent, took in zip(w.sent_at, w.latencies, strict=True):
        buckets.setdefault(int((sent - t0) * 2), []).append(took)
    return [
        {
            "at_s": k / 2,
            "claims": len(v),
            "p50_ms": round(1000 * percentile(v, 0.5), 1),
            "max_ms": round(1000 * max(v), 1),
        }
        for k, v in sorted(buckets.items())
    ]


async def _register_all(farm: bigfarm.Farm, n: int) -> list[str]:
    """Register `n` workers (`command 1`), 20 at a time."""
    gate = asyncio.Semaphore(20)
    async with httpx.AsyncClient(base_url=farm.url, timeout=120) as client:

        async def one(i: int) -> str:
            async with gate:
                r = await client.post(
                    "/api/worker/register",
                    headers={"Authorization": f"Bearer {farm.join_key}"},
                    json={"name": f"idle{i}", "software": [{"name": "command", "version": "1"}]},
                )
                r.raise_for_status()
                return str(r.json()["token"])

        return list(await asyncio.gather(*(one(i) for i in range(n))))


def _save(out: Path, rows: list[dict[str, Any]]) -> None:
    out.write_text(json.dumps({"machine": f"{os.cpu_count()} cores", "results": rows}, indent=2))


def measure(db: str, args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    """Every (workers, mode) window on one big farm of `db`, added to `rows` (and saved to
    `args.out` after each)."""
    size = {
        "tasks": args.tasks,
        "others": args.others,
        "frames": args.frames,
        "big_task": args.big_task,
    }
    with bigfarm.Farm(db) as farm:
        filled = bigfarm.fill(farm, **size)
        farm.start()
        bigfarm.check(farm, filled)
        tokens = asyncio.run(_register_all(farm, max(args.workers)))
        bigfarm.submit_probe(farm, 1)  # makes the probe project; the first one is claimed
        for n in args.workers:
            for mode in args.mode:
                row = asyncio.run(run_mode(farm, tokens[:n], mode, args))
                row.update(
                    db=db,
                    client=args.client,
                    big_farm_tasks=filled.tasks,
                    big_farm_frames=filled.frames,
                )
                rows.append(row)
                _save(args.out, rows)
                print(
                    f"  {db:10s} {n:5d} {mode:9s} server {row['server_cpu_pct']:6.1f} %  "
                    f"sim {row['simulator_cpu_pct']:6.1f} %  {row['claims_per_s']:6.1f} claims/s "
                    f"p50 {row['claim_p50_ms']} ms p99 {row['claim_p99_ms']} ms held {row['held']}"
                    f"  submit->claimed p50 {row['submit_to_claim_p50_ms']} ms "
                    f"({row['probes_claimed']}/{row['probes']})",
                    flush=True,
                )
                time.sleep(2)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| database | workers | mode | server CPU | db CPU | simulator CPU | claims/s | "
        "claim p50 / p99 | held | submit→claimed p50 / max | probes claimed |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        db_cpu = "" if r["db_cpu_pct"] is None else f"{r['db_cpu_pct']:.0f} %"
        lines.append(
            f"| {r['db']} | {r['workers']:,} | {r['mode']} | {r['server_cpu_pct']:.0f} % | "
            f"{db_cpu} | {r['simulator_cpu_pct']:.0f} % | {r['claims_per_s']:.0f} | "
            f"{_ms(r['claim_p50_ms'])} / {_ms(r['claim_p99_ms'])} | {r['held']} | "
            f"{_ms(r['submit_to_claim_p50_ms'])} / {_ms(r['submit_to_claim_max_ms'])} | "
            f"{r['probes_claimed']} of {r['probes']} |"
        )
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--db", choices=["sqlite", "postgresql"], action="append")
    p.add_argument("--workers", type=int, action="append", help="default: 200 and 1000")
    p.add_argument("--mode", choices=["poll", "long-poll"], action="append")
    p.add_argument("--window", type=float, default=30.0, help="seconds measured")
    p.add_argument("--warmup", type=float, default=5.0, help="seconds before the window")
    p.add_argument("--probe-every", type=float, default=3.0, help="seconds between probe tasks")
    p.add_argument("--tasks", type=int, default=10_000, help="tasks of the queried account")
    p.add_argument("--others", type=int, default=250, help="tasks of each other account")
    p.add_argument("--frames", type=int, default=1_000_000, help="frames of the big farm")
    p.add_argument("--big-task", type=int, default=10_000, help="frames of its biggest task")
    p.add_argument(
        "--client",
        choices=["raw", "httpx"],
        default="raw",
        help="the simulated workers' HTTP client (default raw: keep-alive HTTP/1.1 on asyncio "
        "streams, ~20x less CPU a request than httpx)",
    )
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "idle.json")
    args = p.parse_args()
    bigfarm.exit_on_sigterm()
    args.workers = args.workers or [200, 1000]
    args.mode = args.mode or ["poll", "long-poll"]
    rows: list[dict[str, Any]] = []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for db in args.db or ["sqlite", "postgresql"]:
        measure(db, args, rows)
    _save(args.out, rows)
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
