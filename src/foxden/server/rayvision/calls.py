"""One verified SDK call, the path -> handler registry, and readers for its body's fields.

A handler is a plain function of a `Call` that returns the reply's `data` (any JSON value) or
raises a `FoxdenError`, whose status becomes the envelope's `code` and whose message its
`message`. Handlers run in the thread pool, so they may use the database directly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from foxden.errors import BadRequest
from foxden.farm.accounts import Account
from foxden.server.context import Farm

#: The largest id a call may name (ids are 32-bit integers on PostgreSQL).
MAX_ID = 2**31 - 1


@dataclass(frozen=True)
class Call:
    """A signed request that passed verification."""

    farm: Farm
    account: Account
    path: str
    body: dict[str, Any]
    platform: str  # the `platform` header the SDK sent ("2", ...)
    domain: str  # the domain the request was signed for (host[:port])
    scheme: str  # "http" or "https", as the server was reached


Handler = Callable[[Call], Any]
HANDLERS: dict[str, Handler] = {}
H = TypeVar("H", bound=Handler)


def handles(*paths: str) -> Callable[[H], H]:
    """Register the decorated function as the handler of `paths`."""

    def register(fn: H) -> H:
        for path in paths:
            if path in HANDLERS:
                raise RuntimeError(f"two handlers for {path}")
            HANDLERS[path] = fn
        return fn

    return register


def integer(
    body: dict[str, Any], name: str, default: int | None = None, *, low: int = 0, high: int = MAX_ID
) -> int:
    """A whole-number field (a number or a string of digits); 400 when missing or out of range."""
    value = body.get(name, default)
    if value is None or value == "":
        if default is not None:
            return default
        raise BadRequest(f"{name} is required")
    if isinstance(value, bool) or (isinstance(value, float) and not math.isfinite(value)):
        raise BadRequest(f"{name} must be a whole number, not {str(value)[:40]!r}")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise BadRequest(f"{name} must be a whole number, not {str(value)[:40]!r}") from None
    if isinstance(value, float) and number != value:
        raise BadRequest(f"{name} must be a whole number, not {value!r}")
    if not low <= number <= high:
        raise BadRequest(f"{name} must be between {low} and {high}, not {number}")
    return number


def text(body: dict[str, Any], name: str, default: str | None = None, *, limit: int = 1024) -> str:
    """A string field (numbers are taken as their text); 400 when missing, not text or too long."""
    value = body.get(name, default)
    if value is None:
        raise BadRequest(f"{name} is required")
    if isinstance(value, (dict, list, bool)):
        raise BadRequest(f"{name} must be text")
    result = str(value)
    if len(result) > limit:
        raise BadRequest(f"{name} is longer than {limit} characters")
    return result


def numbers(
    body: dict[str, Any], name: str, *, limit: int, low: int = 0, high: int = MAX_ID
) -> list[int]:
    """A list of whole numbers: a list, one number, or "1,2"; [] when absent. 400 when bad."""
    value = body.get(name)
    if value is None or value == "" or value == []:
        return []
    if isinstance(value, str):
        items: list[Any] = [v for v in value.split(",") if v.strip()]
    elif isinstance(value, list):
        items = value
    else:
        items = [value]
    if len(items) > limit:
        raise BadRequest(f"{name} names more than {limit} values")
    return [integer({name: item}, name, low=low, high=high) for item in items]


def ids(body: dict[str, Any], name: str, *, required: bool = True, limit: int = 1000) -> list[int]:
    """A list of ids (`taskIds`); a single id or "1,2" is taken too. 400 when missing or bad."""
    found = numbers(body, name, limit=limit, low=1)
    if not found and required:
        raise BadRequest(f"{name} is required: a list of ids")
    return found
