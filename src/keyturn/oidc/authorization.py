"""From a checked authorization request to a redirect: sign-in first if needed (reusing a
live session unless prompt=login or max_age says otherwise), consent for third-party
clients, then a single-use code (OIDC Core §3.1.2.3–§3.1.2.5).

The decisions are a visible list, `PROMPTS`, in the manner of node-oidc-provider's
interaction policy: each says whether the request still needs the user for something.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from keyturn.context import Context
from keyturn.domain.assurance import levels_met, step_up_level, strongest_met
from keyturn.domain.identity import User
from keyturn.domain.mfa import session_lacks_mfa
from keyturn.domain.oidc import AuthorizationCode, AuthorizationRequest, Client, Grant
from keyturn.domain.session import Session
from keyturn.hooks.executor import HookOutcome, run_post_login
from keyturn.ids import hash_token, new_id
from keyturn.oidc.authorize_checks import Checked, run_checks
from keyturn.oidc.errors import (
    AccessDenied,
    ConsentRequired,
    InteractionRequired,
    LoginRequired,
    OAuthError,
    UnmetAuthenticationRequirements,
    UnregisteredRedirect,
)

CODE_TTL = timedelta(seconds=60)
REQUEST_TTL = timedelta(minutes=30)
AUTHORIZATION_PARAM = "authorization_request"  # how /login and /signup learn which request they continue


class RedirectError(Exception):
    """An OAuthError that must travel back to a validated redirect URI."""

    def __init__(self, error: OAuthError, *, redirect_uri: str, state: str | None) -> None:
        super().__init__(error.code)
        self.error, self.redirect_uri, self.state = error, redirect_uri, state


def client_redirect(redirect_uri: str, params: Mapping[str, str | None]) -> str:
    """redirect_uri with params added to its query (RFC 6749 §3.1.2: keep its own query)."""
    parts = urlsplit(redirect_uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(k, v) for k, v in params.items() if v is not None]
    return urlunsplit(parts._replace(query=urlencode(query)))


def error_redirect(ctx: Context, error: RedirectError) -> str:
    return client_redirect(
        error.redirect_uri,
        {
            "error": error.error.code,
            "error_description": error.error.description,
            "state": error.state,
            "iss": ctx.settings.issuer_url,
        },
    )


def _request_from(ctx: Context, checked: Checked, *, binding_hash: str) -> AuthorizationRequest:
    now = ctx.now()
    params = checked.params
    return AuthorizationRequest(
        id=new_id(),
        client_id=checked.client.client_id,
        redirect_uri=checked.redirect_uri,
        scope=checked.scope,
        state=params.get("state"),
        nonce=params.get("nonce"),
        code_challenge=checked.code_challenge,
        prompt=checked.prompt,
        max_age=checked.max_age,
        login_hint=params.get("login_hint"),
        ui_locales=params.get("ui_locales", "")[:200] or None,
        acr_values=checked.acr_values,
        acr_essential=checked.acr_essential,
        audience=checked.audience,
        browser_binding=binding_hash,
        created_at=now,
        expires_at=now + REQUEST_TTL,
    )


async def start_authorization(
    ctx: Context,
    params: Mapping[str, str],
    *,
    repeated: frozenset[str],
    signed_in: tuple[Session, User] | None,
    binding_hash: str,
) -> str:
    """The URL to send the browser to next. Raises UnregisteredRedirect for the error page."""
    client = await ctx.rt.config.client(await ctx.read(), params.get("client_id", "")[:64])
    try:
        checked = run_checks(
            params, client, repeated=repeated, custom_scopes=ctx.tenant.identity.custom_scopes()
        )
    except UnregisteredRedirect:
        raise
    except OAuthError as error:
        raise RedirectError(
            error, redirect_uri=params.get("redirect_uri", ""), state=params.get("state")
        ) from error
    request = _request_from(ctx, checked, binding_hash=binding_hash)
    return await continue_authorization(ctx, request, checked.client, signed_in=signed_in, parked=False)


# --- the interaction policy ---------------------------------------------------------------


@dataclass(frozen=True)
class Situation:
    """What the prompts decide on."""

    ctx: Context
    request: AuthorizationRequest
    client: Client
    session: Session | None
    granted: tuple[str, ...]  # scopes the user already consented to for this client


def needs_login(s: Situation) -> bool:
    """No session; or prompt=login/create or an exceeded max_age, unless this very request's sign-in."""
    if s.session is None:
        return True
    if s.session.auth_time >= s.request.created_at:
        return False  # signed in for this very request
    if "login" in s.request.prompt or "create" in s.request.prompt:
        return True
    age = (s.ctx.now() - s.session.auth_time).total_seconds()
    return s.request.max_age is not None and age > s.request.max_age


def needs_step_up(s: Situation) -> bool:
    """A session that does not meet the asked level, or lacks the two factors the client's MFA
    policy requires: a step-up (on /login), not a code."""
    if s.session is None:
        return False
    lacks = session_lacks_mfa(s.ctx.tenant, s.client, s.session)
    return step_up_level(s.request, s.session, mfa_required=lacks) is not None


def needs_consent(s: Situation) -> bool:
    """Third-party clients: prompt=consent, or scopes the user has not granted this client yet."""
    if s.client.first_party:
        return False
    return "consent" in s.request.prompt or not set(s.request.scope) <= set(s.granted)


