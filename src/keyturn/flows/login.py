"""The login flow: identifier-first, a discoverable passkey (button or autofill), or a password."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from keyturn.domain.email import normalize_email
from keyturn.domain.events import EventType, RequestContext
from keyturn.domain.flow import Flow
from keyturn.domain.identity import User
from keyturn.domain.session import AuthMethod
from keyturn.domain.tenant import TenantSettings
from keyturn.errors import KeyturnError
from keyturn.methods import passkey as passkey_method
from keyturn.methods.base import require_enabled
from keyturn.methods.password import MAX_LENGTH
from keyturn.runtime import Runtime


@dataclass(frozen=True)
class NextStep:
    """What the page asks for after Continue."""

    passkey_options: dict[str, Any] | None
    password: bool
    unknown_account: bool = False  # only ever True when the operator opted in to revealing it


@dataclass(frozen=True)
class PasswordLogin:
    email: str
    password: str


@dataclass(frozen=True)
class PasskeyLogin:
    credential: object


LoginSubmission = PasswordLogin | PasskeyLogin

WRONG_CREDENTIALS = KeyturnError("Wrong email or password.", code="invalid_credentials", status=401)


async def discoverable_options(
    rt: Runtime, flow: Flow, tenant: TenantSettings, *, ctx: RequestContext
) -> dict[str, Any]:
    """For the passkey button and for autofill: no allowCredentials, the browser chooses."""
    require_enabled(tenant, "passkey")
    options = await passkey_method.request_options(rt, flow, tenant)
    rt.events.record(EventType.PASSKEY_CHALLENGE_STARTED, ctx, details={"mode": "discoverable"})
    return options


async def identify(
    rt: Runtime, flow: Flow, tenant: TenantSettings, *, email: object, ctx: RequestContext
) -> NextStep:
    """After Continue: ask for the account's passkey, its password, or both.

    Unless the operator opted in to revealing accounts, every email gets the same shape
    of answer (a passkey request whenever passkeys are on, with a stable stand-in
    credential when the account has none or does not exist, and the password field
    whenever passwords are on), so the answer never tells whether the account exists.
    """
    address = normalize_email(email)
    user = await rt.store.find_user_by_email(address)
    passkeys_on = tenant.authentication_methods.passkey.enabled
    passwords_on = tenant.authentication_methods.password.enabled
    reveal = tenant.login.reveal_account_existence
    if user is None and reveal:
        return NextStep(passkey_options=None, password=False, unknown_account=True)
    # Query even for an unknown email, so both cost the same time.
    passkeys = await rt.store.list_passkeys(user.id if user else "")
    allow = [(p.credential_id, p.transports) for p in passkeys]
    if not allow and not reveal:
        allow = passkey_method.stand_in_credentials(rt, address)
    options = None
    if passkeys_on and allow:
        options = await passkey_method.request_options(
            rt, flow, tenant, allow=allow, user_id=user.id if user else None
        )
        rt.events.record(
            EventType.PASSKEY_CHALLENGE_STARTED,
            ctx,
            user_id=user.id if user else None,
            user_name=address,
            details={"mode": "identifier_first"},
        )
    has_password = user is not None and user.has_password
    return NextStep(passkey_options=options, password=passwords_on and (has_password or not reveal))


async def submit_login(
    rt: Runtime, flow: Flow, tenant: TenantSettings, submission: LoginSubmission, *, ctx: RequestContext
) -> tuple[User, AuthMethod]:
    """Dispatch on the method submitted; returns who signed in and how. Failures are logged
    here; success is logged by `complete_sign_in`, once the post-login hooks allowed it."""
    match submission:
        case PasskeyLogin(credential=credential):
            require_enabled(tenant, "passkey")
            try:
                user = await passkey_method.authenticate(rt, flow, tenant, credential=credential)
            except KeyturnError as error:
                rt.events.record(EventType.PASSKEY_CHALLENGE_FAILED, ctx, details={"error": error.code})
                raise
            method: AuthMethod = "passkey"
        case PasswordLogin(email=email, password=password):
            require_enabled(tenant, "password")
            user = await _password_login(rt, email=email, password=password, ctx=ctx)
            method = "pwd"
    return user, method


async def _password_login(rt: Runtime, *, email: str, password: str, ctx: RequestContext) -> User:
    """Every failure costs one argon2 verification and gives the same error."""
    try:
        address = normalize_email(email)
    except KeyturnError:
        address = ""
    user = await rt.store.find_user_by_email(address) if address else None
    acceptable = len(password) <= MAX_LENGTH  # no stored password is longer: never truncate
    stored_hash = user.password_hash if user and acceptable else None
    matched = await rt.hasher.verify(stored_hash, password if acceptable else "")
    if not matched or user is None or user.password_hash is None:
        rt.events.record(
            EventType.FAILED_LOGIN_USERNAME if user is None else EventType.FAILED_LOGIN_PASSWORD,
            ctx,
            user_id=user.id if user else None,
            user_name=address or None,
        )
        raise WRONG_CREDENTIALS
    if rt.hasher.needs_rehash(user.password_hash):
        await rt.store.set_password_hash(user.id, await rt.hasher.hash(password), now=rt.clock.now())
    return user
