"""Re-authentication: the one rule for sensitive changes on /account.

A change in `SENSITIVE` (the email, the password set, changed or removed, a passkey added
or removed) needs a sign-in within the tenant's `privileged_session_max_age` seconds. If
the session's last authentication is older, `require_recent_sign_in` refuses with
`ReauthenticationRequired`, carrying the request as a sealed *pending* token (bound to the
session, live for ten minutes). The **Confirm it's you** step verifies a passkey of the
user (identifier-first: only their own passkeys answer) or their password through the
ordinary login methods, records the new authentication on the session (its auth time moves
to now), and hands the pending request back so the change proceeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from keyturn.context import Context
from keyturn.domain.events import EventType
from keyturn.domain.flow import Flow
from keyturn.domain.identity import User
from keyturn.domain.methods import AMR
from keyturn.domain.mfa import passkey_satisfies
from keyturn.domain.session import Session
from keyturn.errors import FlowError, Forbidden, KeyturnError
from keyturn.flows.sessions import auth_event
from keyturn.methods.base import Payload
from keyturn.methods.passkey import descriptors, request_options
from keyturn.methods.registry import login_method
from keyturn.sealing import Unsealable, b64, from_seconds, open_fields, seal_fields, to_seconds, unb64

SENSITIVE = frozenset(
    {
        "change_email",
        "set_password",
        "remove_password",
        "add_passkey",
        "remove_passkey",
        "add_second_factor",
        "remove_second_factor",
    }
)
PENDING_LIFESPAN = timedelta(minutes=10)
_PURPOSE = "reauth-pending"
MAX_PENDING_CHARS = 4096


class ReauthenticationRequired(KeyturnError):
    """A sensitive change asked for by a session whose sign-in is too old; nothing changed."""

    status = 403
    code = "reauthentication_required"

    def __init__(self, pending: str) -> None:
        super().__init__()
        self.pending = pending  # the sealed request, for the Confirm it's you step to carry


@dataclass(frozen=True)
class Pending:
    action: str
    path: str | None  # the form's own address, posted again once confirmed (None: a ceremony)
    form: dict[str, str]


def is_recent(ctx: Context, session: Session) -> bool:
    max_age = timedelta(seconds=ctx.tenant.privileged_session_max_age)
    return ctx.now() - session.auth_time <= max_age


def seal_pending(
    ctx: Context,
    session: Session,
    action: str,
    *,
    path: str | None = None,
    form: dict[str, str] | None = None,
) -> str:
    kept = {k: v for k, v in (form or {}).items() if k != "csrf"}
    fields: dict[str, Any] = {
        "s": session.id,
        "a": action,
        "p": path,
        "f": kept,
        "e": to_seconds(ctx.now() + PENDING_LIFESPAN),
    }
    return b64(seal_fields(ctx.rt.secrets.flow_key, fields, purpose=_PURPOSE))


def require_recent_sign_in(
    ctx: Context,
    session: Session,
    action: str,
    *,
    path: str | None = None,
    form: dict[str, str] | None = None,
) -> None:
    """The guard every sensitive change passes through (one rule, one place)."""
    if action in SENSITIVE and not is_recent(ctx, session):
        raise ReauthenticationRequired(seal_pending(ctx, session, action, path=path, form=form))


def open_pending(ctx: Context, session: Session, token: object) -> Pending:
    """The request a Confirm it's you step carries: sealed by Keyturn, for this session, live."""
    if not isinstance(token, str) or len(token) > MAX_PENDING_CHARS:
        raise FlowError(detail="no pending request")
    try:
        data = open_fields(ctx.rt.secrets.flow_key, unb64(token), purpose=_PURPOSE)
        expires_at = from_seconds(data["e"])
        action, form, session_id, path = data["a"], data["f"], data["s"], data.get("p")
    except (Unsealable, ValueError, KeyError, TypeError) as exc:
        raise FlowError(detail=f"pending request does not open: {type(exc).__name__}") from exc
    if expires_at <= ctx.now() or action not in SENSITIVE or not isinstance(form, dict):
        raise FlowError(detail="pending request expired or unknown")
    if path is not None and (not isinstance(path, str) or not path.startswith("/account/")):
        raise FlowError(detail="pending request for another page")
    if session_id != session.id:
        raise Forbidden(code="flow_user_mismatch")
    return Pending(action=str(action), path=path, form={str(k): str(v) for k, v in form.items()})


async def confirm_options(ctx: Context, flow: Flow, user: User) -> dict[str, Any]:
    """What the Confirm it's you page may ask for: the user's own passkeys, and/or a password."""
    passkeys = await (await ctx.read()).list_passkeys(user.id)
    login_method("passkey", flow, ctx.tenant)
    if not passkeys:
        raise KeyturnError(code="unknown_method")
    return request_options(ctx, flow, allow=descriptors(passkeys), user_id=user.id)


async def confirm(ctx: Context, flow: Flow, *, session: Session, user: User, payload: Payload) -> Session:
    """Verify the user again (their passkey or password); the session's auth time moves to now."""
    method = login_method(payload.get("method"), flow, ctx.tenant)
    if method.id == "password":
        payload = {**payload, "email": user.email}
    authenticated = await method.login(ctx, flow, payload)
    if authenticated.user.id != user.id:
        raise Forbidden(code="flow_user_mismatch")
    now = ctx.now()
    proof = auth_event(authenticated, at=now, passkey_satisfies=passkey_satisfies(ctx.tenant, None, None))
    events = (*[e for e in session.authenticated if e.method != method.id], proof)
    async with ctx.writing() as tx:
        if authenticated.complete is not None:
            await authenticated.complete(tx)
        await tx.add_session_auth(session.id, events)
        ctx.record(
            EventType.SUCCESS_LOGIN,
            user_id=user.id,
            user_name=user.email,
            details={
                "prompts": [{"name": "reauthentication", "performed_amr": [AMR[method.id]]}],
                "authentication_method": method.id,
                "session_id": session.id,
            },
        )
    return Session(**{**session.__dict__, "authenticated": events})
