"""Issuing, resolving and ending sessions: the result of every successful login or sign-up."""

from __future__ import annotations

from datetime import timedelta

from keyturn.domain.events import EventType, RequestContext
from keyturn.domain.identity import User
from keyturn.domain.oidc import AuthorizationRequest, Client
from keyturn.domain.session import AMR_CLAIM, AuthEvent, AuthMethod, Session
from keyturn.errors import KeyturnError
from keyturn.hooks.executor import run_post_login
from keyturn.ids import constant_time_equal, hash_token, new_id, new_token
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


class SignInDenied(KeyturnError):
    """A post-login hook refused the sign-in; no session was issued."""

    status = 403
    code = "access_denied"

    def __init__(self, message: str | None, *, authorization: AuthorizationRequest | None) -> None:
        super().__init__(message)
        self.authorization = authorization  # the OIDC request to answer with access_denied, if any


async def _pending_authorization(
    rt: Runtime, return_to: str | None, binding_token: str | None
) -> tuple[AuthorizationRequest, Client] | None:
    """The parked OIDC request this sign-in continues: it must exist and belong to this browser
    (a bare return_to that only looks like one changes nothing)."""
    if not (return_to or "").startswith(OIDC_RESUME_PREFIX) or binding_token is None:
        return None
    parked = await rt.store.get_authorization_request(
        (return_to or "")[len(OIDC_RESUME_PREFIX) :], now=rt.clock.now()
    )
    if parked is None or not constant_time_equal(hash_token(binding_token), parked.browser_binding):
        return None
    client = await rt.store.get_client(parked.client_id)
    return (parked, client) if client is not None else None


async def complete_sign_in(
    rt: Runtime,
    user: User,
    *,
    method: AuthMethod,
    return_to: str | None,
    binding_token: str | None,
    ctx: RequestContext,
) -> tuple[str, Session]:
    """The end of every successful sign-in or sign-up on the hosted pages.

    Post-login hooks run here, before any session exists, with the OIDC client when the
    sign-in continues an authorization; their claims wait on that request for its code.
    A denial issues no session and raises SignInDenied. Success is logged (`s`) only then.
    """
    pending = await _pending_authorization(rt, return_to, binding_token)
    now = rt.clock.now()
    outcome = await run_post_login(
        rt, user, client=pending[1] if pending else None, ctx=ctx, methods=(AuthEvent(method=method, at=now),)
    )
    if not outcome.allowed:
        details = {"error": "access_denied", "reason": "post-login hook"}
        rt.events.record(EventType.FAILED_LOGIN, ctx, user_id=user.id, user_name=user.email, details=details)
        if pending:
            await rt.store.delete_authorization_request(pending[0].id)
        raise SignInDenied(outcome.message, authorization=pending[0] if pending else None)
    if pending:
        await rt.store.set_authorization_hook_claims(pending[0].id, outcome.claims)
    rt.events.record(
        EventType.SUCCESS_LOGIN,
        ctx,
        user_id=user.id,
        user_name=user.email,
        client_id=pending[1].client_id if pending else None,
        details={
            "prompts": [{"name": "login", "performed_amr": [AMR_CLAIM[method]]}],
            "authentication_method": "passkey" if method == "passkey" else "password",
        },
    )
    return await issue_session(rt, user, method=method, user_agent=ctx.user_agent, ip=ctx.ip)
