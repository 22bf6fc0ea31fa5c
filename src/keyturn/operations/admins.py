"""The dashboard's rules: operators, their enrollment and sign-in, and the guarded switches.

Operators are not end users. Their credentials are bound to the host that serves `/admin`
(the public URL's), not to the tenant's `rp.id`, so an operator who changes the relying
party never locks themselves out; and they always require user verification, whatever the
tenant's passkey options say. The ceremonies reuse `passkeys/` (verification) and
`methods/challenges` (sealed, spent once) as they are.

Every change here goes through `operations.tenant_config` (the same functions as the CLI's
`config patch` and /api/v2/connections) and records one `sapi` event naming its actor.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from keyturn.context import Context
from keyturn.domain.email import normalize_email
from keyturn.domain.events import EventType
from keyturn.domain.flow import Flow
from keyturn.domain.identity import USER_HANDLE_BYTES, Passkey
from keyturn.domain.operators import (
    ENROLLMENT_LIFETIME,
    ROLES,
    SESSION_ABSOLUTE_LIFETIME,
    Operator,
    OperatorEnrollment,
    OperatorSession,
)
from keyturn.domain.tenant import PasskeyOptions, TenantSettings
from keyturn.errors import CeremonyError, ConfigError, Conflict, KeyturnError
from keyturn.ids import hash_token, new_id, new_token
from keyturn.methods.challenges import (
    keep_challenge_spent,
    new_challenge,
    open_challenge,
    refuse_spent_challenge,
    spend_challenge,
)
from keyturn.operations import tenant_config
from keyturn.operations.audit import Actor, record_change
from keyturn.passkeys import options as webauthn_options
from keyturn.passkeys.aaguid import default_passkey_name
from keyturn.passkeys.response import parse_credential_response
from keyturn.passkeys.verify import (
    check_assertion_owner,
    check_context,
    verify_assertion,
    verify_registration,
)
from keyturn.store.protocols import ReadTx, WriteTx

MAX_TOKEN_CHARS = 128
SWITCHABLE_METHODS = ("passkey", "password")


def operator_actor(operator: Operator, *, method: str | None = None, path: str | None = None) -> Actor:
    return Actor(kind="admin", email=operator.email, method=method, path=path)


def operator_rp(ctx: Context) -> tuple[str, list[str]]:
    """The RP ID and origin of operators' credentials: the host and origin serving /admin."""
    base = ctx.settings.base_url
    return urlsplit(base).hostname or "localhost", [base]


# --- operators and their enrollment links -----------------------------------------------------


@dataclass(frozen=True)
class EnrollmentLink:
    operator: Operator
    url: str
    enrollment: OperatorEnrollment


async def create_operator(ctx: Context, email: str, role: str, *, actor: Actor) -> EnrollmentLink:
    """A new operator and their one-time enrollment link (15 minutes, single use)."""
    address = normalize_email(email)
    if role not in ROLES:
        raise KeyturnError(code="invalid_role", roles=", ".join(ROLES))
    now = ctx.now()
    operator = Operator(
        id=new_id(),
        email=address,
        role=role,  # one of ROLES, checked above
        user_handle=secrets.token_bytes(USER_HANDLE_BYTES),
        created_at=now,
    )
    token = new_token()
    enrollment = OperatorEnrollment(
        token_hash=hash_token(token),
        operator_id=operator.id,
        created_at=now,
        expires_at=now + ENROLLMENT_LIFETIME,
    )
    async with ctx.writing() as tx:
        await tx.add_operator(operator)
        await tx.add_operator_enrollment(enrollment)
        record_change(ctx, actor, "create_operator", email=address, role=role)
    return EnrollmentLink(
        operator=operator, url=f"{ctx.settings.base_url}/admin/enroll?token={token}", enrollment=enrollment
    )


def _link_invalid() -> KeyturnError:
    return KeyturnError(code="enrollment_link_invalid", status=410)


