"""Endpoint rate limits (`attack_protection.rate_limits`): how often each endpoint may be
called, per client address, per identifier and per OAuth client.

`ENDPOINTS` is the one table: which group of the tenant settings an endpoint counts against.
A group's rates say what is counted (`per_ip`: the requester's address, `per_identifier`: the
identifier the request names, `per_client`: the OAuth client); endpoints of one group share
its counters (the login and sign-up pages' passkey options make one count per address). A
new endpoint is one line here and one call of `limit` (or `limit_and_report`) where it is
served. Groups in `redis_only` are counted only when the counters are in Redis: in the
database each hit is a write transaction, which for passkey options (an endpoint that writes
nothing) would cost several times the request it guards.

Each count is one hit on the throttles core (atomic across workers and instances); a
request over a rate changes nothing else and is refused with 429 and Retry-After.
Identifiers are counted by a hash, so no email address is kept in the counters.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from keyturn.context import Context
from keyturn.domain.email import loose_identifier
from keyturn.domain.tenant import ClientRateLimit, EndpointRateLimit, in_allowlist, rate_of
from keyturn.errors import RateLimited
from keyturn.throttles import Rate, Verdict

ENDPOINTS: Final[Mapping[str, str]] = {
    # endpoint                 → group under attack_protection.rate_limits
    "login.passkey_options": "passkey_options",
    "signup.passkey_options": "passkey_options",
    "recovery.passkey_options": "passkey_options",
    "login.identify": "identifier",
    "signup.submit": "signup",
    "recovery.request": "recovery",
    "verification.request": "verification_email",
    "email_code.submit": "email_code",
    "oauth2.token": "token",
    "management_api": "management_api",
}


@dataclass(frozen=True)
class Status:
    """The tightest rate a request met, as /api/v2's x-ratelimit-* headers tell it."""

    limit: int
    verdict: Verdict


def _rates(
    ctx: Context, endpoint: str, identifier: object, client: str | None
) -> list[tuple[Rate, tuple[str, ...]]]:
    """(rate, counter key) for each rate of the endpoint's group that applies to this request."""
    settings = ctx.tenant.attack_protection.rate_limits
    if not settings.enabled:
        return []
    group = ENDPOINTS[endpoint]
    if group in settings.redis_only and ctx.rt.throttles.in_database:
        return []
    limits: EndpointRateLimit | ClientRateLimit = getattr(settings, group)
    ip = ctx.requester.ip or "-"
    counted: list[tuple[str | None, str, str | None]] = [
        (limits.per_ip, "ip", None if in_allowlist(ip, settings.allowlist) else ip)
    ]
    if isinstance(limits, EndpointRateLimit):
        named = loose_identifier(identifier)
        digest = hashlib.sha256(named.encode()).hexdigest()[:32] if named else None
        counted.append((limits.per_identifier, "identifier", digest))
    else:
        counted.append((limits.per_client, "client", client[:64] if client else None))
    return [
        (Rate(*rate_of(rate)), ("rl", group, kind, value))
        for rate, kind, value in counted
        if rate is not None and value is not None
    ]


async def limit(ctx: Context, endpoint: str, *, identifier: object = None, client: str | None = None) -> None:
    """Count this request against its endpoint's rates; over one, `RateLimited` (429).
    With the counters in the database, the window is read in the request's read transaction
    and the hit is counted in its write transaction (or the small one that stores its
    failure event): no transaction of its own per hit."""
    throttles = ctx.rt.throttles
    for rate, key in _rates(ctx, endpoint, identifier, client):
        if throttles.in_database:
            verdict = await throttles.peek(rate, *key, reader=await ctx.read())
            if not verdict.allowed:
                raise RateLimited(code="too_many_requests", retry_after=verdict.retry_after)
            ctx.uow.keep(throttles.deferred_hit(rate, *key))
            continue
        retry = await throttles.admit(rate, *key)
        if retry:
            raise RateLimited(code="too_many_requests", retry_after=retry)


async def limit_and_report(ctx: Context, endpoint: str, *, client: str | None = None) -> Status | None:
    """Like `limit`, but counts and tells instead of refusing: the tightest rate's verdict
    (None when no rate applies). The caller refuses when it is not `allowed`."""
    tightest: Status | None = None
    for rate, key in _rates(ctx, endpoint, None, client):
        verdict = await ctx.rt.throttles.hit(rate, *key)
        status = Status(limit=rate.limit, verdict=verdict)
        if (
            tightest is None
            or not verdict.allowed
            or (tightest.verdict.allowed and verdict.remaining < tightest.verdict.remaining)
        ):
            tightest = status
        if not verdict.allowed:
            break
    return tightest
