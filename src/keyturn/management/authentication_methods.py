"""/api/v2/users/{id}/authentication-methods (and the older underscore path): a user's
password and passkeys; operators rename and revoke passkeys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from starlette.requests import Request

from keyturn.context import Context
from keyturn.domain.identity import User
from keyturn.errors import NotFound
from keyturn.http.context import ContextDep
from keyturn.management.auth import Caller, require
from keyturn.management.deps import ManagementRoute, actor_of
from keyturn.management.schemas import AuthenticationMethodOut, AuthenticationMethodUpdate, ErrorOut
from keyturn.management.shapes import (
    passkey_out,
    password_out,
    recovery_codes_out,
    security_key_out,
    totp_out,
)
from keyturn.operations import users as user_ops

router = APIRouter(
    tags=["authentication-methods"],
    responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut}},
    route_class=ManagementRoute,
)
PATHS = ("/users/{user_id}/authentication-methods", "/users/{user_id}/authentication_methods")


async def _methods(ctx: Context, user: User) -> list[AuthenticationMethodOut]:
    """The password first (if any), then passkeys by creation date, then second factors
    (Auth0's `totp`, `webauthn-roaming`, `recovery-code`)."""
    methods = [password_out(user)] if user.has_password else []
    methods += [passkey_out(p) for p in await user_ops.passkeys_of(ctx, user)]
    factors, keys = await user_ops.second_factors_of(ctx, user)
    if factors.totp is not None:
        methods.append(totp_out(factors.totp))
    methods += [security_key_out(k) for k in keys]
    if factors.recovery is not None:
        methods.append(recovery_codes_out(user, factors.recovery))
    return methods


async def _method(ctx: Context, user: User, method_id: str) -> AuthenticationMethodOut:
    for method in await _methods(ctx, user):
        if method.id == method_id:
            return method
    raise NotFound(code="authenticator_not_found")


for index, base in enumerate(PATHS):
    tag = "" if index == 0 else "-legacy"

    @router.get(
        base, response_model=list[AuthenticationMethodOut], operation_id=f"authentication-methods-list{tag}"
    )
    async def list_methods(
        ctx: ContextDep,
        user_id: str,
        caller: Annotated[Caller, Depends(require("read:authentication_methods"))],
    ) -> list[AuthenticationMethodOut]:
        return await _methods(ctx, await user_ops.get_user(ctx, user_id))

    @router.get(
        base + "/{authentication_method_id}",
        response_model=AuthenticationMethodOut,
        operation_id=f"authentication-methods-get{tag}",
    )
    async def get_method(
        ctx: ContextDep,
        user_id: str,
        authentication_method_id: str,
        caller: Annotated[Caller, Depends(require("read:authentication_methods"))],
    ) -> AuthenticationMethodOut:
        return await _method(ctx, await user_ops.get_user(ctx, user_id), authentication_method_id)

    @router.patch(
        base + "/{authentication_method_id}",
        response_model=AuthenticationMethodOut,
        operation_id=f"authentication-methods-update{tag}",
        responses={400: {"model": ErrorOut}},
    )
    async def rename_method(
        request: Request,
        ctx: ContextDep,
        user_id: str,
        authentication_method_id: str,
        body: AuthenticationMethodUpdate,
        caller: Annotated[Caller, Depends(require("update:authentication_methods"))],
    ) -> AuthenticationMethodOut:
        user = await user_ops.get_user(ctx, user_id)
        method = await _method(ctx, user, authentication_method_id)
        if method.type != "passkey":
            raise NotFound(code="authenticator_not_found", message="authenticator_not_found.unnamed")
        await user_ops.rename_passkey(ctx, user, method.id, body.name, actor=actor_of(request, caller))
        return await _method(ctx, user, authentication_method_id)

    @router.delete(
        base + "/{authentication_method_id}",
        status_code=204,
        operation_id=f"authentication-methods-delete{tag}",
    )
    async def delete_method(
        request: Request,
        ctx: ContextDep,
        user_id: str,
        authentication_method_id: str,
        caller: Annotated[Caller, Depends(require("delete:authentication_methods"))],
    ) -> Response:
        """Revoke it at once: the next sign-in with this passkey fails."""
        user = await user_ops.get_user(ctx, user_id)
        method = await _method(ctx, user, authentication_method_id)
        await user_ops.revoke_method(ctx, user, method.id, actor=actor_of(request, caller))
        return Response(status_code=204)

    @router.delete(base, status_code=204, operation_id=f"authentication-methods-delete-all{tag}")
    async def delete_all_methods(
        request: Request,
        ctx: ContextDep,
        user_id: str,
        caller: Annotated[Caller, Depends(require("delete:authentication_methods"))],
    ) -> Response:
        """Revoke every passkey of the user (the password, if any, stays)."""
        user = await user_ops.get_user(ctx, user_id)
        await user_ops.revoke_all_passkeys(ctx, user, actor=actor_of(request, caller))
        return Response(status_code=204)
