"""The soft authenticator must satisfy the real `webauthn` verifier, or it proves nothing.

Every happy path is checked by py_webauthn itself, and every tampered twin must be
rejected by it, so tests built on the authenticator exercise genuine crypto.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.authentication.verify_authentication_response import VerifiedAuthentication
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import (
    InvalidAuthenticationResponse,
    InvalidBackupFlags,
    InvalidRegistrationResponse,
)
from webauthn.helpers.structs import (
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
)
from webauthn.registration.verify_registration_response import VerifiedRegistration

from tests.support.soft_authenticator import (
    DEFAULT_AAGUID,
    EDDSA,
    ES256,
    RS256,
    CredentialExcluded,
    NoCredential,
    NoSupportedAlgorithm,
    SoftAuthenticator,
)

RP_ID = "login.example.com"
ORIGIN = "https://login.example.com"
USER_ID = b"user-handle-0001"
ALGS = [ES256, EDDSA, RS256]


def reg_options(*, exclude: list[bytes] | None = None, algs: list[int] | None = None) -> dict[str, Any]:
    """Creation options exactly as py_webauthn would send them to the browser."""
    opts = generate_registration_options(
        rp_id=RP_ID,
        rp_name="Example",
        user_name="alice",
        user_id=USER_ID,
        exclude_credentials=[PublicKeyCredentialDescriptor(id=c) for c in exclude or []],
    )
    parsed: dict[str, Any] = json.loads(options_to_json(opts))
    if algs is not None:
        parsed["pubKeyCredParams"] = [{"type": "public-key", "alg": a} for a in algs]
    return parsed


def auth_options(*, allow: list[bytes] | None = None, rp_id: str = RP_ID) -> dict[str, Any]:
    """Request options as py_webauthn would send them; no allow list means discoverable."""
    opts = generate_authentication_options(
        rp_id=rp_id,
        allow_credentials=[PublicKeyCredentialDescriptor(id=c) for c in allow or []],
    )
    parsed: dict[str, Any] = json.loads(options_to_json(opts))
    return parsed


def challenge(options: dict[str, Any]) -> bytes:
    return base64url_to_bytes(options["challenge"])


def register(auth: SoftAuthenticator, **kwargs: Any) -> tuple[dict[str, Any], VerifiedRegistration]:
    options = reg_options()
    response = auth.create(options, origin=ORIGIN, **kwargs)
    verified = verify_registration_response(
        credential=response,
        expected_challenge=challenge(options),
        expected_rp_id=RP_ID,
        expected_origin=ORIGIN,
    )
    return response, verified


def verify_auth(
    response: dict[str, Any],
    options: dict[str, Any],
    reg: VerifiedRegistration,
    *,
    current_count: int = 0,
    rp_id: str = RP_ID,
    origin: str = ORIGIN,
) -> VerifiedAuthentication:
    return verify_authentication_response(
        credential=response,
        expected_challenge=challenge(options),
        expected_rp_id=rp_id,
        expected_origin=origin,
        credential_public_key=reg.credential_public_key,
        credential_current_sign_count=current_count,
    )


def flip_byte(b64: str, index: int = -1) -> str:
    raw = bytearray(base64url_to_bytes(b64))
    raw[index] ^= 0x01
    return bytes_to_base64url(bytes(raw))


# --- happy paths, verified by py_webauthn -------------------------------------------


@pytest.mark.parametrize("alg", ALGS)
def test_registration_and_assertion_verify_for_each_alg(alg: int) -> None:
    auth = SoftAuthenticator(alg=alg)
    response, reg = register(auth)

    assert reg.credential_id == base64url_to_bytes(response["id"])
    assert len(reg.credential_id) == 32
    assert reg.fmt == "none"
    assert reg.aaguid == str(uuid.UUID(bytes=DEFAULT_AAGUID))
    assert reg.user_verified is True
    assert reg.sign_count == 0
    assert reg.credential_device_type == CredentialDeviceType.MULTI_DEVICE
    assert reg.credential_backed_up is True
    assert response["response"]["transports"] == ["internal", "hybrid"]
    assert response["authenticatorAttachment"] == "platform"

    options = auth_options(allow=[reg.credential_id])
    assertion = auth.get(options, origin=ORIGIN)
    result = verify_auth(assertion, options, reg)
    assert result.credential_id == reg.credential_id
    assert result.new_sign_count == 1
    assert result.user_verified is True
    assert base64url_to_bytes(assertion["response"]["userHandle"]) == USER_ID


def test_counter_increments_by_step_and_verifier_tracks_it() -> None:
    auth = SoftAuthenticator(counter_step=5)
    _, reg = register(auth)
    count = 0
    for expected in (5, 10, 15):
        options = auth_options()
        result = verify_auth(auth.get(options, origin=ORIGIN), options, reg, current_count=count)
        assert result.new_sign_count == expected
        count = result.new_sign_count


def test_counter_step_zero_always_reports_zero_and_is_accepted() -> None:
    auth = SoftAuthenticator(counter_step=0)
    _, reg = register(auth)
    for _ in range(3):
        options = auth_options()
        assert verify_auth(auth.get(options, origin=ORIGIN), options, reg).new_sign_count == 0


def test_discoverable_get_picks_newest_credential_for_rp() -> None:
    auth = SoftAuthenticator()
    _, first = register(auth)
    _, second = register(auth)
    other = reg_options()
    other["rp"]["id"] = "other.example"
    auth.create(other, origin="https://other.example")

    options = auth_options()
    assertion = auth.get(options, origin=ORIGIN)
    assert verify_auth(assertion, options, second).credential_id == second.credential_id

    options = auth_options(allow=[b"unknown", first.credential_id, second.credential_id])
    assertion = auth.get(options, origin=ORIGIN)
    assert verify_auth(assertion, options, first).credential_id == first.credential_id


def test_long_credential_id_is_encoded_faithfully() -> None:
    # py_webauthn 3.0.1 does not enforce the spec's 1023-byte limit: the RP must.
    _, reg = register(SoftAuthenticator(), credential_id=b"\x07" * 1024)
    assert reg.credential_id == b"\x07" * 1024


def test_client_data_carries_cross_origin_only_when_given() -> None:
    auth = SoftAuthenticator()
    options = reg_options()
    plain = auth.create(options, origin=ORIGIN)
    assert json.loads(base64url_to_bytes(plain["response"]["clientDataJSON"])) == {
        "type": "webauthn.create",
        "challenge": options["challenge"],
        "origin": ORIGIN,
    }
    framed = auth.get(auth_options(), origin=ORIGIN, cross_origin=True, top_origin="https://top.example")
    data = json.loads(base64url_to_bytes(framed["response"]["clientDataJSON"]))
    assert data["type"] == "webauthn.get"
    assert (data["crossOrigin"], data["topOrigin"]) == (True, "https://top.example")


def test_cross_origin_is_not_checked_by_py_webauthn() -> None:
    # Surprise worth pinning: the library ignores crossOrigin/topOrigin; the RP must check.
    auth = SoftAuthenticator()
    options = reg_options()
    response = auth.create(options, origin=ORIGIN, cross_origin=True, top_origin="https://x.test")
    verify_registration_response(
        credential=response,
        expected_challenge=challenge(options),
        expected_rp_id=RP_ID,
        expected_origin=ORIGIN,
    )


def test_flags_follow_settings() -> None:
    auth = SoftAuthenticator(user_verified=False, backup_eligible=False, backup_state=False)
    _, reg = register(auth)
    assert reg.user_verified is False
    assert reg.credential_device_type == CredentialDeviceType.SINGLE_DEVICE
    assert reg.credential_backed_up is False
    options = auth_options()
    with pytest.raises(InvalidAuthenticationResponse, match="User verification is required"):
        verify_authentication_response(
            credential=auth.get(options, origin=ORIGIN),
            expected_challenge=challenge(options),
            expected_rp_id=RP_ID,
            expected_origin=ORIGIN,
            credential_public_key=reg.credential_public_key,
            credential_current_sign_count=0,
            require_user_verification=True,
        )


def test_backup_eligible_override_yields_coherent_single_device_twin() -> None:
    auth = SoftAuthenticator()
    _, reg = register(auth)
    options = auth_options()
    twin = auth.get(options, origin=ORIGIN, backup_eligible_override=False)
    result = verify_auth(twin, options, reg)
    assert result.credential_device_type == CredentialDeviceType.SINGLE_DEVICE
    assert result.credential_backed_up is False


def test_invalid_backup_flags_escape_as_their_own_exception() -> None:
    # BS without BE is spec-invalid; py_webauthn raises InvalidBackupFlags, NOT
    # InvalidRegistrationResponse, so RP code catching only the latter would crash.
    with pytest.raises(InvalidBackupFlags):
        register(SoftAuthenticator(backup_eligible=False, backup_state=True))


def test_user_handle_override() -> None:
    auth = SoftAuthenticator()
    register(auth)
    assertion = auth.get(auth_options(), origin=ORIGIN, user_handle_override=b"someone-else")
    assert base64url_to_bytes(assertion["response"]["userHandle"]) == b"someone-else"


# --- refusals the authenticator itself makes ----------------------------------------


def test_exclude_credentials_is_honoured_per_rp() -> None:
    auth = SoftAuthenticator()
    _, reg = register(auth)
    with pytest.raises(CredentialExcluded):
        auth.create(reg_options(exclude=[reg.credential_id]), origin=ORIGIN)
    elsewhere = reg_options(exclude=[reg.credential_id])
    elsewhere["rp"]["id"] = "other.example"
    auth.create(elsewhere, origin="https://other.example")


def test_alg_must_be_offered() -> None:
    with pytest.raises(NoSupportedAlgorithm):
        SoftAuthenticator(alg=EDDSA).create(reg_options(algs=[ES256, RS256]), origin=ORIGIN)
    # An empty list means the browser's default of ES256 + RS256.
    with pytest.raises(NoSupportedAlgorithm):
        SoftAuthenticator(alg=EDDSA).create(reg_options(algs=[]), origin=ORIGIN)
    SoftAuthenticator(alg=RS256).create(reg_options(algs=[]), origin=ORIGIN)
    with pytest.raises(ValueError, match="unsupported COSE alg"):
        SoftAuthenticator(alg=-35)


def test_no_matching_credential() -> None:
    auth = SoftAuthenticator()
    with pytest.raises(NoCredential):
        auth.get(auth_options(), origin=ORIGIN)
    register(auth)
    with pytest.raises(NoCredential):
        auth.get(auth_options(allow=[b"not-mine"]), origin=ORIGIN)
    with pytest.raises(NoCredential):
        auth.get(auth_options(rp_id="other.example"), origin="https://other.example")
    with pytest.raises(NoCredential):
        auth.get(auth_options(), origin=ORIGIN, credential_id=b"not-mine")


# --- tampered twins must be rejected by py_webauthn ---------------------------------


def test_registration_with_wrong_challenge_is_rejected() -> None:
    options = reg_options()
    forged = bytes_to_base64url(b"not the challenge")
    response = SoftAuthenticator().create(options, origin=ORIGIN, challenge_override=forged)
    with pytest.raises(InvalidRegistrationResponse, match="challenge"):
        verify_registration_response(
            credential=response,
            expected_challenge=challenge(options),
            expected_rp_id=RP_ID,
            expected_origin=ORIGIN,
        )


def test_registration_with_wrong_origin_is_rejected() -> None:
    options = reg_options()
    response = SoftAuthenticator().create(options, origin="https://evil.example")
    with pytest.raises(InvalidRegistrationResponse, match="origin"):
        verify_registration_response(
            credential=response,
            expected_challenge=challenge(options),
            expected_rp_id=RP_ID,
            expected_origin=ORIGIN,
        )


def test_registration_with_wrong_rp_id_is_rejected() -> None:
    options = reg_options()
    options["rp"]["id"] = "evil.example"
    response = SoftAuthenticator().create(options, origin=ORIGIN)
    with pytest.raises(InvalidRegistrationResponse, match="RP ID"):
        verify_registration_response(
            credential=response,
            expected_challenge=challenge(options),
            expected_rp_id=RP_ID,
            expected_origin=ORIGIN,
        )


def test_assertion_with_wrong_challenge_is_rejected() -> None:
    auth = SoftAuthenticator()
    _, reg = register(auth)
    options = auth_options()
    forged = bytes_to_base64url(b"replayed challenge")
    twin = auth.get(options, origin=ORIGIN, challenge_override=forged)
    with pytest.raises(InvalidAuthenticationResponse, match="challenge"):
        verify_auth(twin, options, reg)


def test_assertion_with_wrong_origin_is_rejected() -> None:
    auth = SoftAuthenticator()
    _, reg = register(auth)
    options = auth_options()
    twin = auth.get(options, origin="https://evil.example")
    with pytest.raises(InvalidAuthenticationResponse, match="origin"):
        verify_auth(twin, options, reg)


def test_assertion_with_wrong_rp_id_is_rejected() -> None:
    auth = SoftAuthenticator()
    _, reg = register(auth)
    options = auth_options(rp_id="evil.example")
    twin = auth.get(options, origin=ORIGIN, credential_id=reg.credential_id)
    with pytest.raises(InvalidAuthenticationResponse, match="RP ID"):
        verify_auth(twin, options, reg)


@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize("index", [0, -1])
def test_assertion_with_flipped_signature_byte_is_rejected(alg: int, index: int) -> None:
    auth = SoftAuthenticator(alg=alg)
    _, reg = register(auth)
    options = auth_options()
    twin = auth.get(options, origin=ORIGIN)
    twin["response"]["signature"] = flip_byte(twin["response"]["signature"], index)
    with pytest.raises(InvalidAuthenticationResponse, match="signature"):
        verify_auth(twin, options, reg)


@pytest.mark.parametrize("field", ["authenticatorData", "clientDataJSON"])
def test_signature_covers_authenticator_and_client_data(field: str) -> None:
    auth = SoftAuthenticator()
    _, reg = register(auth)
    options = auth_options()
    twin = auth.get(options, origin=ORIGIN)
    if field == "authenticatorData":  # bump the sign count's low byte
        twin["response"][field] = flip_byte(twin["response"][field], -1)
    else:  # same meaning, different bytes: the hash must no longer match
        client_data = base64url_to_bytes(twin["response"][field])
        twin["response"][field] = bytes_to_base64url(client_data.replace(b",", b", "))
    with pytest.raises(InvalidAuthenticationResponse, match="signature"):
        verify_auth(twin, options, reg)


def test_assertion_signed_by_another_key_is_rejected() -> None:
    auth = SoftAuthenticator()
    register(auth)
    _, impostor = register(SoftAuthenticator())
    options = auth_options()
    with pytest.raises(InvalidAuthenticationResponse, match="signature"):
        verify_auth(auth.get(options, origin=ORIGIN), options, impostor)


def test_replayed_sign_count_is_rejected() -> None:
    auth = SoftAuthenticator()
    _, reg = register(auth)
    options = auth_options()
    first = verify_auth(auth.get(options, origin=ORIGIN), options, reg)
    options = auth_options()
    twin = auth.get(options, origin=ORIGIN, sign_count_override=first.new_sign_count)
    with pytest.raises(InvalidAuthenticationResponse, match="sign count"):
        verify_auth(twin, options, reg, current_count=first.new_sign_count)
