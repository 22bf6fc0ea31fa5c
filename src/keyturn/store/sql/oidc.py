"""OpenID Connect state in SQL: clients, keys, parked requests, grants, codes, tokens, consents."""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select, update

from keyturn.domain.oidc import (
    AuthorizationCode,
    AuthorizationRequest,
    Client,
    Grant,
    SigningKey,
    StoredToken,
)
from keyturn.store.sql.base import SqlTxBase
from keyturn.store.sql.tables import (
    authorization_codes,
    authorization_requests,
    client_assertions,
    consents,
    oauth_grants,
    oauth_tokens,
    oidc_clients,
    sessions,
    signing_keys,
)

_CLIENT_TUPLES = ("redirect_uris", "post_logout_redirect_uris", "grant_types", "scopes", "audiences")
_REQUEST_TUPLES = ("scope", "prompt", "acr_values")
# The statements of every OIDC sign-in, built once (values are parameters).
_PARKED = select(authorization_requests).where(
    authorization_requests.c.id == bindparam("b_id"), authorization_requests.c.expires_at > bindparam("b_now")
)
_CODE = select(authorization_codes).where(authorization_codes.c.code_hash == bindparam("b_code_hash"))
_CONSUME_CODE = (
    update(authorization_codes)
    .where(
        authorization_codes.c.code_hash == bindparam("b_code_hash"),
        authorization_codes.c.consumed_at.is_(None),
    )
    .returning(*authorization_codes.c)
)


def _client(row: Any) -> Client:
    values = dict(row._mapping)
    for name in _CLIENT_TUPLES:
        values[name] = tuple(values[name])
    return Client(**values)


def _client_values(client: Client) -> dict[str, Any]:
    values = asdict(client)
    for name in _CLIENT_TUPLES:
        values[name] = list(values[name])
    return values


def _request_params(request: AuthorizationRequest) -> dict[str, Any]:
    params = asdict(request)
    for name in ("id", "client_id", "created_at", "expires_at"):
        params.pop(name)
    for name in _REQUEST_TUPLES:
        params[name] = list(params[name])
    return params


def _code_data(code: AuthorizationCode) -> dict[str, Any]:
    data = asdict(code)
    for name in ("code_hash", "grant_id", "expires_at", "consumed_at"):
        data.pop(name)
    data["scope"], data["amr"] = list(code.scope), list(code.amr)
    data["auth_time"] = code.auth_time.isoformat()
    return data  # custom_claims stay as they are: JSON already


def _code(row: Any) -> AuthorizationCode:
    data = dict(row.data)
    return AuthorizationCode(
        code_hash=row.code_hash,
        grant_id=row.grant_id,
        expires_at=row.expires_at,
        consumed_at=row.consumed_at,
        **{
            "custom_claims": {},
            **data,
            "scope": tuple(data["scope"]),
            "amr": tuple(data["amr"]),
            "auth_time": datetime.fromisoformat(data["auth_time"]),
        },
    )


def _token(row: Any) -> StoredToken:
    return _token_values(dict(row._mapping))


def _token_values(values: dict[str, Any]) -> StoredToken:
    values["scope"] = tuple(values["scope"])
    return StoredToken(**values)


_GRANT_COLUMNS = [c.label(f"g_{c.name}") for c in oauth_grants.c]


def _grant(row: Any) -> Grant:
    values = dict(row._mapping)
    values["scope"] = tuple(values["scope"])
    return Grant(**values)


