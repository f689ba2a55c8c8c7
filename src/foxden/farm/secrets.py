"""Access keys, worker tokens and the join key: random, stored only as hashes."""

from __future__ import annotations

import hashlib
import hmac
import secrets

KEY_BYTES = 32  # 256 bits


def new_secret(prefix: str) -> str:
    """A fresh random secret such as `fdk_...` (256 bits of randomness)."""
    return f"{prefix}_{secrets.token_urlsafe(KEY_BYTES)}"


def hash_secret(secret: str) -> str:
    """The stored form of a secret (SHA-256: secrets are random, so no stretching is needed)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def matches(secret: str, stored_hash: str) -> bool:
    """Constant-time comparison of a presented secret with a stored hash."""
    return hmac.compare_digest(hash_secret(secret), stored_hash)
