"""What every dashboard page shares: the gate, who is asking, the CSRF-checked change, the layout.

A page module makes its own `APIRouter(route_class=AdminRoute)`; `routes.py` mounts them all
under /admin before its catch-all 404.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from keyturn.context import Context
from keyturn.domain.operators import SESSION_ABSOLUTE_LIFETIME, Operator, OperatorSession
from keyturn.domain.tenant import in_allowlist
from keyturn.errors import Forbidden
from keyturn.flows.base import check_csrf
from keyturn.http.context import ContextDep, ContextRoute, runtime_of
from keyturn.http.input import read_form
from keyturn.http.security import check_same_origin
from keyturn.operations import admins
from keyturn.operations.audit import Actor

ADMIN_COOKIE = "keyturn_admin"
NOTICES = {
    "passkey_on": "Passkeys are on.",
    "passkey_off": "Passkeys are off.",
    "password_on": "Passwords are on.",
    "password_off": "Passwords are off.",
    "options_saved": "Passkey options saved.",
    "enrolled": "Your passkey is registered. Sign in with it.",
    "signed_out": "Signed out.",
    "user_created": "User created.",
    "user_deleted": "User deleted.",
    "passkey_renamed": "Passkey renamed.",
    "passkey_revoked": "Passkey revoked.",
    "password_removed": "Password removed.",
    "session_revoked": "Session revoked.",
    "unblocked": "Blocks removed.",
    "rp_saved": "Relying party saved.",
    "client_deleted": "Application deleted.",
    "client_saved": "Redirect URIs saved.",
    "hook_deleted": "Hook deleted.",
    "keys_rotated": "New signing keys created; the old ones stay published until their tokens expire.",
}


def forbidden() -> Response:
    return PlainTextResponse("Forbidden.", status_code=403)


class AdminRoute(ContextRoute):
    """The gate runs before anything else (no database work for a refused address); a
    refusal of the operator check renders the same bare 403."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def gated(request: Request) -> Response:
            settings = runtime_of(request).settings.admin
            if not settings.enabled:
                return PlainTextResponse("Not found.", status_code=404)
            address = request.client.host if request.client else ""
            if settings.allowed_ips and not in_allowlist(address, settings.allowed_ips):
                return forbidden()
            try:
                return await handler(request)
            except Forbidden as refused:
                if refused.code == "admin_forbidden":
                    return forbidden()
                raise

        return gated


# --- who is asking ------------------------------------------------------------------------


async def current_operator(request: Request, ctx: ContextDep) -> tuple[OperatorSession, Operator]:
    found = await admins.resolve_operator_session(ctx, request.cookies.get(ADMIN_COOKIE))
    if found is None:
        raise Forbidden(code="admin_forbidden")
    request.state.operator = found[1]
    return found


OperatorDep = Annotated[tuple[OperatorSession, Operator], Depends(current_operator)]


async def changing_operator(request: Request, ctx: ContextDep, signed_in: OperatorDep) -> Actor:
    """A POST that changes something: an owner's, same-origin, with the session's CSRF token."""
    session, operator = signed_in
    if not operator.can_change:
        raise Forbidden(code="admin_forbidden")
    check_same_origin(request, ctx.tenant, ctx.settings)
    form = await read_form(request)
    check_csrf(session.csrf_token, form.get("csrf"))
    request.state.form = form
    return admins.operator_actor(operator, method=request.method, path=request.url.path)


ChangeDep = Annotated[Actor, Depends(changing_operator)]


def set_admin_cookie(response: Response, ctx: Context, token: str) -> None:
    response.set_cookie(
        ADMIN_COOKIE,
        token,
        max_age=int(SESSION_ABSOLUTE_LIFETIME.total_seconds()),
        httponly=True,
        secure=ctx.settings.secure_cookies,
        samesite="strict",
        path="/admin",
    )


def layout(ctx: Context, session: OperatorSession, operator: Operator, request: Request) -> dict[str, Any]:
    return {
        "tenant": ctx.tenant,
        "operator": operator,
        "csrf": session.csrf_token,
        "notice": NOTICES.get(request.query_params.get("notice", "")),
        "path": request.url.path,
    }
