"""Frame order: by default the first, last and middle frames are claimed first (a broken
setup shows at once), then the rest in order; `in_order` keeps frame order. Real scheduler
on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from foxden.errors import BadRequest
from foxden.farm import frame_order
from tests.farm.policykit import PolicyFarm, policy_farm_fixture  # noqa: F401


def _claimed(farm: PolicyFarm, count: int) -> list[int]:
    worker = farm.worker()
    numbers = []
    for _ in range(count):
        lease = farm.claim(worker)
        assert lease is not None
        numbers.extend(lease["frames"])
    return numbers


def test_sequence_puts_first_last_and_middle_first() -> None:
    def order(numbers: list[int], how: frame_order.FrameOrder) -> list[int]:
        seq = frame_order.sequence(numbers, how)
        assert sorted(seq.values()) == list(range(len(numbers)))
        return sorted(numbers, key=seq.__getitem__)

    assert order(list(range(1, 11)), "first_last_middle") == [1, 10, 5, 2, 3, 4, 6, 7, 8, 9]
    assert order([10, 20, 30, 40], "first_last_middle") == [10, 40, 20, 30]
    assert order([5, 1, 3], "first_last_middle") == [1, 5, 3]
    assert order([4, 2], "first_last_middle") == [2, 4]
    assert order([7], "first_last_middle") == [7]
    assert order([3, 1, 2], "in_order") == [1, 2, 3]


def test_claims_take_first_last_middle_then_the_rest_by_default(policy_farm: PolicyFarm) -> None:
    farm = policy_farm
    task = farm.submit("ann", "1-9")
    assert _claimed(farm, 9) == [1, 9, 5, 2, 3, 4, 6, 7, 8]
    assert farm.task("ann", task)["options"] == {}  # nothing to remember: the default


def test_a_chunk_starts_with_them_and_a_stepped_range_keeps_its_frames(
    policy_farm: PolicyFarm,
) -> None:
    farm = policy_farm
    farm.submit("ann", "0-100[10]", chunk_size=4, frame_order="first_last_middle")
    assert _claimed(farm, 3) == [0, 100, 50, 10, 20, 30, 40, 60, 70, 80, 90]


def test_in_order_renders_in_frame_order(policy_farm: PolicyFarm) -> None:
    farm = policy_farm
    task = farm.submit("ann", "1-6", frame_order="in_order")
    assert _claimed(farm, 6) == [1, 2, 3, 4, 5, 6]
    assert farm.task("ann", task)["options"] == {"frame_order": "in_order"}


def test_an_unknown_frame_order_is_refused(policy_farm: PolicyFarm) -> None:
    with pytest.raises(BadRequest, match="frame_order must be one of first_last_middle"):
        policy_farm.submit("ann", "1-3", frame_order="random")
