"""Verifying ceremonies: the library's checks, then Keyturn's own (WebAuthn L3 §7.1, §7.2).

The caller has already consumed the challenge; these functions only decide.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from webauthn import verify_authentication_response, verify_registration_response
from webauthn.helpers import base64url_to_bytes, parse_authenticator_data
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import AttestationFormat, CredentialDeviceType

from keyturn.domain.identity import NO_ATTESTATION, Passkey, PasskeyAttestation
from keyturn.errors import CeremonyError
from keyturn.passkeys.cose import CBOR_ERRORS, check_public_key, decode_single_item
from keyturn.passkeys.options import SUPPORTED_ALGORITHMS
from keyturn.passkeys.response import MAX_CREDENTIAL_ID_BYTES, CredentialResponse, malformed

# What untrusted bytes can make the library (or cbor2 underneath it) raise.
_LIBRARY_ERRORS = (WebAuthnException, ValueError, TypeError, KeyError, IndexError, OverflowError)


@dataclass(frozen=True)
class RegisteredCredential:
    credential_id: bytes
    public_key: bytes
    sign_count: int
    aaguid: str
    transports: tuple[str, ...]
    backup_eligible: bool
    backup_state: bool
    attestation: PasskeyAttestation = NO_ATTESTATION


@dataclass(frozen=True)
class VerifiedAssertion:
    new_sign_count: int
    backup_state: bool
    user_verified: bool


def _failure(code: str, detail: str) -> CeremonyError:
    return CeremonyError(code=code, detail=detail)


def check_context(response: CredentialResponse, *, origins: list[str]) -> None:
    """Keyturn's checks on where the ceremony ran: exact origin, never framed or cross-origin.

    Raises:
        `cross_origin_refused`: clientDataJSON has `crossOrigin: true` or any `topOrigin`.
        `origin_mismatch`: the origin is not exactly one of `origins`.
        `invalid_response`: the credential id is longer than 1023 bytes (WebAuthn L3 §5.1).
    """
    client = response.client_data
    if client.cross_origin or client.top_origin is not None:
        raise _failure(
            "cross_origin_refused",
            f"crossOrigin={client.cross_origin} topOrigin={client.top_origin!r}",
        )
    if client.origin not in origins:
        raise _failure(
            "origin_mismatch",
            f"origin {client.origin!r} not in {origins}",
        )
    if len(response.credential_id) > MAX_CREDENTIAL_ID_BYTES:
        raise malformed(f"credential id of {len(response.credential_id)} bytes")


def verify_registration(
    response: CredentialResponse,
    *,
    challenge: bytes,
    rp_id: str,
    origins: list[str],
    require_user_verification: bool,
    require_user_presence: bool = True,
    attestation_roots: Mapping[str, list[bytes]] | None = None,
) -> RegisteredCredential:
    """§7.1: `check_context`, the library's checks, then the attestation object and the key.

    Any attestation format that verifies is accepted; what it proves is decided before, by
    `keyturn.passkeys.attestation.check_attestation`, whose roots (`attestation_roots`, by
    format) the library checks the chain against here again. User presence
    (UP) is required unless the caller says otherwise: only a conditional create may lack it
    (WebAuthn L3 §5.1.3 step 22; the rule is `keyturn.methods.passkey.user_presence_required`).

    Raises:
        `cross_origin_refused`, `origin_mismatch`: as `check_context`.
        `invalid_response`: credential id over 1023 bytes; an attestation object that is not
            exactly {fmt: text, attStmt: map, authData: bytes} with nothing after it, or a
            "none" one whose attStmt is not empty (§6.5); rawId not the attested credential id.
        `passkey_verification_failed`: the library refused it: client data type or challenge,
            RP ID hash, UP or UV flag, undecodable CBOR or authenticator data, an algorithm
            not offered, an attestation statement that does not verify.
        `invalid_public_key`: the credential public key is not a valid ES256, EdDSA or RS256
            key (`keyturn.passkeys.cose.check_public_key`).
    """
    check_context(response, origins=origins)
    try:
        verified = verify_registration_response(
            credential=response.raw,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origins,
            require_user_presence=require_user_presence,
            require_user_verification=require_user_verification,
            supported_pub_key_algs=SUPPORTED_ALGORITHMS,
            pem_root_certs_bytes_by_fmt={
                AttestationFormat(fmt): list(roots) for fmt, roots in (attestation_roots or {}).items()
            },
        )
    except _LIBRARY_ERRORS as exc:
        raise _failure("passkey_verification_failed", repr(exc)) from exc
    # After the library, so what it refuses keeps its code; these are what it lets through.
    check_attestation_object(verified.attestation_object)
    if verified.credential_id != response.credential_id:
        # "none" attestation signs nothing: rawId must be the id inside the authenticator data.
        raise malformed("rawId is not the attested credential id")
    check_public_key(verified.credential_public_key)
    transports = response.raw["response"].get("transports") or []
    return RegisteredCredential(
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        aaguid=verified.aaguid,
        transports=tuple(str(t) for t in transports if isinstance(t, str))[:8],
        backup_eligible=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
        backup_state=verified.credential_backed_up,
    )


def check_attestation_object(attestation_object: bytes) -> None:
    """WebAuthn L3 §6.5: one CBOR map of exactly fmt (text), attStmt (map), authData (bytes).

    Raises:
        `invalid_response`: anything else, bytes after the map, or "none" with a non-empty attStmt.
    """
    try:
        document = decode_single_item(attestation_object)
    except CBOR_ERRORS as exc:
        raise malformed(f"attestationObject: {exc!r}") from exc
    if not isinstance(document, dict) or set(document) != {"fmt", "attStmt", "authData"}:
        keys = sorted(map(str, document)) if isinstance(document, dict) else type(document).__name__
        raise malformed(f"attestationObject is not {{fmt, attStmt, authData}}: {keys}")
    if type(document["fmt"]) is not str:
        raise malformed("attestationObject.fmt is not text")
    if type(document["attStmt"]) is not dict:
        raise malformed("attestationObject.attStmt is not a map")
    if type(document["authData"]) is not bytes:
        raise malformed("attestationObject.authData is not a byte string")
    if document["fmt"] == "none" and document["attStmt"]:
        raise malformed("none attestation with a non-empty attStmt")


def check_assertion_owner(
    response: CredentialResponse, *, passkey: Passkey, allowed: tuple[bytes, ...]
) -> None:
    """§7.2 steps 5–6: the credential was offered, and the user handle is its owner's.

    Raises:
        `credential_not_allowed`: `allowed` is not empty and lacks the passkey's id.
        `invalid_response`: no userHandle in a discoverable sign-in (`allowed` empty).
        `user_handle_mismatch`: a userHandle that is not the passkey owner's.
    """
    if allowed and passkey.credential_id not in allowed:
        raise _failure(
            "credential_not_allowed",
            "credential outside allowCredentials",
        )
    handle = response.user_handle
    if handle is None:
        if not allowed:  # discoverable sign-in must name the user
            raise malformed("userHandle missing in a discoverable sign-in")
    elif not hmac.compare_digest(handle, passkey.user_handle):
        raise _failure(
            "user_handle_mismatch",
            "userHandle is not the credential owner's",
        )


def verify_assertion(
    response: CredentialResponse,
    *,
    challenge: bytes,
    rp_id: str,
    origins: list[str],
    passkey: Passkey,
    require_user_verification: bool,
) -> VerifiedAssertion:
    """Signature, flags, then Keyturn's sign-count (§7.2 step 21) and backup-eligibility rules.

    The caller runs `check_context` and `check_assertion_owner` first.

    Raises:
        `passkey_verification_failed`: the library refused it: client data type or challenge,
            origin, RP ID hash, UP or UV flag, malformed authenticator data, the signature.
        `backup_eligibility_changed`: the BE flag differs from the one registered.
        `possible_cloned_passkey`: a sign count that is not above the stored one (unless both
            are 0, as synced passkeys report).
    """
    try:
        verified = verify_authentication_response(
            credential=response.raw,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origins,
            credential_public_key=passkey.public_key,
            credential_current_sign_count=0,  # Keyturn applies the rule itself, after the signature
            require_user_verification=require_user_verification,
        )
        # The library accepted these bytes just above; read the BE flag it does not return.
        flags = parse_authenticator_data(
            base64url_to_bytes(response.raw["response"]["authenticatorData"])
        ).flags
    except _LIBRARY_ERRORS as exc:
        raise _failure("passkey_verification_failed", repr(exc)) from exc
    if bool(flags.be) != passkey.backup_eligible:
        raise _failure(
            "backup_eligibility_changed",
            f"BE flag {flags.be} differs from registration {passkey.backup_eligible}",
        )
    new_count = verified.new_sign_count
    if (new_count > 0 or passkey.sign_count > 0) and new_count <= passkey.sign_count:
        raise _failure(
            "possible_cloned_passkey",
            f"sign count {new_count} not above stored {passkey.sign_count}",
        )
    return VerifiedAssertion(
        new_sign_count=new_count,
        backup_state=verified.credential_backed_up,
        user_verified=verified.user_verified,
    )
