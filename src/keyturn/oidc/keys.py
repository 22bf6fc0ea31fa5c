"""Signing keys: ES256 and RS256, private halves encrypted at rest, rotated with retirement.

The database holds each private JWK sealed with AES-256-GCM under a key-encryption key
(KEK) that lives outside it (a file, or KEYTURN_KEY_ENCRYPTION_KEY). Retired public keys
stay in the JWKS until every token they signed has expired.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeyParameters, KeySet, RSAKey

from keyturn.domain.oidc import SigningAlg, SigningKey
from keyturn.errors import KeyturnError
from keyturn.sealing import seal, unseal
from keyturn.settings import Settings, SettingsError
from keyturn.store.protocols import OidcStore

ALGORITHMS: tuple[SigningAlg, ...] = ("ES256", "RS256")
_RELOAD_SECONDS = 30.0
PrivateJWK = ECKey | RSAKey


class InvalidToken(KeyturnError):
    status = 401
    code = "invalid_token"
    description = "The token is invalid or expired."


def load_key_encryption_key(settings: Settings) -> bytes:
    """The KEK from KEYTURN_KEY_ENCRYPTION_KEY (base64url), else its file; created in development."""
    if encoded := os.environ.get("KEYTURN_KEY_ENCRYPTION_KEY"):
        return _decode_kek(encoded, "KEYTURN_KEY_ENCRYPTION_KEY")
    path = settings.resolved_key_file
    if path.exists():
        return _decode_kek(path.read_text().strip(), str(path))
    if settings.environment == "production":
        raise SettingsError(
            f"key_encryption_key_file {path} does not exist: in production, provide the key "
            "(32 random bytes, base64url) as a file or KEYTURN_KEY_ENCRYPTION_KEY"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
    return _decode_kek(path.read_text().strip(), str(path))


def _decode_kek(encoded: str, where: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError) as exc:
        raise SettingsError(f"{where}: the key-encryption key is not base64url") from exc
    if len(key) != 32:
        raise SettingsError(f"{where}: the key-encryption key must be 32 bytes")
    return key


def _open(kek: bytes, key: SigningKey) -> PrivateJWK:
    data = json.loads(unseal(kek, key.private_jwk_encrypted, bound_to=key.kid))
    return ECKey.import_key(data) if key.alg == "ES256" else RSAKey.import_key(data)


def new_signing_key(alg: SigningAlg, *, kek: bytes, now: datetime) -> SigningKey:
    params: KeyParameters = {"use": "sig", "alg": alg}
    private: PrivateJWK = (
        ECKey.generate_key("P-256", params, auto_kid=True)
        if alg == "ES256"
        else RSAKey.generate_key(2048, params, auto_kid=True)
    )
    kid = str(private.kid)
    return SigningKey(
        kid=kid,
        alg=alg,
        private_jwk_encrypted=seal(kek, json.dumps(private.as_dict(private=True)).encode(), bound_to=kid),
        public_jwk=private.as_dict(private=False),
        created_at=now,
    )


@dataclass(frozen=True)
class KeyRing:
    """The keys as loaded at one moment: the newest active key per alg signs; all published verify."""

    signers: dict[SigningAlg, tuple[str, PrivateJWK]]
    published: list[dict[str, Any]]

    def jwks(self) -> dict[str, Any]:
        return {"keys": self.published}

    def sign(self, claims: dict[str, Any], *, alg: SigningAlg = "ES256", typ: str = "JWT") -> str:
        kid, key = self.signers[alg]
        return jwt.encode({"alg": alg, "kid": kid, "typ": typ}, claims, key, algorithms=[alg])

    def verify(
        self, token: str, *, now: datetime, typ: str | None = None, allow_expired: bool = False
    ) -> dict[str, Any]:
        """Claims of a token WE signed: only ES256/RS256 (never `none`, never HMAC), known kid."""
        key_set = KeySet.import_key_set({"keys": self.published})
        try:
            decoded = jwt.decode(token, key_set, algorithms=list(ALGORITHMS))
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise InvalidToken(detail=repr(exc)) from exc
        if typ is not None and str(decoded.header.get("typ", "")).lower() not in {
            typ.lower(),
            f"application/{typ}".lower(),
        }:
            raise InvalidToken(detail=f"typ {decoded.header.get('typ')!r} is not {typ!r}")
        exp = decoded.claims.get("exp")
        if not isinstance(exp, int) or (exp <= now.timestamp() and not allow_expired):
            raise InvalidToken(detail="expired or no exp")
        return dict(decoded.claims)


class KeyManager:
    """Loads the key ring from the store, creating keys on first use and reloading now and then,
    so a `keyturn keys rotate` in another process reaches every worker within seconds."""

    def __init__(self, store: OidcStore, *, kek: bytes, publish_retired_for: timedelta) -> None:
        self._store = store
        self._kek = kek
        self._publish_retired_for = publish_retired_for
        self._ring: KeyRing | None = None
        self._loaded_at = 0.0

    async def ring(self, *, now: datetime) -> KeyRing:
        if self._ring is None or time.monotonic() - self._loaded_at > _RELOAD_SECONDS:
            self._ring = await self._load(now)
            self._loaded_at = time.monotonic()
        return self._ring

    async def rotate(self, *, now: datetime) -> list[SigningKey]:
        created = [new_signing_key(alg, kek=self._kek, now=now) for alg in ALGORITHMS]
        for key in created:
            await self._store.add_signing_key(key, retire_others_at=now)
        self._ring = None
        return created

    async def _load(self, now: datetime) -> KeyRing:
        keys = await self._store.list_signing_keys()
        for alg in ALGORITHMS:
            if not any(k.alg == alg and k.retired_at is None for k in keys):
                await self._store.add_signing_key(new_signing_key(alg, kek=self._kek, now=now))
                keys = await self._store.list_signing_keys()
        signers: dict[SigningAlg, tuple[str, PrivateJWK]] = {}
        for key in keys:  # oldest first, so the newest active key of each alg wins
            if key.retired_at is None:
                signers[key.alg] = (key.kid, _open(self._kek, key))
        cutoff = now - self._publish_retired_for
        published = [k.public_jwk for k in keys if k.retired_at is None or k.retired_at > cutoff]
        return KeyRing(signers=signers, published=published)
