"""The passkey method: challenges, ceremonies and the records they leave.

Every ceremony's challenge is spent whatever its outcome, so a challenge works once even
when verification fails; a completed ceremony spends it in the transaction that stores
its result, so two concurrent uses cannot both succeed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from webauthn.helpers import bytes_to_base64url

from keyturn.context import Context
from keyturn.domain.assurance import PASSKEY_LEVELS
from keyturn.domain.events import EventType
from keyturn.domain.flow import Challenge, Flow
from keyturn.domain.identity import Passkey, User, new_user
from keyturn.domain.methods import MethodId
from keyturn.domain.oidc import CredentialTypes
from keyturn.domain.tenant import TenantSettings
from keyturn.errors import CeremonyError, Conflict, KeyturnError
from keyturn.ids import new_id
from keyturn.methods.base import Authenticated, Enrolled, Payload, Registered
from keyturn.methods.challenges import (
    challenge_expired,
    keep_challenge_spent,
    new_challenge,
    open_challenge,
    spend_challenge,
)
from keyturn.methods.metadata import current_metadata
from keyturn.methods.stand_ins import stand_in_credentials
from keyturn.passkeys import options as webauthn_options
from keyturn.passkeys.aaguid import default_passkey_name
from keyturn.passkeys.attestation import check_attestation
from keyturn.passkeys.policy import check_passkey_policy
from keyturn.passkeys.response import CredentialResponse, parse_credential_response
from keyturn.passkeys.verify import (
    RegisteredCredential,
    check_assertion_owner,
    check_context,
    verify_assertion,
    verify_registration,
)
from keyturn.store.protocols import WriteTx

security_log = logging.getLogger("keyturn.security")
Descriptor = tuple[bytes, tuple[str, ...]]
# How long after a password sign-in the automatic upgrade may create a passkey without the
# user's presence (UP=0): the password manager's conditional create runs right after it.
SILENT_CREATION_WINDOW = timedelta(minutes=1)


def descriptors(passkeys: Sequence[Passkey]) -> list[Descriptor]:
    return [(p.credential_id, p.transports) for p in passkeys]


def request_options(
    ctx: Context, flow: Flow, *, allow: Sequence[Descriptor] = (), user_id: str | None = None
) -> dict[str, Any]:
    """Options for navigator.credentials.get(): discoverable unless `allow` names credentials.
    A step-up to a passkey level (`flow.requires`) insists on user verification."""
    verification = (
        "required" if flow.requires in PASSKEY_LEVELS else ctx.tenant.passkey_options.user_verification
    )
    challenge = new_challenge(ctx, flow, "authentication", user_id=user_id, user_verification=verification)
    return webauthn_options.authentication_options(
        rp_id=ctx.tenant.rp.id,
        challenge=challenge,
        allow=allow,
        user_verification=verification,
    )


def creation_options(
    ctx: Context,
    flow: Flow,
    *,
    user_handle: bytes,
    email: str,
    existing: Sequence[Passkey],
    user_id: str | None = None,
    conditional: bool = False,
    this_device: bool = False,
    traits: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Options for navigator.credentials.create(), excluding the user's existing passkeys. For a
    sign-up (no `user_id`) the new account's email and user handle ride in the challenge.
    The passkey's user.name and displayName are the identity schema's display-name trait of
    `traits`, else the email.
    `conditional` marks the challenge of an automatic upgrade (`user_presence_required`);
    `this_device` prefers the platform authenticator (local enrollment)."""
    challenge = new_challenge(
        ctx,
        flow,
        "registration",
        user_id=user_id,
        email=None if user_id else email,
        user_handle=None if user_id else user_handle,
        conditional=conditional,
    )
    return webauthn_options.registration_options(
        rp_id=ctx.tenant.rp.id,
        rp_name=ctx.tenant.rp.display_name,
        user_handle=user_handle,
        user_name=ctx.tenant.identity.display_name(email, traits or {}),
        challenge=challenge,
        exclude=descriptors(existing),
        # A conditional create is made by the password manager with no prompt: it cannot verify
        # the user then (browsers never answer one asking for "required"), nor is it asked to.
        user_verification="preferred" if conditional else ctx.tenant.passkey_options.user_verification,
        this_device=this_device,
        attestation=ctx.tenant.passkey_options.attestation,
    )


async def passkeys_below_limit(ctx: Context, user: User) -> list[Passkey]:
    """The user's passkeys (what one more must exclude), refused up front when the user is at
    the limit; the insert checks the limit again with the owner's row locked."""
    existing = await (await ctx.read()).list_passkeys(user.id)
    limit = ctx.tenant.passkey_options.max_passkeys_per_user
    if len(existing) >= limit:
        raise Conflict(code="passkey_limit_reached", limit=limit)
    return existing


