"""Starting and loading flows, sealing challenges, and the one CSRF check.

A flow is sealed (AES-256-GCM under the instance's flow key, bound to the purpose "flow")
into the token its page carries; a challenge is sealed into its own bytes. Nothing is
stored until a ceremony completes: opening /login or asking for passkey options costs no
write. What the seal cannot give, the database does: a challenge is spent by an insert
a second use cannot repeat (`keyturn.store.protocols.ChallengeWrites`).

Expiry, browser binding and CSRF are checked here, once, for every flow.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidTag

from keyturn.context import Context
from keyturn.domain.flow import CeremonyKind, Challenge, Flow, FlowKind, UserVerification
from keyturn.domain.methods import MethodId, method_id
from keyturn.errors import CeremonyError, FlowError, Forbidden
from keyturn.ids import constant_time_equal, hash_token
from keyturn.sealing import seal, unseal
from keyturn.store.protocols import WriteTx

MAX_TOKEN_CHARS = 4096
_FLOW = "flow"
_CHALLENGE = "challenge"
_KINDS: dict[str, FlowKind] = {"l": "login", "r": "registration", "a": "account"}
_CEREMONIES: dict[str, CeremonyKind] = {"r": "registration", "a": "authentication"}
_VERIFICATION: dict[str, UserVerification] = {"r": "required", "p": "preferred"}


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _code(table: dict[str, Any], value: object) -> str:
    return next(k for k, v in table.items() if v == value)


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())


def _moment(seconds: object) -> datetime:
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        raise ValueError("not a timestamp")
    return datetime.fromtimestamp(seconds, UTC)


def check_csrf(expected: str, presented: object) -> None:
    """The page's security token must come back with every state-changing call."""
    if not isinstance(presented, str) or not constant_time_equal(presented, expected):
        raise Forbidden(code="csrf_failed")


def binding_hash(binding_token: str) -> str:
    return hash_token(binding_token)[:32]


# --- flows --------------------------------------------------------------------------------


def start_flow(
    ctx: Context,
    kind: FlowKind,
    *,
    binding_token: str,
    methods: tuple[MethodId, ...],
    user_id: str | None = None,
    authorization_request_id: str | None = None,
    return_to: str | None = None,
    requires: str | None = None,
) -> Flow:
    """A new flow bound to the browser holding `binding_token` (its binding cookie). No I/O."""
    now = ctx.now().replace(microsecond=0)
    return Flow(
        id=_b64(secrets.token_bytes(12)),
        kind=kind,
        binding_hash=binding_hash(binding_token),
        created_at=now,
        expires_at=now + timedelta(seconds=ctx.settings.flow_lifespan_seconds),
        methods=methods,
        user_id=user_id,
        authorization_request_id=authorization_request_id,
        return_to=return_to,
        requires=requires,
    )


def flow_token(ctx: Context, flow: Flow) -> str:
    """The sealed flow, as its page carries it (in the calls' URLs)."""
    fields: dict[str, Any] = {
        "i": flow.id,
        "k": _code(_KINDS, flow.kind),
        "b": flow.binding_hash,
        "c": _seconds(flow.created_at),
        "e": _seconds(flow.expires_at),
        "m": list(flow.methods),
        "u": flow.user_id,
        "a": flow.authorization_request_id,
        "r": flow.return_to,
        "q": flow.requires,
    }
    payload = json.dumps({k: v for k, v in fields.items() if v is not None}, separators=(",", ":"))
    return _b64(seal(ctx.rt.secrets.flow_key, payload.encode(), bound_to=_FLOW))


def csrf_token(ctx: Context, flow: Flow) -> str:
    """The flow's CSRF token: derived from its id, so it needs no storage either."""
    digest = hmac.new(ctx.rt.secrets.flow_key, f"csrf:{flow.id}".encode(), hashlib.sha256).digest()
    return _b64(digest[:18])


def _open_flow(ctx: Context, token: str) -> Flow:
    if len(token) > MAX_TOKEN_CHARS:
        raise FlowError(detail="flow token too long")
    try:
        data = json.loads(unseal(ctx.rt.secrets.flow_key, _unb64(token), bound_to=_FLOW))
        return Flow(
            id=str(data["i"]),
            kind=_KINDS[data["k"]],
            binding_hash=str(data["b"]),
            created_at=_moment(data["c"]),
            expires_at=_moment(data["e"]),
            methods=tuple(method_id(m) for m in data["m"]),
            user_id=data.get("u"),
            authorization_request_id=data.get("a"),
            return_to=data.get("r"),
            requires=data.get("q"),
        )
    except (InvalidTag, ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise FlowError(detail=f"flow token does not open: {type(exc).__name__}") from exc


def load_flow(
    ctx: Context,
    token: str,
    *,
    kind: FlowKind,
    binding_token: str | None,
    csrf: object,
    user_id: str | None = None,
) -> Flow:
    """The flow, if the token is one Keyturn sealed, of `kind`, live, this browser's and this
    page's, and (account flows) this user's."""
    flow = _open_flow(ctx, token)
    if flow.kind != kind or flow.expires_at <= ctx.now():
        raise FlowError(detail="wrong kind or expired")
    if binding_token is None or not constant_time_equal(binding_hash(binding_token), flow.binding_hash):
        raise FlowError(code="flow_browser_mismatch", status=403)
    check_csrf(csrf_token(ctx, flow), csrf)
    if user_id is not None and flow.user_id != user_id:
        raise Forbidden(code="flow_user_mismatch")
    return flow


# --- challenges ---------------------------------------------------------------------------


def new_challenge(
    ctx: Context,
    flow: Flow,
    ceremony: CeremonyKind,
    *,
    user_id: str | None = None,
    email: str | None = None,
    user_handle: bytes | None = None,
) -> bytes:
    """A fresh challenge for `flow`: its facts sealed into its bytes (WebAuthn only hashes them)."""
    fields: dict[str, Any] = {
        "f": flow.id,
        "k": _code(_CEREMONIES, ceremony),
        "e": _seconds(ctx.now()) + ctx.settings.challenge_ttl_seconds,
        "v": _code(_VERIFICATION, ctx.tenant.passkey_options.user_verification),
        "u": user_id,
        "m": email,
        "h": _b64(user_handle) if user_handle else None,
    }
    payload = json.dumps({k: v for k, v in fields.items() if v is not None}, separators=(",", ":"))
    return seal(ctx.rt.secrets.flow_key, payload.encode(), bound_to=_CHALLENGE)


def challenge_expired() -> CeremonyError:
    return CeremonyError(code="challenge_invalid", detail="no live challenge of this flow matches")


def open_challenge(ctx: Context, raw: bytes, *, flow: Flow, ceremony: CeremonyKind) -> Challenge:
    """The challenge's facts, if Keyturn sealed it, for this flow and ceremony, and it is live.
    Whether it was already used is the database's to say."""
    try:
        data = json.loads(unseal(ctx.rt.secrets.flow_key, raw, bound_to=_CHALLENGE))
        challenge = Challenge(
            id=hashlib.sha256(raw).digest(),
            flow_id=str(data["f"]),
            ceremony=_CEREMONIES[data["k"]],
            expires_at=_moment(data["e"]),
            user_verification=_VERIFICATION[data["v"]],
            user_id=data.get("u"),
            email=data.get("m"),
            user_handle=_unb64(data["h"]) if data.get("h") else None,
        )
    except (InvalidTag, ValueError, KeyError, TypeError, binascii.Error) as exc:
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