async def live_enrollment(ctx: Context, token: str) -> Operator:
    """The operator a link enrolls, if it is live and unused (the database has the last word)."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise _link_invalid()
    found = await (await ctx.read()).find_operator_enrollment(hash_token(token))
    if found is None or found[0].used_at is not None or found[0].expires_at <= ctx.now():
        raise _link_invalid()
    return found[1]


async def enrollment_options(ctx: Context, flow: Flow, operator: Operator) -> dict[str, Any]:
    """navigator.credentials.create() options for the operator (user verification required)."""
    rp_id, _ = operator_rp(ctx)
    existing = await (await ctx.read()).list_operator_credentials(operator.id)
    challenge = new_challenge(ctx, flow, "registration", user_id=operator.id, user_verification="required")
    return webauthn_options.registration_options(
        rp_id=rp_id,
        rp_name=f"{ctx.tenant.rp.display_name} dashboard",
        user_handle=operator.user_handle,
        user_name=operator.email,
        challenge=challenge,
        exclude=[(p.credential_id, p.transports) for p in existing],
        user_verification="required",
    )


async def finish_enrollment(ctx: Context, flow: Flow, token: str, credential: object) -> Operator:
    """Verify the new credential and store it, spending the link in the same transaction."""
    operator = await live_enrollment(ctx, token)
    rp_id, origins = operator_rp(ctx)
    response = parse_credential_response(credential)
    challenge = open_challenge(ctx, response.client_data.challenge, flow=flow, ceremony="registration")
    keep_challenge_spent(ctx, challenge)
    if challenge.user_id != operator.id:
        raise CeremonyError(code="challenge_invalid", detail="challenge issued for another operator")
    registered = verify_registration(
        response,
        challenge=response.client_data.challenge,
        rp_id=rp_id,
        origins=origins,
        require_user_verification=True,
    )
    now = ctx.now()
    stored = Passkey(
        id=new_id(),
        user_id=operator.id,
        credential_id=registered.credential_id,
        public_key=registered.public_key,
        sign_count=registered.sign_count,
        aaguid=registered.aaguid,
        transports=registered.transports,
        backup_eligible=registered.backup_eligible,
        backup_state=registered.backup_state,
        user_handle=operator.user_handle,
        rp_id=rp_id,
        name=default_passkey_name(registered.aaguid),
        created_at=now,
        last_used_at=None,
        user_agent=ctx.requester.user_agent[:512],
    )
    async with ctx.writing() as tx:
        await spend_challenge(tx, challenge)
        if not await tx.use_operator_enrollment(hash_token(token), now=now):
            raise _link_invalid()  # used or expired meanwhile: the whole transaction rolls back
        await tx.add_operator_credential(stored)
        record_change(
            ctx, operator_actor(operator), "enroll_operator", credential_id=stored.id, aaguid=stored.aaguid
        )
    return operator


# --- signing in and sessions ------------------------------------------------------------------


def login_options(ctx: Context, flow: Flow) -> dict[str, Any]:
    """Discoverable navigator.credentials.get() options (user verification required)."""
    rp_id, _ = operator_rp(ctx)
    challenge = new_challenge(ctx, flow, "authentication", user_verification="required")
    return webauthn_options.authentication_options(
        rp_id=rp_id, challenge=challenge, allow=(), user_verification="required"
    )


@dataclass(frozen=True)
class SignedIn:
    token: str  # the cookie value; only its SHA-256 is stored
    session: OperatorSession
    operator: Operator


async def sign_in(ctx: Context, flow: Flow, credential: object) -> SignedIn:
    """Verify an operator's assertion and open a dashboard session (12 h absolute, 30 min idle)."""
    rp_id, origins = operator_rp(ctx)
    response = parse_credential_response(credential)
    challenge = open_challenge(ctx, response.client_data.challenge, flow=flow, ceremony="authentication")
    keep_challenge_spent(ctx, challenge)
    check_context(response, origins=origins)
    await refuse_spent_challenge(ctx, challenge)
    found = await (await ctx.read()).find_operator_credential(response.credential_id)
    if found is None:
        raise CeremonyError(code="unknown_credential")
    credential_row, operator = found
    check_assertion_owner(response, passkey=credential_row, allowed=())
    verified = verify_assertion(
        response,
        challenge=response.client_data.challenge,
        rp_id=rp_id,
        origins=origins,
        passkey=credential_row,
        require_user_verification=True,
    )
    now = ctx.now()
    token = new_token()
    session = OperatorSession(
        id=new_id(),
        token_hash=hash_token(token),
        operator_id=operator.id,
        csrf_token=new_token(24),
        created_at=now,
        expires_at=now + SESSION_ABSOLUTE_LIFETIME,
        last_active_at=now,
        ip=ctx.requester.ip[:64],
        user_agent=ctx.requester.user_agent[:512],
    )
    async with ctx.writing() as tx:
        await spend_challenge(tx, challenge)
        if not await tx.record_operator_credential_use(
            credential_row.id,
            previous_count=credential_row.sign_count,
            sign_count=verified.new_sign_count,
            backup_state=verified.backup_state,
            used_at=now,
        ):
            raise CeremonyError(code="possible_cloned_passkey")
        await tx.add_operator_session(session)
    return SignedIn(token=token, session=session, operator=operator)