def silent_creation_allowed(ctx: Context, flow: Flow, challenge: Challenge) -> bool:
    """The one rule for UP=0 (a passkey created with no user present): refused everywhere but
    the automatic upgrade, that is a challenge marked conditional (asked for with mediation
    "conditional"), of a progressive-enrollment flow (begun by a password sign-in), answered
    within SILENT_CREATION_WINDOW of that sign-in (the flow's sealed `created_at`).

    Such a creation need not report UV either: the password manager makes it without asking
    (Safari's automatic upgrade sends UP=0 and UV=0); the password was verified just before."""
    return (
        challenge.conditional
        and flow.kind == "progressive"
        and ctx.now() - flow.created_at <= SILENT_CREATION_WINDOW
    )


def is_cross_device(response: CredentialResponse, passkey: Passkey) -> bool:
    """A sign-in with a passkey from another device: the browser says the authenticator was
    "cross-platform", and the passkey can travel over the hybrid transport (its registered
    transports name "hybrid", or none were given). A security key (usb, nfc) is not a device
    to follow up on. The attachment is unsigned: it only decides what is offered."""
    hybrid = not passkey.transports or "hybrid" in passkey.transports
    return response.attachment == "cross-platform" and hybrid


def _challenge_of(ctx: Context, flow: Flow, response: CredentialResponse, ceremony: Any) -> Challenge:
    challenge = open_challenge(ctx, response.client_data.challenge, flow=flow, ceremony=ceremony)
    keep_challenge_spent(ctx, challenge)
    return challenge


def new_passkey(ctx: Context, user: User, registered: RegisteredCredential, *, user_agent: str) -> Passkey:
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
        rp_id=ctx.tenant.rp.id,
        name=default_passkey_name(registered.aaguid),
        created_at=ctx.now(),
        last_used_at=None,
        user_agent=user_agent[:512],
        attestation=registered.attestation,
    )


async def verify_new_passkey(
    ctx: Context, flow: Flow, credential: object
) -> tuple[Challenge, RegisteredCredential]:
    """Verify a new credential against its (now spent) challenge; the caller stores it."""
    response = parse_credential_response(credential)
    challenge = _challenge_of(ctx, flow, response, "registration")
    silent = silent_creation_allowed(ctx, flow, challenge)
    conveyance = ctx.tenant.passkey_options.attestation
    attestation = check_attestation(
        conveyance=conveyance,
        credential=response.raw,
        metadata=await current_metadata(ctx) if conveyance != "none" else None,
        now=ctx.now(),
    )
    registered = verify_registration(
        response,
        challenge=response.client_data.challenge,
        rp_id=ctx.tenant.rp.id,
        origins=ctx.tenant.rp.accepted_origins,
        require_user_verification=challenge.user_verification == "required" and not silent,
        require_user_presence=not silent,
        attestation_roots=attestation.roots_by_format,
    )
    registered = replace(registered, attestation=attestation.attestation)
    check_passkey_policy(
        ctx.tenant.passkey_options, aaguid=registered.aaguid, backup_eligible=registered.backup_eligible
    )
    return challenge, registered


