"""Issuing, resolving and ending sessions: the result of every successful login or sign-up."""

from __future__ import annotations

from datetime import timedelta

from keyturn.domain.events import EventType, RequestContext
from keyturn.domain.identity import User
from keyturn.domain.session import AuthEvent, AuthMethod, Session
from keyturn.errors import KeyturnError
from keyturn.hooks.executor import run_post_login
from keyturn.ids import hash_token, new_id, new_token
from keyturn.runtime import Runtime


async def issue_session(
    rt: Runtime, user: User, *, method: AuthMethod, user_agent: str, ip: str
) -> tuple[str, Session]:
    """A new session and its bearer token (the cookie value); the database keeps only its hash."""
    now = rt.clock.now()
    token = new_token()
    session = Session(
        id=new_id(),
        user_id=user.id,
        csrf_token=new_token(),
        authenticated=(AuthEvent(method=method, at=now),),
        created_at=now,
        expires_at=now + timedelta(seconds=rt.settings.session_lifespan_seconds),
        user_agent=user_agent[:512],
        ip=ip[:64],
    )
    await rt.store.create_session(session, token_hash=hash_token(token))
    return token, session


async def resolve_session(rt: Runtime, token: str | None) -> tuple[Session, User] | None:
    if not token:
        return None
    session = await rt.store.find_session(hash_token(token), now=rt.clock.now())
    if session is None:
        return None
    user = await rt.store.get_user(session.user_id)
    return (session, user) if user is not None else None


OIDC_RESUME_PREFIX = "/oauth2/authorize/resume/"


async def complete_sign_in(
    rt: Runtime, user: User, *, method: AuthMethod, return_to: str | None, ctx: RequestContext
) -> tuple[str, Session]:
    """The end of every successful sign-in or sign-up on the hosted pages.

    Post-login hooks run here unless the sign-in belongs to an OIDC authorization, whose
    hooks run when its code is issued (where the client is known); a denial issues no session.
    """
    if not (return_to or "").startswith(OIDC_RESUME_PREFIX):
        outcome = await run_post_login(
            rt, user, client=None, ctx=ctx, methods=(AuthEvent(method=method, at=rt.clock.now()),)
        )
        if not outcome.allowed:
            details = {"error": "access_denied", "reason": "post-login hook"}
            rt.events.record(
                EventType.FAILED_LOGIN, ctx, user_id=user.id, user_name=user.email, details=details
            )
            raise KeyturnError(outcome.message, code="access_denied", status=403)
    return await issue_session(rt, user, method=method, user_agent=ctx.user_agent, ip=ctx.ip)
