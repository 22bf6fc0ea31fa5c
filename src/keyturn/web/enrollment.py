"""/enroll/{offer}: the passkey offered right after a sign-in (`keyturn.flows.enrollment`).

The page's script does the WebAuthn part (the automatic upgrade, then the prompt's
**Create a passkey**) and goes on to where the sign-in was going whatever happens. **Not now**
and **Don't ask again** are plain forms, so they work without the script too. Every call is
the signed-in user's, about an offer sealed for them and bound to this browser.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from keyturn.context import Context
from keyturn.domain.flow import Flow
from keyturn.domain.identity import User
from keyturn.errors import KeyturnError, Unauthenticated
from keyturn.flows import enrollment
from keyturn.flows.base import csrf_token, load_flow, open_flow
from keyturn.http.context import ContextDep, ContextRoute, SessionDep
from keyturn.http.input import read_form, read_json
from keyturn.http.json import JSONResponse
from keyturn.http.security import BINDING_COOKIE, CSRF_HEADER, check_same_origin, set_cookie
from keyturn.http.templates import render

router = APIRouter(route_class=ContextRoute)
# This browser's answer to local enrollment (Not now until…, or Don't ask again).
DEVICE_CHOICE_COOKIE = "keyturn_local_enrollment"


def _user(session: SessionDep) -> User:
    if session is None:
        raise Unauthenticated()
    return session[1]


def _offer(request: Request, ctx: Context, token: str, user: User, *, csrf: object) -> Flow:
    check_same_origin(request, ctx.tenant, ctx.settings)
    return load_flow(
        ctx,
        token,
        kind=enrollment.OFFER_KINDS,
        binding_token=request.cookies.get(BINDING_COOKIE),
        csrf=csrf,
        user_id=user.id,
    )


@router.get("/enroll/{token}")
async def offer_page(request: Request, ctx: ContextDep, session: SessionDep, token: str) -> Response:
    """The offer, for the user it was made to; anything else goes on (an offer never blocks)."""
    if session is None:
        return RedirectResponse("/login", status_code=303)
    try:
        binding = request.cookies.get(BINDING_COOKIE)
        offer = open_flow(ctx, token, kind=enrollment.OFFER_KINDS, binding_token=binding)
    except KeyturnError:
        return RedirectResponse("/account", status_code=303)
    if offer.user_id != session[1].id:
        return RedirectResponse(enrollment.next_url(offer), status_code=303)
    page = {**enrollment.offer_page(ctx, offer), "flow_id": token, "csrf": csrf_token(ctx, offer)}
    context = {"tenant": ctx.tenant, "page": page, "user": session[1], "offer": offer.kind}
    return render(request, "enroll.html", context)


@router.post("/enroll/{token}/options")
async def offer_options(request: Request, ctx: ContextDep, session: SessionDep, token: str) -> Response:
    user = _user(session)
    offer = _offer(request, ctx, token, user, csrf=request.headers.get(CSRF_HEADER))
    data = await read_json(request)
    return JSONResponse(await enrollment.offer_options(ctx, offer, user, conditional=data.get("conditional")))


@router.post("/enroll/{token}")
async def accept_offer(request: Request, ctx: ContextDep, session: SessionDep, token: str) -> Response:
    user = _user(session)
    offer = _offer(request, ctx, token, user, csrf=request.headers.get(CSRF_HEADER))
    data = await read_json(request)
    passkey = await enrollment.accept_offer(ctx, offer, user, credential=data.get("credential"))
    return JSONResponse({"id": passkey.id, "name": passkey.name, "redirect_to": enrollment.next_url(offer)})


@router.post("/enroll/{token}/choice")
async def decline_offer(request: Request, ctx: ContextDep, session: SessionDep, token: str) -> Response:
    """Not now / Don't ask again: remembered (for the user, or by this browser), then on."""
    user = _user(session)
    form = await read_form(request)
    offer = _offer(request, ctx, token, user, csrf=form.get("csrf"))
    device_choice = await enrollment.decline_offer(ctx, offer, user, choice=form.get("choice"))
    response = RedirectResponse(enrollment.next_url(offer), status_code=303)
    if device_choice is not None:
        max_age = enrollment.DEVICE_CHOICE_MAX_AGE
        set_cookie(response, ctx.settings, DEVICE_CHOICE_COOKIE, device_choice, max_age=max_age)
    return response
