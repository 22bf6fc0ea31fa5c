"""Creation and request options, as the JSON browsers' `parse…OptionsFromJSON` accept."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Literal

from webauthn import generate_authentication_options, generate_registration_options, options_to_json
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorAttachment,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    PublicKeyCredentialHint,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

# Most preferred first: EdDSA, then ES256, then RS256 (WebAuthn L3 §5.4.3 advice).
SUPPORTED_ALGORITHMS = [
    COSEAlgorithmIdentifier.EDDSA,
    COSEAlgorithmIdentifier.ECDSA_SHA_256,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,
]
CEREMONY_TIMEOUT_MS = 300_000  # matches the challenge lifetime
_TRANSPORTS = {t.value: t for t in AuthenticatorTransport}

UserVerification = Literal["required", "preferred"]


def _descriptors(credentials: Iterable[tuple[bytes, tuple[str, ...]]]) -> list[PublicKeyCredentialDescriptor]:
    return [
        PublicKeyCredentialDescriptor(
            id=credential_id,
            transports=[_TRANSPORTS[t] for t in transports if t in _TRANSPORTS] or None,
        )
        for credential_id, transports in credentials
    ]


def registration_options(
    *,
    rp_id: str,
    rp_name: str,
    user_handle: bytes,
    user_name: str,
    challenge: bytes,
    exclude: Iterable[tuple[bytes, tuple[str, ...]]],
    user_verification: UserVerification,
    this_device: bool = False,
    attestation: Literal["none", "indirect", "direct", "enterprise"] = "none",
) -> dict[str, Any]:
    """A discoverable-credential request (residentKey required), asking for `attestation`
    (the tenant's `passkey_options.attestation`). `this_device`
    asks for the platform authenticator (`authenticatorAttachment: "platform"`, and the hint
    "client-device"): a passkey on the device in front of the user, not on their phone."""
    options = generate_registration_options(
        rp_id=rp_id,
        rp_name=rp_name,
        user_id=user_handle,
        user_name=user_name,
        user_display_name=user_name,
        challenge=challenge,
        timeout=CEREMONY_TIMEOUT_MS,
        attestation=AttestationConveyancePreference(attestation),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement(user_verification),
            authenticator_attachment=AuthenticatorAttachment.PLATFORM if this_device else None,
        ),
        exclude_credentials=_descriptors(exclude),
        supported_pub_key_algs=SUPPORTED_ALGORITHMS,
        hints=[PublicKeyCredentialHint.CLIENT_DEVICE] if this_device else None,
    )
    result: dict[str, Any] = json.loads(options_to_json(options))
    return result


def authentication_options(
    *,
    rp_id: str,
    challenge: bytes,
    allow: Iterable[tuple[bytes, tuple[str, ...]]],
    user_verification: UserVerification,
) -> dict[str, Any]:
    """Discoverable when `allow` is empty (button and autofill), else identifier-first."""
    options = generate_authentication_options(
        rp_id=rp_id,
        challenge=challenge,
        timeout=CEREMONY_TIMEOUT_MS,
        allow_credentials=_descriptors(allow),
        user_verification=UserVerificationRequirement(user_verification),
    )
    result: dict[str, Any] = json.loads(options_to_json(options))
    return result


def security_key_registration_options(
    *,
    rp_id: str,
    rp_name: str,
    user_handle: bytes,
    user_name: str,
    challenge: bytes,
    exclude: Iterable[tuple[bytes, tuple[str, ...]]],
) -> dict[str, Any]:
    """A security key as a second factor: a non-discoverable credential (residentKey
    discouraged, so it takes no slot on the key and never offers itself to sign in alone),
    user verification preferred (the password or passkey was the first factor), and the hint
    "security-key" so browsers offer a roaming authenticator first."""
    options = generate_registration_options(
        rp_id=rp_id,
        rp_name=rp_name,
        user_id=user_handle,
        user_name=user_name,
        user_display_name=user_name,
        challenge=challenge,
        timeout=CEREMONY_TIMEOUT_MS,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.DISCOURAGED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=_descriptors(exclude),
        supported_pub_key_algs=SUPPORTED_ALGORITHMS,
        hints=[PublicKeyCredentialHint.SECURITY_KEY],
    )
    result: dict[str, Any] = json.loads(options_to_json(options))
    return result
