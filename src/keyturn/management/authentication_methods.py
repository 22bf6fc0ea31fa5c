"""/api/v2/users/{id}/authentication-methods (and the older underscore path): a user's
password and passkeys; operators rename and revoke passkeys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from starlette.requests import Request

from keyturn.domain.identity import User
from keyturn.errors import NotFound
from keyturn.flows.settings import clean_passkey_name
from keyturn.management.auth import Caller, require
from keyturn.management.deps import ManagementRuntime, audit
from keyturn.management.schemas import AuthenticationMethodOut, AuthenticationMethodUpdate, ErrorOut
from keyturn.management.shapes import PASSWORD_METHOD_PREFIX, passkey_out, password_out
from keyturn.runtime import Runtime

router = APIRouter(
    tags=["authentication-methods"],
    responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut}},
)
PATHS = ("/users/{user_id}/authentication-methods", "/users/{user_id}/authentication_methods")


async def _user(rt: Runtime, user_id: str) -> User:
    user = await rt.store.get_user(user_id)
    if user is None:
        raise NotFound("The user does not exist.", code="inexistent_user")
    return user


async def _methods(rt: Runtime, user: User) -> list[AuthenticationMethodOut]:
    """The password first (if any), then passkeys by creation date."""
    methods = [password_out(user)] if user.has_password else []
    return methods + [passkey_out(p) for p in await rt.store.list_passkeys(user.id)]


async def _method(rt: Runtime, user: User, method_id: str) -> AuthenticationMethodOut:
    for method in await _methods(rt, user):
        if method.id == method_id:
            return method
    raise NotFound("The authentication method does not exist.", code="authenticator_not_found")


for index, base in enumerate(PATHS):
    tag = "" if index == 0 else "-legacy"

    @router.get(
        base, response_model=list[AuthenticationMethodOut], operation_id=f"authentication-methods-list{tag}"
    )
    async def list_methods(
        rt: ManagementRuntime,
        user_id: str,
        caller: Annotated[Caller, Depends(require("read:authentication_methods"))],
    ) -> list[AuthenticationMethodOut]:
        return await _methods(rt, await _user(rt, user_id))

    @router.get(
        base + "/{authentication_method_id}",
        response_model=AuthenticationMethodOut,
        operation_id=f"authentication-methods-get{tag}",
    )
    async def get_method(
        rt: ManagementRuntime,
        user_id: str,
        authentication_method_id: str,
        caller: Annotated[Caller, Depends(require("read:authentication_methods"))],
    ) -> AuthenticationMethodOut:
        return await _method(rt, await _user(rt, user_id), authentication_method_id)

    @router.patch(
        base + "/{authentication_method_id}",
        response_model=AuthenticationMethodOut,
        operation_id=f"authentication-methods-update{tag}",
        responses={400: {"model": ErrorOut}},
    )
    async def rename_method(
        request: Request,
        rt: ManagementRuntime,
        user_id: str,
        authentication_method_id: str,
        body: AuthenticationMethodUpdate,
        caller: Annotated[Caller, Depends(require("update:authentication_methods"))],
    ) -> AuthenticationMethodOut:
        user = await _user(rt, user_id)
        method = await _method(rt, user, authentication_method_id)
        if method.type != "passkey":
            raise NotFound("Only passkeys have a name.", code="authenticator_not_found")
        await rt.store.rename_passkey(user.id, method.id, clean_passkey_name(body.name))
        audit(
            request, rt, caller, "rename_authentication_method", user_id=user.id, authenticator_id=method.id
        )
        return await _method(rt, user, authentication_method_id)

    @router.delete(
        base + "/{authentication_method_id}",
        status_code=204,
        operation_id=f"authentication-methods-delete{tag}",
    )
    async def delete_method(
        request: Request,
        rt: ManagementRuntime,
        user_id: str,
        authentication_method_id: str,
        caller: Annotated[Caller, Depends(require("delete:authentication_methods"))],
    ) -> Response:
        """Revoke it at once: the next sign-in with this passkey fails."""
        user = await _user(rt, user_id)
        method = await _method(rt, user, authentication_method_id)
        if method.id.startswith(PASSWORD_METHOD_PREFIX):
            await rt.store.set_password_hash(user.id, None, now=rt.clock.now(), allow_last=True)
        else:
            await rt.store.delete_passkey(user.id, method.id, allow_last=True)
        audit(
            request, rt, caller, "delete_authentication_method", user_id=user.id, authenticator_id=method.id
        )
        return Response(status_code=204)

    @router.delete(base, status_code=204, operation_id=f"authentication-methods-delete-all{tag}")
    async def delete_all_methods(
        request: Request,
        rt: ManagementRuntime,
        user_id: str,
        caller: Annotated[Caller, Depends(require("delete:authentication_methods"))],
    ) -> Response:
        """Revoke every passkey of the user (the password, if any, stays)."""
        user = await _user(rt, user_id)
        removed = await rt.store.delete_all_passkeys(user.id)
        audit(request, rt, caller, "delete_all_authentication_methods", user_id=user.id, removed=removed)
        return Response(status_code=204)
