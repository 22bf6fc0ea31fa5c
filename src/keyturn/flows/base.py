"""Starting and loading flows, and the one CSRF check.

A flow is sealed (AES-256-GCM under the instance's flow key, bound to the purpose "flow")
into the token its page carries, so opening /login costs no write. (Its challenges are
sealed the same way: `keyturn.methods.challenges`.) Expiry, browser binding and CSRF are
checked here, once, for every flow.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Any

from keyturn.context import Context
from keyturn.domain.flow import Flow, FlowKind
from keyturn.domain.methods import MethodId, method_id
from keyturn.domain.session import AuthEvent
from keyturn.errors import FlowError, Forbidden
from keyturn.ids import constant_time_equal, hash_token
from keyturn.sealing import Unsealable, b64, from_seconds, open_fields, seal_fields, to_seconds, unb64

MAX_TOKEN_CHARS = 4096
_FLOW = "flow"
_KINDS: dict[str, FlowKind] = {
    "l": "login",
    "r": "registration",
    "a": "account",
    "c": "recovery",  # asking for a recovery email, then typing its code (id: the code's)
    "g": "recovered",  # a used recovery: allows one new way to sign in (id: the code's)
    "o": "admin",  # a dashboard operator's sign-in or enrollment (its own credentials, never users')
    "p": "progressive",  # a passkey offered after a password sign-in (created_at: that sign-in)
    "d": "local",  # a passkey offered on this device after a sign-in with another device's
    "f": "second_factor",  # a sign-in whose first factor is proved, asking for the second
}


def _proofs_fields(proofs: tuple[AuthEvent, ...]) -> list[list[object]] | None:
    if not proofs:
        return None
    return [
        [p.method, to_seconds(p.at), p.user_verified, p.attested_device_bound, p.multi_factor] for p in proofs
    ]


def _proofs_of(data: object) -> tuple[AuthEvent, ...]:
    if data is None:
        return ()
    if not isinstance(data, list):
        raise ValueError("proofs")
    return tuple(
        AuthEvent(
            method=method_id(m),
            at=from_seconds(at),
            user_verified=uv is True,
            attested_device_bound=hwk is True,
            multi_factor=mfa is True,
        )
        for m, at, uv, hwk, mfa in data
    )


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
    email: str | None = None,
    proofs: tuple[AuthEvent, ...] = (),
) -> Flow:
    """A new flow bound to the browser holding `binding_token` (its binding cookie). No I/O."""
    now = ctx.now().replace(microsecond=0)
    return Flow(
        id=b64(secrets.token_bytes(12)),
        kind=kind,
        binding_hash=binding_hash(binding_token),
        created_at=now,
        expires_at=now + timedelta(seconds=ctx.settings.flow_lifespan_seconds),
        methods=methods,
        user_id=user_id,
        authorization_request_id=authorization_request_id,
        return_to=return_to,
        requires=requires,
        email=email,
        proofs=proofs,
    )


def flow_token(ctx: Context, flow: Flow) -> str:
    """The sealed flow, as its page carries it (in the calls' URLs)."""
    fields: dict[str, Any] = {
        "i": flow.id,
        "k": next(code for code, kind in _KINDS.items() if kind == flow.kind),
        "b": flow.binding_hash,
        "c": to_seconds(flow.created_at),
        "e": to_seconds(flow.expires_at),
        "m": list(flow.methods),
        "u": flow.user_id,
        "a": flow.authorization_request_id,
        "r": flow.return_to,
        "q": flow.requires,
        "v": flow.email,
        "p": _proofs_fields(flow.proofs),
    }
    return b64(seal_fields(ctx.rt.secrets.flow_key, fields, purpose=_FLOW))


def csrf_token(ctx: Context, flow: Flow) -> str:
    """The flow's CSRF token: derived from its id, so it needs no storage either."""
    digest = hmac.new(ctx.rt.secrets.flow_key, f"csrf:{flow.id}".encode(), hashlib.sha256).digest()
    return b64(digest[:18])


def _open_flow(ctx: Context, token: str) -> Flow:
    if len(token) > MAX_TOKEN_CHARS:
        raise FlowError(detail="flow token too long")
    try:
        data = open_fields(ctx.rt.secrets.flow_key, unb64(token), purpose=_FLOW)
        return Flow(
            id=str(data["i"]),
            kind=_KINDS[data["k"]],
            binding_hash=str(data["b"]),
            created_at=from_seconds(data["c"]),
            expires_at=from_seconds(data["e"]),
            methods=tuple(method_id(m) for m in data["m"]),
            user_id=data.get("u"),
            authorization_request_id=data.get("a"),
            return_to=data.get("r"),
            requires=data.get("q"),
            email=data.get("v"),
            proofs=_proofs_of(data.get("p")),
        )
    except (Unsealable, ValueError, KeyError, TypeError) as exc:
        raise FlowError(detail=f"flow token does not open: {type(exc).__name__}") from exc


def open_flow(
    ctx: Context, token: str, *, kind: FlowKind | frozenset[FlowKind], binding_token: str | None
) -> Flow:
    """The flow, if the token is one Keyturn sealed, of `kind` (or one of them), live and this
    browser's: what a page may show (a GET, no CSRF token); `load_flow` is for what changes anything."""
    flow = _open_flow(ctx, token)
    kinds = kind if isinstance(kind, frozenset) else frozenset((kind,))
    if flow.kind not in kinds or flow.expires_at <= ctx.now():
        raise FlowError(detail="wrong kind or expired")
    if binding_token is None or not constant_time_equal(binding_hash(binding_token), flow.binding_hash):
        raise FlowError(code="flow_browser_mismatch", status=403)
    return flow


def load_flow(
    ctx: Context,
    token: str,
    *,
    kind: FlowKind | frozenset[FlowKind],
    binding_token: str | None,
    csrf: object,
    user_id: str | None = None,
) -> Flow:
    """The flow, if the token is one Keyturn sealed, of `kind`, live, this browser's and this
    page's, and (account flows) this user's."""
    flow = open_flow(ctx, token, kind=kind, binding_token=binding_token)
    check_csrf(csrf_token(ctx, flow), csrf)
    if user_id is not None and flow.user_id != user_id:
        raise Forbidden(code="flow_user_mismatch")
    return flow