class PasskeyMethod:
    id: MethodId = "passkey"

    def enabled(self, tenant: TenantSettings) -> bool:
        return tenant.authentication_methods.passkey.enabled

    async def identify(
        self, ctx: Context, flow: Flow, *, address: str, user: User | None
    ) -> dict[str, object]:
        # The same queries for every email: its passkeys (none for an unknown one), and what
        # stand-ins must look like (re-read now and then, by whichever request comes first).
        reader = await ctx.read()
        await ctx.rt.passkey_shapes.current(reader)
        passkeys = await reader.list_passkeys(user.id if user else "")
        allow = descriptors(passkeys)
        if not allow and not ctx.tenant.login.reveal_account_existence:
            allow = await stand_in_credentials(ctx, address)
        if not allow:
            return {"passkey": None}
        ctx.record(
            EventType.PASSKEY_CHALLENGE_STARTED,
            user_id=user.id if user else None,
            user_name=address,
            details={"mode": "identifier_first"},
        )
        return {"passkey": request_options(ctx, flow, allow=allow, user_id=user.id if user else "")}

    async def login(self, ctx: Context, flow: Flow, payload: Payload) -> Authenticated:
        try:
            return await self._login(ctx, flow, payload.get("credential"))
        except KeyturnError as error:
            ctx.record(EventType.PASSKEY_CHALLENGE_FAILED, details={"error": error.code})
            raise

    async def _login(self, ctx: Context, flow: Flow, credential: object) -> Authenticated:
        """WebAuthn L3 §7.2, with Keyturn's own checks; the sign count is stored by `complete`."""
        response = parse_credential_response(credential)
        challenge = _challenge_of(ctx, flow, response, "authentication")
        tenant = ctx.tenant
        check_context(response, origins=tenant.rp.accepted_origins)
        reader = await ctx.read()
        found = await reader.find_passkey_with_owner(response.credential_id, challenge_id=challenge.id)
        if found is None:
            raise CeremonyError(
                code="unknown_credential",
                extra={"credential_id": bytes_to_base64url(response.credential_id), "rp_id": tenant.rp.id},
            )
        passkey, user, replayed = found
        if replayed:  # refused before any work (hooks) is done for it; the spend decides races
            raise challenge_expired()
        identified = challenge.user_id is not None  # identifier-first: only that account's passkeys
        if identified and passkey.user_id != challenge.user_id:
            raise CeremonyError(code="credential_not_allowed", detail="credential outside allowCredentials")
        check_assertion_owner(
            response, passkey=passkey, allowed=(passkey.credential_id,) if identified else ()
        )
        await _check_policy_for(ctx, flow, passkey, user)
        try:
            verified = verify_assertion(
                response,
                challenge=response.client_data.challenge,
                rp_id=tenant.rp.id,
                origins=tenant.rp.accepted_origins,
                passkey=passkey,
                require_user_verification=challenge.user_verification == "required",
            )
        except CeremonyError as error:
            if error.code == "possible_cloned_passkey":
                _warn_clone(passkey, error.detail)
            raise

        async def complete(tx: WriteTx) -> None:
            await spend_challenge(tx, challenge)
            stored = await tx.record_passkey_use(
                passkey.id,
                previous_count=passkey.sign_count,
                sign_count=verified.new_sign_count,
                backup_state=verified.backup_state,
                used_at=ctx.now(),
            )
            if not stored:  # a concurrent sign-in stored a count at or above this one
                _warn_clone(passkey, f"sign count {verified.new_sign_count} lost a race")
                raise CeremonyError(code="possible_cloned_passkey")

        return Authenticated(
            user=user,
            method=self.id,
            complete=complete,
            user_verified=verified.user_verified,
            cross_device=is_cross_device(response, passkey),
            attested_device_bound=passkey.attested_device_bound,
        )

    async def register(self, ctx: Context, flow: Flow, payload: Payload) -> Registered:
        challenge, registered = await verify_new_passkey(ctx, flow, payload.get("credential"))
        if challenge.user_id is not None or challenge.email is None or challenge.user_handle is None:
            raise CeremonyError(code="challenge_invalid", detail="not a sign-up challenge")
        user = new_user(challenge.email, now=ctx.now(), user_handle=challenge.user_handle)
        passkey = new_passkey(ctx, user, registered, user_agent=ctx.requester.user_agent)

        async def complete(tx: WriteTx) -> None:
            await spend_challenge(tx, challenge)

        return Registered(user=user, method=self.id, passkey=passkey, complete=complete)

    async def enroll(
        self, ctx: Context, flow: Flow, *, user: User, payload: Payload, purpose: str
    ) -> Enrolled:
        try:
            challenge, registered = await verify_new_passkey(ctx, flow, payload.get("credential"))
            if challenge.user_id != user.id:
                raise CeremonyError(code="challenge_invalid", detail="challenge issued to another user")
        except KeyturnError as error:
            ctx.record(
                EventType.WEBAUTHN_ENROLLMENT_FAILED,
                user_id=user.id,
                user_name=user.email,
                details={"error": error.code, "enrollment": purpose},
            )
            raise
        passkey = new_passkey(ctx, user, registered, user_agent=ctx.requester.user_agent)

        async def complete(tx: WriteTx) -> None:
            await spend_challenge(tx, challenge)
            await tx.add_passkey(passkey, limit=ctx.tenant.passkey_options.max_passkeys_per_user)
            ctx.record(
                EventType.ENROLLMENT_COMPLETE,
                user_id=user.id,
                user_name=user.email,
                details={
                    "authenticator": "passkey",
                    "passkey_id": passkey.id,
                    "aaguid": passkey.aaguid,
                    "enrollment": purpose,
                },
            )

        return Enrolled(method=self.id, complete=complete)


async def _check_policy_for(ctx: Context, flow: Flow, passkey: Passkey, user: User) -> None:
    """The tenant's passkey policy, and the OIDC client's when the sign-in continues one of its
    authorizations (`allowed_credential_types`); a client's refusal is an `f` event too."""
    client_types: CredentialTypes = "any"
    client_id = None
    if flow.authorization_request_id is not None:
        reader = await ctx.read()
        parked = await reader.get_authorization_request(flow.authorization_request_id, now=ctx.now())
        client = await ctx.rt.config.client(reader, parked.client_id) if parked else None
        if client is not None:
            client_types, client_id = client.allowed_credential_types, client.client_id
    try:
        check_passkey_policy(
            ctx.tenant.passkey_options,
            aaguid=passkey.aaguid,
            backup_eligible=passkey.backup_eligible,
            client_types=client_types,
        )
    except CeremonyError as error:
        ctx.record(
            EventType.FAILED_LOGIN,
            user_id=user.id,
            user_name=user.email,
            client_id=client_id,
            details={"error": error.code, "reason": error.detail, "passkey_id": passkey.id},
        )
        raise


def _warn_clone(passkey: Passkey, detail: str | None) -> None:
    security_log.warning(
        "possible cloned passkey refused",
        extra={"passkey_id": passkey.id, "user_id": passkey.user_id, "detail": detail},
    )
