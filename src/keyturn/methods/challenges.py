"""WebAuthn challenges, sealed into their own bytes, and spent once.

A challenge's facts (its flow, ceremony, expiry, user verification, and for a sign-up the
new account's email and user handle) are sealed (AES-256-GCM under the instance's flow key,
bound to the purpose "challenge") into the challenge itself: WebAuthn only hashes it into
clientDataJSON, and the browser hands it back. Asking for options therefore writes nothing.
What the seal cannot give, the database does: a challenge is spent by an insert that a
second use cannot repeat (`spent_challenges`), and it is spent whatever the ceremony's
outcome.
"""

from __future__ import annotations

import hashlib
from typing import Any

from keyturn.context import Context
from keyturn.domain.flow import CeremonyKind, Challenge, Flow, UserVerification
from keyturn.errors import CeremonyError
from keyturn.sealing import Unsealable, b64, from_seconds, open_fields, seal_fields, to_seconds, unb64
from keyturn.store.protocols import WriteTx

_CHALLENGE = "challenge"
_CEREMONIES: dict[str, CeremonyKind] = {"r": "registration", "a": "authentication"}
_VERIFICATION: dict[str, UserVerification] = {"r": "required", "p": "preferred"}


def _code(table: dict[str, Any], value: object) -> str:
    return next(code for code, known in table.items() if known == value)


def new_challenge(
    ctx: Context,
    flow: Flow,
    ceremony: CeremonyKind,
    *,
    user_id: str | None = None,
    email: str | None = None,
    user_handle: bytes | None = None,
    user_verification: UserVerification | None = None,
    conditional: bool = False,
) -> bytes:
    """A fresh challenge for `flow`: its facts sealed into its bytes (WebAuthn only hashes them).
    User verification is the tenant's unless the caller insists (dashboard operators: required).
    `conditional` marks a creation begun with mediation "conditional" (the automatic upgrade):
    the one kind whose answer may come without user presence (`methods.passkey`)."""
    verification = user_verification or ctx.tenant.passkey_options.user_verification
    fields: dict[str, Any] = {
        "f": flow.id,
        "k": _code(_CEREMONIES, ceremony),
        "e": to_seconds(ctx.now()) + ctx.settings.challenge_ttl_seconds,
        "v": _code(_VERIFICATION, verification),
        "u": user_id,
        "m": email,
        "h": b64(user_handle) if user_handle else None,
        "c": 1 if conditional else None,
    }
    return seal_fields(ctx.rt.secrets.flow_key, fields, purpose=_CHALLENGE)


def challenge_expired() -> CeremonyError:
    return CeremonyError(code="challenge_invalid", detail="no live challenge of this flow matches")


def open_challenge(ctx: Context, raw: bytes, *, flow: Flow, ceremony: CeremonyKind) -> Challenge:
    """The challenge's facts, if Keyturn sealed it, for this flow and ceremony, and it is live.
    Whether it was already used is the database's to say."""
    try:
        data = open_fields(ctx.rt.secrets.flow_key, raw, purpose=_CHALLENGE)
        challenge = Challenge(
            id=hashlib.sha256(raw).digest(),
            flow_id=str(data["f"]),
            ceremony=_CEREMONIES[data["k"]],
            expires_at=from_seconds(data["e"]),
            user_verification=_VERIFICATION[data["v"]],
            user_id=data.get("u"),
            email=data.get("m"),
            user_handle=unb64(data["h"]) if data.get("h") else None,
            conditional=data.get("c") == 1,
        )
    except (Unsealable, ValueError, KeyError, TypeError) as exc:
        raise challenge_expired() from exc
    if challenge.flow_id != flow.id or challenge.ceremony != ceremony or challenge.expires_at <= ctx.now():
        raise challenge_expired()
    return challenge


async def spend_challenge(tx: WriteTx, challenge: Challenge) -> None:
    """Spend the challenge in the transaction that completes its ceremony; a second use is refused."""
    if not await tx.spend_challenge(challenge.id, expires_at=challenge.expires_at):
        raise challenge_expired()


def keep_challenge_spent(ctx: Context, challenge: Challenge) -> None:
    """A challenge works once even for a ceremony that then fails: its spending is kept either way."""

    async def spend(tx: WriteTx) -> None:
        await tx.spend_challenge(challenge.id, expires_at=challenge.expires_at)  # already spent is fine

    ctx.uow.keep(spend)


async def refuse_spent_challenge(ctx: Context, challenge: Challenge) -> None:
    """Refuse a replayed challenge early, before any work (hooks) is done for it."""
    if await (await ctx.read()).challenge_spent(challenge.id):
        raise challenge_expired()
