"""Farm scale: the same requests against an empty farm and a big one, side by side.

Two real `foxden serve` processes of the same build run at once on the same database engine:
an EMPTY farm and the BIG farm of bench/bigfarm.py (10,000 tasks of the queried account plus
500 of two others, 1,000,000 frames, filled by its documented fast path). Both then get the
same work through the API: a `command` task of 10,000 frames (`--probe-frames`), whose frames
the frame measures read and the finding claim takes. The requests alternate between the two
farms, round by round, so both see the same machine load. Measured (latency of each request,
p50 and p99, and the big farm's p50 and p99 divided by the empty one's):

- `page 1`: GET /api/tasks, page 1 of 100 (newest first);
- `status list`: GET /api/tasks?task_status=rendering, page 1 of 100;
- `status count`: GET /api/tasks?task_status=done&page_size=1 (the filtered count, `total`);
- `Fox.get_tasks()`: every task of the account through `foxden.client.fox.Fox` (all pages);
- `task + frames`: GET /api/tasks/<id>?frames=true of the 10,000-frame task;
- `web task page`: GET /tasks/<id> of the same task, logged in through the login form;
- `claim, nothing eligible`: POST /api/worker/claim of a worker whose software no task needs
  (204);
- `claim, finds work`: POST /api/worker/claim of a worker with `command 1` (200, one frame of
  the 10,000-frame task); the lease is released after each (not timed), so every round finds
  the same work.

    python bench/scale.py                          # SQLite and PostgreSQL, writes bench/out/scale.json
    python bench/scale.py --db sqlite --rounds 50
    python bench/scale.py --tasks 200 --frames 20000 --big-task 1000 --probe-frames 100 --rounds 3
    python bench/scale.py --db postgresql --measure claim    # only the measures naming "claim"
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bigfarm
from foxden.client.fox import Fox

ROOT = Path(__file__).resolve().parent.parent

#: (name, share of the rounds: the slow whole-list measures run fewer times)
MEASURES: list[tuple[str, float]] = [
    ("page 1", 1.0),
    ("status list", 1.0),
    ("status count", 1.0),
    ("Fox.get_tasks()", 0.1),
    ("task + frames", 0.25),
    ("web task page", 0.25),
    ("claim, nothing eligible", 1.0),
    ("claim, finds work", 1.0),
]


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of `values`, nearest rank."""
    ranked = sorted(values)
    return ranked[min(len(ranked) - 1, max(0, round(q * len(ranked) + 0.5) - 1))]


class Side:
    """One farm and the clients that measure it."""

    def __init__(self, farm: bigfarm.Farm, probe_frames: int) -> None:
        self.farm = farm
        self.user = farm.user()
        self.web = bigfarm.web_login(farm)
        self.fox = Fox(
            render_server=farm.url, account=bigfarm.MAIN, access_key=farm.keys[bigfarm.MAIN]
        )
        idle = bigfarm.register(farm, "idle", [{"name": "maya", "version": "2024"}])
        finder = bigfarm.register(farm, "finder", [{"name": "command", "version": "1"}])
        probe = bigfarm.submit_probe(farm, probe_frames)  # after a `command` worker joined
        self.idle = httpx.Client(
            base_url=farm.url, headers={"Authorization": f"Bearer {idle}"}, timeout=120
        )
        self.finder = httpx.Client(
            base_url=farm.url, headers={"Authorization": f"Bearer {finder}"}, timeout=120
        )
        self.calls: dict[str, Callable[[], None]] = {
            "page 1": lambda: self._get(self.user, "/api/tasks", page_size=100),
            "status list": lambda: self._get(
                self.user, "/api/tasks", task_status="rendering", page_size=100
            ),
            "status count": lambda: self._get(
                self.user, "/api/tasks", task_status="done", page_size=1
            ),
            "Fox.get_tasks()": self._fox,
            "task + frames": lambda: self._get(self.user, f"/api/tasks/{probe}", frames="true"),
            "web task page": lambda: self._get(self.web, f"/tasks/{probe}"),
            "claim, nothing eligible": self._idle_claim,
            "claim, finds work": self._finding_claim,
        }
        self.lease = 0

    @staticmethod
    def _get(client: httpx.Client, path: str, **params: Any) -> None:
        r = client.get(path, params=params)
        r.raise_for_status()

    def _fox(self) -> None:
        if not self.fox.get_tasks():
            raise AssertionError("Fox.get_tasks() found no task")

    def _idle_claim(self) -> None:
        r = self.idle.post("/api/worker/claim", json={})
        if r.status_code != 204:
            raise AssertionError(f"the idle claim got {r.status_code}")

    def _finding_claim(self) -> None:
        r = self.finder.post("/api/worker/claim", json={})
        if r.status_code != 200:
            raise AssertionError(f"the finding claim got {r.status_code}")
        self.lease = int(r.json()["lease_id"])

    def after(self, name: str) -> None:
        """Untimed clean-up after one call: the finder gives its lease back."""
        if name == "claim, finds work" and self.lease:
            self.finder.post(f"/api/worker/leases/{self.lease}/release").raise_for_status()
            self.lease = 0

    def close(self) -> None:
        for c in (self.user, self.web, self.idle, self.finder):
            c.close()


