"""The exits of every journey: a sign-in (or sign-up) becomes a session, and a session ends.

Post-login hooks run here, before any session exists, with the OIDC client when the
sign-in continues a parked authorization; their claims wait on that request for its code.
The session, the ceremony's own writes (a spent challenge, a sign count), the end of the
browser's previous session and the `s` event are one write transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from keyturn import metrics
from keyturn.context import Context
from keyturn.domain.events import EventType
from keyturn.domain.flow import Flow
from keyturn.domain.identity import User
from keyturn.domain.mfa import passkey_satisfies
from keyturn.domain.oidc import AuthorizationRequest, resume_path
from keyturn.domain.session import ACTIVITY_STEP, AuthEvent, Session
from keyturn.errors import KeyturnError, NotFound
from keyturn.flows.parked import Parked, load_parked
from keyturn.hooks.executor import run_post_login
from keyturn.ids import hash_token, new_id, new_token
from keyturn.methods.base import Authenticated
from keyturn.store.protocols import WriteTx

MAX_USER_AGENT = 512


class SignInDenied(KeyturnError):
    """A post-login hook refused the sign-in; no session was issued."""

    status = 403
    code = "access_denied"

    def __init__(self, message: str, *, authorization: AuthorizationRequest | None) -> None:
        super().__init__(message="access_denied.hook_message", text=message)
        self.authorization = authorization  # the OIDC request to answer with access_denied, if any


@dataclass(frozen=True)
class SignedIn:
    token: str  # the session cookie's value; the database keeps only its hash
    session: Session
    redirect_to: str


async def resolve_session(ctx: Context, token: str | None) -> tuple[Session, User] | None:
    """The browser's live session; its last-active time moves at most once a minute (a kept
    change, written with the request's own write or in one small transaction at its end)."""
    if not token or len(token) > 128:
        return None
    found = await (await ctx.read()).find_session(hash_token(token), now=ctx.now())
    if found is not None:
        now = ctx.now()
        session_id, before = found[0].id, now - ACTIVITY_STEP
        if found[0].last_active <= before:

            async def touch(tx: WriteTx) -> None:
                await tx.touch_session(session_id, at=now, before=before)

            ctx.uow.keep(touch)
    return found


def auth_event(authenticated: Authenticated, *, at: datetime, passkey_satisfies: bool = False) -> AuthEvent:
    """What a session keeps of one verified proof (sign-in, re-authentication, step-up). A
    user-verified passkey counts as two factors when the tenant says so (`mfa.passkey_satisfies`)."""
    return AuthEvent(
        method=authenticated.method,
        at=at,
        user_verified=authenticated.user_verified,
        attested_device_bound=authenticated.attested_device_bound,
        multi_factor=passkey_satisfies and authenticated.method == "passkey" and authenticated.user_verified,
    )


def _new_session(
    ctx: Context, user: User, authenticated: Authenticated, earlier: tuple[AuthEvent, ...], *, mfa: bool
) -> tuple[str, Session]:
    now = ctx.now()
    proof = auth_event(authenticated, at=now, passkey_satisfies=mfa)
    session = Session(
        id=new_id(),
        user_id=user.id,
        csrf_token=new_token(),
        authenticated=(*earlier, proof),
        created_at=now,
        expires_at=now + timedelta(seconds=ctx.settings.session_lifespan_seconds),
        user_agent=ctx.requester.user_agent[:MAX_USER_AGENT],
        ip=ctx.requester.ip[:64],
        last_active_at=now,
    )
    return new_token(), session


def _redirect(flow: Flow, parked: Parked | None) -> str:
    if parked is not None:
        return resume_path(parked.request.id)
    return flow.return_to or "/account"


