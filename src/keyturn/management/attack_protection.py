"""/api/v2/attack-protection: brute-force protection, suspicious-IP throttling and breached-
password detection, in Auth0's shapes, over the tenant settings' `attack_protection` and
`password_policy.breached` sections."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from starlette.requests import Request

from keyturn.http.context import ContextDep
from keyturn.management.auth import Caller, require
from keyturn.management.deps import ManagementRoute, actor_of
from keyturn.management.schemas import ErrorOut
from keyturn.operations import attack_protection as operations

router = APIRouter(
    tags=["attack-protection"],
    responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}},
    route_class=ManagementRoute,
)
READ = "read:attack_protection"
UPDATE = "update:attack_protection"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BruteForceOut(_Model):
    enabled: bool
    shields: list[str]
    allowlist: list[str]
    mode: str
    max_attempts: int


class BruteForceUpdate(_Model):
    enabled: StrictBool | None = None
    shields: list[str] | None = None
    allowlist: list[str] | None = None
    mode: str | None = None
    max_attempts: int | None = Field(None, ge=1, le=100)


class Stage(_Model):
    max_attempts: int = Field(ge=1)
    rate: int = Field(ge=1, description="Milliseconds per attempt granted back.")


class StageUpdate(_Model):
    max_attempts: int | None = Field(None, ge=1)
    rate: int | None = Field(None, ge=1)


class Stages(_Model):
    pre_login: Stage = Field(alias="pre-login")
    pre_user_registration: Stage = Field(alias="pre-user-registration")


class StagesUpdate(_Model):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    pre_login: StageUpdate | None = Field(None, alias="pre-login")
    pre_user_registration: StageUpdate | None = Field(None, alias="pre-user-registration")


class SuspiciousIpOut(_Model):
    enabled: bool
    shields: list[str]
    allowlist: list[str]
    stage: Stages


class SuspiciousIpUpdate(_Model):
    enabled: StrictBool | None = None
    shields: list[str] | None = None
    allowlist: list[str] | None = None
    stage: StagesUpdate | None = None


class BreachedStage(_Model):
    shields: list[str]


class BreachedStages(_Model):
    pre_user_registration: BreachedStage = Field(alias="pre-user-registration")
    pre_change_password: BreachedStage = Field(alias="pre-change-password")


class BreachedStageUpdate(_Model):
    shields: list[str] | None = None


class BreachedStagesUpdate(_Model):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    pre_user_registration: BreachedStageUpdate | None = Field(None, alias="pre-user-registration")
    pre_change_password: BreachedStageUpdate | None = Field(None, alias="pre-change-password")


class BreachedOut(_Model):
    enabled: bool
    shields: list[str]
    admin_notification_frequency: list[str]
    method: str
    stage: BreachedStages


class BreachedUpdate(_Model):
    enabled: StrictBool | None = None
    shields: list[str] | None = None
    admin_notification_frequency: list[str] | None = None
    method: str | None = None
    stage: BreachedStagesUpdate | None = None


@router.get(
    "/attack-protection/brute-force-protection",
    response_model=BruteForceOut,
    operation_id="attack-protection-get-brute-force",
)
async def get_brute_force(ctx: ContextDep, caller: Annotated[Caller, Depends(require(READ))]) -> object:
    return operations.brute_force_out(ctx.tenant)


@router.patch(
    "/attack-protection/brute-force-protection",
    response_model=BruteForceOut,
    operation_id="attack-protection-update-brute-force",
    responses={400: {"model": ErrorOut}},
)
async def update_brute_force(
    request: Request,
    ctx: ContextDep,
    body: BruteForceUpdate,
    caller: Annotated[Caller, Depends(require(UPDATE))],
) -> object:
    changes = body.model_dump(exclude_unset=True)
    return await operations.update_brute_force(ctx, changes, actor=actor_of(request, caller))


@router.get(
    "/attack-protection/suspicious-ip-throttling",
    response_model=SuspiciousIpOut,
    response_model_by_alias=True,
    operation_id="attack-protection-get-suspicious-ip-throttling",
)
async def get_suspicious_ip(ctx: ContextDep, caller: Annotated[Caller, Depends(require(READ))]) -> object:
    return operations.suspicious_ip_out(ctx.tenant)


@router.patch(
    "/attack-protection/suspicious-ip-throttling",
    response_model=SuspiciousIpOut,
    response_model_by_alias=True,
    operation_id="attack-protection-update-suspicious-ip-throttling",
    responses={400: {"model": ErrorOut}},
)
async def update_suspicious_ip(
    request: Request,
    ctx: ContextDep,
    body: SuspiciousIpUpdate,
    caller: Annotated[Caller, Depends(require(UPDATE))],
) -> object:
    changes = body.model_dump(exclude_unset=True, by_alias=True)
    return await operations.update_suspicious_ip(ctx, changes, actor=actor_of(request, caller))


@router.get(
    "/attack-protection/breached-password-detection",
    response_model=BreachedOut,
    response_model_by_alias=True,
    operation_id="attack-protection-get-breached-password-detection",
)
async def get_breached(ctx: ContextDep, caller: Annotated[Caller, Depends(require(READ))]) -> object:
    return operations.breached_out(ctx.tenant)


@router.patch(
    "/attack-protection/breached-password-detection",
    response_model=BreachedOut,
    response_model_by_alias=True,
    operation_id="attack-protection-update-breached-password-detection",
    responses={400: {"model": ErrorOut}},
)
async def update_breached(
    request: Request,
    ctx: ContextDep,
    body: BreachedUpdate,
    caller: Annotated[Caller, Depends(require(UPDATE))],
) -> object:
    changes = body.model_dump(exclude_unset=True, by_alias=True)
    return await operations.update_breached(ctx, changes, actor=actor_of(request, caller))