async def resolve_operator_session(
    ctx: Context, token: str | None
) -> tuple[OperatorSession, Operator] | None:
    """The live dashboard session of this cookie, if any; its idle limit moves with each request."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        return None
    found = await (await ctx.read()).find_operator_session(hash_token(token))
    now = ctx.now()
    if found is None or not found[0].live(now):
        return None
    session_id = found[0].id

    async def touch(tx: WriteTx) -> None:
        await tx.touch_operator_session(session_id, now=now)

    ctx.uow.keep(touch)
    return found


async def session_still_live(reader: ReadTx, token: str | None, *, now: datetime) -> bool:
    """Whether a dashboard session is still live, without moving its idle limit: a long-lived
    response (the live tail) ends when its session does, and does not keep it alive."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        return False
    found = await reader.find_operator_session(hash_token(token))
    return found is not None and found[0].live(now)


async def sign_out(ctx: Context, token: str | None) -> None:
    if token and len(token) <= MAX_TOKEN_CHARS:
        async with ctx.writing() as tx:
            await tx.delete_operator_session(hash_token(token))


# --- Authentication methods: the guarded switches ---------------------------------------------


@dataclass(frozen=True)
class Prerequisite:
    """One item of "Before you enable passkeys": what must hold, whether it does, how to fix it."""

    id: str
    title: str
    ok: bool
    detail: str
    fix: str


def _registrable_suffix(rp_id: str, host: str) -> bool:
    """rp.id is the host or a parent domain of it, and not a bare top-level label."""
    if rp_id != "localhost" and "." not in rp_id:
        return False
    return host == rp_id or host.endswith("." + rp_id)


def passkey_prerequisites(ctx: Context, proposed: TenantSettings) -> list[Prerequisite]:
    """The checklist run before passkeys are turned on, against the settings as they would be.

    Identifier-first login has no setting to check: /login always offers Continue with an
    email (flows/login), so it is not an item here.
    """
    host = urlsplit(ctx.settings.base_url).hostname or ""
    rp = proposed.rp
    bad_origins = [
        o for o in rp.origins if not (urlsplit(o).scheme == "https" or urlsplit(o).hostname == "localhost")
    ]
    kek_source = ctx.settings.key_encryption_key is not None or ctx.settings.resolved_key_file.exists()
    methods = proposed.authentication_methods
    return [
        Prerequisite(
            id="rp_id",
            title="The relying party ID is the public URL's host or a parent domain of it",
            ok=bool(rp.id) and _registrable_suffix(rp.id, host),
            detail=f"rp.id is {rp.id!r}; the public URL's host is {host!r}.",
            fix=(
                f"Set rp.id to {host!r} (or a parent domain of it) and its origins to match: keyturn "
                f"config patch --replace /rp/id={host} --replace '/rp/origins=[\"{ctx.settings.base_url}\"]'"
            ),
        ),
        Prerequisite(
            id="rp_origins",
            title="Every origin is https (or http://localhost)",
            ok=not bad_origins,
            detail=(
                f"Not https: {', '.join(bad_origins)}."
                if bad_origins
                else "All origins are https or localhost."
            ),
            fix="Serve Keyturn over https and list https origins: "
            "keyturn config patch --replace /rp/origins=[...]",
        ),
        Prerequisite(
            id="key_encryption_key",
            title="The key-encryption key is present",
            ok=len(ctx.rt.kek) == 32 and kek_source,
            detail="Signing keys are sealed with it; it lives outside the database.",
            fix="Set KEYTURN_KEY_ENCRYPTION_KEY (base64url, 32 bytes) or key_encryption_key_file, "
            "then restart.",
        ),
        Prerequisite(
            id="one_method",
            title="At least one way to sign in stays enabled",
            ok=methods.passkey.enabled or methods.password.enabled,
            detail="People must always have a method to sign in with.",
            fix="Keep passwords or passkeys enabled.",
        ),
    ]