def measure(
    db: str, rounds: int, size: dict[str, int], probe_frames: int, only: list[str] | None = None
) -> dict[str, Any]:
    """Both farms of one database engine, every measure (or those whose names contain one of
    `only`) alternating between them."""
    load_before = os.getloadavg()
    empty = bigfarm.Farm(db)
    big = bigfarm.Farm(db)
    sides: dict[str, Side] = {}
    try:
        filled = bigfarm.fill(big, **size)
        for farm in (empty, big):
            farm.start()
        bigfarm.check(big, filled)
        for label, farm in (("empty", empty), ("big", big)):
            sides[label] = Side(farm, probe_frames)
        results: dict[str, dict[str, list[float]]] = {}
        for name, share in MEASURES:
            if only and not any(word in name for word in only):
                continue
            n = max(3, round(rounds * share))
            samples: dict[str, list[float]] = {"empty": [], "big": []}
            for i in range(n + 2):  # two warm-up rounds, not kept
                order = ("empty", "big") if i % 2 == 0 else ("big", "empty")
                for label in order:
                    side = sides[label]
                    start = time.perf_counter()
                    side.calls[name]()
                    elapsed = time.perf_counter() - start
                    side.after(name)
                    if i >= 2:
                        samples[label].append(elapsed)
            results[name] = samples
            print(
                f"  {db:10s} {name:26s} empty p50 {1000 * statistics.median(samples['empty']):8.1f} ms"
                f"  big p50 {1000 * statistics.median(samples['big']):8.1f} ms",
                flush=True,
            )
        rows = []
        for name, samples in results.items():
            e50, e99 = percentile(samples["empty"], 0.5), percentile(samples["empty"], 0.99)
            b50, b99 = percentile(samples["big"], 0.5), percentile(samples["big"], 0.99)
            rows.append(
                {
                    "measure": name,
                    "samples": len(samples["big"]),
                    "empty_p50_ms": round(1000 * e50, 2),
                    "empty_p99_ms": round(1000 * e99, 2),
                    "big_p50_ms": round(1000 * b50, 2),
                    "big_p99_ms": round(1000 * b99, 2),
                    "ratio_p50": round(b50 / e50, 2),
                    "ratio_p99": round(b99 / e99, 2),
                }
            )
        return {
            "db": db,
            "big_farm": {"tasks": filled.tasks, "frames": filled.frames, "fill_s": filled.seconds},
            "probe_frames": probe_frames,
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in os.getloadavg()],
            "rows": rows,
        }
    finally:
        for side in sides.values():
            side.close()
        empty.close()
        big.close()


def table(results: list[dict[str, Any]]) -> str:
    """The markdown table of every database's rows."""
    lines = [
        "| database | measure | empty p50 | empty p99 | big p50 | big p99 | big ÷ empty p50 / p99 |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for res in results:
        for r in res["rows"]:
            lines.append(
                f"| {res['db']} | {r['measure']} | {r['empty_p50_ms']:.1f} ms | "
                f"{r['empty_p99_ms']:.1f} ms | {r['big_p50_ms']:.1f} ms | {r['big_p99_ms']:.1f} ms | "
                f"{r['ratio_p50']:.2f} / {r['ratio_p99']:.2f} |"
            )
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--db", choices=["sqlite", "postgresql"], action="append")
    p.add_argument("--rounds", type=int, default=100, help="samples of the cheap measures")
    p.add_argument("--tasks", type=int, default=10_000, help="tasks of the queried account")
    p.add_argument("--others", type=int, default=250, help="tasks of each other account")
    p.add_argument("--frames", type=int, default=1_000_000, help="frames of the big farm")
    p.add_argument("--big-task", type=int, default=10_000, help="frames of its biggest task")
    p.add_argument("--probe-frames", type=int, default=10_000, help="frames of the API task")
    p.add_argument("--measure", action="append", help="only the measures whose names contain this")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "scale.json")
    args = p.parse_args()
    bigfarm.exit_on_sigterm()
    size = {
        "tasks": args.tasks,
        "others": args.others,
        "frames": args.frames,
        "big_task": args.big_task,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    for db in args.db or ["sqlite", "postgresql"]:
        results.append(measure(db, args.rounds, size, args.probe_frames, args.measure))
        args.out.write_text(  # after each database: a later failure keeps what was measured
            json.dumps({"machine": f"{os.cpu_count()} cores", "results": results}, indent=2)
        )
    print(table(results))
    for res in results:
        print(f"{res['db']}: load average {res['load_before']} before, {res['load_after']} after")
    return 0


if __name__ == "__main__":
    sys.exit(main())
