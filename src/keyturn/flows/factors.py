"""A user's second factors on /account (and at a sign-in that must enroll one): adding an
authenticator app, generating recovery codes, removing either. Each change is one write
with its `gd_enrollment_complete` / `gd_unenroll` event (`details.method`).

Adding an authenticator app takes two steps and stores nothing until the second: the new
secret travels sealed (AES-256-GCM under the flow key, purpose `totp-enroll`, bound to the
user, ten minutes) in the setup page, and comes back with the first code the app shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from keyturn.context import Context
from keyturn.domain.events import EventType
from keyturn.domain.factors import Factors
from keyturn.domain.flow import Flow
from keyturn.domain.identity import Passkey, User
from keyturn.errors import FlowError, KeyturnError, NotFound
from keyturn.methods import recovery_codes, security_key, totp
from keyturn.methods.registry import TOTP
from keyturn.sealing import Unsealable, b64, from_seconds, open_fields, seal_fields, to_seconds, unb64
from keyturn.store.protocols import WriteTx

SETUP_LIFESPAN = timedelta(minutes=10)
_SETUP = "totp-enroll"
MAX_SETUP_CHARS = 1024


@dataclass(frozen=True)
class TotpSetup:
    """What the setup page shows: the secret (typed by hand), its QR code, and the sealed token."""

    secret: str
    grouped: str
    uri: str
    token: str

    @property
    def qr_svg(self) -> str:
        """The QR code, drawn when the page renders (its title in the page's language)."""
        return totp.qr_svg(self.uri)


async def factors_of(ctx: Context, user: User) -> Factors:
    return await (await ctx.read()).get_factors(user.id)


def start_totp(ctx: Context, user: User) -> TotpSetup:
    """A new secret for the user's app: nothing stored yet (no I/O)."""
    secret = totp.new_secret()
    uri = totp.provisioning_uri(secret, account=user.email, issuer=ctx.tenant.rp.display_name)
    fields = {"u": user.id, "s": secret, "e": to_seconds(ctx.now() + SETUP_LIFESPAN)}
    token = b64(seal_fields(ctx.rt.secrets.flow_key, fields, purpose=_SETUP))
    return TotpSetup(secret=secret, grouped=totp.grouped(secret), uri=uri, token=token)


def reopen_totp(ctx: Context, user: User, token: object) -> TotpSetup:
    """The setup page again (after a wrong code), with the same secret."""
    secret = _open_setup(ctx, user, token)
    uri = totp.provisioning_uri(secret, account=user.email, issuer=ctx.tenant.rp.display_name)
    return TotpSetup(secret=secret, grouped=totp.grouped(secret), uri=uri, token=str(token))


def _open_setup(ctx: Context, user: User, token: object) -> str:
    if not isinstance(token, str) or len(token) > MAX_SETUP_CHARS:
        raise FlowError(detail="no authenticator setup")
    try:
        data = open_fields(ctx.rt.secrets.flow_key, unb64(token), purpose=_SETUP)
        secret, owner, expires_at = str(data["s"]), data["u"], from_seconds(data["e"])
    except (Unsealable, KeyError, TypeError, ValueError) as exc:
        raise FlowError(detail=f"authenticator setup does not open: {type(exc).__name__}") from exc
    if owner != user.id or expires_at <= ctx.now():
        raise FlowError(detail="authenticator setup of another user, or expired")
    return secret


async def confirm_totp(ctx: Context, user: User, *, token: object, code: object, purpose: str) -> None:
    """Store the app once its first code is right (that step is spent with it). A second app
    is refused (`totp_exists`): remove the first one before adding another."""
    secret = _open_setup(ctx, user, token)
    try:
        step = TOTP.check_new(ctx, user, secret, code if isinstance(code, str) else "")
        credential = totp.new_credential(ctx, user, secret)
        async with ctx.writing() as tx:
            await tx.add_totp(credential)
            await tx.use_totp_step(credential.id, step=step, used_at=ctx.now())
            _enrolled(ctx, user, "otp", purpose)
    except KeyturnError as error:
        details = {"method": "otp", "error": error.code, "enrollment": purpose}
        ctx.record(EventType.GD_AUTH_FAILED, user_id=user.id, user_name=user.email, details=details)
        raise


def _enrolled(ctx: Context, user: User, method: str, purpose: str) -> None:
    ctx.record(
        EventType.ENROLLMENT_COMPLETE,
        user_id=user.id,
        user_name=user.email,
        description="Second factor enrollment complete",
        details={"method": method, "enrollment": purpose},
    )


async def remove_totp(ctx: Context, user: User) -> None:
    async with ctx.writing() as tx:
        await _remove_totp(ctx, tx, user)


async def _remove_totp(ctx: Context, tx: WriteTx, user: User) -> None:
    if not await tx.delete_totp(user.id):
        raise NotFound(code="authenticator_not_found")
    _removed(ctx, user, "otp")


def _removed(ctx: Context, user: User, method: str) -> None:
    ctx.record(
        EventType.AUTHENTICATOR_REMOVED,
        user_id=user.id,
        user_name=user.email,
        description="Second factor removed",
        details={"method": method},
    )


async def security_key_options(ctx: Context, flow: Flow, user: User) -> dict[str, Any]:
    return await security_key.creation_options(ctx, flow, user=user)


async def add_security_key(ctx: Context, flow: Flow, user: User, credential: object) -> Passkey:
    return await security_key.register(ctx, flow, user=user, credential=credential)


async def remove_security_key(ctx: Context, user: User, key_id: str) -> None:
    async with ctx.writing() as tx:
        if not await tx.delete_security_key(user.id, key_id):
            raise NotFound(code="authenticator_not_found")
        _removed(ctx, user, "webauthn-roaming")


async def security_keys_of(ctx: Context, user: User) -> list[Passkey]:
    return await (await ctx.read()).list_security_keys(user.id)


async def generate_recovery_codes(ctx: Context, user: User) -> list[str]:
    """Ten new codes, replacing all earlier ones; returned to be shown once, stored hashed."""
    codes = recovery_codes.new_codes()
    async with ctx.writing() as tx:
        await tx.replace_recovery_codes(user.id, [recovery_codes.code_hash(c) for c in codes], now=ctx.now())
        _enrolled(ctx, user, "recovery-code", "account")
    return codes


async def remove_recovery_codes(ctx: Context, user: User) -> None:
    async with ctx.writing() as tx:
        if not await tx.delete_recovery_codes(user.id):
            raise NotFound(code="authenticator_not_found")
        _removed(ctx, user, "recovery-code")
