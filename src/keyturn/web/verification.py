"""/verify: the link of a verification message. Its GET only shows a button (mail scanners
fetch links); the POST verifies, in whichever browser opened it."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from keyturn.errors import KeyturnError, Unavailable
from keyturn.flows import verification
from keyturn.http.context import ContextDep, ContextRoute
from keyturn.http.input import read_form
from keyturn.http.security import check_same_origin
from keyturn.http.templates import render

router = APIRouter(route_class=ContextRoute)


@router.get("/verify")
async def verify_page(request: Request, ctx: ContextDep) -> Response:
    token = request.query_params.get("token", "")[:256]
    return render(request, "verify_link.html", {"tenant": ctx.tenant, "page": {}, "token": token})


@router.post("/verify")
async def verify(request: Request, ctx: ContextDep) -> Response:
    check_same_origin(request, ctx.tenant, ctx.settings)
    form = await read_form(request)
    try:
        await verification.verify_with_link(ctx, token=form.get("token"))
    except Unavailable:
        raise
    except KeyturnError as error:
        context = {"tenant": ctx.tenant, "page": {}, "token": "", "error": error}
        return render(request, "verify_link.html", context, status=error.status)
    done = {"tenant": ctx.tenant, "page": {}, "token": "", "verified": True}
    return render(request, "verify_link.html", done)
