"""/signup: the page, and the JSON calls its script makes."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from keyturn.flows import registration, verification
from keyturn.flows.base import csrf_token, flow_token
from keyturn.flows.rate_limits import limit
from keyturn.http.context import ContextDep, ContextRoute, SessionDep
from keyturn.http.input import read_json
from keyturn.http.json import JSONResponse
from keyturn.http.security import BINDING_COOKIE, SESSION_COOKIE
from keyturn.web.flow_pages import load_page_flow, open_flow_page, signed_in_response

router = APIRouter(route_class=ContextRoute)


@router.get("/signup")
async def signup_page(request: Request, ctx: ContextDep, session: SessionDep) -> Response:
    verify_first = ctx.tenant.verification.mode == "before_signup"
    return await open_flow_page(
        request, ctx, session, "registration", "signup.html", extra={"verify_first": verify_first}
    )


@router.post("/signup/flows/{flow_id}/email")
async def send_signup_code(request: Request, ctx: ContextDep, flow_id: str) -> Response:
    """verification.mode=before_signup: the same answer whether the address has an account."""
    flow = load_page_flow(request, ctx, flow_id, "registration")
    data = await read_json(request)
    waiting = await verification.start_signup(ctx, flow, email=data.get("email"))
    return JSONResponse({"flow_id": flow_token(ctx, waiting), "csrf": csrf_token(ctx, waiting)})


@router.post("/signup/flows/{flow_id}/code")
async def prove_signup(request: Request, ctx: ContextDep, flow_id: str) -> Response:
    flow = load_page_flow(request, ctx, flow_id, "registration")
    data = await read_json(request)
    proven = await verification.prove_signup(ctx, flow, code=data.get("code"))
    return JSONResponse(
        {"flow_id": flow_token(ctx, proven), "csrf": csrf_token(ctx, proven), "email": proven.email}
    )


@router.post("/signup/flows/{flow_id}/passkey/options")
async def creation_options(request: Request, ctx: ContextDep, flow_id: str) -> Response:
    flow = load_page_flow(request, ctx, flow_id, "registration")
    data = await read_json(request)
    await limit(ctx, "signup.passkey_options", identifier=flow.email or data.get("email"))
    return JSONResponse(registration.passkey_options(ctx, flow, email=data.get("email"), payload=data))


@router.post("/signup/flows/{flow_id}")
async def submit_signup(request: Request, ctx: ContextDep, flow_id: str) -> Response:
    flow = load_page_flow(request, ctx, flow_id, "registration")
    data = await read_json(request)
    await limit(ctx, "signup.submit", identifier=flow.email or data.get("email"))
    signing_up = registration.submit_registration(
        ctx,
        flow,
        data,
        binding_token=request.cookies.get(BINDING_COOKIE),
        previous_session=request.cookies.get(SESSION_COOKIE),
    )
    return await signed_in_response(ctx, signing_up)
