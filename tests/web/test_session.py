"""Session tokens, flash sealing, the web secret and CSRF helpers."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from foxden.web import csrf
from foxden.web.session import (
    LIFETIME,
    Sealer,
    SessionSigner,
    key_fingerprint,
    load_secret,
)

SECRET = b"s" * 32


def test_token_round_trip() -> None:
    signer = SessionSigner(SECRET)
    token, session = signer.issue(7, "fp", now=1000.0)
    decoded = signer.decode(token, now=1001.0)
    assert decoded == session
    assert decoded.account_id == 7 and decoded.key_fingerprint == "fp"
    assert decoded.expires == 1000.0 + LIFETIME and len(decoded.csrf) >= 40


def test_each_login_gets_its_own_csrf_token() -> None:
    signer = SessionSigner(SECRET)
    assert signer.issue(1, "fp")[1].csrf != signer.issue(1, "fp")[1].csrf


def test_expired_token_is_refused() -> None:
    signer = SessionSigner(SECRET)
    token, _ = signer.issue(1, "fp", now=1000.0)
    assert signer.decode(token, now=1000.0 + LIFETIME + 1) is None


def test_renewal_keeps_csrf_and_extends_expiry() -> None:
    signer = SessionSigner(SECRET)
    _, session = signer.issue(1, "fp", now=1000.0)
    assert not session.due_for_renewal(now=1001.0)
    assert session.due_for_renewal(now=1000.0 + LIFETIME * 0.75)
    token, fresh = signer.renew(session, now=1000.0 + LIFETIME * 0.75)
    assert fresh.csrf == session.csrf and fresh.expires > session.expires
    assert signer.decode(token, now=1000.0 + LIFETIME + 1) == fresh


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-2] + ("A" if t[-2] != "A" else "B") + t[-1],  # signature
        lambda t: t.replace("v1.", "v2.", 1),  # version
        lambda t: t.split(".")[0] + ".e30." + t.split(".")[2],  # payload swapped for {}
        lambda t: "",
        lambda t: "garbage",
        lambda t: t + ".extra",
        lambda t: "v1." + "A" * 5000 + ".x",
    ],
)
def test_tampered_tokens_are_refused(mangle: object) -> None:
    signer = SessionSigner(SECRET)
    token, _ = signer.issue(1, "fp")
    assert callable(mangle)
    assert signer.decode(mangle(token)) is None


def test_token_from_another_farm_is_refused() -> None:
    token, _ = SessionSigner(SECRET).issue(1, "fp")
    assert SessionSigner(b"t" * 32).decode(token) is None


def test_a_forged_well_formed_payload_is_refused() -> None:
    signer = SessionSigner(SECRET)
    token, _ = signer.issue(1, "fp")
    other, _ = signer.issue(2, "fp")
    head, _, sig = token.split(".")
    assert signer.decode(f"{head}.{other.split('.')[1]}.{sig}") is None


def test_short_secret_is_rejected() -> None:
    with pytest.raises(ValueError):
        SessionSigner(b"short")


def test_key_fingerprint_follows_the_key() -> None:
    assert key_fingerprint("a" * 64) == key_fingerprint("a" * 64)
    assert key_fingerprint("a" * 64) != key_fingerprint("b" * 64)
    assert "a" * 16 not in key_fingerprint("a" * 64)


def test_web_secret_is_made_once_and_private(tmp_path: Path) -> None:
    first = load_secret(tmp_path / "data")
    assert len(first) >= 32
    assert load_secret(tmp_path / "data") == first
    mode = stat.S_IMODE(os.stat(tmp_path / "data" / "web_secret").st_mode)
    assert mode == 0o600


def test_sealer_round_trip_and_forgery() -> None:
    sealer = Sealer(SECRET)
    sealed = sealer.seal("i:Project saved.")
    assert sealer.unseal(sealed) == "i:Project saved."
    assert sealer.unseal(sealed[:-1] + ("x" if sealed[-1] != "x" else "y")) is None
    assert sealer.unseal("aTpoaQ.nosig") is None
    assert sealer.unseal(None) is None
    assert Sealer(b"t" * 32).unseal(sealed) is None


def test_csrf_tokens_match_only_when_equal_and_present() -> None:
    token = csrf.new_token()
    assert csrf.tokens_match(token, token)
    assert not csrf.tokens_match(token, token + "x")
    assert not csrf.tokens_match(token, None)
    assert not csrf.tokens_match(None, token)
    assert not csrf.tokens_match("", "")
    assert csrf.new_token() != token


@pytest.mark.parametrize(
    ("method", "needs"),
    [
        ("GET", False),
        ("head", False),
        ("OPTIONS", False),
        ("POST", True),
        ("PUT", True),
        ("patch", True),
        ("DELETE", True),
    ],
)
def test_state_changing_methods_need_the_token(method: str, needs: bool) -> None:
    assert csrf.needs_token(method) is needs
