"""What route handlers share: the runtime, parsed inputs, the signed-in user, rendering."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends
from fastapi.templating import Jinja2Templates
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from keyturn.domain.events import RequestContext
from keyturn.domain.flow import Flow, FlowKind
from keyturn.domain.identity import User
from keyturn.domain.session import AuthMethod, Session
from keyturn.domain.tenant import TenantSettings
from keyturn.errors import KeyturnError
from keyturn.flows.base import load_flow, start_flow
from keyturn.flows.session import SignInDenied, complete_sign_in, resolve_session
from keyturn.oidc.authorization import RedirectError, error_redirect
from keyturn.oidc.errors import AccessDenied
from keyturn.passkeys.aaguid import provider_name
from keyturn.runtime import Runtime
from keyturn.web.security import (
    BINDING_COOKIE,
    CSRF_HEADER,
    SESSION_COOKIE,
    binding_token,
    check_same_origin,
    set_cookie,
)

MAX_BODY_BYTES = 64 * 1024

templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
templates.env.filters["provider"] = lambda aaguid: provider_name(aaguid) or "Unknown provider"


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def read_json(request: Request) -> dict[str, Any]:
    """The body as a JSON object, or a clear 400 (never a 500) for anything else."""
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise KeyturnError("The request is too large.", code="request_too_large", status=413)
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:  # bad UTF-8, bad JSON, absurd nesting or numbers
        raise KeyturnError("The request body must be JSON.", code="invalid_json") from exc
    if not isinstance(data, dict):
        raise KeyturnError("The request body must be a JSON object.", code="invalid_json")
    return data


def text_field(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise KeyturnError(f"The field {name!r} is required.", code="missing_field")
    return value


async def current_session(request: Request, rt: RuntimeDep) -> tuple[Session, User] | None:
    return await resolve_session(rt, request.cookies.get(SESSION_COOKIE))


SessionDep = Annotated[tuple[Session, User] | None, Depends(current_session)]


def request_context(request: Request) -> RequestContext:
    return RequestContext(ip=client_ip(request), user_agent=user_agent(request))


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def user_agent(request: Request) -> str:
    return request.headers.get("user-agent", "")


_SAFE_PATH = re.compile(r"^/(?![/\\])[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*$")


def safe_return_to(value: str | None) -> str | None:
    """Only same-site paths: never an open redirect.

    Browsers drop tabs and newlines and read backslashes as slashes, so `/\t/evil` or
    `/\\evil` would become `//evil`: only plain URL characters are accepted.
    """
    if value and _SAFE_PATH.match(value) and "//" not in value.split("?")[0]:
        return value
    return None


def render(request: Request, template: str, context: dict[str, Any], *, status: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(request, template, context, status_code=status)


async def load_page_flow(
    request: Request, rt: Runtime, flow_id: str, kind: FlowKind
) -> tuple[Flow, TenantSettings]:
    """The flow a page's script calls about: same origin, same browser, right CSRF token."""
    tenant = await rt.tenant()
    check_same_origin(request, tenant, rt.settings)
    flow = await load_flow(
        rt,
        flow_id,
        kind=kind,
        binding_token=request.cookies.get(BINDING_COOKIE),
        csrf_token=request.headers.get(CSRF_HEADER),
    )
    return flow, tenant


async def page_with_flow(
    request: Request,
    rt: Runtime,
    session: tuple[Session, User] | None,
    kind: FlowKind,
    template: str,
    *,
    extra: dict[str, Any] | None = None,
) -> Response:
    """A login or sign-up page: signed-in people go on to `return_to` (unless `force=1`, a
    re-authentication), everyone else gets a new flow bound to this browser."""
    return_to = safe_return_to(request.query_params.get("return_to"))
    if session is not None and request.query_params.get("force") != "1":
        return RedirectResponse(return_to or "/account", status_code=303)
    token, new = binding_token(request)
    flow = await start_flow(rt, kind, binding_token=token, return_to=return_to)
    tenant = await rt.tenant()
    context = {"tenant": tenant, "page": {"flow_id": flow.id, "csrf": flow.csrf_token}, **(extra or {})}
    response = render(request, template, context)
    if new:
        set_cookie(response, rt.settings, BINDING_COOKIE, token, max_age=None)
    return response


async def signed_in_response(
    request: Request, rt: Runtime, user: User, *, method: AuthMethod, redirect_to: str
) -> Response:
    """Issue the session cookie (ending any session this browser had) and say where to go next."""
    try:
        token, _ = await complete_sign_in(
            rt,
            user,
            method=method,
            return_to=redirect_to,
            binding_token=request.cookies.get(BINDING_COOKIE),
            ctx=request_context(request),
        )
    except SignInDenied as denied:
        if denied.authorization is None:
            raise  # shown on the page
        back = RedirectError(
            AccessDenied(denied.description),
            redirect_uri=denied.authorization.redirect_uri,
            state=denied.authorization.state,
        )
        return JSONResponse({"redirect_to": error_redirect(rt, back)})
    if previous := await resolve_session(rt, request.cookies.get(SESSION_COOKIE)):
        await rt.store.delete_session(previous[0].id)
    response = JSONResponse({"redirect_to": redirect_to})
    set_cookie(response, rt.settings, SESSION_COOKIE, token, max_age=rt.settings.session_lifespan_seconds)
    return response