def _login_url(request: AuthorizationRequest) -> str:
    page = "/signup" if "create" in request.prompt else "/login"
    return f"{page}?{urlencode({AUTHORIZATION_PARAM: request.id})}"


def _step_up_url(request: AuthorizationRequest) -> str:
    """/login sees the signed-in session and the parked request, and opens a step-up flow."""
    return f"/login?{urlencode({AUTHORIZATION_PARAM: request.id})}"


def _consent_url(request: AuthorizationRequest) -> str:
    return f"/oauth2/consent/{request.id}"


@dataclass(frozen=True)
class Prompt:
    name: str
    applies: Callable[[Situation], bool]
    refusal_with_prompt_none: type[OAuthError]
    destination: Callable[[AuthorizationRequest], str]


PROMPTS: tuple[Prompt, ...] = (
    Prompt("login", needs_login, LoginRequired, _login_url),
    Prompt("step_up", needs_step_up, InteractionRequired, _step_up_url),
    Prompt("consent", needs_consent, ConsentRequired, _consent_url),
)


async def continue_authorization(
    ctx: Context,
    request: AuthorizationRequest,
    client: Client,
    *,
    signed_in: tuple[Session, User] | None,
    parked: bool,
) -> str:
    """Ask the user for what the request still needs (parking it first), or issue the code."""
    session = signed_in[0] if signed_in else None
    granted: tuple[str, ...] = ()
    if signed_in is not None and not client.first_party:
        granted = await (await ctx.read()).get_consent(signed_in[1].id, client.client_id)
    situation = Situation(ctx=ctx, request=request, client=client, session=session, granted=granted)
    for prompt in PROMPTS:
        if not prompt.applies(situation):
            continue
        if "none" in request.prompt:
            error = prompt.refusal_with_prompt_none()
            raise RedirectError(error, redirect_uri=request.redirect_uri, state=request.state)
        if not parked:
            async with ctx.writing() as tx:
                await tx.save_authorization_request(request)
        return prompt.destination(request)
    assert signed_in is not None
    return await finish_authorization(
        ctx, request, client, session=signed_in[0], user=signed_in[1], parked=parked
    )


async def finish_authorization(
    ctx: Context,
    request: AuthorizationRequest,
    client: Client,
    *,
    session: Session,
    user: User,
    parked: bool,
    consent: tuple[str, ...] | None = None,
) -> str:
    """Run the post-login hooks (unless the sign-in made for this request already did), issue the
    code (with the consent just given, in the same transaction), and send the browser back to
    the client with it and `iss` (RFC 9207). A hook's denial goes back as access_denied; an
    essential acr the session does not meet, as unmet_authentication_requirements."""
    acr = strongest_met(request.acr_values, levels_met(session))
    if acr is None and request.acr_essential:
        if parked:
            async with ctx.writing() as tx:
                await tx.delete_authorization_request(request.id)
        unmet = UnmetAuthenticationRequirements()
        raise RedirectError(unmet, redirect_uri=request.redirect_uri, state=request.state)
    if request.hook_claims is not None and request.hooks_passed_session == session.id:
        outcome = HookOutcome(claims=request.hook_claims)
    else:
        outcome = await run_post_login(ctx, user, client=client, methods=session.authenticated)
    if not outcome.allowed:
        if parked:
            async with ctx.writing() as tx:
                await tx.delete_authorization_request(request.id)
        denied = AccessDenied(message="access_denied.hook_message", text=outcome.message or "")
        raise RedirectError(denied, redirect_uri=request.redirect_uri, state=request.state)
    now = ctx.now()
    code = secrets.token_urlsafe(32)
    grant = Grant(
        id=new_id(),
        client_id=request.client_id,
        user_id=user.id,
        session_id=session.id,
        scope=request.scope,
        created_at=now,
    )
    amr = tuple(session.amr)
    issued = AuthorizationCode(
        code_hash=hash_token(code),
        grant_id=grant.id,
        client_id=request.client_id,
        user_id=user.id,
        session_id=session.id,
        redirect_uri=request.redirect_uri,
        scope=request.scope,
        nonce=request.nonce,
        code_challenge=request.code_challenge,
        auth_time=session.auth_time,
        amr=amr,
        acr=acr,
        audience=request.audience,
        expires_at=now + CODE_TTL,
        custom_claims=outcome.claims,
    )
    async with ctx.writing() as tx:
        if consent is not None:
            await tx.save_consent(user.id, client.client_id, consent, now=now)
        await tx.create_grant_with_code(grant, issued)
        if parked:
            await tx.delete_authorization_request(request.id)
    return client_redirect(
        request.redirect_uri, {"code": code, "state": request.state, "iss": ctx.settings.issuer_url}
    )


async def consent_given(
    ctx: Context, request: AuthorizationRequest, client: Client, *, session: Session, user: User
) -> str:
    """Allow on the consent page: consent accumulates (earlier scopes stay granted)."""
    earlier = await (await ctx.read()).get_consent(user.id, client.client_id)
    granted = tuple(dict.fromkeys((*earlier, *request.scope)))
    return await finish_authorization(
        ctx, request, client, session=session, user=user, parked=True, consent=granted
    )


async def consent_refused(ctx: Context, request: AuthorizationRequest) -> str:
    async with ctx.writing() as tx:
        await tx.delete_authorization_request(request.id)
    denied = RedirectError(AccessDenied(), redirect_uri=request.redirect_uri, state=request.state)
    return error_redirect(ctx, denied)
