"""The password method: argon2id at OWASP's parameters, hashed off the event loop, timing-equalised."""

from __future__ import annotations

import asyncio
import logging
from functools import cache
from typing import Literal

from argon2 import PasswordHasher as Argon2Hasher
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError

from keyturn.context import Context
from keyturn.defences.breached import BreachCheckUnavailable, is_breached
from keyturn.domain.email import normalize_email
from keyturn.domain.events import EventType
from keyturn.domain.flow import Flow
from keyturn.domain.identity import User, new_user
from keyturn.domain.methods import MethodId
from keyturn.domain.tenant import TenantSettings
from keyturn.errors import KeyturnError, Unavailable
from keyturn.methods.base import Authenticated, Enrolled, Payload, Registered, text_field
from keyturn.store.protocols import WriteTx

log = logging.getLogger("keyturn.password")
MIN_LENGTH = 8
MAX_LENGTH = 1024  # long enough for any passphrase, short enough to bound hashing cost


def check_password_policy(password: str) -> None:
    """NIST SP 800-63B: a minimum length, no composition rules."""
    if len(password) < MIN_LENGTH:
        raise KeyturnError(code="password_too_short", min=MIN_LENGTH)
    if len(password) > MAX_LENGTH:
        raise KeyturnError(code="password_too_long", max=MAX_LENGTH)


BreachStage = Literal["signup", "change"]
_BREACH_EVENTS: dict[BreachStage, EventType] = {
    "signup": EventType.BREACHED_PASSWORD_SIGNUP,
    "change": EventType.BREACHED_PASSWORD_CHANGE,
}


async def _breached(ctx: Context, password: str) -> bool | None:
    """Credential Guard's look-up (`password_policy.breached`); None when the source did not
    answer (logged, never with the password or its hash)."""
    policy = ctx.tenant.password_policy.breached
    if policy.mode == "off":
        return False
    try:
        return await is_breached(policy, password)
    except BreachCheckUnavailable as down:
        log.warning("breached-password check unavailable", extra={"detail": down.reason, "mode": policy.mode})
        return None


async def check_new_password(
    ctx: Context, password: str, *, stage: BreachStage, user: User | None = None, email: str | None = None
) -> None:
    """The one gate for a password about to be stored (sign-up, change, recovery's Set a
    password): the length policy, then the breach check. A breached password is refused with
    its event (`signup_pwd_leak` / `reset_pwd_leak`); nothing is stored. A range API that is
    down lets the password through (`on_unavailable: allow`, as Auth0 fails open) or refuses."""
    check_password_policy(password)
    breached = await _breached(ctx, password)
    if breached is None and ctx.tenant.password_policy.breached.on_unavailable == "refuse":
        raise Unavailable(code="breach_check_unavailable")
    if breached:
        ctx.record(
            _BREACH_EVENTS[stage],
            user_id=user.id if user else None,
            user_name=user.email if user else email,
            details={"mode": ctx.tenant.password_policy.breached.mode},
        )
        raise KeyturnError(code="password_breached")


class PasswordHasher:
    """argon2id, m=19 MiB, t=2, p=1 (OWASP Password Storage Cheat Sheet)."""

    def __init__(self) -> None:
        self._argon = Argon2Hasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, type=Type.ID)
        # Verified against when the account does not exist, so that costs the same time.
        self._dummy_hash = self._argon.hash("keyturn timing equaliser")

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._argon.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True if it matches; a missing hash still pays for one verification."""
        target = password_hash or self._dummy_hash
        try:
            matched = await asyncio.to_thread(self._argon.verify, target, password)
        except (VerificationError, InvalidHashError):
            return False
        return matched and password_hash is not None

    def needs_rehash(self, password_hash: str) -> bool:
        return self._argon.check_needs_rehash(password_hash)


@cache
def hasher() -> PasswordHasher:
    """The process's hasher (its dummy hash is made once, on first use)."""
    return PasswordHasher()