def passkey_checklist(ctx: Context) -> list[Prerequisite]:
    """The checklist as turning passkeys on now would run it (the page shows it before asking)."""
    proposed = tenant_config.apply_patch(
        ctx.tenant, [tenant_config.PatchOperation("replace", "/authentication_methods/passkey/enabled", True)]
    )
    return passkey_prerequisites(ctx, proposed)


class PrerequisitesFailed(Conflict):
    """Passkeys were not enabled: the checklist's failing items say why and how to fix each."""

    def __init__(self, failing: list[Prerequisite]) -> None:
        super().__init__(code="passkey_prerequisites_failed", extra={"failing": [p.id for p in failing]})
        self.failing = failing


async def switch_method(ctx: Context, method: str, enabled: bool, *, actor: Actor) -> TenantSettings:
    """Turn a method on or off; turning passkeys on runs the checklist and refuses until it passes."""
    if method not in SWITCHABLE_METHODS:
        raise KeyturnError(code="unknown_method")
    operations = [
        tenant_config.PatchOperation("replace", f"/authentication_methods/{method}/enabled", enabled)
    ]
    proposed = tenant_config.apply_patch(ctx.tenant, operations)
    if method == "passkey" and enabled:
        failing = [item for item in passkey_prerequisites(ctx, proposed) if not item.ok]
        if failing:
            raise PrerequisitesFailed(failing)
    return await tenant_config.patch_tenant(ctx, operations, actor=actor)


PASSKEY_OPTION_FIELDS = tuple(PasskeyOptions.model_fields)


class FieldErrors(KeyturnError):
    """Bad values for named fields: each message goes next to its field; nothing was saved."""

    def __init__(self, fields: dict[str, str]) -> None:
        KeyturnError.__init__(self, code="invalid_config", message="invalid_config.fields")
        self.fields = fields


def field_errors(error: ConfigError, *, section: str) -> dict[str, str]:
    """The validation messages of `section`'s fields, by field name (from the error's cause)."""
    cause = error.__cause__
    found: dict[str, str] = {}
    if isinstance(cause, ValidationError):
        for item in cause.errors():
            loc = [str(part) for part in item["loc"]]
            name = loc[1] if len(loc) > 1 and loc[0] == section else "_form"
            found.setdefault(name, item["msg"].removeprefix("Value error, "))
    return found or {"_form": error.description}


async def update_passkey_options(ctx: Context, values: dict[str, Any], *, actor: Actor) -> TenantSettings:
    """Replace the passkey options given (the rest stay); a bad value raises FieldErrors."""
    unknown = sorted(set(values) - set(PASSKEY_OPTION_FIELDS))
    if unknown:
        raise FieldErrors({name: "Not a passkey option." for name in unknown})
    operations = [
        tenant_config.PatchOperation("replace", f"/passkey_options/{k}", v) for k, v in values.items()
    ]
    try:
        return await tenant_config.patch_tenant(ctx, operations, actor=actor)
    except ConfigError as error:
        raise FieldErrors(field_errors(error, section="passkey_options")) from error


# --- Relying party -------------------------------------------------------------------------------


class RpIdChangeUnconfirmed(Conflict):
    """The new rp.id would orphan passkeys and was not typed again to confirm: nothing saved."""

    def __init__(self, orphaned: Conflict) -> None:
        Conflict.__init__(self, code=orphaned.code)
        self.params, self.description = orphaned.params, orphaned.description
        self.count = int(str(orphaned.params.get("count", 0)))


