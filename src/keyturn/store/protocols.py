"""What the flows need from storage. `keyturn.store.sql` implements it for SQLite and PostgreSQL.

Work happens in transactions, not per call: `Database.read()` gives a `ReadTx` (queries,
no locks), `Database.write()` a `WriteTx` that commits on a clean exit and rolls back
otherwise. A request holds at most one of each through its `UnitOfWork`
(`keyturn.store.unit_of_work`).

Invariants that must hold under concurrency are enforced inside single `WriteTx` methods,
by the database: the owner's row is locked before "never remove the last way to sign in"
and the passkey limit are checked; a challenge is spent by an insert that a second use
cannot repeat; codes and refresh tokens are consumed by a conditional update whose row
count says whether this call was the first.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Protocol

from keyturn.domain.blocks import UserBlock
from keyturn.domain.email_code import EmailCode
from keyturn.domain.enrollment import EnrollmentChoice
from keyturn.domain.events import Event
from keyturn.domain.factors import Factors, TotpCredential
from keyturn.domain.hooks import Hook
from keyturn.domain.identity import Passkey, User
from keyturn.domain.mail import OutboxEntry
from keyturn.domain.mds import StoredMetadataBlob
from keyturn.domain.oidc import (
    AuthorizationCode,
    AuthorizationRequest,
    Client,
    Grant,
    SigningKey,
    StoredToken,
)
from keyturn.domain.operators import Operator, OperatorEnrollment, OperatorSession
from keyturn.domain.session import AuthEvent, Session
from keyturn.domain.tenant import TenantSettings


class UserReads(Protocol):
    async def get_user(self, user_id: str) -> User | None: ...

    async def find_user_by_email(self, email: str) -> User | None: ...

    async def list_users(
        self, *, email: str | None, offset: int, limit: int, email_prefix: str | None = None
    ) -> tuple[list[User], int]:
        """A page of users, oldest first, and how many match in all (an exact email, or
        emails starting with `email_prefix`, the dashboard's search)."""
        ...

    async def iter_users(self, *, after: str | None, limit: int) -> list[User]:
        """Up to `limit` users by id after `after` (a keyset walk over every user)."""
        ...


class UserWrites(Protocol):
    async def create_user(self, user: User, *, passkey: Passkey | None = None) -> None:
        """Insert a user (and their first passkey); raises Conflict(account_exists) if the email is taken."""

    async def update_profile(
        self, user_id: str, *, name: str | None, email_verified: bool | None, now: datetime
    ) -> None: ...

    async def update_traits(
        self,
        user_id: str,
        *,
        now: datetime,
        traits: dict[str, Any] | None = None,
        user_metadata: dict[str, Any] | None = None,
        app_metadata: dict[str, Any] | None = None,
    ) -> None:
        """Replace whichever of the traits and the two metadata objects is given."""
        ...

    async def delete_user(self, user_id: str) -> bool:
        """Delete a user with everything that hangs off them (passkeys, sessions, grants, tokens)."""
        ...

    async def update_email(self, user_id: str, email: str, *, now: datetime) -> None:
        """Raises Conflict(email_taken) if another user has that email."""

    async def set_password_hash(
        self, user_id: str, password_hash: str | None, *, now: datetime, allow_last: bool = False
    ) -> None:
        """Set or (None) remove the password. With the owner's row locked, removing the last way
        to sign in is refused (Conflict(last_sign_in_method)) unless `allow_last`."""


class PasskeyReads(Protocol):
    async def list_passkeys(self, user_id: str) -> list[Passkey]:
        """The user's passkeys, oldest first."""
        ...

    async def find_passkey(self, credential_id: bytes) -> Passkey | None: ...

    async def find_passkey_with_owner(
        self, credential_id: bytes, *, challenge_id: bytes
    ) -> tuple[Passkey, User, bool] | None:
        """The passkey, its owner and whether `challenge_id` was spent already, in one query
        (the sign-in path: a replay is refused before any work is done for it)."""
        ...

    async def count_passkeys(self) -> int:
        """All passkeys of all users (a change of RP id would orphan these)."""
        ...

    async def passkey_shapes(
        self, *, sample: int
    ) -> tuple[dict[int, int], list[tuple[int, tuple[str, ...]]]]:
        """What stored passkeys look like, for stand-ins that look the same: how many accounts
        have 1, 2, 3… passkeys, and (credential id length, transports) of a random sample."""
        ...


class PasskeyWrites(Protocol):
    async def add_passkey(self, passkey: Passkey, *, limit: int) -> None:
        """Insert; Conflict(credential_exists) or Conflict(passkey_limit_reached), the owner's row locked."""

    async def record_passkey_use(
        self, passkey_id: str, *, previous_count: int, sign_count: int, backup_state: bool, used_at: datetime
    ) -> bool:
        """Store a verified assertion's count, only if the stored count is still `previous_count`:
        False means another sign-in stored a count since this one was verified."""
        ...

    async def rename_passkey(self, user_id: str, passkey_id: str, name: str) -> bool: ...

    async def delete_passkey(self, user_id: str, passkey_id: str, *, allow_last: bool = False) -> bool:
        """Delete one passkey; refuses the user's last way to sign in unless `allow_last`."""
        ...

    async def delete_all_passkeys(self, user_id: str) -> int: ...


class ChallengeWrites(Protocol):
    async def spend_challenge(self, challenge_id: bytes, *, expires_at: datetime) -> bool:
        """Mark a sealed challenge used: True the first time, False for any later use."""
        ...


class ChallengeReads(Protocol):
    async def challenge_spent(self, challenge_id: bytes) -> bool: ...


class SessionReads(Protocol):
    async def find_session(self, token_hash: str, *, now: datetime) -> tuple[Session, User] | None:
        """The live session for this cookie token and its user, in one query."""
        ...

    async def list_user_sessions(
        self, user_id: str, *, now: datetime, limit: int | None = None
    ) -> list[Session]:
        """The user's live sessions, most recently active first (the first `limit`)."""
        ...

    async def get_session(self, session_id: str, *, now: datetime) -> Session | None:
        """A live session by its id (the management API's `/sessions/{id}`)."""
        ...


class SessionWrites(Protocol):
    async def create_session(self, session: Session, *, token_hash: str) -> None: ...

    async def delete_session(self, session_id: str) -> bool: ...

    async def delete_user_session(self, user_id: str, session_id: str) -> bool:
        """End one of this user's sessions; False when it is not theirs (or already gone)."""
        ...

    async def delete_user_sessions(self, user_id: str, *, keep: str | None = None) -> int:
        """End every session of the user but `keep`; how many ended."""
        ...

    async def touch_session(self, session_id: str, *, at: datetime, before: datetime) -> None:
        """Set the last-active time to `at` unless it was already moved since `before`."""
        ...

    async def add_session_auth(self, session_id: str, authenticated: tuple[AuthEvent, ...]) -> None:
        """Replace the methods (and times) that authenticated the session: a re-authentication."""
        ...


class ConfigReads(Protocol):
    async def config_version(self) -> int:
        """A new value at every change to tenant settings, hooks, clients or keys (never one seen
        before, even after a restore): caches compare it."""
        ...

    async def load_tenant(self) -> TenantSettings | None: ...

    async def get_secret(self, name: str) -> bytes | None: ...

    async def get_fact(self, name: str) -> str | None:
        """An instance fact every process shares (the public URL `serve` is reachable at)."""
        ...


class ConfigWrites(Protocol):
    async def save_tenant(self, tenant: TenantSettings, *, now: datetime) -> None:
        """Store the settings and bump the config version."""

    async def seed_tenant(self, tenant: TenantSettings, *, now: datetime) -> None:
        """Store `tenant` unless settings exist already (safe when instances start together)."""

    async def bump_config_version(self) -> None: ...

    async def get_or_create_secret(self, name: str, value: bytes) -> bytes:
        """The stored secret `name`, or store `value` under it: shared by every instance."""
        ...

    async def set_fact(self, name: str, value: str) -> None: ...


class MdsReads(Protocol):
    async def mds_serial(self) -> int | None:
        """The stored FIDO Metadata Service blob's serial, or None: caches compare it."""
        ...

    async def load_mds_blob(self) -> StoredMetadataBlob | None: ...


class MdsWrites(Protocol):
    async def store_mds_blob(self, stored: StoredMetadataBlob) -> None:
        """Replace the stored blob (the caller verified it and checked its serial)."""


class OidcReads(Protocol):
    async def get_client(self, client_id: str) -> Client | None: ...

    async def list_clients(self) -> list[Client]: ...

    async def list_signing_keys(self) -> list[SigningKey]: ...

    async def get_authorization_request(
        self, request_id: str, *, now: datetime
    ) -> AuthorizationRequest | None: ...

    async def get_grant(self, grant_id: str) -> Grant | None: ...

    async def get_code(self, code_hash: str) -> AuthorizationCode | None: ...

    async def find_token(self, token_id: str) -> StoredToken | None: ...

    async def find_live_token(self, token_id: str) -> tuple[StoredToken, Grant] | None:
        """The token and its grant in one query (resolving bearer tokens)."""
        ...

    async def get_consent(self, user_id: str, client_id: str) -> tuple[str, ...]: ...


class OidcWrites(Protocol):
    """Codes and refresh tokens are consumed atomically: the caller learns whether its call was
    the first use, so a replay can revoke the whole grant."""

    async def create_client(self, client: Client) -> None: ...

    async def delete_client(self, client_id: str) -> bool: ...

    async def update_client(self, client: Client) -> None:
        """Store a registered client's changed fields (never its id, secret or creation time)."""
        ...

    async def add_signing_key(self, key: SigningKey, *, retire_others_at: datetime | None = None) -> None: ...

    async def delete_signing_keys_retired_before(self, cutoff: datetime) -> int: ...

    async def save_authorization_request(self, request: AuthorizationRequest) -> None: ...

    async def set_authorization_hook_claims(
        self, request_id: str, claims: dict[str, Any], *, session_id: str
    ) -> None:
        """Remember that the sign-in made for this request (its session) passed the hooks, and their
        claims."""

    async def delete_authorization_request(self, request_id: str) -> None: ...

    async def mark_authorization_stepped_up(self, request_id: str, *, session_id: str) -> None:
        """Remember that this session stepped up for this request (it is not asked again)."""
        ...

    async def create_grant_with_code(self, grant: Grant, code: AuthorizationCode) -> None: ...

    async def create_grant(self, grant: Grant) -> None: ...

    async def consume_code(
        self, code_hash: str, *, now: datetime
    ) -> tuple[AuthorizationCode | None, bool]: ...

    async def revoke_grant(self, grant_id: str, *, now: datetime) -> None: ...

    async def save_tokens(self, *tokens: StoredToken) -> None: ...

    async def consume_token(self, token_id: str, *, now: datetime) -> tuple[StoredToken | None, bool]: ...

    async def revoke_token(self, token_id: str, *, now: datetime) -> None: ...

    async def revoke_session_grants(
        self, user_id: str, *, session_id: str | None = None, keep: str | None = None, now: datetime
    ) -> int:
        """Revoke the grants the user made in a session (`session_id`, or every live session
        but `keep`: call it before ending them) and every token they produced, refresh tokens
        included; how many grants."""
        ...

    async def save_consent(
        self, user_id: str, client_id: str, scope: tuple[str, ...], *, now: datetime
    ) -> None: ...

    async def remember_client_assertion(self, client_id: str, jti: str, *, expires_at: datetime) -> bool: ...


class EventReads(Protocol):
    async def query_events(
        self,
        *,
        types: tuple[str, ...] = (),
        user_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after_log_id: str | None = None,
        offset: int = 0,
        limit: int = 50,
        newest_first: bool = True,
    ) -> tuple[list[Event], int]:
        """A page of matching events, and how many match in all."""
        ...

    async def get_event(self, log_id: str) -> Event | None: ...


class EventWrites(Protocol):
    async def append_events(self, batch: list[Event]) -> None: ...


class MailReads(Protocol):
    async def list_mail(self, *, to_address: str | None = None, limit: int = 100) -> list[OutboxEntry]: ...

    async def mail_waiting(self) -> int: ...

    async def mail_due(self, *, now: datetime) -> bool:
        """Whether claim_mail would find anything: a read, so an idle sender never writes."""
        ...


class MailWrites(Protocol):
    async def enqueue_mail(self, entry: OutboxEntry) -> None:
        """Queue a message in the transaction of what caused it: it is sent once that commits."""

    async def claim_mail(self, *, now: datetime, lease_until: datetime, limit: int) -> list[OutboxEntry]:
        """Due messages, claimed by this worker until `lease_until` (others skip them)."""
        ...

    async def mark_mail_sent(self, mail_id: str, *, now: datetime) -> bool: ...

    async def retry_mail(
        self, mail_id: str, *, next_attempt_at: datetime, error: str, give_up: bool
    ) -> None: ...


class CounterReads(Protocol):
    async def counter(self, key: str, *, now: datetime) -> tuple[int, datetime | None]:
        """A live window counter's value and expiry ((0, None) when there is none)."""
        ...

    async def counters(self, *keys: str, now: datetime) -> dict[str, int]:
        """The live counters among `keys`, in one statement (absent: none is live)."""
        ...


class CounterWrites(Protocol):
    async def add_to_counter(self, key: str, amount: int, *, lives_seconds: int, now: datetime) -> int:
        """Add to a counter (a fresh one living `lives_seconds` if none is live); its new value."""
        ...

    async def clear_counters(self, *keys: str) -> None: ...

    async def clear_all_counters(self) -> int: ...


class BlockReads(Protocol):
    async def find_block(self, identifier: str, ip: str, *, now: datetime) -> UserBlock | None:
        """The live brute-force block of this identifier from this address, if any."""
        ...

    async def list_blocks(
        self, *, identifier: str | None = None, user_id: str | None = None, now: datetime
    ) -> list[UserBlock]: ...


class BlockWrites(Protocol):
    async def add_block(self, block: UserBlock) -> bool:
        """Block the pair; True only for the call that did (concurrent callers: exactly one)."""
        ...

    async def remove_blocks(
        self, *, identifier: str | None = None, user_id: str | None = None, ip: str | None = None
    ) -> int: ...


class EmailCodeReads(Protocol):
    async def get_email_code(self, code_id: str) -> EmailCode | None: ...

    async def live_email_code(self, user_id: str, purpose: str, *, now: datetime) -> EmailCode | None:
        """The user's code for `purpose` that can still be used (a new one retires the others)."""
        ...


class EmailCodeWrites(Protocol):
    """Codes sent by email are used by conditional updates: at most once, never after
    expiry or too many wrong codes, whatever runs concurrently."""

    async def create_email_code(self, code: EmailCode) -> None: ...

    async def retire_email_codes(self, user_id: str, purpose: str, *, now: datetime) -> None:
        """End the user's unused codes for `purpose` (a new one is being sent)."""

    async def lock_email_code(self, code_id: str) -> EmailCode | None:
        """The code's row, locked until the transaction ends (wrong codes are counted in order)."""
        ...

    async def lock_email_code_by_link(self, link_hash: str) -> EmailCode | None: ...

    async def count_wrong_code(self, code_id: str) -> int:
        """One more wrong code: how many now."""
        ...

    async def use_email_code(self, code_id: str, *, now: datetime, expires_at: datetime) -> bool:
        """Accept the code or link (if still usable); what it allows must be done by `expires_at`."""
        ...

    async def complete_email_code(self, code_id: str, *, now: datetime) -> bool:
        """Record that what an accepted code allowed was done: True only the first time."""
        ...

    async def revoke_user_grants(self, user_id: str, *, now: datetime) -> int:
        """Revoke every OAuth grant of the user, and with them their access and refresh tokens."""
        ...


class EnrollmentReads(Protocol):
    async def get_enrollment_choice(self, user_id: str) -> EnrollmentChoice | None:
        """The user's answer to the progressive-enrollment offer, if they gave one."""
        ...


class EnrollmentWrites(Protocol):
    async def save_enrollment_choice(self, choice: EnrollmentChoice) -> None:
        """Store the user's latest answer (Not now / Don't ask again), replacing any earlier one."""
        ...


class FactorReads(Protocol):
    async def get_factors(self, user_id: str) -> Factors: ...

    async def get_totp(self, user_id: str) -> TotpCredential | None: ...

    async def list_security_keys(self, user_id: str) -> list[Passkey]:
        """The user's security keys (second factor only), oldest first."""
        ...

    async def find_security_key(self, credential_id: bytes) -> Passkey | None: ...


class FactorWrites(Protocol):
    async def add_totp(self, credential: TotpCredential) -> None:
        """Raises Conflict(totp_exists) when the user has an authenticator app already."""

    async def use_totp_step(self, credential_id: str, *, step: int, used_at: datetime) -> bool:
        """Accept a code's time step only if it is later than the last one accepted: False
        for a code used before (or a concurrent use of the same one)."""
        ...

    async def delete_totp(self, user_id: str) -> bool: ...

    async def replace_recovery_codes(self, user_id: str, code_hashes: list[bytes], *, now: datetime) -> None:
        """The new codes replace every earlier one."""

    async def use_recovery_code(self, user_id: str, code_hash: bytes) -> bool:
        """Consume one code: True only for the one call that deleted it."""
        ...

    async def delete_recovery_codes(self, user_id: str) -> int: ...

    async def add_security_key(self, key: Passkey, *, limit: int) -> None:
        """Conflict(credential_exists) or Conflict(security_key_limit_reached), the owner's row locked."""

    async def record_security_key_use(
        self, key_id: str, *, previous_count: int, sign_count: int, used_at: datetime
    ) -> bool:
        """Store the sign count only over the one it was verified against."""
        ...

    async def delete_security_key(self, user_id: str, key_id: str) -> bool: ...


class HookReads(Protocol):
    async def list_hooks(self, *, trigger: str | None = None) -> list[Hook]:
        """Hooks in the order they run (oldest first)."""
        ...


class HookWrites(Protocol):
    async def add_hook(self, hook: Hook) -> None: ...

    async def delete_hook(self, hook_id: str) -> bool: ...


class OperatorReads(Protocol):
    """Dashboard operators (`keyturn.domain.operators`): apart from end users in every way."""

    async def get_operator(self, operator_id: str) -> Operator | None: ...

    async def find_operator_by_email(self, email: str) -> Operator | None: ...

    async def list_operator_credentials(self, operator_id: str) -> list[Passkey]: ...

    async def find_operator_credential(self, credential_id: bytes) -> tuple[Passkey, Operator] | None: ...

    async def find_operator_enrollment(
        self, token_hash: str
    ) -> tuple[OperatorEnrollment, Operator] | None: ...

    async def find_operator_session(self, token_hash: str) -> tuple[OperatorSession, Operator] | None: ...

    async def count_operators(self) -> int: ...

    async def dashboard_figures(self, *, since: datetime) -> dict[str, Any]:
        """users, passkeys_synced, passkeys_device_bound, sign_ins (by method) since `since`."""
        ...

    async def sign_ins_by_day(self, *, since: datetime) -> list[tuple[str, str, int]]:
        """(UTC day as YYYY-MM-DD, method, sign-ins) since `since`, for the adoption chart."""
        ...

    async def enrollment_outcomes(self, *, since: datetime, journey: str) -> dict[str, int]:
        """Passkey enrollments since `since` offered by `journey` (details.enrollment), by
        event type: created (gd_enrollment_complete) or failed (gd_webauthn_enrollment_failed)."""
        ...


class OperatorWrites(Protocol):
    async def add_operator(self, operator: Operator) -> None:
        """Raises Conflict `operator_exists` for an email already taken."""

    async def add_operator_enrollment(self, enrollment: OperatorEnrollment) -> None: ...

    async def use_operator_enrollment(self, token_hash: str, *, now: datetime) -> bool:
        """Spend the link if it is live and unused: True only for the one call that did."""
        ...

    async def add_operator_credential(self, credential: Passkey) -> None: ...

    async def record_operator_credential_use(
        self,
        credential_id: str,
        *,
        previous_count: int,
        sign_count: int,
        backup_state: bool,
        used_at: datetime,
    ) -> bool:
        """Store the sign count only over the one it was verified against."""
        ...

    async def add_operator_session(self, session: OperatorSession) -> None: ...

    async def touch_operator_session(self, session_id: str, *, now: datetime) -> None: ...

    async def delete_operator_session(self, token_hash: str) -> None: ...


class MaintenanceWrites(Protocol):
    async def purge_expired(self, *, now: datetime, events_before: datetime) -> int:
        """Delete expired sessions, spent challenges, OIDC state and events past retention."""
        ...


class ReadTx(
    UserReads,
    PasskeyReads,
    ChallengeReads,
    SessionReads,
    ConfigReads,
    MdsReads,
    OidcReads,
    EventReads,
    HookReads,
    MailReads,
    CounterReads,
    BlockReads,
    EmailCodeReads,
    OperatorReads,
    EnrollmentReads,
    FactorReads,
    Protocol,
):
    """Queries; no locks are taken and nothing can be changed."""


class WriteTx(
    ReadTx,
    UserWrites,
    PasskeyWrites,
    ChallengeWrites,
    SessionWrites,
    ConfigWrites,
    MdsWrites,
    OidcWrites,
    EventWrites,
    HookWrites,
    MailWrites,
    CounterWrites,
    BlockWrites,
    EmailCodeWrites,
    OperatorWrites,
    EnrollmentWrites,
    FactorWrites,
    MaintenanceWrites,
    Protocol,
):
    """One write transaction: everything in it commits together or not at all."""


class Database(Protocol):
    def read(self) -> AbstractAsyncContextManager[ReadTx]: ...

    def write(self) -> AbstractAsyncContextManager[WriteTx]: ...

    async def ping(self) -> None:
        """Raise unless the database answers and the schema is at the code's migration head."""

    async def close(self) -> None: ...
