"""/admin/relying-party: rp id, display name, origins, related origins, and native apps.

A new rp id that would stop passkeys from working shows how many and asks for the new id
to be typed again; the rule is `operations.admins.update_relying_party`'s (the CLI's guard).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from keyturn.admin.common import AdminRoute, ChangeDep, OperatorDep, layout
from keyturn.admin.templates import render
from keyturn.context import Context
from keyturn.domain.operators import Operator, OperatorSession
from keyturn.errors import KeyturnError
from keyturn.http.context import ContextDep
from keyturn.operations import admins

router = APIRouter(route_class=AdminRoute)
Signed = tuple[OperatorSession, Operator]


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def android_apps(text: str) -> list[dict[str, Any]]:
    """One app per line: its package name, then its certificate fingerprints."""
    apps = []
    for line in lines(text):
        package, *fingerprints = re.split(r"[\s,]+", line)
        apps.append({"package_name": package, "sha256_cert_fingerprints": fingerprints})
    return apps


def _mismatch() -> str:
    return KeyturnError(code="confirmation_mismatch", expected="the new RP ID").description


async def _page(
    request: Request,
    ctx: Context,
    signed_in: Signed,
    *,
    status: int = 200,
    field_errors: dict[str, str] | None = None,
    submitted: dict[str, str] | None = None,
    form: str = "",
    unconfirmed: admins.RpIdChangeUnconfirmed | None = None,
) -> Response:
    context = {
        **layout(ctx, *signed_in, request),
        "rp": ctx.tenant.rp,
        "apps": ctx.tenant.native_apps,
        "passkeys_bound": await admins.passkeys_bound(ctx),
        "field_errors": field_errors or {},
        "submitted": submitted,
        "form": form,
        "unconfirmed": unconfirmed,
    }
    return render(request, "admin_relying_party.html", context, status=status)


@router.get("/relying-party")
async def relying_party(request: Request, ctx: ContextDep, signed_in: OperatorDep) -> Response:
    return await _page(request, ctx, signed_in)


@router.post("/relying-party")
async def save_relying_party(
    request: Request, ctx: ContextDep, signed_in: OperatorDep, actor: ChangeDep
) -> Response:
    form: dict[str, str] = request.state.form
    values = {
        "id": form.get("id", "").strip(),
        "display_name": form.get("display_name", "").strip(),
        "origins": lines(form.get("origins", "")),
        "related_origins": lines(form.get("related_origins", "")),
    }
    try:
        await admins.update_relying_party(
            ctx, values, confirm_rp_id=form.get("confirm_rp_id", ""), actor=actor
        )
    except admins.RpIdChangeUnconfirmed as unconfirmed:
        return await _page(
            request, ctx, signed_in, status=409, submitted=form, form="rp", unconfirmed=unconfirmed,
            field_errors={"confirm_rp_id": _mismatch()} if form.get("confirm_rp_id") else None,
        )  # fmt: skip
    except admins.FieldErrors as error:
        return await _page(
            request, ctx, signed_in, status=400, field_errors=error.fields, submitted=form, form="rp"
        )
    return RedirectResponse("/admin/relying-party?notice=rp_saved", status_code=303)


@router.post("/relying-party/native-apps")
async def save_native_apps(
    request: Request, ctx: ContextDep, signed_in: OperatorDep, actor: ChangeDep
) -> Response:
    form: dict[str, str] = request.state.form
    try:
        await admins.update_native_apps(
            ctx, lines(form.get("apple_app_ids", "")), android_apps(form.get("android", "")), actor=actor
        )
    except admins.FieldErrors as error:
        return await _page(
            request, ctx, signed_in, status=400, field_errors=error.fields, submitted=form, form="apps"
        )
    return RedirectResponse("/admin/relying-party?notice=rp_saved#native-apps", status_code=303)