class PasswordMethod:
    id: MethodId = "password"

    def enabled(self, tenant: TenantSettings) -> bool:
        return tenant.authentication_methods.password.enabled

    async def identify(
        self, ctx: Context, flow: Flow, *, address: str, user: User | None
    ) -> dict[str, object]:
        has_password = user is not None and user.has_password
        return {"password": has_password or not ctx.tenant.login.reveal_account_existence}

    async def login(self, ctx: Context, flow: Flow, payload: Payload) -> Authenticated:
        """Every failure costs one argon2 verification and gives the same error."""
        email, password = text_field(payload, "email"), text_field(payload, "password")
        try:
            address = normalize_email(email)
        except KeyturnError:
            address = ""
        user = await (await ctx.read()).find_user_by_email(address) if address else None
        await ctx.uow.release()  # no connection is held while argon2 runs
        acceptable = len(password) <= MAX_LENGTH  # no stored password is longer: never truncate
        stored_hash = user.password_hash if user and acceptable else None
        matched = await hasher().verify(stored_hash, password if acceptable else "")
        if not matched or user is None or user.password_hash is None:
            ctx.record(
                EventType.FAILED_LOGIN_USERNAME if user is None else EventType.FAILED_LOGIN_PASSWORD,
                user_id=user.id if user else None,
                user_name=address or None,
            )
            raise KeyturnError(code="invalid_credentials", status=401)
        await self._guard_sign_in(ctx, flow, user, password)
        complete = None
        if hasher().needs_rehash(user.password_hash):
            new_hash = await hasher().hash(password)
            signed_in = user

            async def complete_rehash(tx: WriteTx) -> None:
                await tx.set_password_hash(signed_in.id, new_hash, now=ctx.now())

            complete = complete_rehash
        return Authenticated(user=user, method=self.id, complete=complete)

    async def _guard_sign_in(self, ctx: Context, flow: Flow, user: User, password: str) -> None:
        """A right password that is breached (`breached.on_sign_in`): `flag` records `pwd_leak`
        and signs in, `block` records it and refuses. Checked only after the password matched,
        so it is no oracle; a source that does not answer never stops a sign-in. Confirm it's
        you (an account flow) only flags: that person is signed in already, and blocking there
        would stop the very password change the breach calls for."""
        policy = ctx.tenant.password_policy.breached
        if policy.mode == "off" or policy.on_sign_in == "allow" or not await _breached(ctx, password):
            return
        blocked = policy.on_sign_in == "block" and flow.kind == "login"
        ctx.record(
            EventType.BREACHED_PASSWORD_LOGIN,
            user_id=user.id,
            user_name=user.email,
            details={"mode": policy.mode, "action": "blocked" if blocked else "flagged"},
        )
        if blocked:
            raise KeyturnError(code="password_breached", message="password_breached.sign_in", status=403)

    async def register(self, ctx: Context, flow: Flow, payload: Payload) -> Registered:
        email, password = text_field(payload, "email"), text_field(payload, "password")
        address = normalize_email(email)
        await check_new_password(ctx, password, stage="signup", email=address)
        user = new_user(address, now=ctx.now(), password_hash=await hasher().hash(password))
        return Registered(user=user, method=self.id)

    async def enroll(
        self, ctx: Context, flow: Flow, *, user: User, payload: Payload, purpose: str
    ) -> Enrolled:
        """A new password (replacing any other): no current password is asked for."""
        try:
            password = text_field(payload, "password")
            await check_new_password(ctx, password, stage="change", user=user)
        except KeyturnError as error:
            ctx.record(
                EventType.FAILED_CHANGE_PASSWORD,
                user_id=user.id,
                user_name=user.email,
                details={"error": error.code, "enrollment": purpose},
            )
            raise
        new_hash = await hasher().hash(password)

        async def complete(tx: WriteTx) -> None:
            await tx.set_password_hash(user.id, new_hash, now=ctx.now())
            ctx.record(
                EventType.SUCCESS_CHANGE_PASSWORD,
                user_id=user.id,
                user_name=user.email,
                details={"enrollment": purpose},
            )

        return Enrolled(method=self.id, complete=complete)
