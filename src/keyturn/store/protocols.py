"""What the flows need from storage. `keyturn.store.sql` implements it for SQLite and PostgreSQL.

Each method is one transaction. Methods that must be atomic together (create a user
with their first passkey, consume a challenge) are single methods, not call sequences.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from keyturn.domain.events import Event
from keyturn.domain.flow import Challenge, Flow
from keyturn.domain.hooks import Hook
from keyturn.domain.identity import Passkey, User
from keyturn.domain.oidc import (
    AuthorizationCode,
    AuthorizationRequest,
    Client,
    Grant,
    SigningKey,
    StoredToken,
)
from keyturn.domain.session import Session
from keyturn.domain.tenant import TenantSettings


class UserStore(Protocol):
    async def create_user(self, user: User, *, passkey: Passkey | None = None) -> None:
        """Insert a user (and their first passkey); raises Conflict if the email is taken."""

    async def get_user(self, user_id: str) -> User | None: ...

    async def find_user_by_email(self, email: str) -> User | None: ...

    async def list_users(self, *, email: str | None, offset: int, limit: int) -> tuple[list[User], int]:
        """A page of users, oldest first, and how many match in all."""

    async def update_profile(
        self, user_id: str, *, name: str | None, email_verified: bool | None, now: datetime
    ) -> None: ...

    async def delete_user(self, user_id: str) -> bool:
        """Delete a user with everything that hangs off them (passkeys, sessions, grants, tokens)."""

    async def update_email(self, user_id: str, email: str, *, now: datetime) -> None:
        """Raises Conflict if another user has that email."""

    async def set_password_hash(
        self, user_id: str, password_hash: str | None, *, now: datetime, allow_last: bool = False
    ) -> None:
        """Set or (None) remove the password; removing the last way to sign in needs `allow_last`."""


class PasskeyStore(Protocol):
    async def add_passkey(self, passkey: Passkey, *, limit: int) -> None:
        """Insert; raises Conflict if the credential id exists or the user already has `limit`."""

    async def list_passkeys(self, user_id: str) -> list[Passkey]:
        """The user's passkeys, oldest first."""

    async def find_passkey(self, credential_id: bytes) -> Passkey | None: ...

    async def record_passkey_use(
        self, passkey_id: str, *, sign_count: int, backup_state: bool, used_at: datetime
    ) -> None: ...

    async def rename_passkey(self, user_id: str, passkey_id: str, name: str) -> bool: ...

    async def delete_passkey(self, user_id: str, passkey_id: str, *, allow_last: bool = False) -> bool:
        """Delete one passkey; refuses the user's last way to sign in unless `allow_last`."""

    async def delete_all_passkeys(self, user_id: str) -> int: ...

    async def count_passkeys(self) -> int:
        """All passkeys of all users (a change of RP id would orphan these)."""


class FlowStore(Protocol):
    async def create_flow(self, flow: Flow) -> None: ...

    async def get_flow(self, flow_id: str) -> Flow | None: ...

    async def put_challenge(self, challenge: Challenge) -> None: ...

    async def consume_challenge(self, flow_id: str, challenge: bytes, *, now: datetime) -> Challenge | None:
        """Delete and return the flow's unexpired challenge: each one works at most once."""

    async def purge_expired(self, *, now: datetime) -> int:
        """Delete expired flows, challenges and sessions; returns how many rows went."""


class SessionStore(Protocol):
    async def create_session(self, session: Session, *, token_hash: str) -> None: ...

    async def find_session(self, token_hash: str, *, now: datetime) -> Session | None: ...

    async def delete_session(self, session_id: str) -> None: ...


class TenantStore(Protocol):
    async def load_tenant(self) -> TenantSettings | None: ...

    async def save_tenant(self, tenant: TenantSettings, *, now: datetime) -> None: ...

    async def seed_tenant(self, tenant: TenantSettings, *, now: datetime) -> None:
        """Store `tenant` unless settings exist already (safe when instances start together)."""

    async def get_or_create_secret(self, name: str, value: bytes) -> bytes:
        """The stored secret `name`, or store `value` under it: shared by every instance."""


class OidcStore(Protocol):
    """The provider's state. Codes and refresh tokens are consumed atomically: the caller
    learns whether its call was the first use, so a replay can revoke the whole grant."""

    async def create_client(self, client: Client) -> None: ...

    async def get_client(self, client_id: str) -> Client | None: ...

    async def list_clients(self) -> list[Client]: ...

    async def delete_client(self, client_id: str) -> bool: ...

    async def add_signing_key(self, key: SigningKey, *, retire_others_at: datetime | None = None) -> None: ...

    async def list_signing_keys(self) -> list[SigningKey]: ...

    async def delete_signing_keys_retired_before(self, cutoff: datetime) -> int: ...

    async def save_authorization_request(self, request: AuthorizationRequest) -> None: ...

    async def get_authorization_request(
        self, request_id: str, *, now: datetime
    ) -> AuthorizationRequest | None: ...

    async def set_authorization_hook_claims(self, request_id: str, claims: dict[str, Any]) -> None:
        """Remember that the sign-in for this request passed the hooks, and their claims."""

    async def delete_authorization_request(self, request_id: str) -> None: ...

    async def create_grant_with_code(self, grant: Grant, code: AuthorizationCode) -> None: ...

    async def create_grant(self, grant: Grant) -> None: ...

    async def get_grant(self, grant_id: str) -> Grant | None: ...

    async def get_code(self, code_hash: str) -> AuthorizationCode | None: ...

    async def consume_code(
        self, code_hash: str, *, now: datetime
    ) -> tuple[AuthorizationCode | None, bool]: ...

    async def revoke_grant(self, grant_id: str, *, now: datetime) -> None: ...

    async def save_tokens(self, *tokens: StoredToken) -> None: ...

    async def find_token(self, token_id: str) -> StoredToken | None: ...

    async def consume_token(self, token_id: str, *, now: datetime) -> tuple[StoredToken | None, bool]: ...

    async def revoke_token(self, token_id: str, *, now: datetime) -> None: ...

    async def get_consent(self, user_id: str, client_id: str) -> tuple[str, ...]: ...

    async def save_consent(
        self, user_id: str, client_id: str, scope: tuple[str, ...], *, now: datetime
    ) -> None: ...

    async def remember_client_assertion(self, client_id: str, jti: str, *, expires_at: datetime) -> bool: ...

    async def purge_expired_oidc(self, *, now: datetime) -> int: ...


class EventStore(Protocol):
    async def append_events(self, batch: list[Event]) -> None: ...

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

    async def get_event(self, log_id: str) -> Event | None: ...

    async def delete_events_before(self, cutoff: datetime) -> int: ...


class HookStore(Protocol):
    async def add_hook(self, hook: Hook) -> None: ...

    async def list_hooks(self, *, trigger: str | None = None) -> list[Hook]:
        """Hooks in the order they run (oldest first)."""

    async def delete_hook(self, hook_id: str) -> bool: ...


class Store(
    UserStore, PasskeyStore, FlowStore, SessionStore, TenantStore, OidcStore, EventStore, HookStore, Protocol
):
    """Everything at once: what the app is handed."""

    async def close(self) -> None: ...
