"""The long-poll signal: a claim waiting for work is woken by the call that makes work, at most
`n` at a time, and never misses work that appeared between its query and its wait."""

from __future__ import annotations

import asyncio
import threading

import pytest

from foxden.db.engine import Database
from foxden.farm.wakeups import WorkSignal, on_commit, signal_of


def test_a_waiter_times_out_when_no_work_appears() -> None:
    signal = WorkSignal()

    async def main() -> bool:
        return await signal.wait(0.05, since=signal.generation)

    assert asyncio.run(main()) is False
    assert signal.waiting == 0


def test_work_that_appeared_after_the_query_is_not_missed() -> None:
    signal = WorkSignal()
    seen = signal.generation  # read before the claim's query ...
    signal.work_appeared(1)  # ... work appears while the query runs ...

    async def main() -> bool:
        return await signal.wait(30, since=seen)  # ... so the wait returns at once

    assert asyncio.run(main()) is True


def test_a_call_wakes_at_most_n_waiters_oldest_first_from_another_thread() -> None:
    signal = WorkSignal()
    woken: list[int] = []

    async def waiter(i: int, since: int) -> None:
        if await signal.wait(1.0, since=since):
            woken.append(i)

    async def main() -> None:
        since = signal.generation
        tasks = []
        for i in range(5):
            tasks.append(asyncio.create_task(waiter(i, since)))
            await asyncio.sleep(0.01)  # queue them in order
        assert signal.waiting == 5
        thread = threading.Thread(target=signal.work_appeared, args=(2,))
        thread.start()
        thread.join()
        await asyncio.sleep(0.1)
        assert woken == [0, 1]
        signal.work_appeared(None)
        await asyncio.gather(*tasks)

    asyncio.run(main())
    assert woken == [0, 1, 2, 3, 4]


def test_a_timed_out_waiter_does_not_use_up_a_wake_up() -> None:
    signal = WorkSignal()
    woken: list[str] = []

    async def main() -> None:
        since = signal.generation
        assert not await signal.wait(0.02, since=since)  # left behind, timed out

        async def late() -> None:
            if await signal.wait(1.0, since=since):
                woken.append("late")

        task = asyncio.create_task(late())
        await asyncio.sleep(0.01)
        signal.work_appeared(1)
        await task

    asyncio.run(main())
    assert woken == ["late"]


def test_waiters_are_woken_only_once_the_transaction_commits(db_url: str) -> None:
    """`on_commit` inside a write transaction wakes waiters after the commit, never on a
    rollback (lifecycle moves back to waiting and submits use it)."""
    farm_db = Database(db_url)
    signal = signal_of(farm_db)
    before = signal.generation
    with pytest.raises(RuntimeError), farm_db.write() as conn:
        on_commit(conn, 3)
        raise RuntimeError("rolled back")
    assert signal.generation == before  # nothing woken by a transaction that did not commit
    with farm_db.write() as conn:
        on_commit(conn, 2)
        on_commit(conn, 1)
        assert signal.generation == before  # not before the commit
    assert signal.generation == before + 1  # one wake-up for the transaction
    with farm_db.write():
        pass
    assert signal.generation == before + 1  # a later transaction does not wake again
    farm_db.dispose()
