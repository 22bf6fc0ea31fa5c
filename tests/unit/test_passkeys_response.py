"""Routing facts read from recorded credentials, and malformed ones refused as `invalid_response`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

from keyturn.errors import CeremonyError
from keyturn.passkeys.response import parse_credential_response

FIXTURES = Path(__file__).parents[1] / "fixtures" / "webauthn"
NAMES = sorted(path.stem for path in FIXTURES.glob("*.json"))


def load(name: str) -> dict[str, Any]:
    fixture: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return fixture


@pytest.mark.parametrize("name", NAMES)
def test_recorded_credential_is_read(name: str) -> None:
    fixture = load(name)
    credential = fixture["credential"]
    response = parse_credential_response(credential)
    assert response.raw is credential
    assert response.credential_id == base64url_to_bytes(credential["rawId"])
    client = response.client_data
    assert client.type == ("webauthn.create" if fixture["ceremony"] == "registration" else "webauthn.get")
    assert client.challenge == base64url_to_bytes(fixture["expected_challenge_b64url"])
    assert client.origin == fixture["expected_origin"]
    assert (client.cross_origin, client.top_origin) == (False, None)
    handle = credential["response"].get("userHandle")
    assert response.user_handle == (base64url_to_bytes(handle) if handle else None)


def test_escaped_slashes_in_client_data_are_read_as_json() -> None:
    """Firefox for Android wrote the origin as https:\\/\\/…: compare the decoded string."""
    fixture = load("reg_none_firefox_android")
    raw = base64url_to_bytes(fixture["credential"]["response"]["clientDataJSON"])
    assert b"\\/" in raw
    assert parse_credential_response(fixture["credential"]).client_data.origin == "https://dev.dontneeda.pw"


def test_padded_base64url_is_accepted() -> None:
    fixture = load("auth_securitykey_dontneeda")
    assert fixture["credential"]["response"]["signature"].endswith("=")
    parse_credential_response(fixture["credential"])


def test_an_android_app_origin_is_kept_as_sent() -> None:
    response = parse_credential_response(load("reg_none_android_fido2api_devicepubkey")["credential"])
    assert response.client_data.origin.startswith("android:apk-key-hash:")


def _client_data(credential: dict[str, Any], **members: object) -> dict[str, Any]:
    data = json.loads(base64url_to_bytes(credential["response"]["clientDataJSON"]))
    data.update(members)
    encoded = bytes_to_base64url(json.dumps(data).encode())
    return {**credential, "response": {**credential["response"], "clientDataJSON": encoded}}


def test_cross_origin_and_top_origin_are_read() -> None:
    credential = load("auth_rsa_uv_localhost")["credential"]
    framed = parse_credential_response(
        _client_data(credential, crossOrigin=True, topOrigin="https://x.example")
    )
    assert (framed.client_data.cross_origin, framed.client_data.top_origin) == (True, "https://x.example")


BROKEN: dict[str, Any] = {
    "type not public-key": lambda c: {**c, "type": "password"},
    "id differs from rawId": lambda c: {**c, "id": bytes_to_base64url(b"other")},
    "rawId missing": lambda c: {k: v for k, v in c.items() if k != "rawId"},
    "response not an object": lambda c: {**c, "response": "{}"},
    "transports not strings": lambda c: {**c, "response": {**c["response"], "transports": ["usb", 1]}},
    "userHandle a number": lambda c: {**c, "response": {**c["response"], "userHandle": 7}},
    "topOrigin a list": lambda c: _client_data(c, topOrigin=["https://x.example"]),
    "origin missing": lambda c: _client_data(c, origin=None),
    "challenge a number": lambda c: _client_data(c, challenge=1),
}


@pytest.mark.parametrize("broken", BROKEN)
def test_a_malformed_recorded_credential_is_invalid_response(broken: str) -> None:
    credential = BROKEN[broken](load("auth_rsa_uv_localhost")["credential"])
    with pytest.raises(CeremonyError) as caught:
        parse_credential_response(credential)
    assert caught.value.code == "invalid_response"
