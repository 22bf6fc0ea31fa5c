"""Keyturn's ceremony checks on responses recorded from real platforms, and their tampered twins.

Each fixture in tests/fixtures/webauthn/ (provenance in its README) goes through the same
functions the passkey method calls: `parse_credential_response`, then `verify_registration`,
or `check_context`, `check_assertion_owner` and `verify_assertion`. Each tampered twin
changes one thing and must be refused with its stable code. Keyturn's own rules (exact
origin, no framing, id length, owner, BE, sign count) are then tested on plain data.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cbor2
import pytest
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

from keyturn.domain.identity import Passkey
from keyturn.errors import CeremonyError
from keyturn.passkeys.options import authentication_options, registration_options
from keyturn.passkeys.response import ClientData, CredentialResponse, parse_credential_response
from keyturn.passkeys.verify import (
    RegisteredCredential,
    VerifiedAssertion,
    check_assertion_owner,
    check_context,
    verify_assertion,
    verify_registration,
)
from tests.support.soft_authenticator import SoftAuthenticator

FIXTURES = Path(__file__).parents[1] / "fixtures" / "webauthn"
REGISTRATIONS = sorted(path.stem for path in FIXTURES.glob("reg_*.json"))
AUTHENTICATIONS = sorted(path.stem for path in FIXTURES.glob("auth_*.json"))
NONE_REGISTRATIONS = [name for name in REGISTRATIONS if name.startswith("reg_none_") or "_spec_none" in name]
ATTESTED_REGISTRATIONS = [name for name in REGISTRATIONS if name not in NONE_REGISTRATIONS]
EVIL_ORIGIN = "https://login.example.com.evil.example"
_UP, _UV, _BE = 0x01, 0x04, 0x08
FLAGS_AT = 32  # offset of the flags byte in authenticator data; the sign count follows


def load(name: str) -> dict[str, Any]:
    fixture: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return fixture


def b64(data: bytes) -> str:
    return bytes_to_base64url(data)


def flip(data: bytes, index: int, mask: int = 0x01) -> bytes:
    """`data` with the bits of `mask` flipped in the byte at `index`."""
    edited = bytearray(data)
    edited[index] ^= mask
    return bytes(edited)


def refused(action: Callable[[], object]) -> CeremonyError:
    with pytest.raises(CeremonyError) as caught:
        action()
    return caught.value


# --- editing a recorded credential ----------------------------------------------------------


def with_response(credential: dict[str, Any], **fields: str) -> dict[str, Any]:
    return {**credential, "response": {**credential["response"], **fields}}


def with_client_data(credential: dict[str, Any], **members: object) -> dict[str, Any]:
    data = json.loads(base64url_to_bytes(credential["response"]["clientDataJSON"]))
    data.update(members)
    return with_response(credential, clientDataJSON=b64(json.dumps(data).encode()))


def with_attestation(credential: dict[str, Any], edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    document = cbor2.loads(base64url_to_bytes(credential["response"]["attestationObject"]))
    edit(document)
    return with_response(credential, attestationObject=b64(cbor2.dumps(document)))


def with_attested_auth_data(credential: dict[str, Any], edit: Callable[[bytes], bytes]) -> dict[str, Any]:
    def change(document: dict[str, Any]) -> None:
        document["authData"] = edit(document["authData"])

    return with_attestation(credential, change)


def with_bytes(credential: dict[str, Any], field: str, edit: Callable[[bytes], bytes]) -> dict[str, Any]:
    return with_response(credential, **{field: b64(edit(base64url_to_bytes(credential["response"][field])))})


# --- running Keyturn's functions on a fixture ---------------------------------------------------


def register(fixture: dict[str, Any], credential: dict[str, Any] | None = None) -> RegisteredCredential:
    return verify_registration(
        parse_credential_response(fixture["credential"] if credential is None else credential),
        challenge=base64url_to_bytes(fixture["expected_challenge_b64url"]),
        rp_id=fixture["expected_rp_id"],
        origins=[fixture["expected_origin"]],
        require_user_verification=fixture["require_user_verification"],
    )


def stored_passkey(fixture: dict[str, Any], **changes: Any) -> Passkey:
    """The passkey as Keyturn would hold it for an authentication fixture."""
    response = parse_credential_response(fixture["credential"])
    passkey = Passkey(
        id="pk_1",
        user_id="usr_1",
        credential_id=response.credential_id,
        public_key=base64url_to_bytes(fixture["credential_public_key_b64url"]),
        sign_count=fixture["credential_current_sign_count"],
        aaguid="00000000-0000-0000-0000-000000000000",
        transports=(),
        backup_eligible=fixture["authenticator_flags"]["BE"],
        backup_state=fixture["authenticator_flags"]["BS"],
        user_handle=response.user_handle or b"owner-of-the-recorded-key",
        rp_id=fixture["expected_rp_id"],
        name="Passkey",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        last_used_at=None,
        user_agent="",
    )
    return dataclasses.replace(passkey, **changes)


def sign_in(
    fixture: dict[str, Any], credential: dict[str, Any] | None = None, *, passkey: Passkey | None = None
) -> VerifiedAssertion:
    """Everything the passkey method runs on an assertion, in its order."""
    response = parse_credential_response(fixture["credential"] if credential is None else credential)
    passkey = stored_passkey(fixture) if passkey is None else passkey
    origins = [fixture["expected_origin"]]
    check_context(response, origins=origins)
    # Recorded assertions without a userHandle came from identifier-first (allowCredentials) sign-ins.
    allowed = () if response.user_handle else (passkey.credential_id,)
    check_assertion_owner(response, passkey=passkey, allowed=allowed)
    return verify_assertion(
        response,
        challenge=base64url_to_bytes(fixture["expected_challenge_b64url"]),
        rp_id=fixture["expected_rp_id"],
        origins=origins,
        passkey=passkey,
        require_user_verification=fixture["require_user_verification"],
    )


def test_the_fixtures_cover_the_platforms_keyturn_expects() -> None:
    platforms = " ".join(load(name)["platform"] for name in REGISTRATIONS + AUTHENTICATIONS)
    for platform in ("iCloud", "Windows Hello", "Android", "Chrome", "YubiKey", "security key"):
        assert platform in platforms
    assert len(REGISTRATIONS) >= 8 and len(AUTHENTICATIONS) >= 8
    for name in REGISTRATIONS + AUTHENTICATIONS:
        assert {"source", "platform", "generated"} <= set(load(name))


# --- registrations ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", REGISTRATIONS)
def test_recorded_registration_verifies(name: str) -> None:
    fixture = load(name)
    registered = register(fixture)
    flags = fixture["authenticator_flags"]
    assert registered.credential_id == base64url_to_bytes(fixture["credential"]["rawId"])
    assert registered.aaguid == fixture["aaguid"]
    assert registered.sign_count == fixture["sign_count"]
    assert (registered.backup_eligible, registered.backup_state) == (flags["BE"], flags["BS"])


@pytest.mark.parametrize("name", REGISTRATIONS)
def test_re_encoding_the_attestation_object_changes_nothing(name: str) -> None:
    """The honest twin of every attestation edit below: cbor2 round-trips the recorded bytes."""
    fixture = load(name)
    assert register(fixture, with_attestation(fixture["credential"], lambda document: None)) == register(
        fixture
    )


def _other_challenge(fixture: dict[str, Any]) -> dict[str, Any]:
    challenge = base64url_to_bytes(fixture["expected_challenge_b64url"])
    return with_client_data(fixture["credential"], challenge=b64(flip(challenge, 0)))


def _other_credential_id(fixture: dict[str, Any]) -> dict[str, Any]:
    raw_id = b64(flip(base64url_to_bytes(fixture["credential"]["rawId"]), 0))
    return {**fixture["credential"], "id": raw_id, "rawId": raw_id}


REGISTRATION_TWINS: dict[str, tuple[Callable[[dict[str, Any]], dict[str, Any]], str]] = {
    "another challenge": (_other_challenge, "passkey_verification_failed"),
    "another origin": (
        lambda fixture: with_client_data(fixture["credential"], origin=EVIL_ORIGIN),
        "origin_mismatch",
    ),
    "crossOrigin true": (
        lambda fixture: with_client_data(fixture["credential"], crossOrigin=True),
        "cross_origin_refused",
    ),
    "framed (topOrigin)": (
        lambda fixture: with_client_data(fixture["credential"], topOrigin=EVIL_ORIGIN),
        "cross_origin_refused",
    ),
    "webauthn.get type": (
        lambda fixture: with_client_data(fixture["credential"], type="webauthn.get"),
        "passkey_verification_failed",
    ),
    "RP ID hash byte": (
        lambda fixture: with_attested_auth_data(fixture["credential"], lambda data: flip(data, 0)),
        "passkey_verification_failed",
    ),
    "UP flag cleared": (
        lambda fixture: with_attested_auth_data(
            fixture["credential"], lambda data: flip(data, FLAGS_AT, _UP)
        ),
        "passkey_verification_failed",
    ),
    "rawId not the attested id": (_other_credential_id, "invalid_response"),
    "byte after the attestation object": (
        lambda fixture: with_bytes(fixture["credential"], "attestationObject", lambda data: data + b"\x00"),
        "invalid_response",
    ),
}


@pytest.mark.parametrize("twin", REGISTRATION_TWINS)
@pytest.mark.parametrize("name", REGISTRATIONS)
def test_tampered_registration_is_refused(name: str, twin: str) -> None:
    fixture = load(name)
    tamper, code = REGISTRATION_TWINS[twin]
    assert refused(lambda: register(fixture, tamper(fixture))).code == code


@pytest.mark.parametrize("name", [n for n in REGISTRATIONS if load(n)["require_user_verification"]])
def test_registration_without_uv_is_refused_when_uv_is_required(name: str) -> None:
    fixture = load(name)
    credential = with_attested_auth_data(fixture["credential"], lambda data: flip(data, FLAGS_AT, _UV))
    assert refused(lambda: register(fixture, credential)).code == "passkey_verification_failed"


@pytest.mark.parametrize("name", ATTESTED_REGISTRATIONS)
def test_registration_with_a_broken_attestation_signature_is_refused(name: str) -> None:
    fixture = load(name)

    def break_signature(document: dict[str, Any]) -> None:
        signature = document["attStmt"]["sig"]
        document["attStmt"]["sig"] = flip(signature, len(signature) - 1)

    credential = with_attestation(fixture["credential"], break_signature)
    assert refused(lambda: register(fixture, credential)).code == "passkey_verification_failed"


@pytest.mark.parametrize("name", ATTESTED_REGISTRATIONS)
def test_attested_registration_with_an_edited_key_is_refused(name: str) -> None:
    """The attestation signs the attested key (fido-u2f signs only that, the id and the RP ID hash)."""
    fixture = load(name)
    credential = with_attested_auth_data(fixture["credential"], lambda data: flip(data, len(data) - 1))
    assert refused(lambda: register(fixture, credential)).code == "passkey_verification_failed"


def test_registration_checks_the_expected_rp_id_and_origin_list() -> None:
    fixture = load("reg_none_icloud_keychain_passkey")
    other_rp = {**fixture, "expected_rp_id": "ngrok-free.app"}
    assert refused(lambda: register(other_rp)).code == "passkey_verification_failed"
    other_origin = {**fixture, "expected_origin": fixture["expected_origin"] + "/"}
    assert refused(lambda: register(other_origin)).code == "origin_mismatch"


# --- authentications ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", AUTHENTICATIONS)
def test_recorded_authentication_verifies(name: str) -> None:
    fixture = load(name)
    verified = sign_in(fixture)
    flags = fixture["authenticator_flags"]
    assert verified.new_sign_count == fixture["new_sign_count"]
    assert (verified.user_verified, verified.backup_state) == (flags["UV"], flags["BS"])


def test_the_key_keyturn_stores_at_registration_verifies_the_later_assertion() -> None:
    """The W3C none-ES256 vectors are the only recorded registration/assertion pair."""
    registered = register(load("reg_spec_none_es256"))
    fixture = load("auth_spec_none_es256")
    passkey = stored_passkey(
        fixture,
        public_key=registered.public_key,
        sign_count=registered.sign_count,
        backup_eligible=registered.backup_eligible,
    )
    assert registered.credential_id == passkey.credential_id
    assert sign_in(fixture, passkey=passkey).backup_state is True


def _signature_flipped(fixture: dict[str, Any]) -> dict[str, Any]:
    return with_bytes(fixture["credential"], "signature", lambda data: flip(data, len(data) - 1))


def _auth_data_flipped(index: int, mask: int = 0x01) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda fixture: with_bytes(
        fixture["credential"], "authenticatorData", lambda d: flip(d, index, mask)
    )


AUTHENTICATION_TWINS: dict[str, tuple[Callable[[dict[str, Any]], dict[str, Any]], str]] = {
    "signature byte": (_signature_flipped, "passkey_verification_failed"),
    "another challenge": (_other_challenge, "passkey_verification_failed"),
    "another origin": (
        lambda fixture: with_client_data(fixture["credential"], origin=EVIL_ORIGIN),
        "origin_mismatch",
    ),
    "crossOrigin true": (
        lambda fixture: with_client_data(fixture["credential"], crossOrigin=True),
        "cross_origin_refused",
    ),
    "framed (topOrigin)": (
        lambda fixture: with_client_data(fixture["credential"], topOrigin=fixture["expected_origin"]),
        "cross_origin_refused",
    ),
    "webauthn.create type": (
        lambda fixture: with_client_data(fixture["credential"], type="webauthn.create"),
        "passkey_verification_failed",
    ),
    "RP ID hash byte": (_auth_data_flipped(0), "passkey_verification_failed"),
    "UP flag cleared": (_auth_data_flipped(FLAGS_AT, _UP), "passkey_verification_failed"),
    "UV flag flipped": (_auth_data_flipped(FLAGS_AT, _UV), "passkey_verification_failed"),
    "BE flag flipped": (_auth_data_flipped(FLAGS_AT, _BE), "passkey_verification_failed"),
    "sign count raised": (_auth_data_flipped(FLAGS_AT + 1, 0x80), "passkey_verification_failed"),
}


@pytest.mark.parametrize("twin", AUTHENTICATION_TWINS)
@pytest.mark.parametrize("name", AUTHENTICATIONS)
def test_tampered_authentication_is_refused(name: str, twin: str) -> None:
    fixture = load(name)
    tamper, code = AUTHENTICATION_TWINS[twin]
    assert refused(lambda: sign_in(fixture, tamper(fixture))).code == code


@pytest.mark.parametrize("name", AUTHENTICATIONS)
def test_recorded_assertion_against_another_key_is_refused(name: str) -> None:
    fixture = load(name)
    other = next(
        load(n)
        for n in AUTHENTICATIONS
        if load(n)["credential_public_key_b64url"] != fixture["credential_public_key_b64url"]
    )
    passkey = stored_passkey(fixture, public_key=base64url_to_bytes(other["credential_public_key_b64url"]))
    assert refused(lambda: sign_in(fixture, passkey=passkey)).code == "passkey_verification_failed"


@pytest.mark.parametrize("name", AUTHENTICATIONS)
def test_recorded_assertion_not_above_the_stored_count_is_a_possible_clone(name: str) -> None:
    fixture = load(name)
    passkey = stored_passkey(fixture, sign_count=max(fixture["new_sign_count"], 1))
    assert refused(lambda: sign_in(fixture, passkey=passkey)).code == "possible_cloned_passkey"


@pytest.mark.parametrize("name", AUTHENTICATIONS)
def test_recorded_assertion_whose_backup_eligibility_changed_is_refused(name: str) -> None:
    fixture = load(name)
    passkey = stored_passkey(fixture, backup_eligible=not fixture["authenticator_flags"]["BE"])
    assert refused(lambda: sign_in(fixture, passkey=passkey)).code == "backup_eligibility_changed"


def _has_user_handle(name: str) -> bool:
    return bool(load(name)["credential"]["response"].get("userHandle"))


@pytest.mark.parametrize("name", [n for n in AUTHENTICATIONS if _has_user_handle(n)])
def test_recorded_assertion_for_another_owner_is_refused(name: str) -> None:
    fixture = load(name)
    passkey = stored_passkey(fixture, user_handle=b"someone-else")
    assert refused(lambda: sign_in(fixture, passkey=passkey)).code == "user_handle_mismatch"


@pytest.mark.parametrize("name", [n for n in AUTHENTICATIONS if not _has_user_handle(n)])
def test_recorded_assertion_without_user_handle_is_refused_in_a_discoverable_sign_in(name: str) -> None:
    fixture = load(name)
    response = parse_credential_response(fixture["credential"])
    error = refused(lambda: check_assertion_owner(response, passkey=stored_passkey(fixture), allowed=()))
    assert error.code == "invalid_response"


@pytest.mark.parametrize("name", AUTHENTICATIONS)
def test_recorded_assertion_outside_allow_credentials_is_refused(name: str) -> None:
    fixture = load(name)
    response = parse_credential_response(fixture["credential"])
    passkey = stored_passkey(fixture)
    allowed = (flip(passkey.credential_id, 0),)
    error = refused(lambda: check_assertion_owner(response, passkey=passkey, allowed=allowed))
    assert error.code == "credential_not_allowed"


# --- Keyturn's own rules, on plain data ------------------------------------------------------------

ORIGIN = "https://login.example.com"
RP_ID = "login.example.com"


def response_of(
    *,
    origin: str = ORIGIN,
    cross_origin: bool = False,
    top_origin: str | None = None,
    credential_id: bytes = b"\x01" * 16,
    user_handle: bytes | None = None,
) -> CredentialResponse:
    client = ClientData(
        type="webauthn.get",
        challenge=b"\x00" * 32,
        origin=origin,
        cross_origin=cross_origin,
        top_origin=top_origin,
    )
    return CredentialResponse(
        raw={}, credential_id=credential_id, client_data=client, user_handle=user_handle
    )


def plain_passkey(**changes: Any) -> Passkey:
    passkey = Passkey(
        id="pk_1",
        user_id="usr_1",
        credential_id=b"\x01" * 16,
        public_key=b"",
        sign_count=0,
        aaguid="00000000-0000-0000-0000-000000000000",
        transports=(),
        backup_eligible=True,
        backup_state=True,
        user_handle=b"owner-handle",
        rp_id=RP_ID,
        name="Passkey",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        last_used_at=None,
        user_agent="",
    )
    return dataclasses.replace(passkey, **changes)


def test_the_exact_origin_is_accepted() -> None:
    check_context(response_of(), origins=[ORIGIN])
    check_context(response_of(origin="https://other.example"), origins=[ORIGIN, "https://other.example"])


@pytest.mark.parametrize(
    "origin",
    [
        "https://login.example.com/",
        "https://login.example.com:443",
        "http://login.example.com",
        "https://LOGIN.example.com",
        "https://evil.login.example.com",
        "https://example.com",
        "https://login.example.com.evil.example",
        "null",
        "",
    ],
)
def test_any_other_origin_is_refused(origin: str) -> None:
    assert (
        refused(lambda: check_context(response_of(origin=origin), origins=[ORIGIN])).code == "origin_mismatch"
    )


@pytest.mark.parametrize(
    ("cross_origin", "top_origin"),
    [(True, None), (True, "https://embedder.example"), (False, "https://embedder.example"), (False, ORIGIN)],
)
def test_cross_origin_and_framed_ceremonies_are_refused(cross_origin: bool, top_origin: str | None) -> None:
    response = response_of(cross_origin=cross_origin, top_origin=top_origin)
    assert refused(lambda: check_context(response, origins=[ORIGIN])).code == "cross_origin_refused"


def test_framing_is_refused_before_the_origin_is_looked_at() -> None:
    response = response_of(origin=EVIL_ORIGIN, cross_origin=True)
    assert refused(lambda: check_context(response, origins=[ORIGIN])).code == "cross_origin_refused"


def test_a_credential_id_of_1023_bytes_is_the_longest_accepted() -> None:
    check_context(response_of(credential_id=b"\x07" * 1023), origins=[ORIGIN])
    response = response_of(credential_id=b"\x07" * 1024)
    assert refused(lambda: check_context(response, origins=[ORIGIN])).code == "invalid_response"


def test_the_owner_s_user_handle_is_accepted() -> None:
    passkey = plain_passkey()
    check_assertion_owner(response_of(user_handle=b"owner-handle"), passkey=passkey, allowed=())
    check_assertion_owner(
        response_of(user_handle=b"owner-handle"), passkey=passkey, allowed=(passkey.credential_id,)
    )


@pytest.mark.parametrize("allowed", [(), (b"\x01" * 16,)], ids=["discoverable", "identifier-first"])
@pytest.mark.parametrize("handle", [b"other-handle", b"owner-handl", b"owner-handle\x00", b"OWNER-HANDLE"])
def test_another_user_handle_is_refused(handle: bytes, allowed: tuple[bytes, ...]) -> None:
    response = response_of(user_handle=handle)
    error = refused(lambda: check_assertion_owner(response, passkey=plain_passkey(), allowed=allowed))
    assert error.code == "user_handle_mismatch"


def test_a_discoverable_sign_in_must_name_its_user() -> None:
    error = refused(lambda: check_assertion_owner(response_of(), passkey=plain_passkey(), allowed=()))
    assert error.code == "invalid_response"


def test_an_identifier_first_sign_in_may_omit_the_user_handle() -> None:
    check_assertion_owner(response_of(), passkey=plain_passkey(), allowed=(b"\x01" * 16,))


def test_a_credential_outside_allow_credentials_is_refused() -> None:
    passkey = plain_passkey()
    response = response_of(user_handle=b"owner-handle")
    error = refused(lambda: check_assertion_owner(response, passkey=passkey, allowed=(b"\x02" * 16,)))
    assert error.code == "credential_not_allowed"


# Sign count and backup eligibility need a real signature: the soft authenticator's.


def soft_registration(authenticator: SoftAuthenticator) -> Passkey:
    challenge = b"\x11" * 32
    options = registration_options(
        rp_id=RP_ID,
        rp_name="Example",
        user_handle=b"owner-handle",
        user_name="ada@example.com",
        challenge=challenge,
        exclude=[],
        user_verification="required",
    )
    registered = verify_registration(
        parse_credential_response(authenticator.create(options, origin=ORIGIN)),
        challenge=challenge,
        rp_id=RP_ID,
        origins=[ORIGIN],
        require_user_verification=True,
    )
    return plain_passkey(
        credential_id=registered.credential_id,
        public_key=registered.public_key,
        sign_count=registered.sign_count,
        backup_eligible=registered.backup_eligible,
        backup_state=registered.backup_state,
    )


def soft_assertion(authenticator: SoftAuthenticator, passkey: Passkey, **get: Any) -> VerifiedAssertion:
    challenge = b"\x22" * 32
    options = authentication_options(rp_id=RP_ID, challenge=challenge, allow=[], user_verification="required")
    response = parse_credential_response(authenticator.get(options, origin=ORIGIN, **get))
    check_assertion_owner(response, passkey=passkey, allowed=())
    return verify_assertion(
        response,
        challenge=challenge,
        rp_id=RP_ID,
        origins=[ORIGIN],
        passkey=passkey,
        require_user_verification=True,
    )


@pytest.mark.parametrize(
    ("stored", "new", "accepted"),
    [
        (0, 0, True),  # synced passkeys always report 0
        (0, 1, True),
        (5, 6, True),
        (5, 1_000_000, True),
        (0, 2**32 - 1, True),
        (5, 5, False),
        (5, 4, False),
        (5, 0, False),  # a counter that went back to 0
        (2**32 - 1, 0, False),
    ],
)
def test_sign_count_rule(stored: int, new: int, accepted: bool) -> None:
    """WebAuthn L3 §7.2 step 21: either count non-zero ⇒ the new one must be greater."""
    authenticator = SoftAuthenticator()
    passkey = dataclasses.replace(soft_registration(authenticator), sign_count=stored)
    if accepted:
        assert soft_assertion(authenticator, passkey, sign_count_override=new).new_sign_count == new
    else:
        error = refused(lambda: soft_assertion(authenticator, passkey, sign_count_override=new))
        assert error.code == "possible_cloned_passkey"


@pytest.mark.parametrize("registered_be", [True, False])
def test_backup_eligibility_must_not_change(registered_be: bool) -> None:
    authenticator = SoftAuthenticator(backup_eligible=registered_be, backup_state=registered_be)
    passkey = soft_registration(authenticator)
    assert passkey.backup_eligible is registered_be
    assert soft_assertion(authenticator, passkey).backup_state is registered_be  # the honest twin
    error = refused(
        lambda: soft_assertion(authenticator, passkey, backup_eligible_override=not registered_be)
    )
    assert error.code == "backup_eligibility_changed"


def test_backup_state_may_change() -> None:
    """BS is the passkey's current state (synced or not yet): only BE is fixed (§6.1.3)."""
    authenticator = SoftAuthenticator(backup_eligible=True, backup_state=False)
    passkey = soft_registration(authenticator)
    authenticator.backup_state = True
    assert soft_assertion(authenticator, passkey).backup_state is True
