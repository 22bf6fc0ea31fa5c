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

from keyturn.domain.tenant import TenantSettings
from keyturn.errors import ConfigError, Conflict
from keyturn.runtime import Runtime

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
        raise ConfigError(f"{text!r}: write {op} operations as /json/pointer=value", code="invalid_patch")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return PatchOperation(op, path, value)


def read_path(tenant: TenantSettings, path: str | None) -> Any:
    document = tenant.model_dump(mode="json")
    if not path or path == "/":
        return document
    try:
        return jsonpointer.resolve_pointer(document, path)
    except jsonpointer.JsonPointerException as exc:
        raise ConfigError(f"no setting at {path}", code="unknown_setting") from exc


def describe_validation_error(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        where = "/" + "/".join(str(part) for part in error["loc"]) if error["loc"] else "/"
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {message}")
    return "; ".join(lines)


def apply_patch(current: TenantSettings, operations: list[PatchOperation]) -> TenantSettings:
    """The patched settings, validated; raises ConfigError naming the key otherwise."""
    document = current.model_dump(mode="json")
    try:
        patched = jsonpatch.apply_patch(document, [o.as_json_patch() for o in operations])
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
        raise ConfigError(f"the patch does not apply: {exc}", code="invalid_patch") from exc
    try:
        return TenantSettings.model_validate(patched)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc), code="invalid_config") from exc


async def check_rp_id_change(
    rt: Runtime, current: TenantSettings, updated: TenantSettings, *, force: bool
) -> None:
    """A passkey is bound to its RP ID: refuse a change that orphans passkeys unless forced."""
    if updated.rp.id == current.rp.id or force:
        return
    count = await rt.store.count_passkeys()
    if count:
        raise Conflict(
            f"Changing rp.id from {current.rp.id!r} to {updated.rp.id!r} would stop {count} "
            f"passkey{'s' if count != 1 else ''} from working: each passkey is bound to the domain "
            "it was created for, and browsers will not offer it to another. "
            "Confirm with --force (CLI) or ?force=true (management API) to change it anyway.",
            code="rp_id_change_orphans_passkeys",
        )


async def patch_tenant(
    rt: Runtime, operations: list[PatchOperation], *, force: bool = False
) -> TenantSettings:
    current = await rt.tenant()
    updated = apply_patch(current, operations)
    await check_rp_id_change(rt, current, updated, force=force)
    await rt.store.save_tenant(updated, now=rt.clock.now())
    return updated


def merge_documents(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """`overrides` laid over `base`, objects merged key by key, everything else replaced."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_documents(merged[key], value)
        else:
            merged[key] = value
    return merged


async def merge_tenant(rt: Runtime, overrides: dict[str, Any], *, force: bool = False) -> TenantSettings:
    """The management API's PATCH: merge, validate the whole, check orphaned passkeys, save."""
    current = await rt.tenant()
    try:
        updated = TenantSettings.model_validate(merge_documents(current.model_dump(mode="json"), overrides))
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc), code="invalid_body") from exc
    await check_rp_id_change(rt, current, updated, force=force)
    await rt.store.save_tenant(updated, now=rt.clock.now())
    return updated
