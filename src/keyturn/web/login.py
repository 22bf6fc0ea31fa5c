"""/login: the page, and the JSON calls its script makes."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from keyturn.errors import KeyturnError
from keyturn.flows import login as login_flow
from keyturn.web.deps import (
    RuntimeDep,
    SessionDep,
    load_page_flow,
    page_with_flow,
    read_json,
    request_context,
    signed_in_response,
    text_field,
)

router = APIRouter()


@router.get("/login")
async def login_page(request: Request, rt: RuntimeDep, session: SessionDep) -> Response:
    hint = request.query_params.get("login_hint", "")[:254]
    return await page_with_flow(request, rt, session, "login", "login.html", extra={"login_hint": hint})


@router.post("/login/flows/{flow_id}/passkey/options")
async def discoverable_options(request: Request, rt: RuntimeDep, flow_id: str) -> Response:
    flow, tenant = await load_page_flow(request, rt, flow_id, "login")
    return JSONResponse(await login_flow.discoverable_options(rt, flow, tenant, ctx=request_context(request)))


@router.post("/login/flows/{flow_id}/identify")
async def identify(request: Request, rt: RuntimeDep, flow_id: str) -> Response:
    flow, tenant = await load_page_flow(request, rt, flow_id, "login")
    data = await read_json(request)
    step = await login_flow.identify(rt, flow, tenant, email=data.get("email"), ctx=request_context(request))
    return JSONResponse(
        {"passkey": step.passkey_options, "password": step.password, "unknown_account": step.unknown_account}
    )


@router.post("/login/flows/{flow_id}")
async def submit_login(request: Request, rt: RuntimeDep, flow_id: str) -> Response:
    flow, tenant = await load_page_flow(request, rt, flow_id, "login")
    data = await read_json(request)
    submission: login_flow.LoginSubmission
    match data.get("method"):
        case "passkey":
            submission = login_flow.PasskeyLogin(credential=data.get("credential"))
        case "password":
            submission = login_flow.PasswordLogin(
                email=text_field(data, "email"), password=text_field(data, "password")
            )
        case _:
            raise KeyturnError("Choose passkey or password.", code="unknown_method")
    user, method = await login_flow.submit_login(rt, flow, tenant, submission, ctx=request_context(request))
    return await signed_in_response(
        request, rt, user, method=method, redirect_to=flow.return_to or "/account"
    )