async def complete_sign_in(
    ctx: Context,
    flow: Flow,
    authenticated: Authenticated,
    *,
    binding_token: str | None,
    previous_session: str | None,
    details: Mapping[str, object] | None = None,
    earlier: tuple[AuthEvent, ...] = (),
) -> SignedIn:
    """The end of every successful sign-in or sign-up on the hosted pages.

    A hook's denial issues no session and raises SignInDenied. Success is logged (`s`) only
    once the session is stored, in the same transaction (with `details`: what the sign-in
    passed on the way, such as a captcha). `earlier`: the proofs a second-factor step
    carried in its flow (the first factor), before `authenticated` (the second).
    """
    user = authenticated.user
    parked = await load_parked(ctx, flow.authorization_request_id, binding_token=binding_token)
    previous = await resolve_session(ctx, previous_session)
    mfa = passkey_satisfies(ctx.tenant, parked.client if parked else None, flow.requires)
    token, session = _new_session(ctx, user, authenticated, earlier, mfa=mfa)
    outcome = await run_post_login(
        ctx, user, client=parked.client if parked else None, methods=session.authenticated
    )
    if not outcome.allowed:
        metrics.SIGN_INS.labels(method=authenticated.method, result="denied").inc()
        details = {"error": "access_denied", "reason": "post-login hook"}
        ctx.record(EventType.FAILED_LOGIN, user_id=user.id, user_name=user.email, details=details)
        if parked:
            request_id = parked.request.id

            async def forget_parked(tx: WriteTx) -> None:
                await tx.delete_authorization_request(request_id)

            ctx.uow.keep(forget_parked)
        raise SignInDenied(outcome.message or "", authorization=parked.request if parked else None)
    try:
        async with ctx.writing() as tx:
            if authenticated.complete is not None:
                await authenticated.complete(tx)
            if previous is not None:
                await tx.delete_session(previous[0].id)  # one browser, one session
            await tx.create_session(session, token_hash=hash_token(token))
            if parked:
                await tx.set_authorization_hook_claims(
                    parked.request.id, outcome.claims, session_id=session.id
                )
            ctx.record(
                EventType.SUCCESS_LOGIN,
                user_id=user.id,
                user_name=user.email,
                client_id=parked.client.client_id if parked else None,
                details={
                    "prompts": [{"name": "login", "performed_amr": session.amr}],
                    "authentication_method": authenticated.method,
                    **(details or {}),
                },
            )
    except KeyturnError as error:
        ctx.record(
            EventType.FAILED_LOGIN, user_id=user.id, user_name=user.email, details={"error": error.code}
        )
        metrics.SIGN_INS.labels(method=authenticated.method, result="failure").inc()
        raise
    metrics.SIGN_INS.labels(method=authenticated.method, result="success").inc()
    return SignedIn(token=token, session=session, redirect_to=_redirect(flow, parked))


async def end_session(ctx: Context, session: Session, user: User) -> None:
    """Sign out: the session is gone at once, on every worker (sessions live in the database)."""
    async with ctx.writing() as tx:
        await tx.delete_session(session.id)
        ctx.record(EventType.SUCCESS_LOGOUT, user_id=user.id, user_name=user.email)


# --- a user's sessions ------------------------------------------------------------------------


SESSIONS_LISTED = 10  # /account lists this many; "Sign out all other sessions" ends the rest too


async def list_sessions(ctx: Context, user: User, current: Session) -> tuple[list[Session], bool]:
    """The user's most recently active sessions (the current one always among them), and
    whether there are more than are listed: a page that stays small however many there are."""
    found = await (await ctx.read()).list_user_sessions(user.id, now=ctx.now(), limit=SESSIONS_LISTED + 1)
    listed = found[:SESSIONS_LISTED]
    if all(s.id != current.id for s in listed):
        listed = [current, *listed[: SESSIONS_LISTED - 1]]
    return listed, len(found) > SESSIONS_LISTED


async def revoke_session(ctx: Context, user: User, session_id: str) -> None:
    """End one of the user's sessions at once (the next request with its cookie is signed out),
    and revoke what applications were granted in it, refresh tokens included: revoking a lost
    device's session also ends its apps' access (Auth0's session revoke)."""
    async with ctx.writing() as tx:
        if not await tx.delete_user_session(user.id, session_id):
            raise NotFound(code="session_not_found")
        grants = await tx.revoke_session_grants(user.id, session_id=session_id, now=ctx.now())
        ctx.record(
            EventType.SUCCESS_LOGOUT,
            user_id=user.id,
            user_name=user.email,
            details={"revoked_sessions": [session_id], "revoked_grants": grants},
        )


async def revoke_other_sessions(ctx: Context, user: User, *, keep: str | None) -> int:
    """End every session of the user but `keep` (None: all of them), with the grants made in
    them (as `revoke_session`); how many sessions ended."""
    async with ctx.writing() as tx:
        grants = await tx.revoke_session_grants(user.id, keep=keep, now=ctx.now())  # while they live
        ended = await tx.delete_user_sessions(user.id, keep=keep)
        ctx.record(
            EventType.SUCCESS_LOGOUT,
            user_id=user.id,
            user_name=user.email,
            details={"revoked_sessions": ended, "kept_current": keep is not None, "revoked_grants": grants},
        )
    return ended
