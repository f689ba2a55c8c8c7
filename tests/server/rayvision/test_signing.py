"""The signature check against the reference's rules, string by string (no server)."""

from __future__ import annotations

import base64
import hashlib
import hmac

from foxden.server.rayvision.signing import (
    domains_for,
    flatten,
    headers_in_case,
    sign,
    string_to_sign,
    verify,
)

HEADERS = {
    "accessid": "AID",
    "channel": "4",
    "platform": "2",
    "utctimestamp": "1700000000",
    "nonce": "123456",
    "version": "2.0.0",
    "content-type": "application/json",
    "signature": "ignored",
    "languageflag": "1",
}


def test_header_names_get_their_case_back_and_only_the_six_signed_ones_count() -> None:
    assert headers_in_case(HEADERS) == {
        "accessId": "AID",
        "channel": "4",
        "platform": "2",
        "UTCTimestamp": "1700000000",
        "nonce": "123456",
        "version": "2.0.0",
    }


def test_an_empty_body_signs_the_headers_in_ascii_order() -> None:
    # upper case sorts before lower case: UTCTimestamp comes first
    assert string_to_sign("farm:8642", "/api/render/x", HEADERS, {}) == (
        "[POST]farm:8642:/api/render/x&UTCTimestamp=1700000000&accessId=AID&channel=4"
        "&nonce=123456&platform=2&version=2.0.0"
    )


def test_nested_bodies_and_lists_flatten_as_the_sdk_does() -> None:
    body = {
        "taskIds": [7, 8],
        "renderEnvs": [{"envId": 1, "pluginIds": [2, 3]}],
        "cfg": {"a": {"b": True}, "n": None, "f": 1.5},
        "empty": [],
        "none": {},
    }
    assert flatten(body) == {
        "taskIds0": 7,
        "taskIds1": 8,
        "renderEnvs0.envId": 1,
        "renderEnvs0.pluginIds0": 2,
        "renderEnvs0.pluginIds1": 3,
        "cfg.a.b": True,
        "cfg.n": None,
        "cfg.f": 1.5,
    }
    text = string_to_sign("h", "/p", {}, body)
    assert text == (
        "[POST]h:/p&cfg.a.b=True&cfg.f=1.5&cfg.n=None&renderEnvs0.envId=1"
        "&renderEnvs0.pluginIds0=2&renderEnvs0.pluginIds1=3&taskIds0=7&taskIds1=8"
    )


def test_a_body_key_replaces_the_header_of_the_same_name() -> None:
    text = string_to_sign("h", "/p", HEADERS, {"platform": 6})
    assert "&platform=6&" in text and "platform=2" not in text


def test_the_signature_is_base64_hmac_sha256_keyed_by_the_secret() -> None:
    message = "[POST]h:/p&a=1"
    expected = base64.b64encode(
        hmac.new(b"s3cret", message.encode(), hashlib.sha256).digest()
    ).decode()
    assert sign("s3cret", message) == expected
    assert sign("s3crex", message) != expected


def test_verify_accepts_the_right_signature_only() -> None:
    body = {"taskIds": [1]}
    good = sign("k", string_to_sign("farm:8642", "/api/render/x", HEADERS, body))
    assert verify("k", ["farm:8642"], "/api/render/x", HEADERS, body, good)
    assert not verify("k", ["farm:8643"], "/api/render/x", HEADERS, body, good)
    assert not verify("k", ["farm:8642"], "/api/render/y", HEADERS, body, good)
    assert not verify("k", ["farm:8642"], "/api/render/x", HEADERS, {"taskIds": [2]}, good)
    assert not verify("other", ["farm:8642"], "/api/render/x", HEADERS, body, good)
    assert not verify("k", ["farm:8642"], "/api/render/x", HEADERS, body, "")


def test_a_host_without_port_may_have_been_signed_with_the_default_port() -> None:
    assert domains_for("farm", "http") == ["farm", "farm:80"]
    assert domains_for("farm", "https") == ["farm", "farm:443"]
    assert domains_for("farm:8642", "http") == ["farm:8642"]
    assert domains_for("[::1]", "http") == ["[::1]", "[::1]:80"]
    assert domains_for("[::1]:8642", "http") == ["[::1]:8642"]
    assert domains_for("", "http") == []
