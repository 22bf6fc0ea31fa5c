"""/api/v2's rate limit, per client (the token's azp), told as Auth0 tells it.

`count_caller` counts a request once its token is verified (the `management_api` group of
`attack_protection.rate_limits`) and refuses one over the limit with Auth0's 429; the
`RateLimitHeaders` middleware puts Auth0's `x-ratelimit-limit`, `x-ratelimit-remaining` and
`x-ratelimit-reset` (epoch seconds) on every response of a counted request, refusals too.
"""

from __future__ import annotations

import math

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keyturn.context import Context
from keyturn.errors import RateLimited
from keyturn.flows.rate_limits import Status, limit_and_report

STATE_KEY = "rate_limit"


async def count_caller(request: Request, ctx: Context, client_id: str) -> None:
    status = await limit_and_report(ctx, "management_api", client=client_id)
    if status is None:
        return
    setattr(request.state, STATE_KEY, status)
    if not status.verdict.allowed:
        raise RateLimited(code="too_many_requests", retry_after=status.verdict.retry_after)


def headers_of(status: Status) -> list[tuple[bytes, bytes]]:
    return [
        (b"x-ratelimit-limit", str(status.limit).encode()),
        (b"x-ratelimit-remaining", str(max(0, status.verdict.remaining)).encode()),
        (b"x-ratelimit-reset", str(math.ceil(status.verdict.reset_at)).encode()),
    ]


class RateLimitHeaders:
    """Pure ASGI: the counted request's rate-limit status on its response, whatever answered it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status = scope.get("state", {}).get(STATE_KEY)
                if isinstance(status, Status):
                    message = {**message, "headers": [*message.get("headers", []), *headers_of(status)]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
