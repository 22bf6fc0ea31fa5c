"""/admin/applications: OIDC clients (create with the secret shown once, edit redirect URIs,
delete), hooks (list, create with the secret shown once, delete) and signing keys (Rotate).

Each action is one call into `operations.clients`, `operations.hooks` or `operations.keys`,
the functions `keyturn clients|hooks|keys` run; the routes only read the forms.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from keyturn.admin.common import AdminRoute, ChangeDep, OperatorDep, layout
from keyturn.admin.templates import render
from keyturn.context import Context
from keyturn.domain.hooks import TRIGGERS
from keyturn.domain.operators import Operator, OperatorSession
from keyturn.errors import KeyturnError
from keyturn.http.context import ContextDep
from keyturn.operations import clients, hooks, keys

router = APIRouter(route_class=AdminRoute)
Signed = tuple[OperatorSession, Operator]
CLIENT_FIELDS = {"invalid_redirect_uri": "redirect_uris", "invalid_client_metadata": "redirect_uris"}
HOOK_FIELDS = {
    "invalid_trigger": "trigger",
    "invalid_hook_url": "url",
    "invalid_timeout": "url",
    "invalid_failure_policy": "failure_policy",
}


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def field_of(error: KeyturnError, fields: dict[str, str], default: str) -> str:
    named = error.extra.get("field")
    return named if isinstance(named, str) else fields.get(error.code, default)


async def _page(
    request: Request,
    ctx: Context,
    signed_in: Signed,
    *,
    status: int = 200,
    **extra: Any,
) -> Response:
    reader = await ctx.read()
    context = {
        **layout(ctx, *signed_in, request),
        "clients": await reader.list_clients(),
        "hooks": await reader.list_hooks(),
        "keys": sorted(await reader.list_signing_keys(), key=lambda k: k.created_at, reverse=True),
        "triggers": TRIGGERS,
        "field_errors": {},
        "submitted": {},
        "created_client": None,
        "created_hook": None,
        **extra,
    }
    return render(request, "admin_applications.html", context, status=status)


@router.get("/applications")
async def applications(request: Request, ctx: ContextDep, signed_in: OperatorDep) -> Response:
    return await _page(request, ctx, signed_in)


@router.post("/applications/clients")
async def create_client(
    request: Request, ctx: ContextDep, signed_in: OperatorDep, actor: ChangeDep
) -> Response:
    """The secret is in this answer and nowhere else: the page is not a redirect target, and
    reloading the list shows the client without it."""
    form: dict[str, str] = request.state.form
    public = form.get("kind") == "public"
    try:
        created = await clients.register_client(
            ctx,
            actor=actor,
            name=form.get("name", ""),
            redirect_uris=lines(form.get("redirect_uris", "")),
            public=public,
        )
    except KeyturnError as error:
        field = field_of(error, CLIENT_FIELDS, "name")
        return await _page(
            request,
            ctx,
            signed_in,
            status=error.status,
            field_errors={f"client-{field}": error.description},
            submitted=form,
        )
    response = await _page(request, ctx, signed_in, status=201, created_client=created)
    response.headers["cache-control"] = "no-store"
    return response


@router.post("/applications/clients/{client_id}/redirect-uris")
async def edit_redirect_uris(
    request: Request, ctx: ContextDep, signed_in: OperatorDep, actor: ChangeDep, client_id: str
) -> Response:
    form: dict[str, str] = request.state.form
    try:
        await clients.set_redirect_uris(
            ctx,
            client_id[:128],
            actor=actor,
            redirect_uris=lines(form.get("redirect_uris", "")),
            post_logout_redirect_uris=lines(form.get("post_logout_redirect_uris", "")),
        )
    except KeyturnError as error:
        if error.status == 404:
            raise
        errors = {f"uris-{client_id}": error.description}
        return await _page(request, ctx, signed_in, status=error.status, field_errors=errors, submitted=form)
    return RedirectResponse("/admin/applications?notice=client_saved", status_code=303)


@router.post("/applications/clients/{client_id}/delete")
async def delete_client(ctx: ContextDep, actor: ChangeDep, client_id: str) -> Response:
    await clients.delete_client(ctx, client_id[:128], actor=actor)
    return RedirectResponse("/admin/applications?notice=client_deleted", status_code=303)


@router.post("/applications/hooks")
async def create_hook(
    request: Request, ctx: ContextDep, signed_in: OperatorDep, actor: ChangeDep
) -> Response:
    form: dict[str, str] = request.state.form
    try:
        created = await hooks.add_hook(
            ctx,
            actor=actor,
            trigger=form.get("trigger", ""),
            url=form.get("url", "").strip(),
            failure_policy=form.get("failure_policy", "deny"),
        )
    except KeyturnError as error:
        field = field_of(error, HOOK_FIELDS, "url")
        return await _page(
            request, ctx, signed_in, status=error.status, field_errors={f"hook-{field}": error.description},
            submitted=form,
        )  # fmt: skip
    response = await _page(request, ctx, signed_in, status=201, created_hook=created)
    response.headers["cache-control"] = "no-store"
    return response


@router.post("/applications/hooks/{hook_id}/delete")
async def delete_hook(ctx: ContextDep, actor: ChangeDep, hook_id: str) -> Response:
    await hooks.delete_hook(ctx, hook_id[:64], actor=actor)
    return RedirectResponse("/admin/applications?notice=hook_deleted", status_code=303)


@router.post("/applications/keys/rotate")
async def rotate_keys(ctx: ContextDep, actor: ChangeDep) -> Response:
    await keys.rotate_signing_keys(ctx, actor=actor)
    return RedirectResponse("/admin/applications?notice=keys_rotated#keys", status_code=303)
