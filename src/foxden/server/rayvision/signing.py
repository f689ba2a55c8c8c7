"""The SDK's request signature: HMAC-SHA256 over method, domain, path and the sorted pairs.

The string signed is `[POST]` + domain + `:` + path + `&` + `k=v&k=v...`, where the pairs are the
six signed headers overlaid by the body's top-level keys, flattened (`parent.child` for mappings,
the index appended for list items: `taskIds0`), sorted by key in plain code-point order and
rendered with Python's `str()` (`True`, `None`, `1.5`). The signature is the base64 of the MAC.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Any

#: The headers the SDK signs, in their original case (HTTP hands them to us lowercased).
SIGNED_HEADERS = ("accessId", "channel", "platform", "UTCTimestamp", "nonce", "version")


def flatten(value: Any, key: str = "", into: dict[str, Any] | None = None) -> dict[str, Any]:
    """The flat pairs of a JSON value: `a.b` for members, `a0`, `a1` for list items.

    An empty mapping or list contributes no pair, as in the SDK.
    """
    out: dict[str, Any] = {} if into is None else into
    if isinstance(value, Mapping):
        for name, member in value.items():
            flatten(member, f"{key}.{name}" if key else str(name), out)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            flatten(item, f"{key}{index}", out)
    else:
        out[key] = value
    return out


def headers_in_case(headers: Mapping[str, str]) -> dict[str, str]:
    """The signed headers present in `headers` (any case), under their original names."""
    lowered = {name.lower(): value for name, value in headers.items()}
    return {name: lowered[name.lower()] for name in SIGNED_HEADERS if name.lower() in lowered}


def string_to_sign(
    domain: str, path: str, headers: Mapping[str, str], body: Mapping[str, Any]
) -> str:
    """What the SDK signs for a POST of `body` to `path` at `domain` with `headers`."""
    pairs = flatten({**headers_in_case(headers), **body})
    joined = "&".join(f"{name}={pairs[name]}" for name in sorted(pairs))
    return f"[POST]{domain}:{path}&{joined}"


def sign(secret: str, message: str) -> str:
    """The base64 HMAC-SHA256 of `message` keyed by `secret` (both UTF-8)."""
    mac = hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def verify(
    secret: str,
    domains: Iterable[str],
    path: str,
    headers: Mapping[str, str],
    body: Mapping[str, Any],
    signature: str,
) -> bool:
    """Whether `signature` signs this request for one of `domains` (compared in constant time)."""
    given = signature.strip().encode()
    return any(
        hmac.compare_digest(sign(secret, string_to_sign(d, path, headers, body)).encode(), given)
        for d in domains
    )


def domains_for(host: str, scheme: str) -> list[str]:
    """The domains a client may have signed when its Host header is `host`.

    An HTTP client leaves a scheme's default port out of Host, but the SDK signs the domain as it
    was configured: `farm:80` arrives as Host `farm`.
    """
    host = host.strip()
    if not host:
        return []
    candidates = [host]
    if ":" not in host.rsplit("]", 1)[-1]:  # no port (an IPv6 literal is in brackets)
        candidates.append(f"{host}:{443 if scheme == 'https' else 80}")
    return candidates
