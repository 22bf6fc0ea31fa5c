"""/unblock: the link brute-force protection emails to a blocked account's owner.

Opening the link shows a button; only the POST unblocks, so a mail scanner that follows
links changes nothing. The sealed token is both what names the block and what proves the
request came from the email (another site cannot make one).
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from keyturn.errors import KeyturnError
from keyturn.flows import protection
from keyturn.http.context import ContextDep, ContextRoute
from keyturn.http.input import read_form
from keyturn.http.security import check_same_origin
from keyturn.http.templates import render

router = APIRouter(route_class=ContextRoute)


@router.get("/unblock")
async def unblock_page(request: Request, ctx: ContextDep, token: str = "") -> Response:
    block = await protection.check_unblock_link(ctx, token)
    context = {"tenant": ctx.tenant, "page": {}, "token": token, "identifier": block.identifier}
    return render(request, "unblock.html", {**context, "done": False})


@router.post("/unblock")
async def unblock(request: Request, ctx: ContextDep) -> Response:
    check_same_origin(request, ctx.tenant, ctx.settings)
    form = await read_form(request)
    token = form.get("token")
    if not isinstance(token, str):
        raise KeyturnError(code="unblock_link_invalid")
    await protection.unblock_with_link(ctx, token)
    return render(request, "unblock.html", {"tenant": ctx.tenant, "page": {}, "done": True})
