"""Running hooks in order: each may allow or deny (with a message for the user); post-login
hooks may also add namespaced custom claims. A timeout, an error status or a malformed
answer counts as the hook's failure policy. Every call and its outcome is logged.

Two triggers, as Auth0 has them: `pre-user-registration` runs before a sign-up stores
anything (a denial leaves no account), `post-login` after every sign-in, the sign-up's
own included (the account exists by then: its denial refuses the session, not the account).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx2

from keyturn import messages, metrics
from keyturn.context import Context
from keyturn.domain.events import EventType, Requester
from keyturn.domain.hooks import Hook, HookTrigger
from keyturn.domain.identity import User
from keyturn.domain.methods import HOOK_NAME
from keyturn.domain.oidc import Client
from keyturn.domain.session import AuthEvent
from keyturn.domain.tenant import CONNECTION_ID, CONNECTION_NAME
from keyturn.domain.text import storable
from keyturn.hooks.signing import SIGNATURE_HEADER, sign
from keyturn.sealing import unseal

RESERVED_CLAIMS = frozenset(
    {
        "iss",
        "sub",
        "aud",
        "exp",
        "nbf",
        "iat",
        "jti",
        "azp",
        "nonce",
        "auth_time",
        "amr",
        "acr",
        "sid",
        "scope",
        "client_id",
        "email",
        "email_verified",
        "name",
        "at_hash",
        "c_hash",
    }
)
DEFAULT_DENY_MESSAGE = messages.text("access_denied.hook")


@dataclass(frozen=True)
class HookOutcome:
    allowed: bool = True
    message: str | None = None
    claims: dict[str, Any] = field(default_factory=dict)


def _namespaced(claims: object) -> dict[str, Any]:
    """Only URL-namespaced custom claims (https://example.com/role), never a standard one."""
    if not isinstance(claims, dict):
        return {}
    kept = {}
    for name, value in claims.items():
        parts = urlsplit(str(name))
        if parts.scheme in ("http", "https") and parts.netloc and name not in RESERVED_CLAIMS:
            kept[str(name)] = value
    return kept


def _event_body(
    trigger: HookTrigger,
    user: User,
    *,
    client: Client | None,
    requester: Requester,
    methods: tuple[AuthEvent, ...],
) -> dict[str, Any]:
    described: dict[str, Any] = {
        "email": user.email,
        "email_verified": user.email_verified,
        "name": user.name,
    }
    if trigger == "post-login":
        described = {"user_id": user.id, **described, "created_at": user.created_at.isoformat()}
    return {
        "trigger": trigger,
        "user": described,
        "client": {"client_id": client.client_id, "name": client.name} if client else None,
        "connection": {"id": CONNECTION_ID, "name": CONNECTION_NAME, "strategy": "auth0"},
        "request": {"ip": requester.ip, "user_agent": requester.user_agent},
        "authentication": {
            "methods": [{"name": HOOK_NAME[m.method], "timestamp": m.at.isoformat()} for m in methods],
        },
    }


async def _call(ctx: Context, hook: Hook, body: bytes) -> tuple[str, dict[str, Any] | None, int | None]:
    """('ok', answer, status) or ('failed', None, status-or-None)."""
    secret = unseal(ctx.rt.kek, hook.secret_sealed, bound_to=hook.id)
    headers = {
        "content-type": "application/json",
        SIGNATURE_HEADER: sign(secret, body, timestamp=int(ctx.now().timestamp())),
        "user-agent": "Keyturn-Hooks/1",
    }
    try:
        async with httpx2.AsyncClient(timeout=hook.timeout_ms / 1000, follow_redirects=False) as http:
            response = await http.post(hook.url, content=body, headers=headers)
    except httpx2.HTTPError:
        return "failed", None, None
    if not 200 <= response.status_code < 300:
        return "failed", None, response.status_code
    try:
        answer = response.json()
    except ValueError:
        return "failed", None, response.status_code
    return (
        ("ok", answer, response.status_code)
        if isinstance(answer, dict)
        else ("failed", None, response.status_code)
    )


async def run_post_login(
    ctx: Context, user: User, *, client: Client | None, methods: tuple[AuthEvent, ...]
) -> HookOutcome:
    """After a sign-in, before its session: allow, deny, or add claims."""
    return await _run(ctx, "post-login", user, client=client, methods=methods)


async def run_pre_user_registration(
    ctx: Context, user: User, *, client: Client | None, methods: tuple[AuthEvent, ...]
) -> HookOutcome:
    """Before a sign-up stores anything: allow or deny (claims are not taken here)."""
    outcome = await _run(ctx, "pre-user-registration", user, client=client, methods=methods)
    return HookOutcome(allowed=outcome.allowed, message=outcome.message)


async def _run(
    ctx: Context, trigger: HookTrigger, user: User, *, client: Client | None, methods: tuple[AuthEvent, ...]
) -> HookOutcome:
    """Call the trigger's hooks in order; no database connection is held while they answer."""
    hooks = await ctx.rt.config.hooks(await ctx.read(), trigger)
    if not hooks:
        return HookOutcome()
    await ctx.uow.release()
    event = _event_body(trigger, user, client=client, requester=ctx.requester, methods=methods)
    body = json.dumps(event).encode()
    registered = trigger == "post-login"  # before registration there is no user id to log
    claims: dict[str, Any] = {}
    for hook in hooks:
        started = time.monotonic()
        result, answer, status = await _call(ctx, hook, body)
        if result == "failed":
            outcome = "deny" if hook.failure_policy == "deny" else "allow"
            message = DEFAULT_DENY_MESSAGE
        else:
            assert answer is not None
            outcome = "deny" if answer.get("action") == "deny" else "allow"
            # The hook's text goes into a response, a token and an event: cleaned of what none
            # of them can encode (a JSON answer may well hold "\ud800" or a NUL).
            raw_message = storable(str(answer.get("message") or ""))[:500]
            message = raw_message or DEFAULT_DENY_MESSAGE
            claims |= _namespaced(storable(answer.get("claims")))
        metrics.HOOK_CALLS.labels(result=result, outcome=outcome).inc()
        ctx.record(
            EventType.HOOK_CALLED,
            user_id=user.id if registered else None,
            user_name=user.email,
            client_id=client.client_id if client else None,
            details={
                "trigger": trigger,
                "hook_id": hook.id,
                "url": hook.url,
                "status": status,
                "result": result,
                "outcome": outcome,
                "duration_ms": round((time.monotonic() - started) * 1000),
            },
        )
        if outcome == "deny":
            return HookOutcome(allowed=False, message=message)
    return HookOutcome(claims=claims)
