"""/admin/users: Search users, a user's page (passkeys, password, sessions, blocks, events),
create, rename and revoke passkeys, revoke sessions, unblock, delete.

Each action is one call into `operations.users`, `operations.sessions` or `operations.blocks`
(the same functions /api/v2 and the CLI use); bad input re-renders the form with the message
next to its field and nothing is changed.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from keyturn.admin.common import AdminRoute, ChangeDep, OperatorDep, layout
from keyturn.admin.templates import render
from keyturn.context import Context
from keyturn.domain.identity import User
from keyturn.domain.operators import Operator, OperatorSession
from keyturn.domain.tenant import CONNECTION_NAME
from keyturn.errors import KeyturnError, NotFound
from keyturn.http.context import ContextDep
from keyturn.operations import blocks, sessions
from keyturn.operations import users as user_operations
from keyturn.passkeys.aaguid import icon_file, provider_icon, provider_name

router = APIRouter(route_class=AdminRoute)
RECENT_EVENTS = 20
# Which form field an operation's error belongs next to.
CREATE_FIELDS = {
    "invalid_email": "email",
    "auth0_idp_error": "email",
    "password_too_short": "password",
    "password_too_long": "password",
}
Signed = tuple[OperatorSession, Operator]


def _page_number(request: Request) -> int:
    raw = request.query_params.get("page", "0")
    return int(raw) if raw.isdigit() and len(raw) < 6 else 0


@router.get("/users")
async def search(request: Request, ctx: ContextDep, signed_in: OperatorDep) -> Response:
    return await _search_page(request, ctx, signed_in)


async def _search_page(
    request: Request,
    ctx: Context,
    signed_in: Signed,
    *,
    field_errors: dict[str, str] | None = None,
    submitted: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    query = request.query_params.get("q", "")
    page = _page_number(request)
    found, total = await user_operations.search_users(ctx, query, page=page)
    pages = max(1, -(-total // user_operations.SEARCH_PAGE_SIZE))
    context = {
        **layout(ctx, *signed_in, request),
        "query": query,
        "users": found,
        "total": total,
        "page_number": page,
        "pages": pages,
        "field_errors": field_errors or {},
        "submitted": submitted or {},
    }
    return render(request, "admin_users.html", context, status=status)


@router.post("/users")
async def create(request: Request, ctx: ContextDep, signed_in: OperatorDep, actor: ChangeDep) -> Response:
    form: dict[str, str] = request.state.form
    try:
        user = await user_operations.create_user(
            ctx,
            actor=actor,
            email=form.get("email", ""),
            password=form.get("password") or None,
            name=form.get("name", "").strip() or None,
            email_verified="email_verified" in form,
            connection=CONNECTION_NAME,
        )
    except KeyturnError as error:
        field = CREATE_FIELDS.get(error.code, "email")
        submitted = {k: v for k, v in form.items() if k != "password"}  # never echo a password
        return await _search_page(
            request,
            ctx,
            signed_in,
            field_errors={field: error.description},
            submitted=submitted,
            status=error.status,
        )
    return RedirectResponse(f"/admin/users/{user.id}?notice=user_created", status_code=303)


async def _user_or_404(ctx: Context, user_id: str) -> User:
    if len(user_id) > 64:
        raise NotFound(code="inexistent_user")
    return await user_operations.get_user(ctx, user_id)


def describe_passkey(passkey: Any) -> dict[str, Any]:
    return {
        "id": passkey.id,
        "name": passkey.name,
        "provider": provider_name(passkey.aaguid) or "Unknown provider",
        "icon": provider_icon(passkey.aaguid),
        "synced": passkey.backup_eligible,
        "created_at": passkey.created_at,
        "last_used_at": passkey.last_used_at,
        "transports": list(passkey.transports),
    }


async def _user_page(
    request: Request,
    ctx: Context,
    signed_in: Signed,
    user: User,
    *,
    field_errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    reader = await ctx.read()
    events, _ = await reader.query_events(user_id=user.id, limit=RECENT_EVENTS)
    context = {
        **layout(ctx, *signed_in, request),
        "user": user,
        "passkeys": [describe_passkey(p) for p in await user_operations.passkeys_of(ctx, user)],
        "sessions": await sessions.sessions_of(ctx, user),
        "blocks": await blocks.list_blocks(ctx, user_id=user.id),
        "events": events,
        "field_errors": field_errors or {},
        "confirm_delete": request.query_params.get("confirm") == "delete",
    }
    return render(request, "admin_user.html", context, status=status)


@router.get("/users/{user_id}")
async def user_page(request: Request, ctx: ContextDep, signed_in: OperatorDep, user_id: str) -> Response:
    return await _user_page(request, ctx, signed_in, await _user_or_404(ctx, user_id))


def _back(user: User, notice: str) -> Response:
    return RedirectResponse(f"/admin/users/{user.id}?notice={notice}", status_code=303)


@router.post("/users/{user_id}/passkeys/{passkey_id}/rename")
async def rename_passkey(
    request: Request, ctx: ContextDep, signed_in: OperatorDep, actor: ChangeDep, user_id: str, passkey_id: str
) -> Response:
    user = await _user_or_404(ctx, user_id)
    try:
        await user_operations.rename_passkey(
            ctx, user, passkey_id, request.state.form.get("name"), actor=actor
        )
    except KeyturnError as error:
        if error.status == 404:
            raise
        errors = {f"name-{passkey_id}": error.description}
        return await _user_page(request, ctx, signed_in, user, field_errors=errors, status=error.status)
    return _back(user, "passkey_renamed")


@router.post("/users/{user_id}/passkeys/{passkey_id}/revoke")
async def revoke_passkey(ctx: ContextDep, actor: ChangeDep, user_id: str, passkey_id: str) -> Response:
    user = await _user_or_404(ctx, user_id)
    if passkey_id.startswith(user_operations.PASSWORD_METHOD_PREFIX):
        raise NotFound(code="authenticator_not_found")  # the password has its own button
    await user_operations.revoke_method(ctx, user, passkey_id, actor=actor)
    return _back(user, "passkey_revoked")


@router.post("/users/{user_id}/password/remove")
async def remove_password(ctx: ContextDep, actor: ChangeDep, user_id: str) -> Response:
    user = await _user_or_404(ctx, user_id)
    await user_operations.revoke_method(
        ctx, user, f"{user_operations.PASSWORD_METHOD_PREFIX}{user.id}", actor=actor
    )
    return _back(user, "password_removed")


@router.post("/users/{user_id}/sessions/{session_id}/revoke")
async def revoke_session(ctx: ContextDep, actor: ChangeDep, user_id: str, session_id: str) -> Response:
    user = await _user_or_404(ctx, user_id)
    await sessions.revoke_access(ctx, user, session_id=session_id, preserve_refresh_tokens=False, actor=actor)
    return _back(user, "session_revoked")


@router.post("/users/{user_id}/unblock")
async def unblock(ctx: ContextDep, actor: ChangeDep, user_id: str) -> Response:
    user = await _user_or_404(ctx, user_id)
    await blocks.remove_blocks(ctx, actor=actor, user_id=user.id)
    return _back(user, "unblocked")


@router.post("/users/{user_id}/delete")
async def delete(
    request: Request, ctx: ContextDep, signed_in: OperatorDep, actor: ChangeDep, user_id: str
) -> Response:
    """Deleting asks the operator to type the user's email, so a slip of the mouse deletes nobody."""
    user = await _user_or_404(ctx, user_id)
    if request.state.form.get("confirm_email", "").strip().lower() != user.email:
        message = KeyturnError(code="confirmation_mismatch", expected="the user's email").description
        return await _user_page(
            request, ctx, signed_in, user, field_errors={"confirm_email": message}, status=400
        )
    await user_operations.delete_user(ctx, user.id, actor=actor)
    return RedirectResponse("/admin/users?notice=user_deleted", status_code=303)


@router.get("/icons/{name}")
async def provider_icon_file(name: str, signed_in: OperatorDep) -> Response:
    """A provider's icon from the AAGUID registry's package (nothing else is served here)."""
    found = icon_file(name)
    if found is None:
        raise NotFound()
    return FileResponse(found, media_type="image/svg+xml" if name.endswith(".svg") else None)
