"""Token signing keys: ES256 and RS256, private halves encrypted at rest, rotated with retirement.

The database holds each private JWK sealed with AES-256-GCM under a key-encryption key
(KEK) that lives outside it (a file, or KEYTURN_KEY_ENCRYPTION_KEY). Retired public keys
stay in the JWKS until every token they signed has expired. Used by the OpenID Provider
and by the management API, which verifies the tokens it issued.
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
from typing import Any, TypeGuard

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeyParameters, KeySet, RSAKey

from keyturn.domain.oidc import SigningAlg, SigningKey
from keyturn.errors import KeyturnError
from keyturn.sealing import seal, unseal
from keyturn.settings import Settings, SettingsError
from keyturn.store.protocols import Database, WriteTx

ALGORITHMS: tuple[SigningAlg, ...] = ("ES256", "RS256")
_RELOAD_SECONDS = 300.0  # a safety net: config version changes reload at once
_UNKNOWN_KID_RELOAD_SECONDS = 5.0  # at most one forced reload per worker this often
ACTIVATION_DELAY = timedelta(seconds=120)  # > reload interval + JWKS max-age
JWKS_MAX_AGE_SECONDS = 60
PrivateJWK = ECKey | RSAKey


class InvalidToken(KeyturnError):
    status = 401
    code = "invalid_token"


def load_key_encryption_key(settings: Settings) -> bytes:
    """The KEK from the `key_encryption_key` setting (base64url), else its file; created in development."""
    if settings.key_encryption_key is not None:
        return _decode_kek(settings.key_encryption_key.get_secret_value(), "KEYTURN_KEY_ENCRYPTION_KEY")
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

    candidates: list[tuple[SigningKey, PrivateJWK]]  # keys that may sign now or soon
    published: list[dict[str, Any]]

    def jwks(self) -> dict[str, Any]:
        return {"keys": self.published}

    @property
    def kids(self) -> frozenset[str]:
        return frozenset(str(k.get("kid")) for k in self.published)

    def sign(
        self, claims: dict[str, Any], *, now: datetime, alg: SigningAlg = "ES256", typ: str = "JWT"
    ) -> str:
        """Sign with the key that should sign at `now` (decided now, not when the ring was loaded)."""
        chosen = _signer([meta for meta, _ in self.candidates], alg, now=now)
        key = next(private for meta, private in self.candidates if meta.kid == chosen.kid)
        return jwt.encode({"alg": alg, "kid": chosen.kid, "typ": typ}, claims, key, algorithms=[alg])

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
        claims = dict(decoded.claims)
        exp = claims.get("exp")
        if not _numeric_date(exp) or (exp <= now.timestamp() and not allow_expired):
            raise InvalidToken(detail="expired or no exp")
        for name in ("iat", "nbf"):
            value = claims.get(name)
            if value is not None and (not _numeric_date(value) or value > now.timestamp() + _CLOCK_SKEW):
                raise InvalidToken(detail=f"{name} out of range or in the future")
        return claims


class KeyManager:
    """Loads the key ring from the database, creating keys on first use, and again whenever the
    config version moves (`forget`), so a `keyturn keys rotate` in another process reaches
    every worker at its next request.

    A rotated-in key is published at once but signs only after ACTIVATION_DELAY (longer than a
    worker's reload interval plus the JWKS cache time), so no worker or relying party ever
    sees a token whose key it does not know yet; until then the previous key goes on signing.
    """

    def __init__(self, db: Database, *, kek: bytes, publish_retired_for: timedelta) -> None:
        self._db = db
        self._kek = kek
        self._publish_retired_for = publish_retired_for
        self._ring: KeyRing | None = None
        self._loaded_at = 0.0
        self._forced_at = 0.0

    def forget(self) -> None:
        """The config version moved: reload before the next use."""
        self._ring = None

    async def ring(self, *, now: datetime, reload: bool = False) -> KeyRing:
        if reload or self._ring is None or time.monotonic() - self._loaded_at > _RELOAD_SECONDS:
            self._ring = await self._load(now)
            self._loaded_at = time.monotonic()
        return self._ring

    async def verify(
        self, token: str, *, now: datetime, typ: str | None = None, allow_expired: bool = False
    ) -> dict[str, Any]:
        """Verify a token we signed; a kid this worker does not know yet triggers one reload."""
        ring = await self.ring(now=now)
        if (
            _kid_of(token) not in ring.kids
            and time.monotonic() - self._forced_at > _UNKNOWN_KID_RELOAD_SECONDS
        ):
            self._forced_at = time.monotonic()
            ring = await self.ring(now=now, reload=True)
        return ring.verify(token, now=now, typ=typ, allow_expired=allow_expired)

    async def rotate(self, *, now: datetime) -> list[SigningKey]:
        async with self._db.write() as tx:
            created = await self.rotate_in(tx, now=now)
        self._ring = None
        return created

    async def rotate_in(self, tx: WriteTx, *, now: datetime) -> list[SigningKey]:
        """New keys for every algorithm, retiring the active ones, inside the caller's
        transaction (so an operator's rotation and its event commit together); `forget()`
        after the commit."""
        created = [new_signing_key(alg, kek=self._kek, now=now) for alg in ALGORITHMS]
        for key in created:
            await tx.add_signing_key(key, retire_others_at=now)
        await tx.bump_config_version()
        return created

    async def purge(self, *, now: datetime) -> int:
        """Delete retired keys no token signed by them can still need."""
        async with self._db.write() as tx:
            removed = await tx.delete_signing_keys_retired_before(
                now - self._publish_retired_for - ACTIVATION_DELAY
            )
            if removed:
                await tx.bump_config_version()
        return removed

    async def _load(self, now: datetime) -> KeyRing:
        async with self._db.read() as reader:
            keys = await reader.list_signing_keys()
        missing = [alg for alg in ALGORITHMS if not any(k.alg == alg and k.retired_at is None for k in keys)]
        if missing:  # first use: create them (another instance may race us; both keys are valid)
            async with self._db.write() as tx:
                for alg in missing:
                    await tx.add_signing_key(new_signing_key(alg, kek=self._kek, now=now))
                keys = await tx.list_signing_keys()
        # Keys that may still sign: unretired ones, and ones retired less than the delay ago.
        candidates = [
            (key, _open(self._kek, key))
            for key in keys
            if key.retired_at is None or key.retired_at > now - ACTIVATION_DELAY
        ]
        cutoff = now - self._publish_retired_for - ACTIVATION_DELAY
        published = [k.public_jwk for k in keys if k.retired_at is None or k.retired_at > cutoff]
        return KeyRing(candidates=candidates, published=published)


def _signer(keys: list[SigningKey], alg: SigningAlg, *, now: datetime) -> SigningKey:
    """The newest key of `alg` that has been published for ACTIVATION_DELAY and was not retired
    longer ago than that; on a fresh install (nothing that old yet), the newest active key."""
    settled = now - ACTIVATION_DELAY
    mature = [
        k
        for k in keys
        if k.alg == alg and k.created_at <= settled and (k.retired_at is None or k.retired_at > settled)
    ]
    if mature:
        return max(mature, key=lambda k: k.created_at)
    return max((k for k in keys if k.alg == alg and k.retired_at is None), key=lambda k: k.created_at)


_CLOCK_SKEW = 60
_LATEST_NUMERIC_DATE = 253_402_300_799  # 9999-12-31: the last second a datetime holds


def _numeric_date(value: object) -> TypeGuard[int]:
    """An integer NumericDate (RFC 7519 §2) a datetime can hold: what Keyturn's tokens carry."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _LATEST_NUMERIC_DATE


def _kid_of(token: str) -> str | None:
    """The unverified `kid` header, only to decide whether to reload keys before verifying."""
    try:
        header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    except (ValueError, IndexError, binascii.Error):
        return None
    kid = header.get("kid") if isinstance(header, dict) else None
    return kid if isinstance(kid, str) else None
