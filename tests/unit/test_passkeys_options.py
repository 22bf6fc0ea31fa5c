"""The options Keyturn sends, as `PublicKeyCredential.parse…OptionsFromJSON` reads them."""

from __future__ import annotations

from typing import Any

import pytest
from webauthn.helpers import base64url_to_bytes

from keyturn.passkeys.options import (
    CEREMONY_TIMEOUT_MS,
    UserVerification,
    authentication_options,
    registration_options,
)
from keyturn.passkeys.response import parse_credential_response
from keyturn.passkeys.verify import verify_registration
from tests.support.soft_authenticator import EDDSA, ES256, RS256, SoftAuthenticator

RP_ID = "login.example.com"
ORIGIN = "https://login.example.com"
CHALLENGE = bytes(range(32))
HANDLE = b"\xfe" * 16


def creation(
    *, exclude: list[tuple[bytes, tuple[str, ...]]] | None = None, uv: UserVerification = "required"
) -> dict[str, Any]:
    return registration_options(
        rp_id=RP_ID,
        rp_name="Example",
        user_handle=HANDLE,
        user_name="ada@example.com",
        challenge=CHALLENGE,
        exclude=exclude or [],
        user_verification=uv,
    )


def test_registration_options_ask_for_a_discoverable_credential_without_attestation() -> None:
    options = creation()
    assert options["rp"] == {"id": RP_ID, "name": "Example"}
    assert options["user"] == {
        "id": "_v7-_v7-_v7-_v7-_v7-_g",
        "name": "ada@example.com",
        "displayName": "ada@example.com",
    }
    assert base64url_to_bytes(options["challenge"]) == CHALLENGE
    assert options["attestation"] == "none"
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["requireResidentKey"] is True  # for Level 1 browsers
    assert options["timeout"] == CEREMONY_TIMEOUT_MS == 300_000
    assert options["excludeCredentials"] == []


def test_registration_options_offer_eddsa_then_es256_then_rs256() -> None:
    assert creation()["pubKeyCredParams"] == [
        {"type": "public-key", "alg": alg} for alg in (EDDSA, ES256, RS256)
    ]


@pytest.mark.parametrize("uv", ["required", "preferred"])
def test_user_verification_is_passed_through(uv: UserVerification) -> None:
    assert creation(uv=uv)["authenticatorSelection"]["userVerification"] == uv
    options = authentication_options(rp_id=RP_ID, challenge=CHALLENGE, allow=[], user_verification=uv)
    assert options["userVerification"] == uv


def test_descriptors_keep_known_transports_only() -> None:
    excluded = creation(
        exclude=[
            (b"\x01" * 16, ("usb", "smoke-signal", "nfc")),
            (b"\x02" * 16, ("smoke-signal",)),
            (b"\x03", ()),
        ]
    )["excludeCredentials"]
    assert excluded == [
        {"id": "AQEBAQEBAQEBAQEBAQEBAQ", "type": "public-key", "transports": ["usb", "nfc"]},
        {"id": "AgICAgICAgICAgICAgICAg", "type": "public-key"},  # no transports: any
        {"id": "Aw", "type": "public-key"},
    ]


def test_discoverable_request_options_allow_any_credential() -> None:
    options = authentication_options(rp_id=RP_ID, challenge=CHALLENGE, allow=[], user_verification="required")
    assert options == {
        "challenge": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
        "timeout": CEREMONY_TIMEOUT_MS,
        "rpId": RP_ID,
        "allowCredentials": [],
        "userVerification": "required",
    }


def test_identifier_first_request_options_list_the_account_s_passkeys() -> None:
    allow = [(b"\x01" * 16, ("internal", "hybrid")), (b"\x02" * 64, ())]
    options = authentication_options(
        rp_id=RP_ID, challenge=CHALLENGE, allow=allow, user_verification="preferred"
    )
    assert [base64url_to_bytes(d["id"]) for d in options["allowCredentials"]] == [b"\x01" * 16, b"\x02" * 64]
    assert options["allowCredentials"][0]["transports"] == ["internal", "hybrid"]
    assert "transports" not in options["allowCredentials"][1]


@pytest.mark.parametrize("alg", [EDDSA, ES256, RS256])
def test_an_authenticator_answering_the_options_registers(alg: int) -> None:
    """The options are usable as sent: a browser-shaped answer to them verifies."""
    credential = SoftAuthenticator(alg=alg).create(creation(), origin=ORIGIN)
    registered = verify_registration(
        parse_credential_response(credential),
        challenge=CHALLENGE,
        rp_id=RP_ID,
        origins=[ORIGIN],
        require_user_verification=True,
    )
    assert registered.transports == ("internal", "hybrid")
    assert (registered.backup_eligible, registered.backup_state) == (True, True)
