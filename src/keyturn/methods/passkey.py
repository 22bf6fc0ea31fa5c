"""The passkey method: challenges, ceremonies and the records they leave.

Every ceremony consumes its challenge before verifying, so a challenge works once
even when verification fails.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from webauthn.helpers import bytes_to_base64url

from keyturn.domain.flow import CeremonyKind, Challenge, Flow
from keyturn.domain.identity import Passkey, User
from keyturn.domain.tenant import TenantSettings
from keyturn.errors import CeremonyError
from keyturn.ids import new_id
from keyturn.passkeys import options as webauthn_options
from keyturn.passkeys.aaguid import default_passkey_name
from keyturn.passkeys.response import CredentialResponse, parse_credential_response
from keyturn.passkeys.verify import (
    RegisteredCredential,
    check_assertion_owner,
    check_context,
    verify_assertion,
    verify_registration,
)
from keyturn.runtime import Runtime

security_log = logging.getLogger("keyturn.security")
CHALLENGE_BYTES = 32


def _descriptors(passkeys: list[Passkey]) -> list[tuple[bytes, tuple[str, ...]]]:
    return [(p.credential_id, p.transports) for p in passkeys]


def stand_in_credentials(rt: Runtime, email: str) -> list[tuple[bytes, tuple[str, ...]]]:
    """A stable made-up credential for an email with no passkeys, so answers do not differ."""
    digest = hmac.new(rt.enumeration_key, email.encode(), hashlib.sha256).digest()
    return [(digest[:16], ("internal", "hybrid"))]


async def _new_challenge(
    rt: Runtime, flow: Flow, ceremony: CeremonyKind, tenant: TenantSettings, **fields: Any
) -> Challenge:
    challenge = Challenge(
        challenge=secrets.token_bytes(CHALLENGE_BYTES),
        flow_id=flow.id,
        ceremony=ceremony,
        expires_at=rt.clock.now() + timedelta(seconds=rt.settings.challenge_ttl_seconds),
        user_verification=tenant.passkey_options.user_verification,
        **fields,
    )
    await rt.store.put_challenge(challenge)
    return challenge


async def request_options(
    rt: Runtime,
    flow: Flow,
    tenant: TenantSettings,
    *,
    allow: Sequence[tuple[bytes, tuple[str, ...]]] = (),
    user_id: str | None = None,
) -> dict[str, Any]:
    """Options for navigator.credentials.get(): discoverable unless `allow` names credentials."""
    challenge = await _new_challenge(
        rt,
        flow,
        "authentication",
        tenant,
        user_id=user_id,
        allowed_credential_ids=tuple(c for c, _ in allow),
    )
    return webauthn_options.authentication_options(
        rp_id=tenant.rp.id,
        challenge=challenge.challenge,
        allow=allow,
        user_verification=tenant.passkey_options.user_verification,
    )


async def creation_options(
    rt: Runtime,
    flow: Flow,
    tenant: TenantSettings,
    *,
    user_handle: bytes,
    email: str,
    existing: list[Passkey],
    user_id: str | None = None,
) -> dict[str, Any]:
    """Options for navigator.credentials.create(), excluding the user's existing passkeys."""
    challenge = await _new_challenge(
        rt,
        flow,
        "registration",
        tenant,
        user_id=user_id,
        pending={"email": email, "user_handle": bytes_to_base64url(user_handle)},
    )
    return webauthn_options.registration_options(
        rp_id=tenant.rp.id,
        rp_name=tenant.rp.display_name,
        user_handle=user_handle,
        user_name=email,
        challenge=challenge.challenge,
        exclude=_descriptors(existing),
        user_verification=tenant.passkey_options.user_verification,
    )


async def _consume(
    rt: Runtime, flow: Flow, credential: object, ceremony: CeremonyKind
) -> tuple[CredentialResponse, Challenge]:
    response = parse_credential_response(credential)
    challenge = await rt.store.consume_challenge(flow.id, response.client_data.challenge, now=rt.clock.now())
    if challenge is None or challenge.ceremony != ceremony:
        raise CeremonyError(
            "This passkey request has expired or was already used. Please try again.",
            code="challenge_invalid",
            detail="no live challenge of this flow matches clientDataJSON.challenge",
        )
    return response, challenge


async def register(
    rt: Runtime, flow: Flow, tenant: TenantSettings, *, credential: object
) -> tuple[Challenge, RegisteredCredential]:
    """Verify a new credential against its challenge; the caller stores it."""
    response, challenge = await _consume(rt, flow, credential, "registration")
    registered = verify_registration(
        response,
        challenge=challenge.challenge,
        rp_id=tenant.rp.id,
        origins=tenant.rp.accepted_origins,
        require_user_verification=challenge.user_verification == "required",
    )
    return challenge, registered


def new_passkey(
    rt: Runtime, user: User, registered: RegisteredCredential, tenant: TenantSettings, *, user_agent: str
) -> Passkey:
    return Passkey(
        id=new_id(),
        user_id=user.id,
        credential_id=registered.credential_id,
        public_key=registered.public_key,
        sign_count=registered.sign_count,
        aaguid=registered.aaguid,
        transports=registered.transports,
        backup_eligible=registered.backup_eligible,
        backup_state=registered.backup_state,
        user_handle=user.user_handle,
        rp_id=tenant.rp.id,
        name=default_passkey_name(registered.aaguid),
        created_at=rt.clock.now(),
        last_used_at=None,
        user_agent=user_agent[:512],
    )


async def authenticate(rt: Runtime, flow: Flow, tenant: TenantSettings, *, credential: object) -> User:
    """Verify an assertion and record the passkey's use (WebAuthn L3 §7.2)."""
    response, challenge = await _consume(rt, flow, credential, "authentication")
    check_context(response, origins=tenant.rp.accepted_origins)
    passkey = await rt.store.find_passkey(response.credential_id)
    if passkey is None:
        raise CeremonyError(
            "This passkey is not registered here any more. Choose another or sign in another way.",
            code="unknown_credential",
            extra={"credential_id": bytes_to_base64url(response.credential_id), "rp_id": tenant.rp.id},
        )
    check_assertion_owner(response, passkey=passkey, allowed=challenge.allowed_credential_ids)
    try:
        verified = verify_assertion(
            response,
            challenge=challenge.challenge,
            rp_id=tenant.rp.id,
            origins=tenant.rp.accepted_origins,
            passkey=passkey,
            require_user_verification=challenge.user_verification == "required",
        )
    except CeremonyError as error:
        if error.code == "possible_cloned_passkey":
            security_log.warning(
                "possible cloned passkey refused",
                extra={"passkey_id": passkey.id, "user_id": passkey.user_id, "detail": error.detail},
            )
        raise
    await rt.store.record_passkey_use(
        passkey.id,
        sign_count=verified.new_sign_count,
        backup_state=verified.backup_state,
        used_at=rt.clock.now(),
    )
    user = await rt.store.get_user(passkey.user_id)
    if user is None:  # deleted between lookup and now
        raise CeremonyError(code="unknown_credential")
    return user
