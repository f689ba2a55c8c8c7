"""The one polling helper of the tests: wait for something to become true, or fail saying what."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


def wait_until(
    what: str, condition: Callable[[], T], timeout: float = 60.0, every: float = 0.1
) -> T:
    """Call `condition` until it returns something true and return that.

    Fails the test after `timeout` seconds, naming `what` it waited for. An assertion inside
    `condition` fails at once (for states the test must never see on the way).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)