async def update_relying_party(
    ctx: Context, values: dict[str, Any], *, confirm_rp_id: str, actor: Actor
) -> TenantSettings:
    """Replace the relying party's settings. A new rp.id that would stop passkeys from working
    needs the new id typed again (the CLI's --force, the API's ?force=true): the same check,
    `tenant_config.check_rp_id_change`, refuses it otherwise."""
    operations = [tenant_config.PatchOperation("replace", f"/rp/{k}", v) for k, v in values.items()]
    force = bool(confirm_rp_id) and confirm_rp_id.strip() == str(values.get("id", "")).strip()
    try:
        return await tenant_config.patch_tenant(ctx, operations, actor=actor, force=force)
    except ConfigError as error:
        raise FieldErrors(field_errors(error, section="rp")) from error
    except Conflict as orphaned:
        if orphaned.code != "rp_id_change_orphans_passkeys":
            raise
        raise RpIdChangeUnconfirmed(orphaned) from orphaned


async def update_native_apps(
    ctx: Context, apple_app_ids: list[str], android: list[dict[str, Any]], *, actor: Actor
) -> TenantSettings:
    """Replace the apps that share the passkeys (apple-app-site-association, assetlinks.json)."""
    operations = [
        tenant_config.PatchOperation("replace", "/native_apps/apple_app_ids", apple_app_ids),
        tenant_config.PatchOperation("replace", "/native_apps/android", android),
    ]
    try:
        return await tenant_config.patch_tenant(ctx, operations, actor=actor)
    except ConfigError as error:
        raise FieldErrors(field_errors(error, section="native_apps")) from error


async def passkeys_bound(ctx: Context) -> int:
    """How many users' passkeys the current rp.id holds (all of them stop working if it changes)."""
    return await (await ctx.read()).count_passkeys()


# --- Overview -----------------------------------------------------------------------------------

CHART_DAYS = 30
FAILURE_TYPES = tuple(
    t.value
    for t in (
        EventType.FAILED_LOGIN,
        EventType.FAILED_LOGIN_PASSWORD,
        EventType.FAILED_LOGIN_USERNAME,
        EventType.PASSKEY_CHALLENGE_FAILED,
        EventType.WEBAUTHN_ENROLLMENT_FAILED,
        EventType.FAILED_SIGNUP,
        EventType.BLOCKED_ACCOUNT,
        EventType.BLOCKED_IP_LOGIN,
    )
)
RECENT_FAILURES = 10


@dataclass(frozen=True)
class AdoptionDay:
    """One day of the adoption chart: sign-ins, and how many of them used a passkey."""

    day: str
    sign_ins: int
    passkey: int

    @property
    def share(self) -> float:
        return self.passkey / self.sign_ins if self.sign_ins else 0.0


async def overview(ctx: Context) -> dict[str, Any]:
    """Users, passkeys synced vs device-bound, sign-ins by method over 24 hours and 30 days,
    the passkey share of sign-ins per day, progressive enrollment's outcomes, recent failures."""
    now = ctx.now()
    start = (now - timedelta(days=CHART_DAYS - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    reader = await ctx.read()
    figures = await reader.dashboard_figures(since=now - timedelta(hours=24))
    per_day: dict[str, dict[str, int]] = {}
    for day, method, count in await reader.sign_ins_by_day(since=start):
        per_day.setdefault(day, {})[method] = count
    days = [(start + timedelta(days=n)).strftime("%Y-%m-%d") for n in range(CHART_DAYS)]
    adoption = [
        AdoptionDay(
            day=d, sign_ins=sum(per_day.get(d, {}).values()), passkey=per_day.get(d, {}).get("passkey", 0)
        )
        for d in days
    ]
    month: dict[str, int] = {}
    for methods in per_day.values():
        for method, count in methods.items():
            month[method] = month.get(method, 0) + count
    outcomes = await reader.enrollment_outcomes(since=start, journey="progressive")
    failures, _ = await reader.query_events(types=FAILURE_TYPES, limit=RECENT_FAILURES)
    return {
        **figures,
        "sign_ins_30_days": month,
        "adoption": adoption,
        "passkey_share_30_days": (
            sum(d.passkey for d in adoption) / total if (total := sum(d.sign_ins for d in adoption)) else None
        ),
        "progressive_offered": (offered := outcomes.get(EventType.ENROLLMENT_OFFERED.value, 0)),
        "progressive_created": (created := outcomes.get(EventType.ENROLLMENT_COMPLETE.value, 0)),
        "progressive_failed": outcomes.get(EventType.WEBAUTHN_ENROLLMENT_FAILED.value, 0),
        "progressive_conversion": created / offered if offered else None,
        "failures": failures,
    }
