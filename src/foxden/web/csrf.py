"""Cross-site request forgery defences for the web site and for cookie calls to the JSON API.

Forms carry the session's CSRF token in a hidden field; every POST of a page checks it. The
login form, made before any session exists, uses a double-submit token: a random value both in
a short-lived SameSite=Strict cookie and in the form. JavaScript calling the JSON API with the
session cookie sends the token in the `X-CSRF-Token` header on every non-GET request (a
cross-site page can neither read the token nor set that header without a CORS grant).
"""

from __future__ import annotations

import hmac
import secrets

FIELD = "csrf_token"
HEADER = "x-csrf-token"
LOGIN_COOKIE = "foxden_login_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def new_token() -> str:
    """A fresh random token."""
    return secrets.token_urlsafe(32)


def tokens_match(expected: str | None, presented: str | None) -> bool:
    """Whether a presented token equals the expected one (constant time; empty never matches)."""
    if not expected or not presented:
        return False
    return hmac.compare_digest(expected.encode(), presented.encode())


def needs_token(method: str) -> bool:
    """Whether a request with this method changes state and so must carry the token."""
    return method.upper() not in SAFE_METHODS
