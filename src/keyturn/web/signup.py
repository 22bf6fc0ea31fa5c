"""/signup: the page, and the JSON calls its script makes."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from keyturn.errors import KeyturnError
from keyturn.flows import registration
from keyturn.web.deps import (
    RuntimeDep,
    SessionDep,
    load_page_flow,
    page_with_flow,
    read_json,
    request_context,
    signed_in_response,
    text_field,
    user_agent,
)

router = APIRouter()


@router.get("/signup")
async def signup_page(request: Request, rt: RuntimeDep, session: SessionDep) -> Response:
    return await page_with_flow(request, rt, session, "registration", "signup.html")


@router.post("/signup/flows/{flow_id}/passkey/options")
async def creation_options(request: Request, rt: RuntimeDep, flow_id: str) -> Response:
    flow, tenant = await load_page_flow(request, rt, flow_id, "registration")
    data = await read_json(request)
    return JSONResponse(
        await registration.passkey_options(
            rt, flow, tenant, email=data.get("email"), ctx=request_context(request)
        )
    )


@router.post("/signup/flows/{flow_id}")
async def submit_signup(request: Request, rt: RuntimeDep, flow_id: str) -> Response:
    flow, tenant = await load_page_flow(request, rt, flow_id, "registration")
    data = await read_json(request)
    submission: registration.SignupSubmission
    match data.get("method"):
        case "passkey":
            submission = registration.PasskeySignup(credential=data.get("credential"))
        case "password":
            submission = registration.PasswordSignup(
                email=text_field(data, "email"), password=text_field(data, "password")
            )
        case _:
            raise KeyturnError("Choose passkey or password.", code="unknown_method")
    user, method = await registration.submit_registration(
        rt, flow, tenant, submission, user_agent=user_agent(request), ctx=request_context(request)
    )
    return await signed_in_response(
        request, rt, user, method=method, redirect_to=flow.return_to or "/account"
    )
