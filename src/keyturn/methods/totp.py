"""The authenticator app (TOTP, RFC 6238): 6 digits, 30-second steps, one step either side.

The secret is sealed under the key-encryption key, bound to its row (`totp:<id>`). A code is
accepted once: the time step it matched is stored by a conditional UPDATE over the last one
accepted, so the same code (or an earlier one) is refused however many sign-ins race with it.
The QR code is drawn by the server (segno) as inline SVG: no script, no third party.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from urllib.parse import quote

import pyotp
import segno

from keyturn import i18n
from keyturn.context import Context
from keyturn.domain.events import EventType
from keyturn.domain.factors import TotpCredential
from keyturn.domain.flow import Flow
from keyturn.domain.identity import User
from keyturn.domain.methods import MethodId
from keyturn.domain.tenant import TenantSettings
from keyturn.errors import KeyturnError
from keyturn.ids import new_id
from keyturn.methods.base import Authenticated
from keyturn.sealing import seal, unseal

DIGITS = 6
PERIOD = 30
VALID_WINDOW = 1  # a step either side: clocks drift, people type slowly
QR_TITLE = i18n.N_("QR code for your authenticator app")


def new_secret() -> str:
    """160 random bits in base32 (RFC 4226's recommended length)."""
    return pyotp.random_base32(length=32)


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD).provisioning_uri(
        name=account, issuer_name=issuer
    )


def qr_svg(uri: str) -> str:
    """The URI as an inline SVG (no style attributes: the pages' CSP allows it as it is), its
    title in the locale of the page being rendered."""
    title = i18n.current().gettext(QR_TITLE)
    return str(segno.make(uri, error="m").svg_inline(scale=4, title=title))


def grouped(secret: str) -> str:
    """The secret as people type it: groups of four."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def matching_step(secret: str, code: str, *, now: datetime) -> int | None:
    """The time step `code` is right for (now, or one step either side), compared in constant time."""
    cleaned = code.replace(" ", "").strip()
    if len(cleaned) != DIGITS or not cleaned.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD)
    current = int(now.timestamp()) // PERIOD
    found = None
    for step in (current - VALID_WINDOW, current, current + VALID_WINDOW):
        if hmac.compare_digest(totp.at(step * PERIOD), cleaned):
            found = step
    return found


def looks_like_totp(code: str) -> bool:
    cleaned = code.replace(" ", "").strip()
    return len(cleaned) == DIGITS and cleaned.isdigit()


def _binding(credential_id: str) -> str:
    return f"totp:{quote(credential_id)}"


def new_credential(ctx: Context, user: User, secret: str) -> TotpCredential:
    credential_id = new_id()
    return TotpCredential(
        id=credential_id,
        user_id=user.id,
        secret_sealed=seal(ctx.rt.kek, secret.encode(), bound_to=_binding(credential_id)),
        created_at=ctx.now(),
    )


def secret_of(ctx: Context, credential: TotpCredential) -> str:
    return unseal(ctx.rt.kek, credential.secret_sealed, bound_to=_binding(credential.id)).decode()


class TotpMethod:
    """A second factor: proved after a first one, never a sign-in on its own."""

    id: MethodId = "totp"

    def enabled(self, tenant: TenantSettings) -> bool:
        return True

    async def verify(self, ctx: Context, flow: Flow, *, user: User, code: str) -> Authenticated:
        """A right code, not used before: its step is spent at once (its own small write, as a
        challenge is), whatever happens to the sign-in after."""
        credential = await (await ctx.read()).get_totp(user.id)
        step = matching_step(secret_of(ctx, credential), code, now=ctx.now()) if credential else None
        if credential is None or step is None:
            self._failed(ctx, user, "invalid_code")
            raise KeyturnError(code="invalid_second_factor_code", status=401)
        async with ctx.writing() as tx:
            fresh = await tx.use_totp_step(credential.id, step=step, used_at=ctx.now())
        if not fresh:
            self._failed(ctx, user, "code_used")
            raise KeyturnError(code="invalid_second_factor_code", status=401, detail="TOTP step used before")
        return Authenticated(user=user, method=self.id)

    def _failed(self, ctx: Context, user: User, reason: str) -> None:
        details = {"method": "otp", "error": reason}
        ctx.record(EventType.GD_AUTH_FAILED, user_id=user.id, user_name=user.email, details=details)

    def check_new(self, ctx: Context, user: User, secret: str, code: str) -> int:
        """Enrollment: the code from the app proves it holds the secret; the step it matched."""
        step = matching_step(secret, code, now=ctx.now())
        if step is None:
            raise KeyturnError(code="invalid_second_factor_code", status=400)
        return step
