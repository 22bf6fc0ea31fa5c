"""Security keys as a second factor: non-discoverable WebAuthn credentials, kept apart from
passkeys (their own table), so they never sign in alone, never answer a discoverable or
identifier-first passkey request, and never count toward the passkey limit.

The ceremonies are the passkey layer's (`keyturn.passkeys`, py_webauthn); only the options
(residentKey discouraged, user verification preferred) and where the credential is stored
differ. As for passkeys, a challenge is spent whatever the outcome, and a sign count is
stored only over the one it was verified against.
"""

from __future__ import annotations

from typing import Any

from keyturn.context import Context
from keyturn.domain.events import EventType
from keyturn.domain.flow import Flow
from keyturn.domain.identity import Passkey, User
from keyturn.domain.methods import MethodId
from keyturn.domain.tenant import TenantSettings
from keyturn.errors import CeremonyError, KeyturnError
from keyturn.i18n import N_
from keyturn.methods.base import Authenticated
from keyturn.methods.challenges import (
    keep_challenge_spent,
    new_challenge,
    open_challenge,
    refuse_spent_challenge,
    spend_challenge,
)
from keyturn.methods.passkey import descriptors, new_passkey
from keyturn.passkeys import options as webauthn_options
from keyturn.passkeys.response import parse_credential_response
from keyturn.passkeys.verify import (
    check_assertion_owner,
    check_context,
    verify_assertion,
    verify_registration,
)
from keyturn.store.protocols import WriteTx

MAX_SECURITY_KEYS = 10
DEFAULT_NAME = N_("Security key")  # stored as it is; /account shows it in the page's language


async def creation_options(ctx: Context, flow: Flow, *, user: User) -> dict[str, Any]:
    reader = await ctx.read()
    existing = [*await reader.list_security_keys(user.id), *await reader.list_passkeys(user.id)]
    challenge = new_challenge(ctx, flow, "registration", user_id=user.id, user_verification="preferred")
    return webauthn_options.security_key_registration_options(
        rp_id=ctx.tenant.rp.id,
        rp_name=ctx.tenant.rp.display_name,
        user_handle=user.user_handle,
        user_name=user.email,
        challenge=challenge,
        exclude=descriptors(existing),
    )


async def register(ctx: Context, flow: Flow, *, user: User, credential: object) -> Passkey:
    """Verify and store a new security key (its challenge spent with it); events either way."""
    try:
        response = parse_credential_response(credential)
        challenge = open_challenge(ctx, response.client_data.challenge, flow=flow, ceremony="registration")
        keep_challenge_spent(ctx, challenge)
        if challenge.user_id != user.id:
            raise CeremonyError(code="challenge_invalid", detail="challenge issued to another user")
        await refuse_spent_challenge(ctx, challenge)
        registered = verify_registration(
            response,
            challenge=response.client_data.challenge,
            rp_id=ctx.tenant.rp.id,
            origins=ctx.tenant.rp.accepted_origins,
            require_user_verification=False,
        )
        key = new_passkey(ctx, user, registered, user_agent=ctx.requester.user_agent)
        key = Passkey(**{**key.__dict__, "name": DEFAULT_NAME})
        async with ctx.writing() as tx:
            await spend_challenge(tx, challenge)
            await tx.add_security_key(key, limit=MAX_SECURITY_KEYS)
            ctx.record(
                EventType.ENROLLMENT_COMPLETE,
                user_id=user.id,
                user_name=user.email,
                description="Second factor enrollment complete",
                details={"method": "webauthn-roaming", "security_key_id": key.id, "aaguid": key.aaguid},
            )
    except KeyturnError as error:
        ctx.record(
            EventType.WEBAUTHN_ENROLLMENT_FAILED,
            user_id=user.id,
            user_name=user.email,
            details={"method": "webauthn-roaming", "error": error.code},
        )
        raise
    return key


async def request_options(ctx: Context, flow: Flow, *, user: User) -> dict[str, Any]:
    keys = await (await ctx.read()).list_security_keys(user.id)
    if not keys:
        raise KeyturnError(code="unknown_method")
    challenge = new_challenge(ctx, flow, "authentication", user_id=user.id, user_verification="preferred")
    return webauthn_options.authentication_options(
        rp_id=ctx.tenant.rp.id, challenge=challenge, allow=descriptors(keys), user_verification="preferred"
    )


class SecurityKeyMethod:
    """A second factor: proved after a first one (amr "hwk")."""

    id: MethodId = "security_key"

    def enabled(self, tenant: TenantSettings) -> bool:
        return True

    async def verify(self, ctx: Context, flow: Flow, *, user: User, credential: object) -> Authenticated:
        try:
            return await self._verify(ctx, flow, user, credential)
        except KeyturnError as error:
            details = {"method": "webauthn-roaming", "error": error.code}
            ctx.record(EventType.GD_AUTH_FAILED, user_id=user.id, user_name=user.email, details=details)
            raise

    async def _verify(self, ctx: Context, flow: Flow, user: User, credential: object) -> Authenticated:
        response = parse_credential_response(credential)
        challenge = open_challenge(ctx, response.client_data.challenge, flow=flow, ceremony="authentication")
        keep_challenge_spent(ctx, challenge)
        tenant = ctx.tenant
        check_context(response, origins=tenant.rp.accepted_origins)
        await refuse_spent_challenge(ctx, challenge)
        key = await (await ctx.read()).find_security_key(response.credential_id)
        if key is None or key.user_id != user.id or challenge.user_id != user.id:
            raise CeremonyError(code="credential_not_allowed", detail="not one of this user's security keys")
        check_assertion_owner(response, passkey=key, allowed=(key.credential_id,))
        verified = verify_assertion(
            response,
            challenge=response.client_data.challenge,
            rp_id=tenant.rp.id,
            origins=tenant.rp.accepted_origins,
            passkey=key,
            require_user_verification=False,
        )

        async def complete(tx: WriteTx) -> None:
            await spend_challenge(tx, challenge)
            stored = await tx.record_security_key_use(
                key.id, previous_count=key.sign_count, sign_count=verified.new_sign_count, used_at=ctx.now()
            )
            if not stored:
                raise CeremonyError(code="possible_cloned_passkey")

        return Authenticated(user=user, method=self.id, complete=complete)
