"""/login: the page, and the JSON calls its script makes."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from keyturn.flows import login as login_flow
from keyturn.flows.rate_limits import limit
from keyturn.http.context import ContextDep, ContextRoute, SessionDep
from keyturn.http.input import read_json
from keyturn.http.security import BINDING_COOKIE, SESSION_COOKIE
from keyturn.web.enrollment import DEVICE_CHOICE_COOKIE
from keyturn.web.flow_pages import load_page_flow, open_flow_page, signed_in_response

router = APIRouter(route_class=ContextRoute)


@router.get("/login")
async def login_page(request: Request, ctx: ContextDep, session: SessionDep) -> Response:
    return await open_flow_page(request, ctx, session, "login", "login.html")


@router.post("/login/flows/{flow_id}/passkey/options")
async def discoverable_options(request: Request, ctx: ContextDep, flow_id: str) -> Response:
    flow = load_page_flow(request, ctx, flow_id, "login")
    await limit(ctx, "login.passkey_options")
    return JSONResponse(login_flow.discoverable_options(ctx, flow))


@router.post("/login/flows/{flow_id}/identify")
async def identify(request: Request, ctx: ContextDep, flow_id: str) -> Response:
    flow = load_page_flow(request, ctx, flow_id, "login")
    data = await read_json(request)
    await limit(ctx, "login.identify", identifier=data.get("email"))
    return JSONResponse(await login_flow.identify(ctx, flow, email=data.get("email")))


@router.post("/login/flows/{flow_id}")
async def submit_login(request: Request, ctx: ContextDep, flow_id: str) -> Response:
    flow = load_page_flow(request, ctx, flow_id, "login")
    data = await read_json(request)
    signing_in = login_flow.submit_login(
        ctx,
        flow,
        data,
        binding_token=request.cookies.get(BINDING_COOKIE),
        previous_session=request.cookies.get(SESSION_COOKIE),
        device_choice=request.cookies.get(DEVICE_CHOICE_COOKIE),
    )
    return await signed_in_response(ctx, signing_in)
