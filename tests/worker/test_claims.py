"""The worker's fast protocol against a fake farm: idle slots claim together (`POST /claims`),
a lease's last report brings the slot's next work, an older server is still served (`/claim`,
no long poll), and a stop during a long poll is prompt and gives back what was never started."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from foxden.wire.worker import ClaimIn, FrameResult
from foxden.worker.agent import Agent
from foxden.worker.handoff import Handoff
from tests.waiting import wait_until
from tests.worker.fakefarm import FakeFarm, client_for, command_lease, fake_agent

# -- the client ----------------------------------------------------------------------------------


def test_claims_asks_for_several_leases_in_one_request() -> None:
    farm = FakeFarm()
    farm.add_work(1, 2, 3, 4)
    client = client_for(httpx.MockTransport(farm))
    leases = client.claims(3)
    assert [lease["frames"] for lease in leases] == [[1], [2], [3]]
    assert farm.requests == [("/claims", {"slots": 3})]
    assert [lease["frames"] for lease in client.claims(3)] == [[4]]
    assert client.claims(3) == []  # 204: no work


def test_a_long_poll_reads_longer_than_it_waits() -> None:
    seen: list[dict[str, float]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return httpx.Response(204)

    client = client_for(httpx.MockTransport(handler))
    client.timeout = 10.0
    assert client.claims(2, wait=55.0) == []
    assert client.claim(wait=0.0) is None
    long_poll, plain = seen
    assert long_poll["read"] is not None and long_poll["read"] > 55.0
    assert plain["read"] == 10.0


def test_a_server_without_claims_is_asked_one_lease_at_a_time_from_then_on() -> None:
    farm = FakeFarm(claims_route=False)
    farm.add_work(1, 2, 3)
    client = client_for(httpx.MockTransport(farm))
    leases = client.claims(2, wait=20.0)
    assert [lease["frames"] for lease in leases] == [[1], [2]]
    # the first may wait, the second is asked for at once; /claims is not asked again
    assert farm.requests == [
        ("/claims", {"slots": 2, "wait": 20.0}),
        ("/claim", {"wait": 20.0}),
        ("/claim", {}),
    ]
    assert [lease["frames"] for lease in client.claims(2, wait=20.0)] == [[3]]
    assert client.claims(2, wait=20.0) == []
    assert farm.count("/claims") == 1


def test_a_report_may_ask_for_the_next_work() -> None:
    farm = FakeFarm()
    farm.add_work(1, 2)
    client = client_for(httpx.MockTransport(farm))
    [lease] = client.claims(1)
    done = FrameResult(frame=1, status="done", render_time=0.5)
    reply = client.report(lease["lease_id"], [done], ClaimIn(slots=1))
    assert [lease["frames"] for lease in reply["leases"]] == [[2]]
    path, body = farm.requests[-1]
    assert path == f"/leases/{lease['lease_id']}/frames"
    assert body == {
        "results": [
            {"frame": 1, "status": "done", "render_time": 0.5, "error": "", "log": "",
             "outputs": []}
        ],
        "claim": {"slots": 1, "wait": 0.0},
        "key": body["key"],  # the report's own (tests/worker/test_protocol.py)
    }  # fmt: skip
    plain = client.report(7, [done])
    assert "leases" not in plain and "claim" not in farm.requests[-1][1]


# -- the agent -----------------------------------------------------------------------------------


def running(agent: Agent) -> threading.Thread:
    thread = threading.Thread(target=agent.run, name="agent", daemon=True)
    thread.start()
    return thread


def stop(agent: Agent, thread: threading.Thread, farm: FakeFarm) -> float:
    """Stop the agent; returns how long `run` took to return."""
    began = time.monotonic()
    agent.request_stop()
    thread.join(timeout=30)
    took = time.monotonic() - began
    farm.close()
    assert not thread.is_alive()
    return took


def test_idle_slots_claim_together_and_reports_bring_the_next_work(tmp_path: Path) -> None:
    farm = FakeFarm()
    farm.add_work(*range(1, 10))
    agent = fake_agent(farm, tmp_path, slots=3)
    thread = running(agent)
    wait_until("nine frames done", lambda: len(farm.reported()) == 9, timeout=30)
    stop(agent, thread, farm)
    assert farm.reported() == list(range(1, 10))
    # one claim for the three idle slots; each slot's next leases came with its reports
    assert farm.handed[0] == ("claims", [101, 102, 103])
    assert [how for how, _ in farm.handed[1:]] == ["report"] * 6
    assert all(len(ids) == 1 for _, ids in farm.handed[1:])
    assert farm.count("/claim") == 0
    first_claim = next(body for path, body in farm.requests if path == "/claims")
    assert first_claim == {"slots": 3, "wait": 20.0}
    reports = [body for path, body in farm.requests if path.endswith("/frames")]
    assert all(body["claim"] == {"slots": 1, "wait": 0.0} for body in reports)
    assert farm.signed_off.is_set() and farm.released == []


def test_a_slot_the_report_found_no_work_for_claims_again_and_gets_new_work(
    tmp_path: Path,
) -> None:
    farm = FakeFarm()
    farm.add_work(1)
    agent = fake_agent(farm, tmp_path, slots=1, poll_seconds=30)
    thread = running(agent)
    wait_until("frame 1 done", lambda: farm.reported() == [1], timeout=30)
    wait_until("the next claim held open", lambda: farm.count("/claims") == 2, timeout=10)
    farm.add_work(2)  # wakes the held claim: no poll interval (30 s) is waited
    wait_until("frame 2 done", lambda: farm.reported() == [1, 2], timeout=10)
    stop(agent, thread, farm)
    assert [how for how, _ in farm.handed] == ["claims", "claims"]


def test_an_older_server_is_polled_one_lease_at_a_time(tmp_path: Path) -> None:
    """No /claims, no long poll, no work with reports: the worker behaves as before (a /claim
    per idle slot, the poll interval between idle claims)."""
    farm = FakeFarm(claims_route=False, long_poll=False, report_claims=False)
    farm.add_work(1, 2, 3)
    agent = fake_agent(farm, tmp_path, slots=2, poll_seconds=0.5)
    thread = running(agent)
    wait_until("three frames done", lambda: farm.reported() == [1, 2, 3], timeout=30)
    idle_from = len(farm.requests)
    time.sleep(2.0)
    idle_claims = sum(1 for path, _ in farm.requests[idle_from:] if path == "/claim")
    stop(agent, thread, farm)
    assert farm.count("/claims") == 1  # asked once, then never again
    assert {how for how, _ in farm.handed} == {"claim"}
    # the server answered at once although asked to wait: about one claim per poll interval
    assert 1 <= idle_claims <= 8


def test_a_long_poll_that_runs_out_is_followed_by_the_next_at_once(tmp_path: Path) -> None:
    farm = FakeFarm(hold=1.2)  # the server holds a claim 1.2 s at most
    agent = fake_agent(farm, tmp_path, poll_seconds=30, claim_wait=5)
    thread = running(agent)
    # with the poll interval (30 s) between them there would be one claim in this time
    wait_until("three held claims in a row", lambda: farm.count("/claims") >= 3, timeout=10)
    stop(agent, thread, farm)


def test_plain_polling_with_claim_wait_zero(tmp_path: Path) -> None:
    farm = FakeFarm()
    agent = fake_agent(farm, tmp_path, poll_seconds=0.3, claim_wait=0)
    thread = running(agent)
    wait_until("two claims", lambda: farm.count("/claims") >= 2, timeout=10)
    farm.add_work(1)
    wait_until("frame 1 done", lambda: farm.reported() == [1], timeout=10)
    stop(agent, thread, farm)
    assert all(body == {} for path, body in farm.requests if path == "/claims")


def test_plain_polling_waits_after_a_report_that_found_no_work(tmp_path: Path) -> None:
    farm = FakeFarm()
    farm.add_work(1)
    agent = fake_agent(farm, tmp_path, poll_seconds=30, claim_wait=0)
    thread = running(agent)
    wait_until("frame 1 done", lambda: farm.reported() == [1], timeout=30)
    time.sleep(1.0)
    took = stop(agent, thread, farm)
    # the report asked for work and got none: no claim of its own right after it
    assert farm.count("/claims") == 1
    assert took < 3.0  # the slot's wait ends with the stop


def test_stop_during_a_long_poll_is_prompt_and_releases_what_it_brings(tmp_path: Path) -> None:
    farm = FakeFarm()
    agent = fake_agent(farm, tmp_path, slots=2, claim_wait=60)
    thread = running(agent)
    wait_until("the claim held open", lambda: farm.count("/claims") == 1, timeout=10)
    time.sleep(0.3)
    took = stop_with_work_arriving(agent, thread, farm)
    assert took < 3.0  # not the 60 s the claim may be held
    # the leases the held claim brought once the worker was stopping were never started
    wait_until("both leases released", lambda: sorted(farm.released) == [101, 102], timeout=5)
    assert farm.results == []
    assert farm.signed_off.is_set()


def stop_with_work_arriving(agent: Agent, thread: threading.Thread, farm: FakeFarm) -> float:
    """Stop the agent while its claim is held open; work appears for it during the stop."""
    began = time.monotonic()
    agent.request_stop()
    wait_until("the sign-off", farm.signed_off.is_set, timeout=10)
    farm.add_work(1, 2)  # the held claim answers with two leases now
    thread.join(timeout=30)
    assert not thread.is_alive()
    return time.monotonic() - began


def test_a_lease_a_report_brings_during_a_stop_is_released(tmp_path: Path) -> None:
    farm = FakeFarm()
    farm.add_work(1, 2)
    agent = fake_agent(farm, tmp_path, slots=1)

    def stop_now(reply: dict[str, object]) -> None:
        agent.request_stop()  # the worker stops while the report is on its way

    farm.on_report = stop_now
    thread = running(agent)
    thread.join(timeout=30)
    farm.close()
    assert not thread.is_alive()
    assert farm.reported() == [1]
    assert farm.handed == [("claims", [101]), ("report", [102])]
    assert farm.released == [102]  # never started: given back


@pytest.mark.parametrize("claim_wait", [-1, 61])
def test_claim_wait_out_of_range_is_refused(tmp_path: Path, claim_wait: float) -> None:
    with pytest.raises(ValueError, match="claim_wait"):
        fake_agent(FakeFarm(), tmp_path, claim_wait=claim_wait)


# -- the handoff between the claimer and the slots -----------------------------------------------


def test_the_handoff_never_gives_more_leases_than_slots_want() -> None:
    stop_event = threading.Event()
    handoff = Handoff(wanted=2)
    assert handoff.wanted(stop_event) == 2
    with pytest.raises(ValueError, match="3 leases for 2 idle slot"):
        handoff.give([command_lease(i, i) for i in range(3)])
    handoff.give([command_lease(1, 1)])
    assert handoff.wanted(stop_event) == 1
    taken = handoff.take(stop_event)
    assert taken is not None and taken["lease_id"] == 1
    handoff.give([command_lease(2, 2)])  # got for the second slot, which never takes it
    stop_event.set()
    assert handoff.wanted(stop_event) == 0
    assert [lease["lease_id"] for lease in handoff.leftovers()] == [2]
    assert handoff.take(stop_event) is None  # a stopping slot takes nothing more
