"""Signed session tokens: who is logged in, until when, and the session's CSRF token.

A token is `v1.<payload>.<signature>`: the payload is base64url JSON, the signature an
HMAC-SHA256 of it under the farm's web secret (`<data_dir>/web_secret`, made on first use).
A token names the account, a fingerprint of its access key (changing or revoking the key ends
every session of the account) and a random session id. The server keeps the SHA-256 of that id in
`web_sessions` (see `foxden.farm.sessions`): logging out marks the row revoked, so a copied cookie
stops working at once; a token whose row is revoked, expired or unknown is logged out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

COOKIE = "foxden_session"
LIFETIME = 12 * 3600.0  # seconds a login lasts
RENEW_AFTER = LIFETIME / 2  # a page view after this re-issues the token
_VERSION = "v1"
_CONTEXT = b"foxden.web.session"


@dataclass(frozen=True)
class Session:
    """A decoded, verified session."""

    account_id: int
    key_fingerprint: str
    csrf: str
    issued: float
    expires: float
    sid: str  # the random session id; the server stores its SHA-256

    @property
    def digest(self) -> str:
        """The SHA-256 (hex) of the session id: the key of its `web_sessions` row."""
        return session_digest(self.sid)

    def due_for_renewal(self, now: float | None = None) -> bool:
        """Whether the token is old enough to be re-issued."""
        return (now if now is not None else time.time()) - self.issued > RENEW_AFTER


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def session_digest(sid: str) -> str:
    """The SHA-256 (hex) of a session id, as stored in `web_sessions`."""
    return hashlib.sha256(sid.encode()).hexdigest()


def key_fingerprint(key_hash: str) -> str:
    """A short digest of an account's stored key hash (it changes when the key does)."""
    return hashlib.sha256(b"foxden-session:" + key_hash.encode()).hexdigest()[:32]


def load_secret(data_dir: Path) -> bytes:
    """The web secret in `<data_dir>/web_secret`, created (mode 0600) on first use."""
    path = data_dir / "web_secret"
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48) + "\n")
    for _ in range(50):  # another process may be writing it right now
        text = path.read_text().strip()
        if text:
            return text.encode()
        time.sleep(0.01)
    raise RuntimeError(f"the web secret {path} is empty: delete it and restart the server")


class SessionSigner:
    """Issues and verifies session tokens with one secret."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the web secret must be at least 16 bytes")
        self._key = hmac.new(secret, _CONTEXT, hashlib.sha256).digest()

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())

    def issue(
        self, account_id: int, fingerprint: str, now: float | None = None
    ) -> tuple[str, Session]:
        """A new token (with a fresh CSRF token) for the account."""
        issued = time.time() if now is None else now
        session = Session(
            account_id,
            fingerprint,
            secrets.token_urlsafe(32),
            issued,
            issued + LIFETIME,
            secrets.token_urlsafe(32),
        )
        return self.encode(session), session

    def renew(self, session: Session, now: float | None = None) -> tuple[str, Session]:
        """A later token for the same session (same id and CSRF token, new expiry)."""
        issued = time.time() if now is None else now
        fresh = Session(
            session.account_id,
            session.key_fingerprint,
            session.csrf,
            issued,
            issued + LIFETIME,
            session.sid,
        )
        return self.encode(fresh), fresh

    def encode(self, session: Session) -> str:
        """The signed token of `session`."""
        body = {
            "a": session.account_id,
            "f": session.key_fingerprint,
            "c": session.csrf,
            "i": round(session.issued, 3),
            "e": round(session.expires, 3),
            "s": session.sid,
        }
        payload = _b64(json.dumps(body, separators=(",", ":")).encode())
        return f"{_VERSION}.{payload}.{self._sign(payload)}"

    def decode(self, token: str | None, now: float | None = None) -> Session | None:
        """The session of a token, or None when it is missing, forged, malformed or expired."""
        if not token or len(token) > 4096:
            return None
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != _VERSION:
            return None
        _, payload, signature = parts
        if not hmac.compare_digest(self._sign(payload), signature):
            return None
        try:
            body = json.loads(_unb64(payload))
            session = Session(
                int(body["a"]),
                str(body["f"]),
                str(body["c"]),
                float(body["i"]),
                float(body["e"]),
                str(body["s"]),
            )
        except (ValueError, KeyError, TypeError):
            return None
        if session.expires <= (time.time() if now is None else now):
            return None
        return session


class Sealer:
    """Signs short texts (flash messages) so a cookie cannot inject words into a page."""

    def __init__(self, secret: bytes) -> None:
        self._key = hmac.new(secret, b"foxden.web.flash", hashlib.sha256).digest()

    def seal(self, text: str) -> str:
        """`text` with its signature, cookie-safe."""
        payload = _b64(text.encode())
        return f"{payload}.{_b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())}"

    def unseal(self, token: str | None) -> str | None:
        """The text of a sealed token, or None when it was not made by this sealer."""
        if not token or "." not in token:
            return None
        payload, signature = token.rsplit(".", 1)
        expected = _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(expected, signature):
            return None
        try:
            return _unb64(payload).decode()
        except (ValueError, UnicodeDecodeError):
            return None
