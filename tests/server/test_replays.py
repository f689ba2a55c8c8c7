"""Unit tests of `foxden.server.replays.Replays` (the server's memory of keyed reports)."""

from __future__ import annotations

import asyncio

import pytest

from foxden.server.replays import Replays


def test_the_first_reply_answers_every_later_call() -> None:
    async def main() -> None:
        replays: Replays[int] = Replays()
        runs: list[int] = []

        async def run() -> int:
            runs.append(1)
            await asyncio.sleep(0.01)
            return len(runs)

        together = await asyncio.gather(*(replays.once((1, 2, "k"), run) for _ in range(3)))
        later = await replays.once((1, 2, "k"), run)
        other = await replays.once((1, 3, "k"), run)
        assert together == [1, 1, 1] and later == 1 and other == 2

    asyncio.run(main())


def test_a_failed_first_call_is_forgotten() -> None:
    async def main() -> None:
        replays: Replays[str] = Replays()
        answers = iter([ValueError("refused"), "applied"])

        async def run() -> str:
            answer = next(answers)
            if isinstance(answer, Exception):
                raise answer
            return answer

        with pytest.raises(ValueError, match="refused"):
            await replays.once((1, 1, "k"), run)
        assert await replays.once((1, 1, "k"), run) == "applied"

    asyncio.run(main())


def test_a_retry_waiting_on_a_cancelled_first_call_runs_it_itself() -> None:
    async def main() -> None:
        replays: Replays[str] = Replays()
        gate = asyncio.Event()

        async def slow() -> str:
            await gate.wait()
            return "first"

        async def quick() -> str:
            return "retry"

        first = asyncio.ensure_future(replays.once((1, 1, "k"), slow))
        await asyncio.sleep(0)
        retry = asyncio.ensure_future(replays.once((1, 1, "k"), quick))
        await asyncio.sleep(0)
        first.cancel()
        assert await retry == "retry"

    asyncio.run(main())


def test_only_the_newest_replies_are_kept() -> None:
    async def main() -> None:
        replays: Replays[int] = Replays(kept=5)

        async def run() -> int:
            return 0

        for lease in range(12):
            await replays.once((1, lease, "k"), run)
            assert len(replays) <= 5

    asyncio.run(main())
