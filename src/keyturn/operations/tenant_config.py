"""Reading and patching tenant settings with JSON Pointer operations (the feel of `ory patch`).

A patch is applied to a copy, validated as a whole, and checked against the passkeys it
would orphan; only then is it saved. A bad patch changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import jsonpatch
import jsonpointer
from pydantic import ValidationError

from keyturn.context import Context
from keyturn.domain.tenant import CAPTCHA_SECRET_BINDING, TenantSettings
from keyturn.errors import ConfigError, Conflict
from keyturn.operations.audit import Actor, record_change
from keyturn.operations.identity_schema import check_identity_schema_change
from keyturn.sealing import b64, seal

Op = Literal["add", "replace", "remove"]


@dataclass(frozen=True)
class PatchOperation:
    op: Op
    path: str
    value: Any = None

    def as_json_patch(self) -> dict[str, Any]:
        if self.op == "remove":
            return {"op": "remove", "path": self.path}
        return {"op": self.op, "path": self.path, "value": self.value}


def parse_assignment(op: Op, text: str) -> PatchOperation:
    """`/path=value` (value read as JSON when it parses, else as a string), or `/path` for remove."""
    if op == "remove":
        return PatchOperation(op, text)
    path, sep, raw = text.partition("=")
    if not sep:
        raise ConfigError(code="invalid_patch", message="invalid_patch.syntax", text=text, op=op)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return PatchOperation(op, path, value)


def _captcha_of(document: dict[str, Any]) -> dict[str, Any] | None:
    section = document.get("attack_protection")
    captcha = section.get("captcha") if isinstance(section, dict) else None
    return captcha if isinstance(captcha, dict) else None


def seal_secrets(document: dict[str, Any], kek: bytes | None) -> dict[str, Any]:
    """A write-only `secret` (the captcha provider's) becomes `secret_sealed`, sealed under the
    KEK as hook secrets are; `null` keeps the one stored, `""` removes it. The settings never
    hold it in clear, so no view of them (config show, the API, the logs) can show it."""
    captcha = _captcha_of(document)
    if captcha is None or "secret" not in captcha:
        return document
    secret = captcha.pop("secret")
    if secret is None:
        return document
    if not isinstance(secret, str):
        raise ConfigError(code="invalid_config", message="invalid_config.reason", reason="secret: a string")
    if not secret:
        captcha["secret_sealed"] = None
        return document
    if kek is None:
        raise ConfigError(code="invalid_config", message="invalid_config.reason", reason="no KEK to seal")
    captcha["secret_sealed"] = b64(seal(kek, secret.encode(), bound_to=CAPTCHA_SECRET_BINDING))
    return document


def patchable(tenant: TenantSettings) -> dict[str, Any]:
    """The settings as a patch sees them: with the write-only `secret` slot, so `--replace
    /attack_protection/captcha/secret=…` works like any other key."""
    document = tenant.model_dump(mode="json")
    document["attack_protection"]["captcha"]["secret"] = None
    return document


def read_path(tenant: TenantSettings, path: str | None) -> Any:
    document = tenant.model_dump(mode="json")
    if not path or path == "/":
        return document
    try:
        return jsonpointer.resolve_pointer(document, path)
    except jsonpointer.JsonPointerException as exc:
        raise ConfigError(code="unknown_setting", path=path) from exc


def describe_validation_error(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        where = "/" + "/".join(str(part) for part in error["loc"]) if error["loc"] else "/"
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {message}")
    return "; ".join(lines)


def apply_patch(
    current: TenantSettings, operations: list[PatchOperation], *, kek: bytes | None = None
) -> TenantSettings:
    """The patched settings, validated; raises ConfigError naming the key otherwise."""
    document = patchable(current)
    try:
        patched = jsonpatch.apply_patch(document, [o.as_json_patch() for o in operations])
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
        raise ConfigError(code="invalid_patch", reason=str(exc)) from exc
    return validated(patched, code="invalid_config", kek=kek)


def validated(document: dict[str, Any], *, code: str, kek: bytes | None = None) -> TenantSettings:
    """The document as settings (a write-only secret sealed first), or a ConfigError naming the key."""
    try:
        return TenantSettings.model_validate(seal_secrets(document, kek))
    except ValidationError as exc:
        raise ConfigError(
            code=code, message="invalid_config.reason", reason=describe_validation_error(exc)
        ) from exc


async def check_rp_id_change(
    ctx: Context, current: TenantSettings, updated: TenantSettings, *, force: bool
) -> None:
    """A passkey is bound to its RP ID: refuse a change that orphans passkeys unless forced."""
    if updated.rp.id == current.rp.id or force:
        return
    count = await (await ctx.read()).count_passkeys()
    if count:
        raise Conflict(
            code="rp_id_change_orphans_passkeys",
            old=current.rp.id,
            new=updated.rp.id,
            count=count,
            plural="s" if count != 1 else "",
        )


async def save_settings(
    ctx: Context, updated: TenantSettings, *, force: bool, actor: Actor, operation: str, **details: Any
) -> TenantSettings:
    """Check the change against the passkeys it would orphan and the users a new identity schema
    would make invalid, then store it (bumping the config version, so every worker and
    instance sees it at its next request)."""
    await check_rp_id_change(ctx, ctx.tenant, updated, force=force)
    await check_identity_schema_change(ctx, ctx.tenant, updated, force=force)
    async with ctx.writing() as tx:
        await tx.save_tenant(updated, now=ctx.now())
        record_change(ctx, actor, operation, **details)
    ctx.rt.config.forget()
    ctx.tenant = updated
    return updated


async def patch_tenant(
    ctx: Context, operations: list[PatchOperation], *, actor: Actor, force: bool = False
) -> TenantSettings:
    updated = apply_patch(ctx.tenant, operations, kek=ctx.rt.kek)
    paths = sorted({o.path for o in operations})
    return await save_settings(
        ctx, updated, force=force, actor=actor, operation="patch_settings", paths=paths
    )


def merge_documents(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """`overrides` laid over `base`, objects merged key by key, everything else replaced."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_documents(merged[key], value)
        else:
            merged[key] = value
    return merged


async def merge_tenant(
    ctx: Context, overrides: dict[str, Any], *, actor: Actor, force: bool = False, **details: Any
) -> TenantSettings:
    """The management API's PATCH: merge, validate the whole, check orphaned passkeys and users
    a new identity schema breaks, save. The identity schema is replaced whole, not merged: a
    merge could never remove a trait."""
    document = merge_documents(ctx.tenant.model_dump(mode="json"), overrides)
    if "identity_schema" in overrides:
        document["identity_schema"] = overrides["identity_schema"]
    updated = validated(document, code="invalid_body", kek=ctx.rt.kek)
    return await save_settings(
        ctx, updated, force=force, actor=actor, operation="update_connection", **details
    )