class SqlOidc(SqlTxBase):
    # --- clients
    async def create_client(self, client: Client) -> None:
        await self._insert_row(oidc_clients, _client_values(client), conflict="client_exists")

    async def get_client(self, client_id: str) -> Client | None:
        row = (await self._run(select(oidc_clients).where(oidc_clients.c.client_id == client_id))).first()
        return _client(row) if row else None

    async def list_clients(self) -> list[Client]:
        rows = await self._run(select(oidc_clients).order_by(oidc_clients.c.created_at))
        return [_client(row) for row in rows]

    async def update_client(self, client: Client) -> None:
        values = _client_values(client)
        for fixed in ("client_id", "secret_hash", "created_at"):
            values.pop(fixed)
        await self._run(
            update(oidc_clients).where(oidc_clients.c.client_id == client.client_id).values(**values)
        )

    async def delete_client(self, client_id: str) -> bool:
        result = await self._run(delete(oidc_clients).where(oidc_clients.c.client_id == client_id))
        return bool(result.rowcount == 1)

    # --- signing keys
    async def add_signing_key(self, key: SigningKey, *, retire_others_at: datetime | None = None) -> None:
        """Store a key; with `retire_others_at`, retire the active keys of its alg in the same step."""
        if retire_others_at is not None:
            await self._run(
                update(signing_keys)
                .where(signing_keys.c.alg == key.alg, signing_keys.c.retired_at.is_(None))
                .values(retired_at=retire_others_at)
            )
        await self._insert_row(signing_keys, asdict(key))

    async def list_signing_keys(self) -> list[SigningKey]:
        rows = await self._run(select(signing_keys).order_by(signing_keys.c.created_at))
        return [SigningKey(**dict(row._mapping)) for row in rows]

    async def delete_signing_keys_retired_before(self, cutoff: datetime) -> int:
        result = await self._run(delete(signing_keys).where(signing_keys.c.retired_at < cutoff))
        return int(result.rowcount)

    # --- parked authorization requests
    async def save_authorization_request(self, request: AuthorizationRequest) -> None:
        await self._insert_row(
            authorization_requests,
            {
                "id": request.id,
                "client_id": request.client_id,
                "params": _request_params(request),
                "created_at": request.created_at,
                "expires_at": request.expires_at,
            },
        )

    async def get_authorization_request(
        self, request_id: str, *, now: datetime
    ) -> AuthorizationRequest | None:
        memo = self.read_memo
        if memo is not None and ("parked", request_id) in memo:
            known: AuthorizationRequest | None = memo["parked", request_id]
            return known if known is not None and known.expires_at > now else None
        found = await self._find_authorization_request(request_id, now=now)
        if memo is not None:
            memo["parked", request_id] = found
        return found

    async def _find_authorization_request(
        self, request_id: str, *, now: datetime
    ) -> AuthorizationRequest | None:
        row = await self._first(_PARKED, {"b_id": request_id, "b_now": now})
        if row is None:
            return None
        params = dict(row.params)
        for name in _REQUEST_TUPLES:
            params[name] = tuple(params[name])
        return AuthorizationRequest(
            id=row.id, client_id=row.client_id, created_at=row.created_at, expires_at=row.expires_at, **params
        )

    async def set_authorization_hook_claims(
        self, request_id: str, claims: dict[str, Any], *, session_id: str
    ) -> None:
        params = await self._scalar(
            select(authorization_requests.c.params).where(authorization_requests.c.id == request_id)
        )
        if params is not None:
            await self._run(
                update(authorization_requests)
                .where(authorization_requests.c.id == request_id)
                .values(params={**params, "hook_claims": claims, "hooks_passed_session": session_id})
            )

    async def mark_authorization_stepped_up(self, request_id: str, *, session_id: str) -> None:
        params = await self._scalar(
            select(authorization_requests.c.params).where(authorization_requests.c.id == request_id)
        )
        if params is not None:
            await self._run(
                update(authorization_requests)
                .where(authorization_requests.c.id == request_id)
                .values(params={**params, "stepped_up_session": session_id})
            )

    async def delete_authorization_request(self, request_id: str) -> None:
        await self._run(delete(authorization_requests).where(authorization_requests.c.id == request_id))

    # --- grants, codes, tokens
    async def create_grant_with_code(self, grant: Grant, code: AuthorizationCode) -> None:
        await self._insert_row(oauth_grants, {**asdict(grant), "scope": list(grant.scope)})
        await self._insert_row(
            authorization_codes,
            {
                "code_hash": code.code_hash,
                "grant_id": code.grant_id,
                "data": _code_data(code),
                "expires_at": code.expires_at,
                "consumed_at": None,
            },
        )

    async def create_grant(self, grant: Grant) -> None:
        await self._insert_row(oauth_grants, {**asdict(grant), "scope": list(grant.scope)})

    async def get_grant(self, grant_id: str) -> Grant | None:
        row = (await self._run(select(oauth_grants).where(oauth_grants.c.id == grant_id))).first()
        return _grant(row) if row else None

    async def get_code(self, code_hash: str) -> AuthorizationCode | None:
        row = await self._first(_CODE, {"b_code_hash": code_hash})
        return _code(row) if row else None

    async def consume_code(self, code_hash: str, *, now: datetime) -> tuple[AuthorizationCode | None, bool]:
        """The code and whether THIS call consumed it (False: unknown, or used before: a replay).
        One `UPDATE … RETURNING` when it is fresh; a code this transaction consumed already (the
        exchange, then its keep-it-burnt) is answered without a statement."""
        if code_hash in self.consumed_here:
            return self.consumed_here[code_hash], False
        row = await self._first(_CONSUME_CODE, {"b_code_hash": code_hash, "consumed_at": now})
        if row is not None:
            self.consumed_here[code_hash] = code = _code(row)
            return code, True
        return await self.get_code(code_hash), False

    async def revoke_grant(self, grant_id: str, *, now: datetime) -> None:
        """Revoke a grant and every token it produced (code replay, refresh reuse, revocation)."""
        await self._run(
            update(oauth_grants)
            .where(oauth_grants.c.id == grant_id, oauth_grants.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        await self._run(
            update(oauth_tokens)
            .where(oauth_tokens.c.grant_id == grant_id, oauth_tokens.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )

    async def save_tokens(self, *tokens: StoredToken) -> None:
        for token in tokens:
            await self._insert_row(oauth_tokens, {**asdict(token), "scope": list(token.scope)})

    async def find_token(self, token_id: str) -> StoredToken | None:
        row = (await self._run(select(oauth_tokens).where(oauth_tokens.c.id == token_id))).first()
        return _token(row) if row else None

    async def find_live_token(self, token_id: str) -> tuple[StoredToken, Grant] | None:
        row = await self._first(
            select(oauth_tokens, *_GRANT_COLUMNS)
            .join(oauth_grants, oauth_grants.c.id == oauth_tokens.c.grant_id)
            .where(oauth_tokens.c.id == token_id)
        )
        if row is None:
            return None
        values = dict(row._mapping)
        grant = Grant(**{column.name: values.pop(f"g_{column.name}") for column in oauth_grants.c})
        return _token_values(values), replace(grant, scope=tuple(grant.scope))

    async def consume_token(self, token_id: str, *, now: datetime) -> tuple[StoredToken | None, bool]:
        """Mark a refresh token used; returns it and whether this call was its first use."""
        result = await self._run(
            update(oauth_tokens)
            .where(oauth_tokens.c.id == token_id, oauth_tokens.c.consumed_at.is_(None))
            .values(consumed_at=now)
        )
        row = (await self._run(select(oauth_tokens).where(oauth_tokens.c.id == token_id))).first()
        return (_token(row) if row else None), bool(result.rowcount == 1)

    async def revoke_token(self, token_id: str, *, now: datetime) -> None:
        await self._run(
            update(oauth_tokens)
            .where(oauth_tokens.c.id == token_id, oauth_tokens.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )

    async def revoke_session_grants(
        self, user_id: str, *, session_id: str | None = None, keep: str | None = None, now: datetime
    ) -> int:
        live = [
            oauth_grants.c.user_id == user_id,
            oauth_grants.c.session_id.is_not(None),
            oauth_grants.c.revoked_at.is_(None),
        ]
        if session_id is not None:
            live.append(oauth_grants.c.session_id == session_id)
        else:  # the user's live sessions but `keep`: grants of sessions that ended before stay
            others = select(sessions.c.id).where(sessions.c.user_id == user_id)
            if keep is not None:
                others = others.where(sessions.c.id != keep)
            live.append(oauth_grants.c.session_id.in_(others))
        await self._run(
            update(oauth_tokens)
            .where(
                oauth_tokens.c.grant_id.in_(select(oauth_grants.c.id).where(*live)),
                oauth_tokens.c.revoked_at.is_(None),
            )
            .values(revoked_at=now)
        )
        result = await self._run(update(oauth_grants).where(*live).values(revoked_at=now))
        return int(result.rowcount)

    # --- consents and client assertions
    async def get_consent(self, user_id: str, client_id: str) -> tuple[str, ...]:
        scope = await self._scalar(
            select(consents.c.scope).where(consents.c.user_id == user_id, consents.c.client_id == client_id)
        )
        return tuple(scope or ())

    async def save_consent(
        self, user_id: str, client_id: str, scope: tuple[str, ...], *, now: datetime
    ) -> None:
        await self._run(
            delete(consents).where(consents.c.user_id == user_id, consents.c.client_id == client_id)
        )
        await self._insert_row(
            consents, {"user_id": user_id, "client_id": client_id, "scope": list(scope), "granted_at": now}
        )

    async def remember_client_assertion(self, client_id: str, jti: str, *, expires_at: datetime) -> bool:
        """False if this assertion id was seen before (a replayed private_key_jwt)."""
        return await self._insert_new(
            client_assertions, key="jti", jti=f"{client_id}:{jti}", client_id=client_id, expires_at=expires_at
        )
